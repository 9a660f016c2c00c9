"""hdnet_ros_msgs/Skeleton3DArray from the people of one frame."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import JOINT_SET_NAME, ROOT
from hdnet_ros.outputs.common import header, msg_type, point, vector3
from hdnet_ros.people import DepthSource, Person

_NAN3 = (float("nan"),) * 3


def keypoint_msgs(
    positions: npt.NDArray[np.floating],
    stddev: npt.NDArray[np.floating],
    sources: npt.NDArray[np.integer],
    pixels: npt.NDArray[np.floating],
    scores: npt.NDArray[np.floating],
) -> list[Any]:
    """Keypoint3D messages of joints [K] (positions [K,3] NaN where invalid); an invalid
    joint is NaN with DEPTH_SOURCE_NONE, never (0, 0, 0)."""
    keypoint, point_type = msg_type("hdnet_ros_msgs/msg/Keypoint3D"), msg_type("geometry_msgs/msg/Point")
    valid = np.all(np.isfinite(positions), axis=1)
    # Plain Python numbers once per array: rosbags' dataclasses take floats, and .tolist()
    # converts a whole array at C speed instead of one float() per field.
    xyz = np.where(valid[:, None], positions, np.nan).tolist()
    sigma = np.where(valid, stddev, np.nan).tolist()
    source = np.where(valid, sources, int(DepthSource.NONE)).astype(int).tolist()
    uv = np.asarray(pixels, dtype=np.float64).tolist()
    confidence = np.asarray(scores, dtype=np.float64).tolist()
    return [
        keypoint(
            position=point_type(x=p[0], y=p[1], z=p[2]),
            position_stddev=s,
            confidence=c,
            pixel_x=q[0],
            pixel_y=q[1],
            valid=ok,
            depth_source=d,
        )
        for p, s, c, q, ok, d in zip(xyz, sigma, confidence, uv, valid.tolist(), source, strict=True)
    ]


def skeleton_msg(person: Person) -> Any:
    box = person.detection.box
    root_valid = bool(person.valid[ROOT])
    velocity_valid = bool(np.all(np.isfinite(person.velocity)))
    return msg_type("hdnet_ros_msgs/msg/Skeleton3D")(
        id=int(person.track_id),
        tracking_state=int(person.tracking_state),
        confidence=float(person.detection.score),
        joint_set=JOINT_SET_NAME,
        root_position=point(person.positions[ROOT] if root_valid else _NAN3),
        root_valid=root_valid,
        velocity=vector3(person.velocity if velocity_valid else _NAN3),
        velocity_valid=velocity_valid,
        bbox=msg_type("hdnet_ros_msgs/msg/BoundingBox2D")(
            x_min=float(box[0]), y_min=float(box[1]), x_max=float(box[2]), y_max=float(box[3])
        ),
        keypoints=keypoint_msgs(
            person.positions, person.position_stddev, person.depth_sources, person.pixels, person.scores
        ),
        feet=keypoint_msgs(
            person.feet, person.feet_stddev, person.feet_sources, person.feet_pixels, person.feet_scores
        ),
    )


def skeleton_array_msg(people: list[Person], stamp_ns: int, frame_id: str) -> Any:
    """The Skeleton3DArray of one frame, stamped with the RGB capture time."""
    return msg_type("hdnet_ros_msgs/msg/Skeleton3DArray")(
        header=header(stamp_ns, frame_id), skeletons=[skeleton_msg(p) for p in people]
    )
