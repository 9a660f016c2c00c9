from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.image_codec import (
    ImageDecodeError,
    color_to_rgb,
    decode_compressed_color,
    depth_to_metres,
    image_to_array,
)


def test_row_padding_is_removed() -> None:
    rows = np.arange(2 * 8, dtype=np.uint8).reshape(2, 8)  # 2 px of rgb8 + 2 padding bytes per row
    image = image_to_array(rows.tobytes(), "rgb8", 2, 2, 8)
    assert image.shape == (2, 2, 3)
    assert image[1, 1].tolist() == [11, 12, 13]


def test_big_endian_16_bit_depth() -> None:
    values = np.array([[1000, 2500]], dtype=">u2")
    depth = depth_to_metres(image_to_array(values.tobytes(), "16UC1", 1, 2, 4, is_bigendian=True), "16UC1")
    np.testing.assert_allclose(depth, [[1.0, 2.5]])


@pytest.mark.parametrize(
    "encoding, expected", [("rgb8", [1, 2, 3]), ("bgr8", [3, 2, 1]), ("bgra8", [3, 2, 1]), ("rgba8", [1, 2, 3])]
)
def test_colour_encodings_become_rgb(encoding: str, expected: list[int]) -> None:
    channels = 4 if "a" in encoding else 3
    pixel = np.array([[[1, 2, 3, 255][:channels]]], dtype=np.uint8)
    assert color_to_rgb(pixel, encoding)[0, 0].tolist() == expected


def test_invalid_depth_is_nan_and_divisor_overrides() -> None:
    raw = np.array([[0, 1500, 65535]], dtype=np.uint16)
    np.testing.assert_allclose(depth_to_metres(raw, "16UC1"), [[np.nan, 1.5, 65.535]])
    np.testing.assert_allclose(depth_to_metres(raw, "16UC1", units_divisor=10000.0), [[np.nan, 0.15, 6.5535]])
    floats = np.array([[np.nan, -1.0, np.inf, 2.0]], dtype=np.float32)
    np.testing.assert_allclose(depth_to_metres(floats, "32FC1"), [[np.nan, np.nan, np.nan, 2.0]])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: image_to_array(b"\0" * 12, "yuv422", 2, 2, 4), "unsupported image encoding 'yuv422'"),
        (lambda: image_to_array(b"\0" * 5, "rgb8", 2, 1, 3), "needs 6 bytes, payload has 5"),
        (lambda: image_to_array(b"\0" * 12, "rgb8", 2, 2, 4), "shorter than a row"),
        (lambda: color_to_rgb(np.zeros((2, 2), np.float32), "32FC1"), "not a colour encoding"),
        (lambda: depth_to_metres(np.zeros((2, 2, 3), np.uint8), "rgb8"), "not a depth encoding"),
        (lambda: decode_compressed_color(b"not a jpeg"), "could not be decoded"),
    ],
)
def test_bad_payloads_raise_clear_errors(call: object, message: str) -> None:
    with pytest.raises(ImageDecodeError, match=message):
        call()  # type: ignore[operator]
