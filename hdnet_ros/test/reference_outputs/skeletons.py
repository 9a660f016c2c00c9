"""main's outputs/skeletons.py at 30ee9d3 (reference_outputs); its docstring follows.

hdnet_ros_msgs/Skeleton3DArray from the people of one frame.

Every number of every person goes from numpy to Python in one ``tolist`` per array for the
whole frame, and each message is made with positional arguments in one pass: a frame of 20
people is about 1000 messages (each keypoint and its Point), and the per-call overhead of
numpy scalars and keyword arguments would cost more than the messages. Every invalid joint
shares one NaN Point, and the markers show the keypoints' own Points (:func:`joint_points`):
messages are never changed once built, and a serialiser or the node's conversion reads a
shared object as it reads its own.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from hdnet_ros.joints import JOINT_SET_NAME, NUM_FEET, NUM_JOINTS, ROOT
from hdnet_ros.outputs.common import header, msg_type, positional_type
from hdnet_ros.people import DepthSource, Person

_NAN3 = [float("nan")] * 3


class _Types(NamedTuple):
    keypoint: Any
    point: Any
    vector3: Any
    bbox: Any
    skeleton: Any


@functools.lru_cache(maxsize=1)
def _types() -> _Types:
    return _Types(
        positional_type(
            "hdnet_ros_msgs/msg/Keypoint3D",
            "position",
            "position_stddev",
            "confidence",
            "pixel_x",
            "pixel_y",
            "valid",
            "depth_source",
        ),
        positional_type("geometry_msgs/msg/Point", "x", "y", "z"),
        positional_type("geometry_msgs/msg/Vector3", "x", "y", "z"),
        positional_type("hdnet_ros_msgs/msg/BoundingBox2D", "x_min", "y_min", "x_max", "y_max"),
        positional_type(
            "hdnet_ros_msgs/msg/Skeleton3D",
            "id",
            "tracking_state",
            "confidence",
            "joint_set",
            "root_position",
            "root_valid",
            "velocity",
            "velocity_valid",
            "bbox",
            "keypoints",
            "feet",
        ),
    )


def keypoint_msgs(
    positions: npt.NDArray[np.floating],
    stddev: npt.NDArray[np.floating],
    sources: npt.NDArray[np.integer],
    pixels: npt.NDArray[np.floating],
    scores: npt.NDArray[np.floating],
) -> list[Any]:
    """Keypoint3D messages of joints [K] (positions [K,3] NaN where invalid); an invalid
    joint is NaN with DEPTH_SOURCE_NONE, never (0, 0, 0)."""
    types = _types()
    keypoint, point = types.keypoint, types.point
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    valid = np.all(np.isfinite(positions), axis=1)
    xyz = np.where(valid[:, None], positions, np.nan).tolist()
    sigma = np.where(valid, np.asarray(stddev, dtype=np.float64).reshape(-1), np.nan).tolist()
    source = np.where(valid, np.asarray(sources).reshape(-1), int(DepthSource.NONE)).astype(np.int64).tolist()
    uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2).tolist()
    confidence = np.asarray(scores, dtype=np.float64).reshape(-1).tolist()
    unknown = point(*_NAN3)  # one Point for every invalid joint: messages are read-only once built
    return [
        keypoint(point(p[0], p[1], p[2]) if ok else unknown, s, c, q[0], q[1], ok, d)
        for p, s, c, q, ok, d in zip(xyz, sigma, confidence, uv, valid.tolist(), source, strict=True)
    ]


def joint_points(skeletons: Sequence[Any]) -> list[Any]:
    """The positions (geometry_msgs/Point) of the Skeleton3D messages' keypoints, then their
    feet, person after person (``NUM_JOINTS + NUM_FEET`` each): the markers show these same
    objects instead of making their own."""
    return [keypoint.position for skeleton in skeletons for keypoint in (*skeleton.keypoints, *skeleton.feet)]


def skeleton_msgs(people: list[Person]) -> list[Any]:
    """The Skeleton3D of each person, all people's keypoints and feet made in one pass."""
    if not people:
        return []
    types = _types()
    joints = np.concatenate([np.stack([p.positions for p in people]), np.stack([p.feet for p in people])], axis=1)
    keypoints = keypoint_msgs(
        joints,
        np.concatenate([np.stack([p.position_stddev for p in people]), np.stack([p.feet_stddev for p in people])], 1),
        np.concatenate([np.stack([p.depth_sources for p in people]), np.stack([p.feet_sources for p in people])], 1),
        np.concatenate([np.stack([p.pixels for p in people]), np.stack([p.feet_pixels for p in people])], 1),
        np.concatenate([np.stack([p.scores for p in people]), np.stack([p.feet_scores for p in people])], 1),
    )
    per_person = NUM_JOINTS + NUM_FEET
    root = joints[:, ROOT]
    root_valid = np.all(np.isfinite(root), axis=1)
    roots = np.where(root_valid[:, None], root, np.nan).tolist()
    velocity = np.stack([p.velocity for p in people]).astype(np.float64)
    velocity_valid = np.all(np.isfinite(velocity), axis=1)
    velocities = np.where(velocity_valid[:, None], velocity, np.nan).tolist()
    boxes = np.stack([p.detection.box for p in people]).astype(np.float64).tolist()
    point, vector3, bbox, skeleton = types.point, types.vector3, types.bbox, types.skeleton
    messages = []
    for index, person in enumerate(people):
        start = index * per_person
        r, v, b = roots[index], velocities[index], boxes[index]
        messages.append(
            skeleton(
                int(person.track_id),
                int(person.tracking_state),
                float(person.detection.score),
                JOINT_SET_NAME,
                point(r[0], r[1], r[2]),
                bool(root_valid[index]),
                vector3(v[0], v[1], v[2]),
                bool(velocity_valid[index]),
                bbox(b[0], b[1], b[2], b[3]),
                keypoints[start : start + NUM_JOINTS],
                keypoints[start + NUM_JOINTS : start + per_person],
            )
        )
    return messages


def skeleton_msg(person: Person) -> Any:
    return skeleton_msgs([person])[0]


def skeleton_array_msg(people: list[Person], stamp_ns: int, frame_id: str) -> Any:
    """The Skeleton3DArray of one frame, stamped with the RGB capture time."""
    return msg_type("hdnet_ros_msgs/msg/Skeleton3DArray")(
        header=header(stamp_ns, frame_id), skeletons=skeleton_msgs(people)
    )
