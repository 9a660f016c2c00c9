"""hdnet_node inside ROS 2: the sample RGB-D frames in; skeletons, TF and diagnostics out.

Needs a sourced ROS 2 (Humble or newer) workspace with hdnet_ros_msgs built (see
docs/ros_node.md); elsewhere the module is skipped with the reason. The node runs in this
process on an executor thread; a second node publishes the sample frames (restamped with
the current time, as a live camera would) and listens to the outputs. Both use rclpy's
default context: tf2_ros.Buffer waits for transforms only while that context is ok().
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.replay.bag_input import BagInput
from helpers import DEPTH_TOPIC, INFO_TOPIC, RGB_TOPIC, installed, needs

ROS_MODULES = ("rclpy", "message_filters", "cv_bridge", "tf2_ros", "hdnet_ros_msgs.msg")
pytestmark = needs(*ROS_MODULES, why="the node's ROS tests need a sourced ROS 2 workspace with hdnet_ros built")
if installed(*ROS_MODULES):
    import rclpy
    import tf2_ros
    from diagnostic_msgs.msg import DiagnosticArray
    from hdnet_ros.node.ros_node import HdnetNode, Skeleton3DArray
    from rclpy.duration import Duration
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile
    from rclpy.serialization import deserialize_message
    from rclpy.time import Time
    from sensor_msgs.msg import CameraInfo, Image

TOPICS = {"rgb": RGB_TOPIC, "depth": DEPTH_TOPIC, "camera_info": INFO_TOPIC}
MESSAGE_CLASS = {"rgb": "Image", "depth": "Image", "camera_info": "CameraInfo"}
CAMERA_FRAME = "head_rgbd_sensor_rgb_frame"
DEADLINE_S = 60.0  # generous: CI machines are slow; the checks are about content, not speed


def message_class(role: str) -> Any:
    """The sensor_msgs class of an input role (imported only where ROS is)."""
    return {"Image": Image, "CameraInfo": CameraInfo}[MESSAGE_CLASS[role]]


class Harness:
    """The node under test plus a tester node that publishes frames and records outputs."""

    def __init__(self, models_dir: Path) -> None:
        self.node = HdnetNode(
            parameter_overrides=[
                Parameter("input.rgb_topic", value=RGB_TOPIC),
                Parameter("input.depth_topic", value=DEPTH_TOPIC),
                Parameter("input.camera_info_topic", value=INFO_TOPIC),
                Parameter("input.slop", value=0.5),
                Parameter("models.models_dir", value=str(models_dir)),
            ],
        )
        self.node.start(Pipeline.from_settings(self.node.read_settings()))
        self.tester = Node("hdnet_test_harness")
        self.skeletons: list[Any] = []
        self.diagnostics: list[Any] = []
        self.published_stamps: list[Any] = []
        qos = QoSProfile(depth=10)
        self.tester.create_subscription(Skeleton3DArray, "/hdnet_node/skeletons", self.skeletons.append, qos)
        self.tester.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, qos)
        self.publishers = {
            role: self.tester.create_publisher(message_class(role), TOPICS[role], qos) for role in TOPICS
        }
        self.tf_buffer = tf2_ros.Buffer()
        self.tf_listener = tf2_ros.TransformListener(self.tf_buffer, self.tester)
        self.executor = MultiThreadedExecutor()
        self.executor.add_node(self.node)
        self.executor.add_node(self.tester)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def publish(self, frame: dict[str, Any]) -> None:
        """One synchronized frame, stamped now (every publication is a new frame)."""
        stamp = self.tester.get_clock().now().to_msg()
        for role, msg in frame.items():
            msg.header.stamp = stamp
            self.publishers[role].publish(msg)
        self.published_stamps.append((stamp.sec, stamp.nanosec))

    def publish_until(self, frame: dict[str, Any], done: Callable[[], bool]) -> bool:
        """Publish about twice a second (discovery takes a moment) until ``done``."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            self.publish(frame)
            for _ in range(5):
                if done():
                    return True
                time.sleep(0.1)
        return done()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.stop()
        self.node.destroy_node()
        self.tester.destroy_node()


def sample_frame(bag: Path) -> dict[str, Any]:
    """The bag's RGB, depth and camera_info as rclpy messages (from their ROS 2 CDR bytes)."""
    with BagInput(bag, {}) as reader:
        return {item.role: deserialize_message(item.cdr, message_class(item.role)) for item in reader.messages()}


@pytest.fixture(scope="module")
def harness(models_dir: Path) -> Iterator[Harness]:
    rclpy.init()
    running = Harness(models_dir)
    try:
        yield running
    finally:
        running.close()
        rclpy.try_shutdown()


@pytest.fixture(scope="module")
def first_skeletons(harness: Harness, sample_bags: list[Path]) -> Any:
    frame = sample_frame(sample_bags[0])
    assert harness.publish_until(frame, lambda: bool(harness.skeletons)), "no Skeleton3DArray from hdnet_node"
    return harness.skeletons[0]


def standing_person(array: Any) -> tuple[int, Any]:
    """(index, skeleton) of the tall person in the middle of the image (the largest box)."""
    return max(enumerate(array.skeletons), key=lambda item: item[1].bbox.y_max - item[1].bbox.y_min)


def test_skeletons_of_the_standing_person_arrive(harness: Harness, first_skeletons: Any) -> None:
    assert first_skeletons.header.frame_id == CAMERA_FRAME
    stamp = (first_skeletons.header.stamp.sec, first_skeletons.header.stamp.nanosec)
    assert stamp in harness.published_stamps  # stamped with the image time, not the publish time
    _, person = standing_person(first_skeletons)
    assert person.root_valid
    assert 1.6 <= person.root_position.z <= 2.1
    assert sum(k.valid for k in person.keypoints) >= 10


def test_body_frame_resolves_through_tf(harness: Harness, first_skeletons: Any) -> None:
    index, person = standing_person(first_skeletons)
    label = person.id or index + 1  # the track id, or the index in the frame + 1 without tracking
    transform = harness.tf_buffer.lookup_transform(
        CAMERA_FRAME, f"body_{label}", Time.from_msg(first_skeletons.header.stamp), timeout=Duration(seconds=10.0)
    )
    translation = transform.transform.translation
    assert (translation.x, translation.y, translation.z) == pytest.approx(
        (person.root_position.x, person.root_position.y, person.root_position.z), abs=1e-6
    )


def node_statuses(harness: Harness) -> list[dict[str, str]]:
    """The values of every hdnet_node status received so far (oldest first)."""
    return [
        {v.key: v.value for v in status.values}
        for array in harness.diagnostics
        for status in array.status
        if status.name == "hdnet_node: frames" and status.hardware_id == RGB_TOPIC
    ]


def test_diagnostics_report_rates_latency_and_drops(
    harness: Harness, first_skeletons: Any, sample_bags: list[Path]
) -> None:
    def measured() -> bool:
        return any(values["latency median [ms]"] != "n/a" for values in node_statuses(harness))

    assert harness.publish_until(sample_frame(sample_bags[1]), measured), "no diagnostics with a measured latency"
    values = node_statuses(harness)[-1]
    assert {"input rate [Hz]", "output rate [Hz]", "latency p95 [ms]", "dropped no_sync_partner"} <= set(values)
    assert values["dropped bad_encoding"] == "0"
    assert float(values["latency median [ms]"]) >= 0.0


def _run_node(*ros_args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run(
        [sys.executable, "-m", "hdnet_ros.node.main", "--ros-args", *ros_args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_missing_model_stops_the_node_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no_models"
    result = _run_node("-p", f"models.models_dir:={missing}")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert str(missing) in output and "does not exist" in output
    assert "Traceback" not in output


def test_invalid_parameter_stops_the_node_naming_it() -> None:
    result = _run_node("-p", "input.slop:=-1.0")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "input.slop" in output and "Traceback" not in output
