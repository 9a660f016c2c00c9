"""Limb joints guessed onto a nearer object (stages.depth.guessed), on constructed depth
images: a person at 2.0 m whose legs are hidden behind a robot's arm 0.25 m in front of
them (within a thigh's reach of the hips) or 0.4 m (beyond it), against the same person
sitting with the thighs towards the camera (a real limb as near)."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    NUM_JOINTS,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
)
from hdnet_ros.people import DepthSource, Detection, Person
from hdnet_ros.stages.depth import DepthLifter, LiftingConfig
from hdnet_ros.stages.depth.guessed import largest_drop, path_depths

CAMERA = CameraModel.from_fov(640, 480, 60.0)
LEGS = (LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE)
SCORE = 0.6  # what PP-TinyPose gave legs hallucinated on a robot's arm (0.38-0.72)


def person(knee_row: float = 362.0) -> Person:
    """Standing at 2 m: 0.42 m thighs and shins are ~115 px (``knee_row``: a thigh towards the camera is shorter)."""
    pixels = {
        LEFT_SHOULDER: (345.0, 130.0),
        RIGHT_SHOULDER: (295.0, 130.0),
        LEFT_HIP: (338.0, 250.0),
        RIGHT_HIP: (302.0, 250.0),
        LEFT_KNEE: (338.0, knee_row),
        RIGHT_KNEE: (302.0, knee_row),
        LEFT_ANKLE: (338.0, 470.0),
        RIGHT_ANKLE: (302.0, 470.0),
    }
    uv = np.full((NUM_JOINTS, 2), np.nan)
    scores = np.zeros(NUM_JOINTS)
    for joint, pixel in pixels.items():
        uv[joint] = pixel
        scores[joint] = SCORE
    uv[17] = (uv[LEFT_HIP] + uv[RIGHT_HIP]) / 2
    uv[18] = (uv[LEFT_SHOULDER] + uv[RIGHT_SHOULDER]) / 2
    scores[17] = scores[18] = SCORE
    return Person(Detection(np.array([280.0, 100.0, 360.0, 479.0]), 0.9), uv, scores)


def standing_person_depth() -> np.ndarray:
    depth = np.full((480, 640), 6.0, np.float32)  # a wall behind
    depth[120:260, 285:355] = 2.0  # torso
    depth[255:480, 292:312] = 2.0  # right leg (a straight leg at 2 m: 0.42 m bones are ~115 px)
    depth[255:480, 328:348] = 2.0  # left leg
    return depth


@pytest.fixture
def occluded() -> np.ndarray:
    """The robot's arm, a bar at 1.75 m across the image from above the knees down."""
    depth = standing_person_depth()
    depth[320:480, 200:460] = 1.75
    return depth


def lifted(
    depth: np.ndarray, config: LiftingConfig | None = None, subject: Person | None = None
) -> tuple[Person, DepthLifter]:
    subject = subject or person()
    lifter = DepthLifter(config or LiftingConfig())
    lifter.lift(subject, depth, CAMERA)
    return subject, lifter


def test_legs_guessed_on_a_nearer_arm_are_not_measured_on_it(occluded: np.ndarray) -> None:
    subject, lifter = lifted(occluded)
    assert lifter.hidden_joints == 4
    for joint in LEGS:
        # Not the arm's depth: completed from the skeleton behind it, and said so.
        assert subject.depth_sources[joint] != DepthSource.SENSOR
        if subject.valid[joint]:
            assert subject.positions[joint, 2] > 1.8
        assert subject.scores[joint] == pytest.approx(SCORE * LiftingConfig().guessed_confidence)
    for joint in (LEFT_HIP, RIGHT_HIP, LEFT_SHOULDER, RIGHT_SHOULDER):
        assert subject.depth_sources[joint] == DepthSource.SENSOR
        assert subject.scores[joint] == SCORE


def test_without_the_check_the_legs_land_on_the_arm(occluded: np.ndarray) -> None:
    """The failure the check exists for: the arm is within a thigh's reach of the hips."""
    subject, _ = lifted(occluded, LiftingConfig(guessed_jump_m=0.0))
    assert subject.depth_sources[LEFT_KNEE] == DepthSource.SENSOR
    assert subject.positions[LEFT_KNEE, 2] < 1.85


def test_legs_behind_an_arm_beyond_reach_are_hidden_too() -> None:
    """An arm 0.4 m in front is beyond a thigh's reach: the measurement sees an occluder
    and none of the legs' surface; the legs' scores say they were guessed."""
    depth = standing_person_depth()
    depth[320:480, 200:460] = 1.6
    subject, lifter = lifted(depth)
    assert lifter.hidden_joints == 4
    for joint in LEGS:
        assert subject.depth_sources[joint] != DepthSource.SENSOR
        assert subject.scores[joint] < SCORE


def test_a_pole_crossing_a_nearer_limb_is_not_an_edge_onto_it() -> None:
    """Thighs towards the camera (knees 0.3 m nearer, one surface) behind a thin pole at
    1.0 m across them: the path drops onto the pole and rises again; the knees are not on it."""
    depth = standing_person_depth()
    rows = np.arange(250, 333)
    ramp = 2.0 - 0.3 * (rows - 250) / 82.0
    depth[250:333, 292:312] = ramp[:, None]
    depth[250:333, 328:348] = ramp[:, None]
    depth[333:480, 292:312] = 1.7
    depth[333:480, 328:348] = 1.7
    depth[285:292, 200:460] = 1.0  # the pole
    subject, _ = lifted(depth, subject=person(knee_row=332.0))
    assert subject.depth_sources[LEFT_KNEE] == DepthSource.SENSOR
    assert subject.scores[LEFT_KNEE] == SCORE


def test_visible_legs_are_measured() -> None:
    subject, lifter = lifted(standing_person_depth())
    assert lifter.hidden_joints == 0
    assert all(subject.depth_sources[j] == DepthSource.SENSOR for j in LEGS)


def test_thighs_towards_the_camera_are_a_limb_not_an_edge() -> None:
    """A seated person's thighs come 0.3 m towards the camera along the bone, one surface:
    the knees are as near as the arm, but the depth changes in small steps."""
    depth = standing_person_depth()
    # 0.42 m thighs with 0.3 m of it towards the camera: 0.29 m across, ~82 px.
    rows = np.arange(250, 333)
    ramp = 2.0 - 0.3 * (rows - 250) / 82.0
    depth[250:333, 292:312] = ramp[:, None]
    depth[250:333, 328:348] = ramp[:, None]
    depth[333:480, 292:312] = 1.7
    depth[333:480, 328:348] = 1.7
    subject, lifter = lifted(depth, subject=person(knee_row=332.0))
    assert lifter.hidden_joints == 0
    assert subject.depth_sources[LEFT_KNEE] == DepthSource.SENSOR
    assert subject.positions[LEFT_KNEE, 2] < 1.8


def test_path_depths_take_the_patch_median_and_skip_invalid_pixels() -> None:
    depth = np.full((20, 20), 3.0, np.float32)
    depth[:, 10:] = 1.0
    depth[5, 3] = np.nan
    depth[5, 4] = 0.0
    path = path_depths(depth, np.array([[2.0, 5.0]]), np.array([[17.0, 5.0]]), 0.3, 10.0)
    assert path[0, 0] == 3.0 and path[0, -1] == 1.0
    drop, beyond = largest_drop(path)
    assert drop[0] == pytest.approx(2.0) and beyond[0] == 1.0
    drop, beyond = largest_drop(np.array([[np.nan, 2.0, np.nan, 1.9, 1.8]]))
    assert drop[0] == pytest.approx(0.1) and beyond[0] == pytest.approx(1.9)
