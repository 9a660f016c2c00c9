"""The depth stage is robust to the keypoint shifts another CPU's int8 kernels cause.

LiteRT's int8 MoveNet moves keypoints by 3-3.5 px between instruction sets (AVX-512,
AVX2, aarch64). On the real sample frames every keypoint of every person is jittered by up
to 4 px (uniform, per coordinate, many seeds) and the standing person must keep a 3D
position for every joint the 2D stage saw, with a body of plausible proportions, in every
trial: with the 3D network's outputs (the default pipeline) and with the depth image alone.

Plausible ranges: adult joint-centre distances as fractions of stature (Drillis & Contini:
shoulder width 0.20 H, upper arm 0.186 H, thigh 0.245 H) for statures 1.50-2.00 m, widened
by 0.05 m on each side for the error of a joint centre placed from a surface depth.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.frame_input import build_frame
from hdnet_ros.joints import (
    DERIVED_JOINTS,
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
)
from hdnet_ros.people import Frame, Person
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.depth import NetworkEstimates
from helpers import sample_messages

from hdnet_ros.config import load_settings

JITTER_PX = 4.0
TRIALS = 40
MARGIN_M = 0.05
STATURES_M = (1.50, 2.00)


def plausible(fraction: float) -> tuple[float, float]:
    return fraction * STATURES_M[0] - MARGIN_M, fraction * STATURES_M[1] + MARGIN_M


BONES = {
    "shoulder width": ((LEFT_SHOULDER, RIGHT_SHOULDER), plausible(0.20)),
    "left upper arm": ((LEFT_SHOULDER, LEFT_ELBOW), plausible(0.186)),
    "right upper arm": ((RIGHT_SHOULDER, RIGHT_ELBOW), plausible(0.186)),
    "left thigh": ((LEFT_HIP, LEFT_KNEE), plausible(0.245)),
    "right thigh": ((RIGHT_HIP, RIGHT_KNEE), plausible(0.245)),
}


@pytest.fixture(scope="module")
def pipeline(models_dir: Path) -> Pipeline:
    return Pipeline.from_settings(load_settings(overrides={"models.models_dir": str(models_dir)}))


@pytest.fixture(scope="module")
def observed_frames(pipeline: Pipeline, sample_bags: list[Path]) -> list[tuple[Frame, list[Person], NetworkEstimates]]:
    """Each sample frame's people as the 2D stage and BlazePose see them (run once)."""
    result = []
    for bag in sample_bags:
        messages = sample_messages(bag)
        frame = build_frame(messages["rgb"], messages["depth"], messages["camera_info"])
        people, bodies = pipeline.keypoints_of(frame, pipeline.detector(frame.rgb))
        pipeline.reset_tracking()
        networks = pipeline.networks_of(frame, people, bodies)
        result.append((frame, people, networks))
    return result


def jittered(people: list[Person], rng: np.random.Generator) -> list[Person]:
    """Copies of ``people`` whose keypoints moved by up to JITTER_PX; the midpoint joints follow."""
    copies = []
    for person in people:
        pixels = person.pixels + rng.uniform(-JITTER_PX, JITTER_PX, person.pixels.shape)
        for joint, (a, b) in DERIVED_JOINTS.items():
            pixels[joint] = (pixels[a] + pixels[b]) / 2.0
        copies.append(replace(person, pixels=pixels, scores=person.scores.copy()))
    return copies


def standing(people: list[Person]) -> int:
    return max(range(len(people)), key=lambda i: people[i].detection.box[3] - people[i].detection.box[1])


@pytest.mark.parametrize("with_network", [True, False], ids=["with BlazePose", "depth alone"])
def test_standing_person_survives_keypoint_jitter(
    pipeline: Pipeline, observed_frames: list[tuple[Frame, list[Person], NetworkEstimates]], with_network: bool
) -> None:
    for frame_index, (frame, people, networks) in enumerate(observed_frames):
        index = standing(people)
        seen = np.all(np.isfinite(people[index].pixels), axis=1)
        if with_network:
            assert seen.all(), "with BlazePose every joint of the standing person is seen"
        for seed in range(TRIALS):
            trial = jittered(people, np.random.default_rng([frame_index, seed]))
            estimates = networks if with_network else NetworkEstimates.none(len(trial))
            pipeline.lifter(trial, frame.depth_m, frame.camera, estimates)
            person = trial[index]
            where = f"frame {frame_index}, seed {seed}"
            assert np.all(person.valid[seen]), f"{where}: a seen joint lost its 3D position"
            for name, ((a, b), (low, high)) in BONES.items():
                if person.valid[a] and person.valid[b]:
                    length = float(np.linalg.norm(person.positions[a] - person.positions[b]))
                    assert low <= length <= high, f"{where}: {name} {length:.3f} m outside {low:.2f}-{high:.2f}"
                else:
                    assert not with_network, f"{where}: {name} has no 3D length"
