"""Decoding of sensor_msgs/Image payloads into numpy arrays, without cv_bridge.

The node uses cv_bridge; the replay tool and the tests decode the same payloads here. Both
paths end in :func:`color_to_rgb` and :func:`depth_to_metres`, so the pipeline sees the same
arrays either way.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

# encoding -> (numpy dtype, channels)
_LAYOUTS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3),
    "bgr8": ("u1", 3),
    "rgba8": ("u1", 4),
    "bgra8": ("u1", 4),
    "mono8": ("u1", 1),
    "8UC1": ("u1", 1),
    "8UC3": ("u1", 3),
    "16UC1": ("u2", 1),
    "mono16": ("u2", 1),
    "32FC1": ("f4", 1),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC3", "8UC1")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


class ImageDecodeError(ValueError):
    """An image payload that does not describe the image its header claims."""


def image_to_array(
    data: bytes | npt.NDArray[np.uint8],
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: bool = False,
) -> npt.NDArray[Any]:
    """View a raw sensor_msgs/Image payload as an HxW or HxWxC array (copying only if needed)."""
    if encoding not in _LAYOUTS:
        raise ImageDecodeError(f"unsupported image encoding {encoding!r} (supported: {', '.join(_LAYOUTS)})")
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f"image has an empty size {width}x{height}")
    kind, channels = _LAYOUTS[encoding]
    dtype = np.dtype(kind).newbyteorder(">" if is_bigendian else "<")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageDecodeError(f"{encoding} image step {step} is shorter than a row ({row_bytes} bytes)")
    buffer = np.frombuffer(bytes(data) if not isinstance(data, np.ndarray) else data, dtype=np.uint8)
    if buffer.size < step * height:
        raise ImageDecodeError(
            f"{encoding} image {width}x{height} needs {step * height} bytes, payload has {buffer.size}"
        )
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    array = np.ascontiguousarray(rows).view(dtype).reshape(height, width, channels)
    array = array.astype(dtype.newbyteorder("="), copy=False)
    return array[:, :, 0] if channels == 1 else array


def color_to_rgb(image: npt.NDArray[Any], encoding: str) -> npt.NDArray[np.uint8]:
    """Any supported colour encoding as HxWx3 uint8 RGB."""
    if encoding not in COLOR_ENCODINGS:
        raise ImageDecodeError(
            f"{encoding!r} is not a colour encoding (expected one of {', '.join(COLOR_ENCODINGS)}); "
            "is the RGB topic remapped to a depth image?"
        )
    if encoding == "rgb8":
        return np.ascontiguousarray(image, dtype=np.uint8)
    conversions = {
        "bgr8": cv2.COLOR_BGR2RGB,
        "8UC3": cv2.COLOR_BGR2RGB,  # OpenCV's native order, BGR by convention
        "rgba8": cv2.COLOR_RGBA2RGB,
        "bgra8": cv2.COLOR_BGRA2RGB,
    }
    code = conversions.get(encoding, cv2.COLOR_GRAY2RGB)
    return np.asarray(cv2.cvtColor(image, code), dtype=np.uint8)


def depth_to_metres(
    image: npt.NDArray[Any], encoding: str, units_divisor: float | None = None
) -> npt.NDArray[np.float32]:
    """Depth as float32 metres with NaN where the sensor has no measurement.

    16UC1/mono16 is millimetres by REP-118 (``units_divisor`` 1000); 32FC1 is metres
    (divisor 1). A divisor overrides the convention for drivers that break it. Zero,
    negative, NaN and infinite values all mean "no measurement".
    """
    if encoding not in DEPTH_ENCODINGS:
        raise ImageDecodeError(
            f"{encoding!r} is not a depth encoding (expected one of {', '.join(DEPTH_ENCODINGS)}); "
            "is the depth topic remapped to a colour image?"
        )
    if units_divisor is None:
        units_divisor = 1.0 if encoding == "32FC1" else 1000.0
    if not units_divisor > 0:
        raise ImageDecodeError(f"depth units divisor must be positive, got {units_divisor}")
    depth = image.astype(np.float32) / np.float32(units_divisor)
    depth[~(depth > 0) | ~np.isfinite(depth)] = np.nan
    return depth


def decode_color_msg(msg: Any) -> npt.NDArray[np.uint8]:
    """A sensor_msgs/Image (rclpy or rosbags object) as RGB."""
    array = image_to_array(msg.data, msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian))
    return color_to_rgb(array, msg.encoding)


def decode_depth_msg(msg: Any, units_divisor: float | None = None) -> npt.NDArray[np.float32]:
    """A sensor_msgs/Image depth message as float32 metres (NaN invalid)."""
    array = image_to_array(msg.data, msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian))
    return depth_to_metres(array, msg.encoding, units_divisor)


def decode_compressed_color(data: bytes | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A sensor_msgs/CompressedImage (jpeg/png) payload as RGB."""
    buffer = np.frombuffer(bytes(data) if not isinstance(data, np.ndarray) else data, dtype=np.uint8)
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageDecodeError("compressed image payload could not be decoded (not jpeg/png?)")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
