"""Every bad input becomes a FrameError naming the problem, with its skip reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.frame_input import FrameError, SkipReason, build_frame
from helpers import sample_messages


@pytest.fixture(scope="module")
def messages(sample_bags: list[Path]) -> dict[str, Any]:
    return sample_messages(sample_bags[0])


def modified(messages: dict[str, Any], role: str, **fields: Any) -> dict[str, Any]:
    result = copy.deepcopy(messages)
    for name, value in fields.items():
        setattr(result[role], name, value)
    return result


def frame_error(messages: dict[str, Any], **kwargs: Any) -> FrameError:
    with pytest.raises(FrameError) as caught:
        build_frame(messages["rgb"], messages.get("depth"), messages.get("camera_info"), **kwargs)
    return caught.value


def test_sample_triplet_makes_a_frame(messages: dict[str, Any]) -> None:
    frame = build_frame(messages["rgb"], messages["depth"], messages["camera_info"])
    assert frame.rgb.shape == (480, 640, 3) and frame.depth_m is not None
    assert 0.2 < np.isfinite(frame.depth_m).mean() < 0.6  # "about a third of the pixels valid"
    assert frame.frame_id == "head_rgbd_sensor_rgb_frame"
    assert frame.camera.fx == pytest.approx(537.0318, abs=1e-3)


def test_unknown_rgb_encoding(messages: dict[str, Any]) -> None:
    error = frame_error(modified(messages, "rgb", encoding="yuv422"))
    assert error.reason is SkipReason.BAD_ENCODING and "yuv422" in str(error)


def test_depth_topic_carrying_colour(messages: dict[str, Any]) -> None:
    error = frame_error({**messages, "depth": messages["rgb"]})
    assert error.reason is SkipReason.BAD_ENCODING and "not a depth encoding" in str(error)


def test_depth_of_another_size(messages: dict[str, Any]) -> None:
    depth = np.frombuffer(bytes(messages["depth"].data), np.float32).reshape(480, 640)[::2, ::2].copy()
    small = modified(messages, "depth", height=240, width=320, step=320 * 4, data=depth.view(np.uint8).ravel())
    error = frame_error(small)
    assert error.reason is SkipReason.SIZE_MISMATCH and "not registered" in str(error)


def test_all_nan_depth(messages: dict[str, Any]) -> None:
    nan = np.full((480, 640), np.nan, np.float32).view(np.uint8).ravel()
    error = frame_error(modified(messages, "depth", data=nan))
    assert error.reason is SkipReason.DEPTH_ALL_INVALID


def test_zero_k(messages: dict[str, Any]) -> None:
    error = frame_error(modified(messages, "camera_info", k=np.zeros(9)))
    assert error.reason is SkipReason.INVALID_CAMERA_INFO and "focal length" in str(error)


def test_missing_camera_info(messages: dict[str, Any]) -> None:
    error = frame_error({**messages, "camera_info": None})
    assert error.reason is SkipReason.MISSING_CAMERA_INFO


def test_zero_stamp(messages: dict[str, Any]) -> None:
    zero = copy.deepcopy(messages)
    zero["rgb"].header.stamp.sec = 0
    zero["rgb"].header.stamp.nanosec = 0
    error = frame_error(zero)
    assert error.reason is SkipReason.ZERO_STAMP and "zero header stamp" in str(error)


def test_missing_depth_only_when_required(messages: dict[str, Any]) -> None:
    error = frame_error({**messages, "depth": None})
    assert error.reason is SkipReason.MISSING_DEPTH
    frame = build_frame(messages["rgb"], None, messages["camera_info"], require_depth=False)
    assert frame.depth_m is None


def test_truncated_payload(messages: dict[str, Any]) -> None:
    error = frame_error(modified(messages, "rgb", data=np.zeros(100, np.uint8)))
    assert error.reason is SkipReason.BAD_ENCODING and "payload has 100" in str(error)
