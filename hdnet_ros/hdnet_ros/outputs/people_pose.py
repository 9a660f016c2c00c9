"""People in a target frame (e.g. base_link or map), and as geometry_msgs/PoseArray.

The node looks up the camera-to-target transform in TF at the image stamp (the replay has
no TF: it uses the identity, the camera frame); everything else is here, without ROS:
positions get rotation and translation, velocities only the rotation. The social
navigation messages (:mod:`hdnet_ros.outputs.navigation`) are built from the same
:class:`PersonInFrame` list. A PoseArray has no velocity field, so each pose's orientation carries the
direction of motion: a rotation about the target frame's z axis (up in REP-103 frames such
as base_link, odom or map) from +x to the horizontal velocity. It is the identity while the
velocity is unknown (tracking off) or slower than :data:`MIN_HEADING_SPEED`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import ROOT
from hdnet_ros.outputs.common import body_label, header, msg_type, point
from hdnet_ros.people import Person, TrackingState
from hdnet_ros.transform_buffer import Transform

FloatArray = npt.NDArray[np.float64]
Quaternion = tuple[float, float, float, float]  # x, y, z, w (ROS order)
IDENTITY: Quaternion = (0.0, 0.0, 0.0, 1.0)
MIN_HEADING_SPEED = 0.05  # m/s: slower motion is noise, not a direction


def heading(velocity: FloatArray | None) -> Quaternion:
    """Rotation about z from +x to the horizontal part of ``velocity``; identity if unknown or slow."""
    if velocity is None or math.hypot(velocity[0], velocity[1]) < MIN_HEADING_SPEED:
        return IDENTITY
    yaw = math.atan2(velocity[1], velocity[0])
    return 0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)


@dataclass(frozen=True)
class PersonInFrame:
    label: int  # the number of the person's body_<label> TF frame
    position: FloatArray  # pelvis [m]
    velocity: FloatArray | None  # [m/s]; None while unknown
    orientation: Quaternion  # heading of motion
    reliability: float  # the person's confidence (the detection score) in [0, 1]
    tracking_state: TrackingState


def people_in_frame(people: list[Person], transform: Transform) -> list[PersonInFrame]:
    """Every person with a valid pelvis, in the target frame, in the order of ``people``."""
    result = []
    for index, person in enumerate(people):
        if not person.valid[ROOT]:
            continue
        known = bool(np.all(np.isfinite(person.velocity)))
        velocity = transform.rotate(person.velocity) if known else None
        result.append(
            PersonInFrame(
                label=body_label(person, index),
                position=transform.apply(person.positions[ROOT]),
                velocity=velocity,
                orientation=heading(velocity),
                reliability=float(person.detection.score),
                tracking_state=TrackingState(int(person.tracking_state)),
            )
        )
    return result


def pose_array_msg(people: list[PersonInFrame], stamp_ns: int, frame_id: str) -> Any:
    """geometry_msgs/PoseArray stamped with the image time in ``frame_id``."""
    quaternion, pose = msg_type("geometry_msgs/msg/Quaternion"), msg_type("geometry_msgs/msg/Pose")
    poses = [pose(position=point(person.position), orientation=quaternion(*person.orientation)) for person in people]
    return msg_type("geometry_msgs/msg/PoseArray")(header=header(stamp_ns, frame_id), poses=poses)
