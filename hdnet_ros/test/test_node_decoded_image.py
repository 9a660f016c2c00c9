"""cv_bridge's passthrough arrays go through the core's build_frame unchanged: same frame as the
replay's decoding, same checks and skip reasons."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hdnet_ros.depth_fault import DepthFaultReason
from hdnet_ros.frame_input import FrameError, SkipReason, build_frame
from hdnet_ros.image_codec import ImageDecodeError, image_to_array
from hdnet_ros.node.decoded_image import decoded_image, decompressed_encoding
from helpers import sample_messages

HEADER = SimpleNamespace(stamp=SimpleNamespace(sec=3, nanosec=7), frame_id="cam")
INFO = SimpleNamespace(
    header=HEADER, width=4, height=3, k=[2.0, 0, 1.5, 0, 2.0, 1.0, 0, 0, 1], d=[], distortion_model="plumb_bob"
)


def passthrough(msg: Any) -> np.ndarray:
    """What cv_bridge's imgmsg_to_cv2(msg, "passthrough") returns: the payload viewed by encoding."""
    return image_to_array(msg.data, msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian))


def test_sample_frame_equals_the_replay_decoding(sample_bags: list[Path]) -> None:
    msgs = sample_messages(sample_bags[0])
    rgb, depth, info = msgs["rgb"], msgs["depth"], msgs["camera_info"]
    direct = build_frame(rgb, depth, info)
    frame = build_frame(
        decoded_image(rgb.header, passthrough(rgb), rgb.encoding),
        decoded_image(depth.header, passthrough(depth), depth.encoding),
        info,
    )
    np.testing.assert_array_equal(frame.rgb, direct.rgb)
    np.testing.assert_array_equal(frame.depth_m, direct.depth_m)  # NaN where invalid, in both
    assert (frame.stamp_ns, frame.frame_id) == (direct.stamp_ns, direct.frame_id)


def test_bgr_colour_and_big_endian_millimetres() -> None:
    bgr = np.zeros((3, 4, 3), np.uint8)
    bgr[..., 0] = 200  # blue
    depth_mm = np.array([[0, 1500, 2000, 65535]] * 3, dtype=">u2")  # as cv_bridge may hand it over
    frame = build_frame(decoded_image(HEADER, bgr, "bgr8"), decoded_image(HEADER, depth_mm, "16UC1"), INFO)
    assert frame.rgb[0, 0].tolist() == [0, 0, 200]
    assert frame.depth_m is not None
    assert np.isnan(frame.depth_m[0, 0])  # 0 mm: no measurement
    np.testing.assert_allclose(frame.depth_m[0, 1:], [1.5, 2.0, 65.535], rtol=1e-6)
    assert frame.stamp_ns == 3_000_000_007 and frame.frame_id == "cam"


def test_a_padded_array_becomes_a_dense_image() -> None:
    wide = np.arange(3 * 6 * 3, dtype=np.uint8).reshape(3, 6, 3)
    image = decoded_image(HEADER, wide[:, :4], "rgb8")  # a view with row padding
    assert (image.width, image.height, image.step) == (4, 3, 12)
    np.testing.assert_array_equal(build_frame(image, None, INFO).rgb, wide[:, :4])


def test_the_core_still_checks_registration_and_encodings() -> None:
    """Unregistered or non-depth images are depth faults (the frame goes on RGB-only); an
    RGB image that is not colour is a skip."""
    rgb = decoded_image(HEADER, np.zeros((3, 4, 3), np.uint8), "rgb8")
    small_depth = decoded_image(HEADER, np.ones((2, 2), np.float32), "32FC1")
    size = build_frame(rgb, small_depth, INFO)
    assert size.depth_m is None and size.depth_fault is not None
    assert size.depth_fault.reason == DepthFaultReason.SIZE_MISMATCH
    colour_as_depth = decoded_image(HEADER, np.zeros((3, 4, 3), np.uint8), "rgb8")
    encoding = build_frame(rgb, colour_as_depth, INFO)
    assert encoding.depth_fault is not None and encoding.depth_fault.reason == DepthFaultReason.BAD_ENCODING
    depth_as_colour = decoded_image(HEADER, np.ones((3, 4), np.float32), "32FC1")
    with pytest.raises(FrameError) as colour:
        build_frame(depth_as_colour, small_depth, INFO)
    assert colour.value.reason == SkipReason.BAD_ENCODING


@pytest.mark.parametrize(("shape", "expected"), [((3, 4), "mono8"), ((3, 4, 3), "bgr8"), ((3, 4, 4), "bgra8")])
def test_decompressed_images_are_opencv_bgr(shape: tuple[int, ...], expected: str) -> None:
    assert decompressed_encoding(np.zeros(shape, np.uint8)) == expected


def test_a_16_bit_png_is_not_a_colour_image() -> None:
    with pytest.raises(ImageDecodeError, match="not an 8-bit colour image"):
        decompressed_encoding(np.zeros((3, 4), np.uint16))
