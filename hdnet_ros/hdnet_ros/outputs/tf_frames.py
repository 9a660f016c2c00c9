"""TF frames of people: ``body_<id>`` at the pelvis (REP-155), optional per-joint frames.

The body frame follows REP-155's axes: x forward out of the chest, y to the person's left,
z up along the spine. Where the joints needed for that are missing, it falls back to
z = the camera's up and x = towards the camera (a person facing the robot).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import (
    JOINT_NAMES,
    LEFT_HIP,
    LEFT_SHOULDER,
    NECK,
    REP155_LINK_NAMES,
    RIGHT_HIP,
    RIGHT_SHOULDER,
    ROOT,
)
from hdnet_ros.outputs.common import body_label, header, msg_type, positional_type, stacked
from hdnet_ros.outputs.tf_kernel import body_frames
from hdnet_ros.people import Person

FloatArray = npt.NDArray[np.float64]
CAMERA_UP = np.array([0.0, -1.0, 0.0])  # optical frames have y down
TOWARDS_CAMERA = np.array([0.0, 0.0, -1.0])
_LINK_NAMES = [REP155_LINK_NAMES.get(joint, name) for joint, name in enumerate(JOINT_NAMES)]


def _units(vectors: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Unit vectors of [P,3] rows, and which rows have one (finite, longer than 1e-6)."""
    norm = np.sqrt(np.sum(vectors * vectors, axis=-1))
    usable = np.isfinite(norm) & (norm > 1e-6)
    return vectors / np.where(usable, norm, 1.0)[:, None], usable


def _along(vectors: FloatArray, axes: FloatArray) -> FloatArray:
    """The parts of [P,3] ``vectors`` along the unit ``axes`` [P,3]."""
    return axes * np.sum(vectors * axes, axis=-1, keepdims=True)


def _cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """np.cross of [P,3] rows: the same products and differences, in the same order (the
    same bits), without np.cross's axis moving (a third of the body frames' cost)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    a0, a1, a2, b0, b1, b2 = a[:, 0], a[:, 1], a[:, 2], b[:, 0], b[:, 1], b[:, 2]
    out[:, 0] = a1 * b2 - a2 * b1
    out[:, 1] = a2 * b0 - a0 * b2
    out[:, 2] = a0 * b1 - a1 * b0
    return out


def body_rotations(positions: npt.ArrayLike) -> FloatArray:
    """3x3 rotations [P,3,3] whose columns are each body frame's x, y, z in the camera
    frame, from people's joints [P,J,3] (module doc)."""
    p = np.asarray(positions, dtype=np.float64)
    count = len(p)
    up, has_up = _units(p[:, NECK] - p[:, ROOT])
    z = np.where(has_up[:, None], up, CAMERA_UP)
    hips = np.all(np.isfinite(p[:, [LEFT_HIP, RIGHT_HIP]]), axis=(1, 2))
    shoulders = np.all(np.isfinite(p[:, [LEFT_SHOULDER, RIGHT_SHOULDER]]), axis=(1, 2))
    across = np.where(hips[:, None], p[:, LEFT_HIP] - p[:, RIGHT_HIP], p[:, LEFT_SHOULDER] - p[:, RIGHT_SHOULDER])
    left, has_left = _units(across)  # the hips win where both are seen, even when they coincide
    has_left &= hips | shoulders
    # Without a left: x towards the camera, square to z.
    towards = np.broadcast_to(TOWARDS_CAMERA, (count, 3))
    x_guess, has_guess = _units(towards - _along(towards, z))
    x_plain = np.where(has_guess[:, None], x_guess, np.array([1.0, 0.0, 0.0]))
    # With a left: y along it, square to z.
    y_perp, has_perp = _units(left - _along(left, z))
    y_left = np.where(has_perp[:, None], y_perp, _cross(z, towards))
    y = np.where(has_left[:, None], y_left, _cross(z, x_plain))
    x = np.where(has_left[:, None], _cross(y_left, z), x_plain)
    return np.stack((x, y, z), axis=2)


def body_axes(person: Person) -> FloatArray:
    """3x3 rotation whose columns are the body frame's x, y, z in the camera frame."""
    return body_rotations(person.positions[None])[0]


def quaternions_from_matrices(rotations: FloatArray) -> FloatArray:
    """(x, y, z, w) [P,4] of proper rotation matrices [P,3,3] (Shepperd's method, stable
    for all angles: the largest of w, x, y, z is found first)."""
    m = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    m00, m11, m22 = m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]
    trace = m00 + m11 + m22
    cases = (
        trace > 0,
        (m00 > m11) & (m00 > m22),
        m11 > m22,
        np.ones(len(m), dtype=bool),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (
            2.0 * np.sqrt(trace + 1.0),
            2.0 * np.sqrt(1.0 + m00 - m11 - m22),
            2.0 * np.sqrt(1.0 + m11 - m00 - m22),
            2.0 * np.sqrt(1.0 + m22 - m00 - m11),
        )
        d21, d02, d10 = m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]
        s01, s02, s12 = m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1]
        candidates = (  # (x, y, z, w) for each case
            (d21 / s[0], d02 / s[0], d10 / s[0], 0.25 * s[0]),
            (0.25 * s[1], s01 / s[1], s02 / s[1], d21 / s[1]),
            (s01 / s[2], 0.25 * s[2], s12 / s[2], d02 / s[2]),
            (s02 / s[3], s12 / s[3], 0.25 * s[3], d10 / s[3]),
        )
    result = np.zeros((len(m), 4))
    chosen = np.zeros(len(m), dtype=bool)
    for case, values in zip(cases, candidates, strict=True):
        use = case & ~chosen
        result[use] = np.stack(values, axis=1)[use]
        chosen |= use
    return result


def quaternion_from_matrix(rotation: FloatArray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a proper rotation matrix (Shepperd's method, stable for all angles)."""
    x, y, z, w = quaternions_from_matrices(rotation[None])[0].tolist()
    return x, y, z, w


class _Types(NamedTuple):
    transform_stamped: Any
    transform: Any
    vector3: Any
    quaternion: Any


@functools.lru_cache(maxsize=1)
def _types() -> _Types:
    return _Types(
        positional_type("geometry_msgs/msg/TransformStamped", "header", "child_frame_id", "transform"),
        positional_type("geometry_msgs/msg/Transform", "translation", "rotation"),
        positional_type("geometry_msgs/msg/Vector3", "x", "y", "z"),
        positional_type("geometry_msgs/msg/Quaternion", "x", "y", "z", "w"),
    )


def _transform(head: Any, child: str, translation: list[float], rotation: Any) -> Any:
    types = _types()
    x, y, z = translation
    return types.transform_stamped(head, child, types.transform(types.vector3(x, y, z), rotation))


def body_transforms(
    people: list[Person], stamp_ns: int, camera_frame: str, prefix: str = "body_", joint_frames: bool = False
) -> list[Any]:
    """TransformStamped for each person with a valid root (and, optionally, each valid joint
    as ``<link>_<id>`` child of the body frame), stamped with the image time. The transforms
    of one frame share their headers (read-only once built)."""
    if not people:
        return []
    everyone = stacked([person.positions for person in people]).astype(np.float64)
    rows = np.flatnonzero(np.all(np.isfinite(everyone[:, ROOT]), axis=1)).tolist()  # a valid root
    placed = [(index, people[index]) for index in rows]
    if not placed:
        return []
    types = _types()
    positions = everyone[rows]
    rotations, frame_quaternions = body_frames(positions)  # body_rotations' and their quaternions, compiled
    quaternions = frame_quaternions.tolist()
    roots = positions[:, ROOT]
    camera_header = header(stamp_ns, camera_frame)
    identity = types.quaternion(0.0, 0.0, 0.0, 1.0)
    transforms = []
    for row, ((index, person), root, quaternion) in enumerate(zip(placed, roots.tolist(), quaternions, strict=True)):
        label = body_label(person, index)
        body = f"{prefix}{label}"
        transforms.append(_transform(camera_header, body, root, types.quaternion(*quaternion)))
        if not joint_frames:
            continue
        valid = np.all(np.isfinite(positions[row]), axis=1)
        valid[ROOT] = False
        joints = np.flatnonzero(valid)
        local = (positions[row, joints] - positions[row, ROOT]) @ rotations[row]  # R^T (p - root) per joint
        body_header = header(stamp_ns, body)
        for joint, offset in zip(joints.tolist(), local.tolist(), strict=True):
            transforms.append(_transform(body_header, f"{_LINK_NAMES[joint]}_{label}", offset, identity))
    return transforms


def tf_message(transforms: list[Any]) -> Any:
    return msg_type("tf2_msgs/msg/TFMessage")(transforms=transforms)
