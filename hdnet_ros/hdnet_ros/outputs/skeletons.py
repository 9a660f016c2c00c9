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

from hdnet_ros.joints import JOINT_SET_NAME, NUM_FEET, NUM_JOINTS, ROOT
from hdnet_ros.outputs.common import header, msg_type, positional_type, stacked
from hdnet_ros.people import DepthSource, Person

_NAN3 = [float("nan")] * 3
_NAN_BITS = np.array(np.nan).view(np.uint64)  # numpy's (and Python's) NaN, as the bytes see it
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
    joint is NaN with DEPTH_SOURCE_NONE, never (0, 0, 0). The messages are made by ``map``
    over one list per field (no Python loop body per joint), the Points of the valid joints
    likewise."""
    types = _types()
    keypoint, point = types.keypoint, types.point
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    valid = np.all(np.isfinite(positions), axis=1)
    oks = valid.tolist()
    points = list(map(point, *positions[valid].T.tolist()))
    if len(points) < len(oks):  # invalid joints: one Point for all (messages are read-only once built)
        made, unknown = iter(points), point(*_NAN3)
        points = [next(made) if ok else unknown for ok in oks]
    sigma = np.where(valid, np.asarray(stddev, dtype=np.float64).reshape(-1), np.nan).tolist()
    source = np.where(valid, np.asarray(sources).reshape(-1), int(DepthSource.NONE)).astype(np.int64).tolist()
    u, v = np.asarray(pixels, dtype=np.float64).reshape(-1, 2).T.tolist()
    confidence = np.asarray(scores, dtype=np.float64).reshape(-1).tolist()
    return list(map(keypoint, points, sigma, confidence, u, v, oks, source))


def joint_points(skeletons: Sequence[Any]) -> list[Any]:
    """The positions (geometry_msgs/Point) of the Skeleton3D messages' keypoints, then their
    feet, person after person (``NUM_JOINTS + NUM_FEET`` each): the markers show these same
    objects instead of making their own."""
    positions = _POSITION
    return list(map(positions, chain.from_iterable(chain.from_iterable((s.keypoints, s.feet) for s in skeletons))))


_POSITION = attrgetter("position")


def _without_feet(feet: FloatArray, pixels: FloatArray, scores: FloatArray) -> BoolArray:
    """The people [P] whose feet [P,F,3] are all unknown, unseen (pixels [P,F,2] numpy's own
    NaN) and scored 0.0 [P,F]: a person no 3D network ran on. Their feet messages are all
    the same (:func:`_no_feet`), to the bit."""
    unknown = ~np.all(np.isfinite(feet), axis=-1)
    unseen = np.all(pixels.view(np.uint64) == _NAN_BITS, axis=-1)
    return np.all(unknown & unseen & (scores.view(np.uint64) == 0), axis=1)


def _no_feet() -> list[Any]:
    """The feet messages of :func:`_without_feet`'s people (keypoint_msgs' of them), one
    Keypoint3D shared by the NUM_FEET slots."""
    types = _types()
    nan = float("nan")
    return [types.keypoint(types.point(*_NAN3), nan, 0.0, nan, nan, False, int(DepthSource.NONE))] * NUM_FEET


def skeleton_msgs(people: list[Person]) -> list[Any]:
    """The Skeleton3D of each person, all people's keypoints in one pass and the feet of
    those who have any in another (the others share one set of unknown feet)."""
    if not people:
        return []
    types = _types()
    positions = stacked([p.positions for p in people])
    keypoints = keypoint_msgs(
        positions,
        stacked([p.position_stddev for p in people]),
        stacked([p.depth_sources for p in people]),
        stacked([p.pixels for p in people]),
        stacked([p.scores for p in people]),
    )
    feet = np.asarray(stacked([p.feet for p in people]), dtype=np.float64)
    feet_pixels = np.asarray(stacked([p.feet_pixels for p in people]), dtype=np.float64)
    feet_scores = np.asarray(stacked([p.feet_scores for p in people]), dtype=np.float64)
    without = _without_feet(feet, feet_pixels, feet_scores)
    with_feet = ~without
    feet_keypoints = []
    if with_feet.any():  # (none where no 3D network ran)
        feet_keypoints = keypoint_msgs(
            feet[with_feet],
            stacked([p.feet_stddev for p in people])[with_feet],
            stacked([p.feet_sources for p in people])[with_feet],
            feet_pixels[with_feet],
            feet_scores[with_feet],
        )
    feet_start = 0
    no_feet = _no_feet() if np.any(without) else []
    root = positions[:, ROOT].astype(np.float64)
    root_valid = np.all(np.isfinite(root), axis=1)
    roots = np.where(root_valid[:, None], root, np.nan).tolist()
    velocity = stacked([p.velocity for p in people]).astype(np.float64)
    velocity_valid = np.all(np.isfinite(velocity), axis=1)
    velocities = np.where(velocity_valid[:, None], velocity, np.nan).tolist()
    boxes = stacked([p.detection.box for p in people]).astype(np.float64).tolist()
    point, vector3, bbox, skeleton = types.point, types.vector3, types.bbox, types.skeleton
    messages = []
    flags = zip(root_valid.tolist(), velocity_valid.tolist(), without.tolist(), strict=True)
    for index, (person, r, v, b, (has_root, has_velocity, bare)) in enumerate(
        zip(people, roots, velocities, boxes, flags, strict=True)
    ):
        start = index * NUM_JOINTS
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
    return messages


def skeleton_msg(person: Person) -> Any:
    return skeleton_msgs([person])[0]


def skeleton_array_msg(people: list[Person], stamp_ns: int, frame_id: str) -> Any:
    """The Skeleton3DArray of one frame, stamped with the RGB capture time."""
    return msg_type("hdnet_ros_msgs/msg/Skeleton3DArray")(
        header=header(stamp_ns, frame_id), skeletons=skeleton_msgs(people)
    )
