"""Turning one synchronized (RGB, depth, camera_info) triplet into a checked Frame.

Both transports (replay and the node) go through :func:`build_frame`, so every bad input
is recognised in one place and reported with the same reason code.

Two kinds of bad input: a frame that cannot be used at all (no decodable RGB, no or an
invalid camera model, a zero stamp) is a skip, a :class:`FrameError`; a frame whose depth is
unusable (no valid pixel, not registered to the RGB image, not a depth encoding) is still a
frame, built with ``depth_m`` None and a :class:`DepthFault` saying why, and goes on through
the pipeline's RGB-only path. A frame without a depth image is RGB-only by design (no depth
topic, or ``input.use_depth`` off), not a fault. A depth image with holes is not a fault: as
long as one pixel is valid, what to make of the holes is the lifter's business.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel, CameraModelError
from hdnet_ros.depth_fault import DepthFault, DepthFaultReason
from hdnet_ros.image_codec import ImageDecodeError, decode_color_msg, decode_compressed_color, decode_depth_msg
from hdnet_ros.people import Frame


class SkipReason(str, Enum):
    """Why a frame or message was not processed (keys of the skip counters). Depth problems
    are not here: they are depth faults (:class:`DepthFaultReason`), the frame goes on."""

    NO_SYNC_PARTNER = "no_sync_partner"
    WORKER_BUSY = "worker_busy"
    BAD_ENCODING = "bad_encoding"
    SIZE_MISMATCH = "size_mismatch"
    MISSING_CAMERA_INFO = "missing_camera_info"
    INVALID_CAMERA_INFO = "invalid_camera_info"
    ZERO_STAMP = "zero_stamp"
    UNREADABLE_MESSAGE = "unreadable_message"


class FrameError(ValueError):
    """A triplet that cannot make a frame; ``reason`` is the skip counter it belongs to."""

    def __init__(self, reason: SkipReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def stamp_to_ns(stamp: Any) -> int:
    """builtin_interfaces/Time (or ROS 1 time) as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _decode_rgb(msg: Any) -> npt.NDArray[np.uint8]:
    try:
        if hasattr(msg, "encoding"):
            return decode_color_msg(msg)
        return decode_compressed_color(msg.data)
    except ImageDecodeError as error:
        raise FrameError(SkipReason.BAD_ENCODING, f"RGB image: {error}") from error


def _decode_depth(msg: Any, units_divisor: float | None) -> npt.NDArray[np.float32] | DepthFault:
    if not hasattr(msg, "encoding"):  # a CompressedImage (compressedDepth) has a format, not an encoding
        return DepthFault(
            DepthFaultReason.BAD_ENCODING,
            f"depth image is compressed ({getattr(msg, 'format', 'unknown format')}), which is not supported: "
            "use the raw depth topic",
        )
    try:
        return decode_depth_msg(msg, units_divisor)
    except ImageDecodeError as error:
        return DepthFault(DepthFaultReason.BAD_ENCODING, f"depth image: {error}")


def check_depth(
    depth_msg: Any, rgb_size: tuple[int, int], units_divisor: float | None
) -> tuple[npt.NDArray[np.float32] | None, DepthFault | None]:
    """The depth in metres registered to an RGB image of ``rgb_size`` (height, width), or
    None and the fault that makes it unusable."""
    depth = _decode_depth(depth_msg, units_divisor)
    if isinstance(depth, DepthFault):
        return None, depth
    if depth.shape != rgb_size:
        return None, DepthFault(
            DepthFaultReason.SIZE_MISMATCH,
            f"depth image is {depth.shape[1]}x{depth.shape[0]} but RGB is {rgb_size[1]}x{rgb_size[0]}: "
            "the depth is not registered to the RGB camera (use the aligned/registered depth topic)",
        )
    # depth_to_metres has already turned zero, negative and non-finite values into NaN.
    if not np.isfinite(depth).any():
        return None, DepthFault(
            DepthFaultReason.ALL_INVALID,
            "depth image has no valid pixel (all NaN or zero): is the depth stream enabled, aligned and "
            "within the sensor's range?",
        )
    return depth, None


def _camera(info: Any | None) -> CameraModel:
    if info is None:
        raise FrameError(SkipReason.MISSING_CAMERA_INFO, "no camera_info received for the RGB camera")
    try:
        return CameraModel.from_camera_info(info)
    except CameraModelError as error:
        raise FrameError(SkipReason.INVALID_CAMERA_INFO, f"camera_info: {error}") from error


def build_frame(
    rgb_msg: Any,
    depth_msg: Any | None,
    info_msg: Any | None,
    *,
    depth_units_divisor: float | None = None,
    depth_fault: DepthFault | None = None,
) -> Frame:
    """A Frame from ROS messages (rclpy or rosbags objects).

    FrameError names what makes the frame unusable. Depth problems do not raise: the frame
    comes back with ``depth_m`` None and ``depth_fault`` set. ``depth_msg`` None is an
    RGB-only frame (no fault). ``depth_fault`` is a fault the transport already found while
    converting the depth message (``depth_msg`` is then None).
    """
    stamp_ns = stamp_to_ns(rgb_msg.header.stamp)
    if stamp_ns == 0:
        raise FrameError(
            SkipReason.ZERO_STAMP,
            "RGB image has a zero header stamp: the camera driver does not stamp its images, "
            "so the frame cannot be synchronized or placed in time",
        )
    camera = _camera(info_msg)
    rgb = _decode_rgb(rgb_msg)
    if rgb.shape[:2] != (camera.height, camera.width):
        raise FrameError(
            SkipReason.SIZE_MISMATCH,
            f"RGB image is {rgb.shape[1]}x{rgb.shape[0]} but camera_info says {camera.width}x{camera.height}",
        )
    depth: npt.NDArray[np.float32] | None = None
    if depth_fault is None and depth_msg is not None:
        depth, depth_fault = check_depth(depth_msg, (rgb.shape[0], rgb.shape[1]), depth_units_divisor)
    return Frame(
        rgb=rgb,
        depth_m=depth,
        camera=camera,
        stamp_ns=stamp_ns,
        frame_id=str(rgb_msg.header.frame_id),
        depth_fault=depth_fault,
    )
