"""hdnet_ros_msgs/Skeleton3DArray from the people of one frame."""

from __future__ import annotations

from typing import Any

import numpy as np

from hdnet_ros.joints import JOINT_SET_NAME, ROOT
from hdnet_ros.outputs.common import header, msg_type, point, vector3
from hdnet_ros.people import DepthSource, Person


def keypoint_msgs(person: Person) -> list[Any]:
    keypoint = msg_type("hdnet_ros_msgs/msg/Keypoint3D")
    valid = person.valid
    result = []
    for joint in range(len(person.positions)):
        ok = bool(valid[joint])
        result.append(
            keypoint(
                position=point(person.positions[joint] if ok else (np.nan, np.nan, np.nan)),
                position_stddev=float(person.position_stddev[joint]) if ok else float("nan"),
                confidence=float(person.scores[joint]),
                pixel_x=float(person.pixels[joint, 0]),
                pixel_y=float(person.pixels[joint, 1]),
                valid=ok,
                depth_source=int(person.depth_sources[joint]) if ok else int(DepthSource.NONE),
            )
        )
    return result


def skeleton_msg(person: Person) -> Any:
    box = person.detection.box
    root_valid = bool(person.valid[ROOT])
    velocity_valid = bool(np.all(np.isfinite(person.velocity)))
    return msg_type("hdnet_ros_msgs/msg/Skeleton3D")(
        id=int(person.track_id),
        tracking_state=int(person.tracking_state),
        confidence=float(person.detection.score),
        joint_set=JOINT_SET_NAME,
        root_position=point(person.positions[ROOT] if root_valid else (np.nan,) * 3),
        root_valid=root_valid,
        velocity=vector3(person.velocity if velocity_valid else (np.nan,) * 3),
        velocity_valid=velocity_valid,
        bbox=msg_type("hdnet_ros_msgs/msg/BoundingBox2D")(
            x_min=float(box[0]), y_min=float(box[1]), x_max=float(box[2]), y_max=float(box[3])
        ),
        keypoints=keypoint_msgs(person),
    )


def skeleton_array_msg(people: list[Person], stamp_ns: int, frame_id: str) -> Any:
    """The Skeleton3DArray of one frame, stamped with the RGB capture time."""
    return msg_type("hdnet_ros_msgs/msg/Skeleton3DArray")(
        header=header(stamp_ns, frame_id), skeletons=[skeleton_msg(p) for p in people]
    )
