"""People in a target frame: positions get the full transform, velocities only its rotation,
and each pose's orientation is the heading of motion in the target frame."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hdnet_ros.joints import NUM_JOINTS, PELVIS
from hdnet_ros.outputs.common import msg_type
from hdnet_ros.outputs.people_pose import (
    IDENTITY,
    MIN_HEADING_SPEED,
    heading,
    people_in_frame,
    pose_array_msg,
)
from hdnet_ros.outputs.tf_frames import quaternion_from_matrix
from hdnet_ros.people import Detection, Person
from hdnet_ros.ros_types import typestore
from hdnet_ros.transform_buffer import Transform

STAMP = 1_700_000_000_123_456_789
# base_link (x forward, y left, z up) from a camera optical frame (x right, y down, z forward)
# mounted 1.2 m up and 0.1 m forward: x_base = z_opt, y_base = -x_opt, z_base = -y_opt.
OPTICAL_TO_BASE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CAMERA_IN_BASE = Transform.from_quaternion(np.array([0.1, 0.0, 1.2]), quaternion_from_matrix(OPTICAL_TO_BASE))


Vector = tuple[float, float, float]


def person(pelvis: Vector | None, velocity: Vector | None = None, track_id: int = 0) -> Person:
    positions = np.full((NUM_JOINTS, 3), np.nan)
    if pelvis is not None:
        positions[PELVIS] = pelvis
    return Person(
        detection=Detection(np.array([0.0, 0.0, 10.0, 10.0]), 0.9),
        pixels=np.full((NUM_JOINTS, 2), np.nan),
        scores=np.zeros(NUM_JOINTS),
        positions=positions,
        velocity=np.array(velocity if velocity is not None else (np.nan,) * 3, dtype=np.float64),
        track_id=track_id,
    )


def test_identity_keeps_positions_and_velocities() -> None:
    (moved,) = people_in_frame([person((0.5, 0.2, 2.0), (0.3, 0.0, 1.0))], Transform.identity())
    np.testing.assert_allclose(moved.position, [0.5, 0.2, 2.0])
    assert moved.velocity is not None
    np.testing.assert_allclose(moved.velocity, [0.3, 0.0, 1.0])


def test_positions_are_rotated_and_translated_velocities_only_rotated() -> None:
    (moved,) = people_in_frame([person((0.5, 0.2, 2.0), (0.3, 0.0, 1.0))], CAMERA_IN_BASE)
    np.testing.assert_allclose(moved.position, [2.1, -0.5, 1.0], atol=1e-12)
    assert moved.velocity is not None
    np.testing.assert_allclose(moved.velocity, [1.0, -0.3, 0.0], atol=1e-12)
    yaw = math.atan2(-0.3, 1.0)
    np.testing.assert_allclose(moved.orientation, (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)), atol=1e-12)


def test_transform_from_a_geometry_msgs_transform() -> None:
    qx, qy, qz, qw = quaternion_from_matrix(OPTICAL_TO_BASE)
    message = msg_type("geometry_msgs/msg/Transform")(
        translation=msg_type("geometry_msgs/msg/Vector3")(x=0.1, y=0.0, z=1.2),
        rotation=msg_type("geometry_msgs/msg/Quaternion")(x=qx, y=qy, z=qz, w=qw),
    )
    transform = Transform.from_msg(message)
    np.testing.assert_allclose(transform.apply([[0.0, 0.0, 1.0]]), [[1.1, 0.0, 1.2]], atol=1e-12)


def test_people_without_a_pelvis_are_left_out_and_labels_match_body_frames() -> None:
    people = [person(None), person((0.0, 0.0, 2.0)), person((1.0, 0.0, 3.0), track_id=7)]
    result = people_in_frame(people, Transform.identity())
    assert [p.label for p in result] == [2, 7]  # index + 1 without tracking, else the track id


@pytest.mark.parametrize(
    "velocity",
    [None, (np.nan, 0.0, 0.0), (MIN_HEADING_SPEED / 2, 0.0, 0.0), (0.0, 0.0, 1.0)],
    ids=["no velocity", "NaN", "too slow", "vertical"],
)
def test_unknown_or_negligible_motion_has_no_heading(velocity: Vector | None) -> None:
    (moved,) = people_in_frame([person((0.0, 0.0, 2.0), velocity)], Transform.identity())
    assert moved.orientation == IDENTITY
    if velocity is None or not np.all(np.isfinite(velocity)):
        assert moved.velocity is None


def test_heading_of_a_sideways_walk() -> None:
    x, y, z, w = heading(np.array([0.0, 1.0, 0.0]))
    assert (x, y) == (0.0, 0.0)
    assert 2 * math.atan2(z, w) == pytest.approx(math.pi / 2)


def test_pose_array_message() -> None:
    people = people_in_frame([person((0.5, 0.2, 2.0), (0.3, 0.0, 1.0))], CAMERA_IN_BASE)
    built = pose_array_msg(people, STAMP, "base_link")
    store = typestore()
    message: Any = store.deserialize_cdr(store.serialize_cdr(built, built.__msgtype__), built.__msgtype__)
    assert message.header.frame_id == "base_link"
    assert message.header.stamp.sec * 1_000_000_000 + message.header.stamp.nanosec == STAMP
    (pose,) = message.poses
    assert (pose.position.x, pose.position.y, pose.position.z) == pytest.approx((2.1, -0.5, 1.0))
    assert (pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w) == pytest.approx(
        people[0].orientation
    )
