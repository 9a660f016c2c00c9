"""The replay gives each frame its camera's pose in ``tracking.fixed_frame`` from the bag's
/tf, as the node's tf2 lookup does: odometry recorded a little after its image is waited for,
up to ``node.tf_timeout_s`` of recording time, so a robot's moving camera is known on every
frame, not only on those whose transform happened to come first."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from hdnet_ros.people import Frame
from hdnet_ros.pipeline import FrameResult
from hdnet_ros.replay.runner import ReplayJob, ReplayOptions
from hdnet_ros.ros_types import typestore
from hdnet_ros.transform_buffer import matrix_quaternion
from helpers import INFO_TOPIC, RGB_TOPIC, sample_messages
from rosbags.rosbag2 import StoragePlugin, Writer
from test_collector_freeze import RecordingPipeline

from hdnet_ros.config import Settings, load_settings

START_NS = 1_700_000_000 * 10**9
PERIOD_NS = 100_000_000  # 10 Hz images
TF_DELAY_NS = 10_000_000  # each odometry transform stamped 10 ms after its image, logged 20 ms after
OPTICAL_IN_BASE = np.array([[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 1.2], [0, 0, 0, 1.0]])


def camera_in_odom(stamp_ns: int) -> np.ndarray:
    """A robot driving at 0.5 m/s while it turns at 0.3 rad/s (linear in time: tf2's
    interpolation between two stamps gives it, within the quaternions' rounding)."""
    t = (stamp_ns - START_NS) * 1e-9
    yaw = 0.3 * t
    base = np.eye(4)
    base[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    base[0, 3] = 0.5 * t
    return base @ OPTICAL_IN_BASE


def stamp(stamp_ns: int) -> Any:
    return typestore().types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)


def odometry(camera_frame: str, stamp_ns: int) -> Any:
    types = typestore().types
    pose = camera_in_odom(stamp_ns)
    x, y, z, w = matrix_quaternion(pose[:3, :3])
    transform = types["geometry_msgs/msg/TransformStamped"](
        header=types["std_msgs/msg/Header"](stamp=stamp(stamp_ns), frame_id="odom"),
        child_frame_id=camera_frame,
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](x=pose[0, 3], y=pose[1, 3], z=pose[2, 3]),
            rotation=types["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w),
        ),
    )
    return types["tf2_msgs/msg/TFMessage"](transforms=[transform])


def robot_bag(path: Path, sample: dict[str, Any], frames: int) -> tuple[Path, list[int]]:
    """RGB and camera_info at 10 Hz, each image's odometry logged 20 ms after it (stamped 10
    ms after it), and one transform before the first image; the last image's odometry never
    comes (the recording stopped)."""
    camera_frame = sample["rgb"].header.frame_id
    logged: list[tuple[int, str, Any]] = [(START_NS - 40_000_000, "/tf", odometry(camera_frame, START_NS - 50_000_000))]
    stamps = [START_NS + k * PERIOD_NS for k in range(frames)]
    for k, image_ns in enumerate(stamps):
        for topic, role in ((RGB_TOPIC, "rgb"), (INFO_TOPIC, "camera_info")):
            message = copy.deepcopy(sample[role])
            message.header.stamp = stamp(image_ns)
            logged.append((image_ns, topic, message))
        if k < frames - 1:
            logged.append((image_ns + 2 * TF_DELAY_NS, "/tf", odometry(camera_frame, image_ns + TF_DELAY_NS)))
    store = typestore()
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connections: dict[str, Any] = {}
        for log_ns, topic, message in sorted(logged, key=lambda item: item[0]):
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, message.__msgtype__, typestore=store)
            writer.write(connections[topic], log_ns, store.serialize_cdr(message, message.__msgtype__))
    return path, stamps


class PoseRecorder(RecordingPipeline):
    """The replay's pipeline stand-in (test_collector_freeze's), keeping each frame it gets
    with its camera poses."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.frames: list[Frame] = []

    def process(self, frame: Frame) -> FrameResult:
        self.frames.append(frame)
        return super().process(frame)


def replay(bag: Path, output: Path, timeout_s: float) -> PoseRecorder:
    settings = load_settings(overrides={"input.slop": 0.05, "floor.frame": "", "node.tf_timeout_s": timeout_s})
    recorder = PoseRecorder(settings)
    options = ReplayOptions(output, {"rgb": RGB_TOPIC, "depth": None, "camera_info": INFO_TOPIC}, progress=False)
    summary = ReplayJob(recorder, settings, options).run([bag])  # type: ignore[arg-type]
    assert summary.frames_processed == len(recorder.frames)
    return recorder


def test_each_frame_waits_for_its_odometry_as_tf2_would(sample_bags: list[Path], tmp_path: Path) -> None:
    sample = sample_messages(sample_bags[0])
    bag, stamps = robot_bag(tmp_path / "robot", sample, frames=6)
    waited = replay(bag, tmp_path / "waited", timeout_s=0.05)
    assert [frame.stamp_ns for frame in waited.frames] == stamps  # every frame, in order
    for frame in waited.frames[:-1]:
        pose = frame.fixed_pose
        assert pose is not None and pose.matrix is not None and frame.floor_pose is None
        np.testing.assert_allclose(pose.matrix, camera_in_odom(frame.stamp_ns), atol=1e-6)  # slerp rounding
    last = waited.frames[-1].fixed_pose  # its odometry never came: processed at the end, stale
    assert last is not None and last.matrix is None and last.reason == "stale"
    at_once = replay(bag, tmp_path / "at_once", timeout_s=0.0)  # no wait: the odometry is not there yet
    assert len(at_once.frames) == len(stamps)
    assert all(f.fixed_pose is not None and f.fixed_pose.reason == "stale" for f in at_once.frames)
