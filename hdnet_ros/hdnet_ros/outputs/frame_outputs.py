"""Every message one processed frame gives, built once for both transports.

The node publishes these objects (converted to rclpy messages) and the replay writes the
very same objects to its bag, so a replay shows what the node publishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros.config import OutputConfig
from hdnet_ros.outputs.debug_image import draw_overlay, image_msg
from hdnet_ros.outputs.markers import marker_array_msg
from hdnet_ros.outputs.skeletons import joint_points, skeleton_array_msg
from hdnet_ros.outputs.tf_frames import body_transforms
from hdnet_ros.pipeline import FrameResult


@dataclass(frozen=True)
class CoreOutputs:
    """One frame's messages as the core builds them (rosbags types); the node converts them.

    ``overlay`` is the drawn RGB image (what the replay also writes as a PNG) and
    ``debug_image`` its sensor_msgs/Image; both None unless the debug image was asked for.
    """

    skeletons: Any
    markers: Any
    transforms: list[Any]
    debug_image: Any | None
    overlay: npt.NDArray[np.uint8] | None = None


def core_outputs(result: FrameResult, output: OutputConfig, frame_rate_hz: float, debug_image: bool) -> CoreOutputs:
    """The skeletons, markers, TF and (when asked) debug image of ``result``; markers live
    ``output.marker_lifetime_frames`` periods of ``frame_rate_hz``."""
    frame, people = result.frame, result.people
    stamp, frame_id = frame.stamp_ns, frame.frame_id
    overlay = draw_overlay(frame.rgb, people) if debug_image else None
    skeletons = skeleton_array_msg(people, stamp, frame_id)
    lifetime_s = output.marker_lifetime_frames / frame_rate_hz
    return CoreOutputs(
        skeletons=skeletons,
        markers=marker_array_msg(people, stamp, frame_id, lifetime_s, joint_points(skeletons.skeletons)),
        transforms=body_transforms(people, stamp, frame_id, output.body_frame_prefix, output.publish_joint_frames),
        debug_image=image_msg(overlay, stamp, frame_id) if overlay is not None else None,
        overlay=overlay,
    )
