"""cv_bridge's arrays handed to the core's frame checks.

The node converts images with cv_bridge (``imgmsg_to_cv2(msg, "passthrough")``: the wire
bytes as a dense array in native byte order, row padding and endianness handled). The
core's :func:`hdnet_ros.frame_input.build_frame` is the one place that turns colour into RGB
and depth into metres (image_codec.color_to_rgb / depth_to_metres) and checks the frame
(zero stamps, sizes, registration, all-invalid depth) with the skip reasons and depth
faults the replay reports. It reads Image fields, so the node passes it the cv_bridge array as a dense Image
of the same encoding (:class:`DecodedImage`, a zero-copy view): no check and no unit
conversion exists twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros.image_codec import ImageDecodeError

# OpenCV decodes jpeg/png (what cv_bridge's compressed_imgmsg_to_cv2 returns) as BGR order.
_DECODED_COLOUR_ENCODINGS = {1: "mono8", 3: "bgr8", 4: "bgra8"}


@dataclass(frozen=True)
class DecodedImage:
    """A sensor_msgs/Image look-alike over an already decoded array."""

    header: Any
    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: npt.NDArray[np.uint8]


def decoded_image(header: Any, array: npt.NDArray[Any], encoding: str) -> DecodedImage:
    """``array`` (HxW or HxWxC, as cv_bridge returns it) as a dense Image of ``encoding``."""
    dense = np.ascontiguousarray(array)
    dense = dense.astype(dense.dtype.newbyteorder("="), copy=False)
    height, width = dense.shape[:2]
    data = dense.reshape(-1).view(np.uint8)
    return DecodedImage(header, int(height), int(width), encoding, 0, int(dense.strides[0]), data)


def decompressed_encoding(array: npt.NDArray[Any]) -> str:
    """The encoding of an image OpenCV decoded from a CompressedImage (jpeg/png)."""
    channels = 1 if array.ndim == 2 else int(array.shape[2])
    if array.dtype != np.uint8 or channels not in _DECODED_COLOUR_ENCODINGS:
        raise ImageDecodeError(
            f"compressed image decodes to {channels} channel(s) of {array.dtype}, not an 8-bit colour image"
        )
    return _DECODED_COLOUR_ENCODINGS[channels]
