"""A frame without usable depth is still a frame: on the real sample frames with their depth
replaced by zeros, by NaN and by an image of the wrong size, every frame is processed from
RGB alone (never skipped), the depth fault is counted with its reason, and the standing
person comes out with a plausible skeleton whose root is within the monocular path's
documented error (0.35 m, issue 9) of the sensor's measurement on the unmodified frame.
A bag without a depth topic replays RGB only by itself and says so."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.joints import (
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    TORSO_JOINTS,
)
from hdnet_ros.people import DepthSource
from helpers import DEPTH_TOPIC, INFO_TOPIC, RGB_TOPIC, run_replay, sample_messages, triplet, write_rosbag2
from test_replay_samples import bone, positions, read_topic, standing_person

MONOCULAR_ROOT_ERROR_M = 0.35  # issue 9's bound for the monocular path
CORRUPTIONS = {"zeros": "all_invalid", "nan": "all_invalid", "wrong_size": "size_mismatch"}
RGB_ONLY_SOURCES = {int(DepthSource.NETWORK), int(DepthSource.INFERRED)}
SENSOR_SOURCES = {int(DepthSource.SENSOR), int(DepthSource.FUSED)}  # the sensor measured it (alone or fused)


def corrupted(messages: dict[str, Any], corruption: str) -> dict[str, Any]:
    """The sample triplet with its depth replaced (32FC1 zeros or NaN, or a 320x240 image)."""
    result = copy.deepcopy(messages)
    depth = result["depth"]
    height, width = (240, 320) if corruption == "wrong_size" else (depth.height, depth.width)
    if corruption == "wrong_size":
        original = np.frombuffer(bytes(messages["depth"].data), np.float32).reshape(depth.height, depth.width)
        values = np.ascontiguousarray(original[::2, ::2])  # real depth, but not registered to the RGB image
    else:
        values = np.full((height, width), 0.0 if corruption == "zeros" else np.nan, np.float32)
    depth.encoding, depth.height, depth.width, depth.step = "32FC1", height, width, width * 4
    depth.data = values.view(np.uint8).ravel()
    return result


@pytest.fixture(scope="module")
def fault_replays(
    sample_bags: list[Path], models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Per corruption, the replay of the three corrupted sample frames, one bag each (tracking
    restarts per bag, as in the replay of the unmodified samples)."""
    replays = {}
    for corruption in CORRUPTIONS:
        directory = tmp_path_factory.mktemp(corruption)
        inputs = [
            write_rosbag2(directory / f"in_{index}", triplet(corrupted(sample_messages(bag), corruption)))
            for index, bag in enumerate(sample_bags)
        ]
        assert run_replay(models_dir, directory / "out", *inputs) == 0
        replays[corruption] = directory / "out"
    return replays


def sensor_roots(sample_replay: Path) -> list[np.ndarray]:
    """The standing person's root measured with the sensor's depth, per unmodified frame."""
    roots = []
    for array in read_topic(sample_replay / "bag", "/hdnet/skeletons"):
        person = standing_person(array)
        assert person.root_valid and person.keypoints[17].depth_source in SENSOR_SOURCES
        roots.append(np.array([person.root_position.x, person.root_position.y, person.root_position.z]))
    return roots


@pytest.mark.parametrize(("corruption", "reason"), CORRUPTIONS.items())
def test_every_frame_is_processed_and_its_fault_counted(
    corruption: str, reason: str, fault_replays: dict[str, Path]
) -> None:
    summary = json.loads((fault_replays[corruption] / "summary.json").read_text())
    assert summary["frames_read"] == 3
    assert summary["frames_processed"] == 3
    assert summary["frames_skipped"] == 0 and summary["skipped"] == []
    assert summary["frames_with_depth_fault"] == 3
    assert summary["depth_faults_by_reason"] == {reason: 3}
    assert all(fault["topic"] == DEPTH_TOPIC for fault in summary["depth_faults"])
    assert [entry["depth_fault"] for entry in summary["people_per_frame"]] == [reason] * 3
    assert all(report["frames_with_depth_fault"] == 1 for report in summary["inputs"])
    assert all(report["depth_input"] == "sensor" for report in summary["inputs"])


def rgb_only_standing_people(replay: Path) -> list[Any]:
    """The standing person of each sample frame (in stamp order, as in the sample replay)."""
    return [standing_person(array) for array in read_topic(replay / "bag", "/hdnet/skeletons")]


def root_of(person: Any) -> np.ndarray:
    return np.array([person.root_position.x, person.root_position.y, person.root_position.z])


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_standing_person_root_from_rgb_alone(
    corruption: str, fault_replays: dict[str, Path], sample_replay: Path
) -> None:
    people = rgb_only_standing_people(fault_replays[corruption])
    for person, sensor_root in zip(people, sensor_roots(sample_replay), strict=True):
        valid = np.array([k.valid for k in person.keypoints])
        sources = {int(k.depth_source) for k in person.keypoints if k.valid}
        assert sources <= RGB_ONLY_SOURCES, sources  # no joint claims the sensor's depth
        assert valid.sum() >= 12 and person.root_valid
        error = float(np.linalg.norm(root_of(person) - sensor_root))
        assert error <= MONOCULAR_ROOT_ERROR_M, (corruption, root_of(person), sensor_root)


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_standing_person_skeleton_from_rgb_alone(corruption: str, fault_replays: dict[str, Path]) -> None:
    """The same body proportions the sensor path's test demands: they are the body's, not the sensor's."""
    for person in rgb_only_standing_people(fault_replays[corruption]):
        points = positions(person)
        valid = np.array([k.valid for k in person.keypoints])
        assert valid[LEFT_SHOULDER] and valid[RIGHT_SHOULDER]
        assert 0.25 <= bone(points, LEFT_SHOULDER, RIGHT_SHOULDER) <= 0.40
        arms = [bone(points, s, e) for s, e in ((LEFT_SHOULDER, LEFT_ELBOW), (RIGHT_SHOULDER, RIGHT_ELBOW))]
        thighs = [bone(points, h, k) for h, k in ((LEFT_HIP, LEFT_KNEE), (RIGHT_HIP, RIGHT_KNEE))]
        assert all(0.20 <= a <= 0.35 for a in arms if np.isfinite(a)), arms
        assert all(0.33 <= t <= 0.50 for t in thighs if np.isfinite(t)), thighs
        torso_z = float(np.median(points[list(TORSO_JOINTS), 2][valid[list(TORSO_JOINTS)]]))
        assert 1.6 <= torso_z <= 2.1
        assert np.all(np.abs(points[valid, 2] - torso_z) <= 0.6)


def test_bag_without_a_depth_topic_replays_rgb_only_by_itself(
    sample_bags: list[Path], models_dir: Path, sample_replay: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    messages = sample_messages(sample_bags[1])
    bag = write_rosbag2(tmp_path / "in", [(RGB_TOPIC, messages["rgb"]), (INFO_TOPIC, messages["camera_info"])])
    with caplog.at_level(logging.INFO):
        code = run_replay(models_dir, tmp_path / "out", bag)
    assert code == 0
    said = [r.getMessage() for r in caplog.records if "no depth topic: replaying RGB only" in r.getMessage()]
    assert len(said) == 1 and str(bag) in said[0]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["frames_processed"] == 1 and summary["frames_skipped"] == 0
    assert summary["frames_with_depth_fault"] == 0  # no depth to expect: not a fault
    (report,) = summary["inputs"]
    assert report["error"] is None and report["topics"]["depth"] is None
    assert report["depth_input"] == "none: no depth topic in the bag"
    (array,) = read_topic(tmp_path / "out" / "bag", "/hdnet/skeletons")
    person = standing_person(array)
    assert person.root_valid and person.keypoints[17].depth_source in RGB_ONLY_SOURCES
    assert np.linalg.norm(root_of(person) - sensor_roots(sample_replay)[1]) <= MONOCULAR_ROOT_ERROR_M


def restamped(messages: dict[str, Any], sec: int) -> dict[str, Any]:
    """The triplet with every header stamped ``sec`` (a frame of a longer recording)."""
    result = copy.deepcopy(messages)
    for msg in result.values():
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, 0
    return result


def test_depth_that_goes_and_comes_back_is_logged_once_per_transition(
    sample_bags: list[Path], models_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One recording whose depth is good, then zeros for two frames, then good, then zeros
    again: one line when depth goes (with the reason), one when it is back, per transition."""
    messages = sample_messages(sample_bags[1])
    depths = ["good", "zeros", "zeros", "good", "zeros"]
    frames = [
        triplet(restamped(messages if depth == "good" else corrupted(messages, depth), 100 + index))
        for index, depth in enumerate(depths)
    ]
    bag = write_rosbag2(tmp_path / "in", [pair for frame in frames for pair in frame])
    with caplog.at_level(logging.WARNING, logger="hdnet_ros.replay.runner"):
        assert run_replay(models_dir, tmp_path / "out", bag) == 0
    said = [
        r.getMessage() for r in caplog.records if r.name == "hdnet_ros.replay.runner" and "depth on" in r.getMessage()
    ]
    assert len(said) == 3, said
    assert said[0].startswith(f"frame 101000000000: depth on {DEPTH_TOPIC} is unusable (all_invalid:")
    assert said[1] == f"frame 103000000000: depth on {DEPTH_TOPIC} is usable again after 2 frame(s) with a depth fault"
    assert said[2].startswith(f"frame 104000000000: depth on {DEPTH_TOPIC} is unusable (all_invalid:")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["frames_processed"] == 5 and summary["depth_faults_by_reason"] == {"all_invalid": 3}
