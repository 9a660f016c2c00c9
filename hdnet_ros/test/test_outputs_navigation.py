"""People for navigation and HRI: people_msgs/People and REP-155's hri_msgs/IdsList, built
without ROS from their exact upstream definitions, in the target frame at the image stamp,
with names and ids that match the body_<id> TF frames."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest
from hdnet_ros.joints import NUM_JOINTS, PELVIS
from hdnet_ros.outputs.navigation import (
    PEOPLE_TYPE,
    TRACKED_BODIES_TYPE,
    navigation_outputs,
    people_msg,
    tracked_bodies_msg,
)
from hdnet_ros.outputs.people_pose import people_in_frame
from hdnet_ros.outputs.tf_frames import body_transforms, quaternion_from_matrix
from hdnet_ros.people import Detection, Person, TrackingState
from hdnet_ros.ros_types import PEER_DEFINITIONS, typestore
from hdnet_ros.transform_buffer import Transform
from rosbags.interfaces import Nodetype

STAMP = 1_700_000_000_123_456_789
# base_link (x forward, y left, z up) from a camera optical frame (x right, y down, z forward)
# 1.2 m up and 0.1 m forward, as in test_node_people_pose.
OPTICAL_TO_BASE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CAMERA_IN_BASE = Transform.from_quaternion(np.array([0.1, 0.0, 1.2]), quaternion_from_matrix(OPTICAL_TO_BASE))
Vector = tuple[float, float, float]


def person(
    pelvis: Vector | None,
    velocity: Vector | None = None,
    track_id: int = 0,
    score: float = 0.9,
    state: TrackingState = TrackingState.OFF,
) -> Person:
    positions = np.full((NUM_JOINTS, 3), np.nan)
    if pelvis is not None:
        positions[PELVIS] = pelvis
    return Person(
        detection=Detection(np.array([0.0, 0.0, 10.0, 10.0]), score),
        pixels=np.full((NUM_JOINTS, 2), np.nan),
        scores=np.zeros(NUM_JOINTS),
        positions=positions,
        velocity=np.array(velocity if velocity is not None else (np.nan,) * 3, dtype=np.float64),
        track_id=track_id,
        tracking_state=state,
    )


def roundtrip(msg: Any) -> Any:
    """Through CDR, as a subscriber (or the replay's bag) sees it."""
    store = typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


def stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


@pytest.mark.parametrize("name", sorted(PEER_DEFINITIONS))
def test_peer_definitions_are_the_upstream_files_byte_for_byte(name: str) -> None:
    """The git blob id of each text is the id of the upstream file it was copied from."""
    definition = PEER_DEFINITIONS[name]
    data = definition.text.encode()
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == definition.git_blob, definition.source


def field_types(msgtype: str) -> list[tuple[str, str]]:
    def spelled(kind: Any, detail: Any) -> str:
        if kind == Nodetype.BASE:
            return str(detail[0])
        if kind == Nodetype.NAME:
            return str(detail)
        return f"{spelled(*detail[0])}[]"

    return [(name, spelled(*definition)) for name, definition in typestore().fielddefs[msgtype][1]]


def test_registered_peer_messages_have_the_upstream_fields() -> None:
    assert field_types("people_msgs/msg/Person") == [
        ("name", "string"),
        ("position", "geometry_msgs/msg/Point"),
        ("velocity", "geometry_msgs/msg/Point"),
        ("reliability", "float64"),
        ("tagnames", "string[]"),
        ("tags", "string[]"),
    ]
    assert field_types(PEOPLE_TYPE) == [("header", "std_msgs/msg/Header"), ("people", "people_msgs/msg/Person[]")]
    assert field_types(TRACKED_BODIES_TYPE) == [("header", "std_msgs/msg/Header"), ("ids", "string[]")]


def test_people_are_in_the_target_frame_with_velocity_rotated_and_confidence_as_reliability() -> None:
    walking = person((0.5, 0.2, 2.0), (0.3, 0.0, 1.0), track_id=7, score=0.8, state=TrackingState.TRACKED)
    message = roundtrip(people_msg(people_in_frame([walking], CAMERA_IN_BASE), STAMP, "base_link"))
    assert message.header.frame_id == "base_link" and stamp_ns(message.header) == STAMP
    (published,) = message.people
    assert published.name == "7"
    assert (published.position.x, published.position.y, published.position.z) == pytest.approx((2.1, -0.5, 1.0))
    # Velocities turn with the frame but do not move with it: (0.3, 0, 1) optical is (1, -0.3, 0) in base_link.
    assert (published.velocity.x, published.velocity.y, published.velocity.z) == pytest.approx((1.0, -0.3, 0.0))
    assert published.reliability == pytest.approx(0.8)
    assert dict(zip(published.tagnames, published.tags, strict=True)) == {
        "tracking_state": "tracked",
        "velocity_valid": "true",
    }


def test_unknown_velocity_is_zero_and_tagged_invalid() -> None:
    message = roundtrip(people_msg(people_in_frame([person((0.0, 0.0, 3.0))], CAMERA_IN_BASE), STAMP, "base_link"))
    (published,) = message.people
    assert (published.velocity.x, published.velocity.y, published.velocity.z) == (0.0, 0.0, 0.0)
    assert dict(zip(published.tagnames, published.tags, strict=True))["velocity_valid"] == "false"
    assert all(np.isfinite([published.position.x, published.position.y, published.position.z]))


def test_people_without_a_pelvis_are_not_published_and_names_match_the_body_frames() -> None:
    people = [person(None, track_id=3), person((0.0, 0.0, 2.0), track_id=4), person((1.0, 0.0, 3.0), track_id=9)]
    frames = {t.child_frame_id for t in body_transforms(people, STAMP, "cam")}
    message = roundtrip(people_msg(people_in_frame(people, Transform.identity()), STAMP, "cam"))
    assert [p.name for p in message.people] == ["4", "9"]
    assert {f"body_{p.name}" for p in message.people} == frames


def test_tracked_bodies_are_the_broadcast_body_frames() -> None:
    people = [person((0.0, 0.0, 2.0)), person(None), person((1.0, 0.0, 3.0), track_id=12)]
    message = roundtrip(tracked_bodies_msg(people, STAMP, "cam"))
    assert message.header.frame_id == "cam" and stamp_ns(message.header) == STAMP
    assert message.ids == ["1", "12"]  # index + 1 without tracking, else the track id; no pelvis, no frame
    assert {f"body_{i}" for i in message.ids} == {t.child_frame_id for t in body_transforms(people, STAMP, "cam")}
    assert roundtrip(tracked_bodies_msg([], STAMP, "cam")).ids == []  # "nobody now" is said, not left out


def test_navigation_outputs_without_a_transform_keep_the_body_list() -> None:
    people = [person((0.0, 0.0, 2.0), (0.0, 0.0, 0.5), track_id=5)]
    missing = navigation_outputs(people, STAMP, "cam", "map", None)
    assert missing.poses is None and missing.people is None
    assert roundtrip(missing.bodies).ids == ["5"]
    found = navigation_outputs(people, STAMP, "cam", "base_link", CAMERA_IN_BASE)
    poses, published = roundtrip(found.poses), roundtrip(found.people)
    assert poses.header.frame_id == published.header.frame_id == "base_link"
    assert roundtrip(found.bodies).header.frame_id == "cam"  # the body frames' parent
    (pose,), (entry,) = poses.poses, published.people
    assert (pose.position.x, pose.position.y, pose.position.z) == (entry.position.x, entry.position.y, entry.position.z)
