"""Every bad input is named: a frame that cannot be used is a FrameError with its skip
reason; unusable depth is a depth fault on a frame that is still built (depth_m None)."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hdnet_ros.depth_fault import DepthFaultReason
from hdnet_ros.frame_input import FrameError, SkipReason, build_frame
from hdnet_ros.people import Frame
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


def frame_of(messages: dict[str, Any], **kwargs: Any) -> Frame:
    return build_frame(messages["rgb"], messages.get("depth"), messages.get("camera_info"), **kwargs)


def depth_fault_of(messages: dict[str, Any], reason: DepthFaultReason, **kwargs: Any) -> str:
    """Builds the frame, checks it is RGB-only with a fault of ``reason``; returns its message."""
    frame = frame_of(messages, **kwargs)
    assert frame.depth_m is None
    assert frame.depth_fault is not None and frame.depth_fault.reason is reason
    assert frame.rgb.shape == (480, 640, 3) and frame.stamp_ns > 0  # the rest of the frame is intact
    return frame.depth_fault.message


def depth_image(messages: dict[str, Any], values: np.ndarray) -> dict[str, Any]:
    """The sample triplet with its depth payload replaced by ``values`` (float32 metres, 32FC1)."""
    height, width = values.shape
    return modified(
        messages,
        "depth",
        encoding="32FC1",
        height=height,
        width=width,
        step=width * 4,
        data=np.ascontiguousarray(values, np.float32).view(np.uint8).ravel(),
    )


def test_sample_triplet_makes_a_frame(messages: dict[str, Any]) -> None:
    frame = build_frame(messages["rgb"], messages["depth"], messages["camera_info"])
    assert frame.rgb.shape == (480, 640, 3) and frame.depth_m is not None
    assert frame.depth_fault is None
    assert 0.2 < np.isfinite(frame.depth_m).mean() < 0.6  # "about a third of the pixels valid"
    assert frame.frame_id == "head_rgbd_sensor_rgb_frame"
    assert frame.camera.fx == pytest.approx(537.0318, abs=1e-3)


def test_unknown_rgb_encoding(messages: dict[str, Any]) -> None:
    error = frame_error(modified(messages, "rgb", encoding="yuv422"))
    assert error.reason is SkipReason.BAD_ENCODING and "yuv422" in str(error)


def test_depth_topic_carrying_colour_is_a_depth_fault(messages: dict[str, Any]) -> None:
    message = depth_fault_of({**messages, "depth": messages["rgb"]}, DepthFaultReason.BAD_ENCODING)
    assert "not a depth encoding" in message


def test_compressed_depth_is_a_depth_fault(messages: dict[str, Any]) -> None:
    compressed = SimpleNamespace(header=messages["depth"].header, format="16UC1; compressedDepth", data=b"")
    message = depth_fault_of({**messages, "depth": compressed}, DepthFaultReason.BAD_ENCODING)
    assert "compressedDepth" in message and "raw depth topic" in message


def test_truncated_depth_payload_is_a_depth_fault(messages: dict[str, Any]) -> None:
    message = depth_fault_of(modified(messages, "depth", data=np.zeros(100, np.uint8)), DepthFaultReason.BAD_ENCODING)
    assert "payload has 100" in message


def test_depth_of_another_size_is_a_depth_fault(messages: dict[str, Any]) -> None:
    depth = np.frombuffer(bytes(messages["depth"].data), np.float32).reshape(480, 640)[::2, ::2]
    message = depth_fault_of(depth_image(messages, depth), DepthFaultReason.SIZE_MISMATCH)
    assert "320x240 but RGB is 640x480" in message and "not registered" in message


@pytest.mark.parametrize("value", [np.nan, 0.0, -1.0, np.inf])
def test_depth_without_a_valid_pixel_is_a_depth_fault(messages: dict[str, Any], value: float) -> None:
    message = depth_fault_of(depth_image(messages, np.full((480, 640), value)), DepthFaultReason.ALL_INVALID)
    assert "no valid pixel" in message


def test_all_zero_millimetres_is_a_depth_fault(messages: dict[str, Any]) -> None:
    zeros = modified(messages, "depth", encoding="16UC1", step=640 * 2, data=np.zeros(480 * 640 * 2, np.uint8))
    depth_fault_of(zeros, DepthFaultReason.ALL_INVALID)


def test_mostly_invalid_depth_is_depth_not_a_fault(messages: dict[str, Any]) -> None:
    """Holes are the lifter's business: one valid pixel keeps the sensor's depth."""
    holes = np.full((480, 640), np.nan)
    holes[240, 320] = 1.8
    frame = frame_of(depth_image(messages, holes))
    assert frame.depth_fault is None and frame.depth_m is not None
    assert np.count_nonzero(np.isfinite(frame.depth_m)) == 1


def test_a_fault_found_by_the_transport_is_kept(messages: dict[str, Any]) -> None:
    from hdnet_ros.depth_fault import DepthFault

    fault = DepthFault(DepthFaultReason.BAD_ENCODING, "cv_bridge could not convert the depth image")
    frame = build_frame(messages["rgb"], None, messages["camera_info"], depth_fault=fault)
    assert frame.depth_m is None and frame.depth_fault == fault


def test_a_depth_fault_never_hides_a_frame_error(messages: dict[str, Any]) -> None:
    """Bad depth and a bad camera model: the frame cannot be used, whatever its depth."""
    both = depth_image(modified(messages, "camera_info", k=np.zeros(9)), np.zeros((480, 640)))
    assert frame_error(both).reason is SkipReason.INVALID_CAMERA_INFO


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


def test_no_depth_image_is_rgb_only_not_a_fault(messages: dict[str, Any]) -> None:
    frame = build_frame(messages["rgb"], None, messages["camera_info"])
    assert frame.depth_m is None and frame.depth_fault is None  # RGB-only by design
    assert frame.rgb.shape == (480, 640, 3)


def test_truncated_payload(messages: dict[str, Any]) -> None:
    error = frame_error(modified(messages, "rgb", data=np.zeros(100, np.uint8)))
    assert error.reason is SkipReason.BAD_ENCODING and "payload has 100" in str(error)
