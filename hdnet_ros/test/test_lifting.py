"""Depth lifting on constructed depth images whose right answer is known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import LEFT_HIP, LEFT_SHOULDER, LEFT_WRIST, NUM_JOINTS, PELVIS, RIGHT_HIP, RIGHT_SHOULDER
from hdnet_ros.people import DepthSource, Detection, Person
from hdnet_ros.stages.depth import DepthLifter, LiftingConfig, NetworkEstimates
from hdnet_ros.stages.depth.arrays import PersonMasks
from hdnet_ros.synthetic.masks import RectangleMask

CAMERA = CameraModel.from_fov(640, 480, 60.0)


def person_with(pixels: dict[int, tuple[float, float]]) -> Person:
    uv = np.full((NUM_JOINTS, 2), np.nan)
    scores = np.zeros(NUM_JOINTS)
    for joint, pixel in pixels.items():
        uv[joint] = pixel
        scores[joint] = 0.9
    return Person(Detection(np.array([250.0, 100.0, 390.0, 460.0]), 0.9), uv, scores)


def scene() -> tuple[np.ndarray, Person]:
    """A 2 m torso rectangle over a 9.9 m wall; a wrist whose window is mostly wall."""
    depth = np.full((480, 640), 9.9, np.float32)
    depth[150:330, 280:360] = 2.0  # torso
    depth[300:306, 362:367] = 1.9  # thin wrist held a little forward: a few pixels of the person
    person = person_with(
        {
            LEFT_SHOULDER: (350.0, 160.0),
            RIGHT_SHOULDER: (290.0, 160.0),
            LEFT_HIP: (345.0, 310.0),
            RIGHT_HIP: (295.0, 310.0),
            LEFT_WRIST: (366.0, 303.0),
        }
    )
    return depth, person


def test_wrist_over_far_background_takes_the_person_depth() -> None:
    depth, person = scene()
    window = depth[303 - 9 : 303 + 10, 366 - 9 : 366 + 10]
    assert np.median(window) > 9.0  # the plain median is the wall: the failure to avoid
    config = LiftingConfig()
    DepthLifter(config).lift(person, depth, CAMERA)
    # The wrist's surface, moved along the ray to the joint centre.
    assert abs(person.positions[LEFT_WRIST, 2] - (1.9 + config.surface_offset_wrist_m)) < 0.01
    assert person.depth_sources[LEFT_WRIST] == DepthSource.SENSOR


def test_pelvis_is_the_midpoint_of_the_hips() -> None:
    depth, person = scene()
    config = LiftingConfig()
    DepthLifter(config).lift(person, depth, CAMERA)
    np.testing.assert_allclose(person.positions[PELVIS], person.positions[[LEFT_HIP, RIGHT_HIP]].mean(axis=0))
    # The offset runs along each hip's viewing ray, so z grows by slightly less than it.
    assert 0 < (2.0 + config.surface_offset_hip_m) - person.positions[PELVIS, 2] < 2e-3


def test_joint_with_only_background_stays_invalid() -> None:
    depth, person = scene()
    person.pixels[LEFT_WRIST] = (500.0, 300.0)  # wall only
    DepthLifter(LiftingConfig(complete_joints=False)).lift(person, depth, CAMERA)
    assert not person.valid[LEFT_WRIST]
    assert np.all(np.isnan(person.positions[LEFT_WRIST]))
    assert person.depth_sources[LEFT_WRIST] == DepthSource.NONE
    # With completion on, the wrist is placed from its skeleton and says it was inferred.
    DepthLifter(LiftingConfig()).lift(person, depth, CAMERA)
    assert person.depth_sources[LEFT_WRIST] in (DepthSource.NONE, DepthSource.INFERRED)
    assert person.positions[LEFT_WRIST, 2] < 3.0 or not person.valid[LEFT_WRIST]


def test_holes_and_zero_depth_never_give_zero_positions() -> None:
    depth, person = scene()
    depth[:, :] = np.nan
    DepthLifter(LiftingConfig(complete_joints=False, root_prior=False)).lift(person, depth, CAMERA)
    assert person.num_valid == 0
    assert not np.any(person.positions == 0.0)
    # With the priors on, whatever is placed is marked inferred, never as a measurement.
    DepthLifter(LiftingConfig()).lift(person, depth, CAMERA)
    assert np.all(person.depth_sources[person.valid] == DepthSource.INFERRED)
    assert not np.any(person.positions == 0.0)


def test_arm_in_front_of_torso_takes_the_nearer_surface() -> None:
    depth, person = scene()
    depth[230:250, 300:340] = 1.75  # forearm across the chest, 25 cm in front
    person.pixels[LEFT_WRIST] = (320.0, 240.0)
    config = LiftingConfig()
    DepthLifter(config).lift(person, depth, CAMERA)
    assert abs(person.positions[LEFT_WRIST, 2] - (1.75 + config.surface_offset_wrist_m)) < 0.01


def test_a_person_mask_keeps_another_persons_surface_out() -> None:
    """A wrist window entirely covered by someone else's arm at a depth the wrist could have:
    the feasible intervals cannot tell the two apart, the person's mask can."""
    depth, person = scene()
    depth[295:312, 361:378] = 1.92  # another person's forearm over the wrist, 8 cm nearer
    config = LiftingConfig(complete_joints=False)
    DepthLifter(config).lift(person, depth, CAMERA)
    other_arm = 1.92 + config.surface_offset_wrist_m
    assert abs(person.positions[LEFT_WRIST, 2] - other_arm) < 0.01  # took the other arm
    # This person's pixels: the torso and their own wrist, not the other forearm.
    inside = np.zeros((480, 640), dtype=bool)
    inside[150:330, 280:360] = True
    mask = PersonMasks.stack([RectangleMask(0, 0, inside)])
    masked = Person(person.detection, person.pixels.copy(), person.scores.copy())
    DepthLifter(config)([masked], depth, CAMERA, replace(NetworkEstimates.none(1), masks=mask))
    # Only this person's surfaces are left in the window: the arm of the other is not taken.
    assert not masked.valid[LEFT_WRIST] or abs(masked.positions[LEFT_WRIST, 2] - other_arm) > 0.05
    # Everything the mask covers is measured as before.
    for joint in (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP, PELVIS):
        np.testing.assert_allclose(masked.positions[joint], person.positions[joint])


def test_a_frame_without_any_mask_lifts_as_without_masks() -> None:
    """The 3D stage skipped every person this frame (their poses carried by the tracker):
    the stacked masks are empty, and the people are lifted as with no masks at all."""
    depth, person = scene()
    plain = Person(person.detection, person.pixels.copy(), person.scores.copy())
    DepthLifter(LiftingConfig())([plain], depth, CAMERA)
    unmasked = Person(person.detection, person.pixels.copy(), person.scores.copy())
    none = replace(NetworkEstimates.none(1), masks=PersonMasks.stack([None]))
    DepthLifter(LiftingConfig())([unmasked], depth, CAMERA, none)
    assert plain.num_valid >= 5
    np.testing.assert_array_equal(unmasked.positions, plain.positions)
