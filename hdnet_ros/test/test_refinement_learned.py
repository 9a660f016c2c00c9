"""The RefiNet-B style learned refiner: training and application (a few seconds on CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hdnet_ros.joints import LEFT_WRIST, NUM_JOINTS, PELVIS, RIGHT_WRIST
from hdnet_ros.people import Detection, Person
from hdnet_ros.stages.depth.refiner import SkeletonRefiner
from helpers import installed, needs

pytestmark = needs("torch", why="RefiNet-B training is PyTorch code")
if installed("torch"):
    from hdnet_ros.training.refinet_b import (
        build_model,
        masked_mse,
        pairs_to_dataset,
        refine_people,
        save_refiner,
        to_itop,
        train,
    )


def _skeletons(rng: np.random.Generator, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Truth: random upright skeletons. Lifted: the wrists read 0.2 m too near (on the hand
    surface in front of them), the rest with 1 cm noise."""
    pairs = []
    for _ in range(count):
        truth = rng.normal(0.0, 0.25, (NUM_JOINTS, 3)) + np.array([0.0, 0.0, rng.uniform(2.0, 5.0)])
        truth[PELVIS] = truth[[11, 12]].mean(axis=0)
        lifted = truth + rng.normal(0.0, 0.01, truth.shape)
        lifted[PELVIS] = truth[PELVIS]
        lifted[[LEFT_WRIST, RIGHT_WRIST], 2] -= 0.2
        pairs.append((lifted, truth))
    return pairs


def test_training_learns_a_systematic_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = pairs_to_dataset(_skeletons(rng, 600))
    held_out = pairs_to_dataset(_skeletons(rng, 150))
    model = build_model(linear_size=128)
    identity = float(((held_out.inputs - held_out.targets) ** 2).sum(-1)[held_out.masks].mean())
    history = train(model, data, epochs=60, batch_size=64, lr=2e-3)
    assert history[-1] < history[0]
    assert masked_mse(model, held_out) < 0.5 * identity

    path = tmp_path / "refiner.pt"
    save_refiner(model, path, 128, {"frames": 10, "epochs": 1, "seed": 0})  # as the training script writes it
    lifted, truth = _skeletons(rng, 1)[0]
    person = Person(
        Detection(np.zeros(4), 1.0), np.zeros((NUM_JOINTS, 2)), np.ones(NUM_JOINTS), positions=lifted.copy()
    )
    person.positions[3] = np.nan  # an unseen ear stays unseen
    SkeletonRefiner(path).refine([person])
    assert np.all(np.isnan(person.positions[3]))
    np.testing.assert_array_equal(person.positions[PELVIS], lifted[PELVIS])  # the root never moves
    before = abs(lifted[LEFT_WRIST, 2] - truth[LEFT_WRIST, 2])
    assert abs(person.positions[LEFT_WRIST, 2] - truth[LEFT_WRIST, 2]) < before


def test_itop_layout_and_people_without_a_root() -> None:
    positions = np.arange(NUM_JOINTS * 3, dtype=float).reshape(NUM_JOINTS, 3)
    itop = to_itop(positions)
    np.testing.assert_array_equal(itop[6], positions[RIGHT_WRIST])  # R_Hand <- right wrist
    np.testing.assert_array_equal(itop[0], positions[:5].mean(axis=0))  # Head <- face keypoints
    person = Person(Detection(np.zeros(4), 1.0), np.zeros((NUM_JOINTS, 2)), np.ones(NUM_JOINTS))
    refine_people(build_model(linear_size=16).eval(), [person])  # no root: left alone
    assert person.num_valid == 0
