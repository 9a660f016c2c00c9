"""TF frames of people: ``body_<id>`` at the pelvis (REP-155), optional per-joint frames.

The body frame follows REP-155's axes: x forward out of the chest, y to the person's left,
z up along the spine. Where the joints needed for that are missing, it falls back to
z = the camera's up and x = towards the camera (a person facing the robot).
"""

from __future__ import annotations

from typing import Any

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
from hdnet_ros.outputs.common import body_label, header, msg_type, vector3
from hdnet_ros.people import Person

FloatArray = npt.NDArray[np.float64]
CAMERA_UP = np.array([0.0, -1.0, 0.0])  # optical frames have y down
TOWARDS_CAMERA = np.array([0.0, 0.0, -1.0])


def _unit(vector: FloatArray) -> FloatArray | None:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-6 and np.isfinite(norm) else None


def _cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """np.cross of two 3-vectors, the same products and differences without its generic
    axis handling (a tenth of the time)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def body_axes(person: Person) -> FloatArray:
    """3x3 rotation whose columns are the body frame's x, y, z in the camera frame."""
    p = person.positions
    up = _unit(p[NECK] - p[ROOT]) if np.all(np.isfinite(p[[NECK, ROOT]])) else None
    left = None
    for a, b in ((LEFT_HIP, RIGHT_HIP), (LEFT_SHOULDER, RIGHT_SHOULDER)):
        if np.all(np.isfinite(p[[a, b]])):
            left = _unit(p[a] - p[b])
            break
    z = up if up is not None else CAMERA_UP
    if left is None:
        x_guess = TOWARDS_CAMERA - z * float(TOWARDS_CAMERA @ z)
        x = _unit(x_guess)
        if x is None:
            x = np.array([1.0, 0.0, 0.0])
        y = _cross(z, x)
    else:
        y_perp = _unit(left - z * float(left @ z))
        y = y_perp if y_perp is not None else _cross(z, TOWARDS_CAMERA)
        x = _cross(y, z)
    return np.stack((x, y, z), axis=1)


def quaternion_from_matrix(rotation: FloatArray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a proper rotation matrix (Shepperd's method, stable for all angles)."""
    m = rotation
    trace = float(np.trace(m))
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        w, x, y, z = 0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        w, x, y, z = (m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        w, x, y, z = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        w, x, y, z = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s
    return float(x), float(y), float(z), float(w)


def _transform(stamp_ns: int, parent: str, child: str, translation: FloatArray, rotation: FloatArray) -> Any:
    qx, qy, qz, qw = quaternion_from_matrix(rotation)
    return msg_type("geometry_msgs/msg/TransformStamped")(
        header=header(stamp_ns, parent),
        child_frame_id=child,
        transform=msg_type("geometry_msgs/msg/Transform")(
            translation=vector3(translation),
            rotation=msg_type("geometry_msgs/msg/Quaternion")(x=qx, y=qy, z=qz, w=qw),
        ),
    )


def body_transforms(
    people: list[Person], stamp_ns: int, camera_frame: str, prefix: str = "body_", joint_frames: bool = False
) -> list[Any]:
    """TransformStamped for each person with a valid root (and, optionally, each valid joint
    as ``<link>_<id>`` child of the body frame), stamped with the image time."""
    transforms = []
    for index, person in enumerate(people):
        if not person.valid[ROOT]:
            continue
        label = body_label(person, index)
        body = f"{prefix}{label}"
        rotation = body_axes(person)
        root = person.positions[ROOT]
        transforms.append(_transform(stamp_ns, camera_frame, body, root, rotation))
        if not joint_frames:
            continue
        for joint in np.flatnonzero(person.valid):
            if joint == ROOT:
                continue
            local = rotation.T @ (person.positions[joint] - root)
            link = REP155_LINK_NAMES.get(int(joint), JOINT_NAMES[joint])
            transforms.append(_transform(stamp_ns, body, f"{link}_{label}", local, np.eye(3)))
    return transforms


def tf_message(transforms: list[Any]) -> Any:
    return msg_type("tf2_msgs/msg/TFMessage")(transforms=transforms)
