"""The crowd rules' compiled joint tests (``stages/crowd/kernels.py``) and the merge's IoU
shortcut give main's numpy masks to the bit (``numpy_crowd``: hidden, ownership, merge at
649e036), on random crowds that take every branch: NaN joints, people without a torso or
without any joint, boxes of zero size, joints put at a limb's radius, mirrored claims and
overlapping boxes."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.joints import LEFT_SHOULDER, NECK, NUM_COCO_JOINTS, NUM_JOINTS, PELVIS, RIGHT_SHOULDER
from hdnet_ros.stages.crowd import CrowdConfig, Skeletons
from hdnet_ros.stages.crowd.hidden import COVERING, hidden_joints
from hdnet_ros.stages.crowd.merge import duplicates
from hdnet_ros.stages.crowd.ownership import implausible_limbs, shared_joints
from hdnet_ros.stages.crowd.skeletons import SHOULDER_FRACTION, TORSO_FRACTION, pair_oks, pairwise_oks
from numpy_crowd import hidden as reference_hidden
from numpy_crowd import merge as reference_merge
from numpy_crowd import ownership as reference_ownership

CONFIG = CrowdConfig()


def random_crowd(rng: np.random.Generator) -> Skeletons:
    """2-24 people, clustered so that joints fall on each other's limbs, with holes."""
    count = int(rng.integers(2, 25))
    centres = rng.uniform(0, 300, (count, 1, 2)) if rng.uniform() < 0.5 else rng.uniform(0, 60, (count, 1, 2))
    pixels = centres + rng.normal(0, rng.uniform(5, 60), (count, NUM_JOINTS, 2))
    pixels[rng.uniform(size=(count, NUM_JOINTS)) < rng.uniform(0, 0.3)] = np.nan
    if rng.uniform() < 0.3:
        pixels[int(rng.integers(count))] = np.nan  # nobody seen
    scores = rng.uniform(0, 1, (count, NUM_JOINTS))
    scores[rng.uniform(size=scores.shape) < 0.05] = np.nan
    low, high = np.fmin.reduce(pixels, axis=1), np.fmax.reduce(pixels, axis=1)
    boxes = np.nan_to_num(np.concatenate((low - rng.uniform(-5, 20, low.shape), high + 5), axis=1))
    if rng.uniform() < 0.2:
        boxes[int(rng.integers(count))] = (10.0, 10.0, 10.0, 10.0)  # a box of zero size
    skeletons = Skeletons(pixels, scores, boxes, rng.uniform(size=count))
    radius = CONFIG.hidden_limb_radius * skeletons.body_scale()
    for _ in range(5):  # joints at (about) the radius of another person's limb
        p, q = rng.choice(count, 2, replace=False)
        a, b = COVERING[int(rng.integers(len(COVERING)))]
        start, end = pixels[q, a], pixels[q, b]
        normal = np.array([-(end - start)[1], (end - start)[0]])
        length = np.linalg.norm(normal)
        if np.isfinite(length) and length > 0:
            at = start + rng.uniform() * (end - start) + normal / length * radius[q] * rng.choice([1.0, 0.999, 1.001])
            pixels[p, int(rng.integers(NUM_COCO_JOINTS))] = at
    for _ in range(5):  # a joint on another's same or mirrored joint
        p, q = rng.choice(count, 2, replace=False)
        j = int(rng.integers(NUM_COCO_JOINTS))
        pixels[p, j] = pixels[q, j if rng.uniform() < 0.5 else int(reference_ownership.MIRROR[j])] + rng.normal(0, 2, 2)
    skeletons.derive_midpoints()
    return skeletons


@pytest.fixture(scope="module")
def crowds() -> list[Skeletons]:
    rng = np.random.default_rng(19)
    return [random_crowd(rng) for _ in range(300)]


def test_the_compiled_limb_test_rejects_what_main_s_numpy_rejected(crowds: list[Skeletons]) -> None:
    rejected = 0
    for skeletons, slack in zip(crowds, np.resize([CONFIG.limb_slack, 0.8, 1.3], len(crowds)), strict=True):
        expected = reference_ownership.implausible_limbs(skeletons, float(slack))
        np.testing.assert_array_equal(implausible_limbs(skeletons, float(slack)), expected)
        rejected += int(expected.sum())
    assert rejected > 500


def test_the_compiled_shared_joint_test_rejects_what_main_s_numpy_rejected(crowds: list[Skeletons]) -> None:
    rejected = 0
    for skeletons in crowds:
        for radius in (CONFIG.shared_radius, 0.2):
            with np.errstate(divide="ignore", invalid="ignore"):  # a box of zero size
                expected = reference_ownership.shared_joints(skeletons, radius)
            np.testing.assert_array_equal(shared_joints(skeletons, radius), expected)
            rejected += int(expected.sum())
    assert rejected > 200


def test_the_compiled_hidden_test_hides_what_main_s_numpy_hid(crowds: list[Skeletons]) -> None:
    found = 0
    for skeletons in crowds:
        for radius, ratio in ((CONFIG.hidden_limb_radius, CONFIG.hidden_ratio), (0.1, 0.9)):
            expected = reference_hidden.hidden_joints(skeletons, radius, ratio)
            np.testing.assert_array_equal(hidden_joints(skeletons, radius, ratio), expected)
            found += int(expected.sum())
    assert found > 500


def test_the_merge_on_the_overlapping_pairs_merges_what_main_s_numpy_merged(crowds: list[Skeletons]) -> None:
    merged = 0
    rng = np.random.default_rng(3)
    for skeletons in crowds:
        candidate = rng.uniform(size=len(skeletons)) < 0.3
        for merge_oks in (CONFIG.merge_oks, 0.05):
            expected = reference_merge.duplicates(skeletons, candidate, merge_oks)
            np.testing.assert_array_equal(duplicates(skeletons, candidate, merge_oks), expected)
            merged += int(expected.sum())
        rows, cols = np.nonzero(np.ones((len(skeletons), len(skeletons)), dtype=bool))
        for larger in (False, True):  # the pairs' OKS to the bit, over either box's area
            np.testing.assert_array_equal(
                pair_oks(skeletons, rows, cols, larger=larger), pairwise_oks(skeletons, larger=larger).reshape(-1)
            )
    assert merged > 50


def test_the_body_scale_is_main_s_nan_to_num_formula_to_the_bit(crowds: list[Skeletons]) -> None:
    """Skeletons.body_scale (NaN lengths as 0, inf as the largest float, without nan_to_num)
    against main's formula, on the random crowds and on joints at infinity."""
    far = crowds[0].subset(np.arange(len(crowds[0])))
    far.pixels[0, NECK] = np.inf
    far.pixels[-1, LEFT_SHOULDER] = (-np.inf, 0.0)
    far.boxes[1] = np.nan
    for skeletons in [*crowds, far]:
        boxes, pixels = skeletons.boxes, skeletons.pixels
        longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        torso = np.linalg.norm(pixels[:, NECK] - pixels[:, PELVIS], axis=-1) / TORSO_FRACTION
        shoulders = np.linalg.norm(pixels[:, LEFT_SHOULDER] - pixels[:, RIGHT_SHOULDER], axis=-1)
        expected = np.fmax(
            np.fmax(longer, np.nan_to_num(torso, nan=0.0)), np.nan_to_num(shoulders / SHOULDER_FRACTION, nan=0.0)
        )
        assert skeletons.body_scale().tobytes() == expected.tobytes()
