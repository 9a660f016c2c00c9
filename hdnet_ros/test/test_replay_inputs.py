"""Replay over rosbag2 inputs and over bad ones: every problem is named and counted."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.cli import main
from helpers import DEPTH_TOPIC, INFO_TOPIC, RGB_TOPIC, run_replay, sample_messages, triplet, write_rosbag2


@pytest.fixture(scope="module")
def messages(sample_bags: list[Path]) -> dict[str, Any]:
    return sample_messages(sample_bags[1])


def replay(models_dir: Path, output: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> tuple[int, dict[str, Any]]:
    code = run_replay(models_dir, output, *inputs, extra=extra)
    summary_path = output / "summary.json"
    return code, json.loads(summary_path.read_text()) if summary_path.exists() else {}


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_rosbag2_inputs_replay(storage: str, messages: dict[str, Any], models_dir: Path, tmp_path: Path) -> None:
    bag = write_rosbag2(tmp_path / "in", triplet(messages), storage)
    code, summary = replay(models_dir, tmp_path / "out", bag)
    assert code == 0
    assert summary["frames_processed"] == 1
    assert summary["inputs"][0]["topics"] == {"rgb": RGB_TOPIC, "depth": DEPTH_TOPIC, "camera_info": INFO_TOPIC}
    assert summary["people_per_frame"][0]["people_with_root"] >= 1


def test_frames_with_bad_content_are_counted_skips(messages: dict[str, Any], models_dir: Path, tmp_path: Path) -> None:
    """Zero stamps, all-NaN depth, zero K and a wrong encoding, one frame each, then a good one:
    the frames that cannot be used are skips; the one without usable depth is processed from
    RGB and counted as a depth fault, apart from the skips."""
    frames = []
    for index, change in enumerate(("zero_stamp", "nan_depth", "zero_k", "encoding", "good")):
        frame = copy.deepcopy(messages)
        for msg in frame.values():
            msg.header.stamp.sec = 0 if change == "zero_stamp" else 100 + index
            msg.header.stamp.nanosec = 0
        if change == "nan_depth":
            frame["depth"].data = np.full((480, 640), np.nan, np.float32).view(np.uint8).ravel()
        if change == "zero_k":
            frame["camera_info"].k = np.zeros(9)
        if change == "encoding":
            frame["rgb"].encoding = "bayer_rggb8"
        frames.extend(triplet(frame))
    bag = write_rosbag2(tmp_path / "in", frames)
    code, summary = replay(models_dir, tmp_path / "out", bag)
    assert code == 0
    assert summary["frames_read"] == 5
    assert summary["frames_processed"] == 2
    assert summary["skipped_by_reason"] == {"zero_stamp": 1, "invalid_camera_info": 1, "bad_encoding": 1}
    messages_by_reason = {entry["reason"]: entry["message"] for entry in summary["skipped"]}
    assert "bayer_rggb8" in messages_by_reason["bad_encoding"]
    assert summary["frames_with_depth_fault"] == 1
    assert summary["depth_faults_by_reason"] == {"all_invalid": 1}
    (fault,) = summary["depth_faults"]
    assert fault["stamp_ns"] == 101 * 10**9 and fault["topic"] == DEPTH_TOPIC and "no valid pixel" in fault["message"]
    assert [entry["depth_fault"] for entry in summary["people_per_frame"]] == ["all_invalid", None]
    assert summary["inputs"][0]["frames_with_depth_fault"] == 1


def test_unmatched_frames_say_how_far_apart_the_stamps_are(
    messages: dict[str, Any], models_dir: Path, tmp_path: Path
) -> None:
    frame = copy.deepcopy(messages)
    frame["depth"].header.stamp.sec += 5
    bag = write_rosbag2(tmp_path / "in", triplet(frame))
    code, summary = replay(models_dir, tmp_path / "out", bag)
    assert code == 0 and summary["frames_processed"] == 0
    (skip,) = summary["skipped"]
    assert skip["reason"] == "no_sync_partner"
    assert "nearest depth" in skip["message"] and "s away" in skip["message"]


def test_missing_topic_is_named(messages: dict[str, Any], models_dir: Path, tmp_path: Path) -> None:
    bag = write_rosbag2(tmp_path / "in", [(DEPTH_TOPIC, messages["depth"]), (INFO_TOPIC, messages["camera_info"])])
    code, summary = replay(models_dir, tmp_path / "out", bag)
    assert code == 1
    assert "no rgb topic found" in summary["inputs"][0]["error"]
    rgb_and_info = [(RGB_TOPIC, messages["rgb"]), (INFO_TOPIC, messages["camera_info"])]
    rgb_only = write_rosbag2(tmp_path / "rgb_only", rgb_and_info)
    code, summary = replay(models_dir, tmp_path / "out2", rgb_only, extra=("--depth-topic", "/nope"))
    assert code == 1
    assert "depth topic /nope is not in the bag" in summary["inputs"][0]["error"]


def test_several_depth_topics_ask_for_one(messages: dict[str, Any], models_dir: Path, tmp_path: Path) -> None:
    raw_depth = "/hero/head_rgbd_sensor/depth/image_raw"
    bag = write_rosbag2(tmp_path / "in", [*triplet(messages), (raw_depth, messages["depth"])])
    code, summary = replay(models_dir, tmp_path / "out", bag)
    assert code == 1
    error = summary["inputs"][0]["error"]
    assert "several depth topics" in error and raw_depth in error and DEPTH_TOPIC in error
    assert "--depth-topic" in error
    code, summary = replay(models_dir, tmp_path / "out2", bag, extra=("--depth-topic", DEPTH_TOPIC))
    assert code == 0 and summary["frames_processed"] == 1
    assert summary["inputs"][0]["topics"]["depth"] == DEPTH_TOPIC
    assert summary["frames_with_depth_fault"] == 0


def test_no_depth_ignores_a_depth_topic(messages: dict[str, Any], models_dir: Path, tmp_path: Path) -> None:
    bag = write_rosbag2(tmp_path / "in", triplet(messages))
    code, summary = replay(models_dir, tmp_path / "out", bag, extra=("--no-depth",))
    assert code == 0 and summary["frames_processed"] == 1
    assert summary["inputs"][0]["topics"]["depth"] is None
    assert summary["inputs"][0]["depth_input"].startswith("off:")
    assert summary["frames_with_depth_fault"] == 0  # RGB only by choice is not a fault


def test_corrupt_and_truncated_bags_do_not_stop_the_others(
    sample_bags: list[Path], models_dir: Path, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.bag"
    garbage.write_bytes(b"#ROSBAG V2.0\n" + bytes(range(256)) * 10)
    truncated = tmp_path / "truncated.bag"
    truncated.write_bytes(sample_bags[0].read_bytes()[:300_000])
    missing = tmp_path / "missing.bag"
    code, summary = replay(models_dir, tmp_path / "out", garbage, truncated, missing, sample_bags[2])
    assert code == 1
    errors = [report["error"] for report in summary["inputs"]]
    assert "garbage.bag: cannot open bag" in errors[0]
    assert errors[1] and "truncated.bag" in errors[1]
    assert "no such bag" in errors[2]
    assert errors[3] is None and summary["inputs"][3]["frames_processed"] == 1


def test_missing_model_file_is_named(sample_bags: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        code = main(
            ["replay", str(sample_bags[0]), "--output", str(tmp_path / "out"), "--models-dir", str(tmp_path / "empty")]
        )
    assert code == 2
    assert "yolox_nano.onnx does not exist" in caplog.text and "hdnet-ros assets" in caplog.text


def test_incompatible_model_file_is_named(
    sample_bags: list[Path], models_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "models" / "yolox_nano"
    broken.mkdir(parents=True)
    (broken / "yolox_nano.onnx").write_bytes(b"not an onnx file")
    (tmp_path / "models" / "movenet_lightning_int8").symlink_to(models_dir / "movenet_lightning_int8")
    with caplog.at_level(logging.ERROR):
        code = main(
            ["replay", str(sample_bags[0]), "--output", str(tmp_path / "out"), "--models-dir", str(tmp_path / "models")]
        )
    assert code == 2
    assert "could not be loaded by onnxruntime" in caplog.text
