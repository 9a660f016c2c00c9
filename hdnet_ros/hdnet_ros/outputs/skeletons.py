"""hdnet_ros_msgs/Skeleton3DArray from the people of one frame.

Every number of every person goes from numpy to Python in one ``tolist`` per array for the
whole frame, and the messages are made with positional arguments by ``map`` over those
lists: a frame of 20 people is about 1000 messages (each keypoint and its Point), and the
per-call overhead of numpy scalars, keyword arguments or a Python loop body would cost more
than the messages. Every invalid joint shares one NaN Point, the people without feet (no 3D
network ran on them) share one set of unknown feet, and the markers show the keypoints' own
Points (:func:`joint_points`): messages are never changed once built, and a serialiser or
the node's conversion reads a shared object as it reads its own.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from itertools import chain
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import JOINT_SET_NAME, NUM_FEET, NUM_JOINTS
from hdnet_ros.outputs.common import header, msg_type, positional_type, stacked
from hdnet_ros.outputs.message_kernel import keypoint_fields, person_fields
from hdnet_ros.people import DepthSource, Person

_NAN3 = [float("nan")] * 3
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


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
    joint is NaN with DEPTH_SOURCE_NONE, never (0, 0, 0). The fields come from one compiled
    pass (:func:`.message_kernel.keypoint_fields`) and the messages are made by ``map`` over
    one list per field (no Python loop body per joint), the Points of the valid joints
    likewise."""
    types = _types()
    keypoint, point = types.keypoint, types.point
    fields = keypoint_fields(positions, stddev, sources, pixels, scores)
    points = list(map(point, *fields.points))
    if len(points) < len(fields.valid):  # invalid joints: one Point for all (messages are read-only once built)
        points.append(point(*_NAN3))
        points = list(map(points.__getitem__, fields.slots))
    return list(map(keypoint, points, fields.sigma, fields.confidence, fields.u, fields.v, fields.valid, fields.source))


def joint_points(skeletons: Sequence[Any]) -> list[Any]:
    """The positions (geometry_msgs/Point) of the Skeleton3D messages' keypoints, then their
    feet, person after person (``NUM_JOINTS + NUM_FEET`` each): the markers show these same
    objects instead of making their own."""
    positions = _POSITION
    return list(map(positions, chain.from_iterable(chain.from_iterable((s.keypoints, s.feet) for s in skeletons))))


_POSITION = attrgetter("position")


def _no_feet() -> list[Any]:
    """The feet messages of the people without feet (:func:`.message_kernel.person_fields`;
    keypoint_msgs' of them), one Keypoint3D shared by the NUM_FEET slots."""
    types = _types()
    nan = float("nan")
    return [types.keypoint(types.point(*_NAN3), nan, 0.0, nan, nan, False, int(DepthSource.NONE))] * NUM_FEET


def skeleton_msgs(people: list[Person]) -> list[Any]:
    """The Skeleton3D of each person, all people's keypoints in one pass and the feet of
    those who have any in another (the others share one set of unknown feet)."""
    if not people:
        return []
    types = _types()
    positions = np.asarray(stacked([p.positions for p in people]), dtype=np.float64)
    keypoints = keypoint_msgs(
        positions,
        stacked([p.position_stddev for p in people]),
        stacked([p.depth_sources for p in people]),
        stacked([p.pixels for p in people]),
        stacked([p.scores for p in people]),
    )
    feet = stacked([p.feet for p in people])
    feet_pixels = stacked([p.feet_pixels for p in people])
    feet_scores = stacked([p.feet_scores for p in people])
    fields = person_fields(positions, stacked([p.velocity for p in people]), feet, feet_pixels, feet_scores)
    feet_keypoints: list[Any] = []
    no_feet: list[Any] = []
    if not all(fields.without_feet):  # (all of them where no 3D network ran)
        with_feet = ~np.array(fields.without_feet)
        feet_keypoints = keypoint_msgs(
            feet[with_feet],
            stacked([p.feet_stddev for p in people])[with_feet],
            stacked([p.feet_sources for p in people])[with_feet],
            feet_pixels[with_feet],
            feet_scores[with_feet],
        )
    if any(fields.without_feet):
        no_feet = _no_feet()
    boxes = stacked([p.detection.box for p in people]).astype(np.float64).tolist()
    point, vector3, bbox, skeleton = types.point, types.vector3, types.bbox, types.skeleton
    messages = []
    feet_start = 0
    start = 0
    for person, r, has_root, v, has_velocity, b, bare in zip(
        people, fields.roots, fields.root_valid, fields.velocities, fields.velocity_valid, boxes, fields.without_feet,
        strict=True,
    ):  # fmt: skip
        if bare:
            person_feet = list(no_feet)
        else:
            person_feet = feet_keypoints[feet_start : feet_start + NUM_FEET]
            feet_start += NUM_FEET
        messages.append(
            skeleton(
                int(person.track_id),
                int(person.tracking_state),
                float(person.detection.score),
                JOINT_SET_NAME,
                point(r[0], r[1], r[2]),
                has_root,
                vector3(v[0], v[1], v[2]),
                has_velocity,
                bbox(b[0], b[1], b[2], b[3]),
                keypoints[start : start + NUM_JOINTS],
                person_feet,
            )
        )
        start += NUM_JOINTS
    return messages


def skeleton_msg(person: Person) -> Any:
    return skeleton_msgs([person])[0]


def skeleton_array_msg(people: list[Person], stamp_ns: int, frame_id: str) -> Any:
    """The Skeleton3DArray of one frame, stamped with the RGB capture time."""
    return msg_type("hdnet_ros_msgs/msg/Skeleton3DArray")(
        header=header(stamp_ns, frame_id), skeletons=skeleton_msgs(people)
    )
