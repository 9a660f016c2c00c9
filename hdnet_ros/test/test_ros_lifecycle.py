"""hdnet_lifecycle_node inside ROS 2, driven as `ros2 lifecycle set` and nav2_lifecycle_manager
drive it: the lifecycle services (change_state, get_state) and the parameter service, with
the sample RGB-D frames published and the outputs listened to.

Needs a sourced ROS 2 (Humble or newer) workspace with hdnet_ros_msgs built; elsewhere every
test here is skipped with the reason (by the ``ros`` fixture: a module-level skip would take
the other test modules with it under Humble's launch_testing plugin). The node runs in this
process on an executor thread, renamed ``hdnet_lifecycle_test``; a tester node calls its
services, publishes the frames (restamped with the current time, as a live camera would) and
records what comes out. The last test launches ``hdnet.launch.py lifecycle:=true`` with
``ros2 launch`` and waits until the launch file's autostart has made the node active.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers import DEPTH_TOPIC, INFO_TOPIC, RGB_TOPIC

NODE = "hdnet_lifecycle_test"
DEADLINE_S = 60.0  # generous: model loading and discovery on slow CI machines
QUIET_S = 2.0  # how long "nothing arrives" is watched
ROS_MODULES = ("rclpy", "rclpy.lifecycle", "lifecycle_msgs.srv", "message_filters", "cv_bridge", "tf2_ros")


@pytest.fixture(scope="module")
def ros() -> SimpleNamespace:
    """The ROS modules the tests use; skips (these tests only) when ROS 2 is not sourced."""
    modules = {}
    for name in (*ROS_MODULES, "hdnet_ros_msgs.msg"):
        try:
            modules[name] = importlib.import_module(name)
        except ImportError as error:
            pytest.skip(f"{name} is not importable ({error}): the lifecycle tests need a sourced ROS 2 workspace")
    from hdnet_ros.node.lifecycle_node import HdnetLifecycleNode
    from lifecycle_msgs.msg import State, Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from rcl_interfaces.msg import Parameter as ParameterMsg
    from rcl_interfaces.msg import ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CameraInfo, Image

    return SimpleNamespace(
        rclpy=modules["rclpy"],
        msgs=modules["hdnet_ros_msgs.msg"],
        HdnetLifecycleNode=HdnetLifecycleNode,
        State=State,
        Transition=Transition,
        ChangeState=ChangeState,
        GetState=GetState,
        ParameterMsg=ParameterMsg,
        ParameterType=ParameterType,
        ParameterValue=ParameterValue,
        SetParameters=SetParameters,
        MultiThreadedExecutor=MultiThreadedExecutor,
        Node=Node,
        Parameter=Parameter,
        QoSProfile=QoSProfile,
        deserialize_message=deserialize_message,
        CameraInfo=CameraInfo,
        Image=Image,
    )


def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """For the ROS graph (publisher and subscriber counts), which is updated asynchronously."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def installed(package: str) -> Any | None:
    try:
        return importlib.import_module(f"{package}.msg")
    except ImportError:
        return None


class Harness:
    """The managed node under test and a tester node with its service clients and listeners."""

    def __init__(self, ros: SimpleNamespace, models_dir: Path, sample_bags: list[Path], name: str = NODE) -> None:
        self.ros, self.name = ros, name
        self.node = ros.HdnetLifecycleNode(
            cli_args=["--ros-args", "-r", f"__node:={name}"],
            parameter_overrides=[
                ros.Parameter("input.rgb_topic", value=RGB_TOPIC),
                ros.Parameter("input.depth_topic", value=DEPTH_TOPIC),
                ros.Parameter("input.camera_info_topic", value=INFO_TOPIC),
                ros.Parameter("input.slop", value=0.5),
                ros.Parameter("models.models_dir", value=str(models_dir)),
            ],
        )
        self.tester = ros.Node(f"{name}_tester")
        self.change = self.tester.create_client(ros.ChangeState, f"/{name}/change_state")
        self.get = self.tester.create_client(ros.GetState, f"/{name}/get_state")
        self.set_parameters = self.tester.create_client(ros.SetParameters, f"/{name}/set_parameters")
        self.received: dict[str, list[Any]] = {"skeletons": [], "people_nav": [], "bodies_tracked": []}
        self.lock = threading.Lock()
        qos = ros.QoSProfile(depth=10)
        self._listen("skeletons", ros.msgs.Skeleton3DArray, f"/{name}/skeletons", qos)
        people_msgs, hri_msgs = installed("people_msgs"), installed("hri_msgs")
        if people_msgs is not None:
            self._listen("people_nav", people_msgs.People, f"/{name}/people_nav", qos)
        if hri_msgs is not None:
            self._listen("bodies_tracked", hri_msgs.IdsList, "/humans/bodies/tracked", qos)
        classes = {"rgb": ros.Image, "depth": ros.Image, "camera_info": ros.CameraInfo}
        topics = {"rgb": RGB_TOPIC, "depth": DEPTH_TOPIC, "camera_info": INFO_TOPIC}
        self.publishers = {role: self.tester.create_publisher(classes[role], topics[role], qos) for role in topics}
        from hdnet_ros.replay.bag_input import BagInput

        with BagInput(sample_bags[0], {}) as reader:
            self.frame = {m.role: ros.deserialize_message(m.cdr, classes[m.role]) for m in reader.messages()}
        self.executor = ros.MultiThreadedExecutor()
        self.executor.add_node(self.node)
        self.executor.add_node(self.tester)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _listen(self, key: str, message_class: Any, topic: str, qos: Any) -> None:
        def record(msg: Any) -> None:
            with self.lock:
                self.received[key].append(msg)

        self.tester.create_subscription(message_class, topic, record, qos)

    def call(self, client: Any, request: Any) -> Any:
        assert client.wait_for_service(timeout_sec=DEADLINE_S), f"{client.srv_name} is not offered"
        future = client.call_async(request)
        deadline = time.monotonic() + DEADLINE_S
        while not future.done():
            assert time.monotonic() < deadline, f"{client.srv_name} did not answer"
            time.sleep(0.05)
        return future.result()

    def state(self) -> str:
        return str(self.call(self.get, self.ros.GetState.Request()).current_state.label)

    def transition(self, name: str) -> bool:
        """`ros2 lifecycle set /<node> <name>`: True when the node accepted it."""
        request = self.ros.ChangeState.Request()
        request.transition.id = getattr(self.ros.Transition, f"TRANSITION_{name.upper()}")
        return bool(self.call(self.change, request).success)

    def go_to(self, goal: str) -> None:
        """From whatever primary state the previous test left, to ``goal``."""
        order = ["unconfigured", "inactive", "active"]
        up = {"unconfigured": "configure", "inactive": "activate"}
        down = {"active": "deactivate", "inactive": "cleanup"}
        while (state := self.state()) != goal:
            step = up[state] if order.index(goal) > order.index(state) else down[state]
            assert self.transition(step), f"{step} from {state} failed"

    def set_models_dir(self, path: str) -> bool:
        value = self.ros.ParameterValue(type=self.ros.ParameterType.PARAMETER_STRING, string_value=path)
        parameter = self.ros.ParameterMsg(name="models.models_dir", value=value)
        request = self.ros.SetParameters.Request(parameters=[parameter])
        return bool(self.call(self.set_parameters, request).results[0].successful)

    def publish_frame(self) -> None:
        stamp = self.tester.get_clock().now().to_msg()
        for role, msg in self.frame.items():
            msg.header.stamp = stamp
            self.publishers[role].publish(msg)

    def subscribed(self) -> int:
        """The node's subscriptions to the RGB topic (the tester only publishes there)."""
        return int(self.tester.count_subscribers(RGB_TOPIC))

    def publishing(self) -> int:
        return int(self.tester.count_publishers(f"/{self.name}/skeletons"))

    def count(self, key: str) -> int:
        with self.lock:
            return len(self.received[key])

    def publish_until(self, done: Callable[[], bool], seconds: float = DEADLINE_S) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.publish_frame()
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


@pytest.fixture(scope="module")
def harness(ros: SimpleNamespace, models_dir: Path, sample_bags: list[Path]) -> Iterator[Harness]:
    ros.rclpy.init()
    running = Harness(ros, models_dir, sample_bags)
    try:
        yield running
    finally:
        running.close()
        ros.rclpy.try_shutdown()


def test_starts_unconfigured_and_publishes_nothing_before_activate(harness: Harness) -> None:
    harness.go_to("unconfigured")
    assert eventually(lambda: harness.subscribed() == 0 and harness.publishing() == 0)
    assert harness.transition("configure") and harness.state() == "inactive"
    assert eventually(lambda: harness.publishing() == 1)  # made by configure ...
    assert harness.subscribed() == 0  # ... subscribed only by activate
    before = harness.count("skeletons")
    assert not harness.publish_until(lambda: harness.count("skeletons") > before, seconds=QUIET_S)


def test_activate_publishes_skeletons_and_people_for_navigation(harness: Harness) -> None:
    harness.go_to("active")
    assert harness.publish_until(lambda: harness.count("skeletons") > 0), "no Skeleton3DArray while active"
    with harness.lock:
        rooted = [str(s.id) for s in harness.received["skeletons"][-1].skeletons if s.root_valid]
    assert rooted, "the standing person has a root"
    if installed("people_msgs") is not None:
        assert harness.publish_until(lambda: harness.count("people_nav") > 0), "no people_msgs/People"
        with harness.lock:
            assert harness.received["people_nav"][-1].people
    if installed("hri_msgs") is not None:
        assert harness.publish_until(lambda: harness.count("bodies_tracked") > 0), "no hri_msgs/IdsList"
        with harness.lock:
            assert harness.received["bodies_tracked"][-1].ids


def test_deactivate_stops_the_work_and_activate_resumes(harness: Harness) -> None:
    harness.go_to("active")
    assert harness.publish_until(lambda: harness.count("skeletons") > 0)
    assert harness.transition("deactivate") and harness.state() == "inactive"
    assert eventually(lambda: harness.subscribed() == 0)  # subscriptions dropped
    time.sleep(0.5)  # a frame already in the executor's queue is ignored, not published later
    before = harness.count("skeletons")
    assert not harness.publish_until(lambda: harness.count("skeletons") > before, seconds=QUIET_S)
    assert harness.transition("activate")
    assert harness.publish_until(lambda: harness.count("skeletons") > before), "activate did not resume"


def test_parameters_are_refused_while_configured_and_a_bad_configure_stays_unconfigured(
    harness: Harness, models_dir: Path, tmp_path: Path
) -> None:
    harness.go_to("inactive")
    assert not harness.set_models_dir(str(tmp_path))  # read at configure: refused while configured
    assert harness.transition("cleanup") and harness.state() == "unconfigured"
    assert eventually(lambda: harness.publishing() == 0)  # cleanup released the publishers
    assert harness.set_models_dir(str(tmp_path / "missing"))
    assert not harness.transition("configure")  # FAILURE: the reason is in the node's log
    assert harness.state() == "unconfigured"
    assert harness.set_models_dir(str(models_dir))
    assert harness.transition("configure") and harness.state() == "inactive"


def test_shutdown_from_active_finalizes(ros: SimpleNamespace, models_dir: Path, sample_bags: list[Path]) -> None:
    """A node of its own: finalized is final."""
    initialized_here = not ros.rclpy.ok()
    if initialized_here:
        ros.rclpy.init()
    running = Harness(ros, models_dir, sample_bags, name=f"{NODE}_shutdown")
    try:
        running.go_to("active")
        assert eventually(lambda: running.subscribed() >= 1)
        assert running.transition("active_shutdown") and running.state() == "finalized"
        assert eventually(lambda: running.publishing() == 0)
        assert not running.transition("configure")  # finalized is final
    finally:
        running.close()
        if initialized_here:
            ros.rclpy.try_shutdown()


def test_the_launch_file_configures_and_activates_the_managed_node(ros: SimpleNamespace, models_dir: Path) -> None:
    """`ros2 launch hdnet_ros hdnet.launch.py lifecycle:=true` (autostart) ends active."""
    if shutil.which("ros2") is None:
        pytest.skip("the ros2 command is not on PATH")
    try:
        from ament_index_python.packages import get_package_share_directory

        get_package_share_directory("hdnet_ros")
    except Exception as error:  # PackageNotFoundError, or no ament_index at all
        pytest.skip(f"hdnet_ros is not installed in the sourced workspace ({error}): colcon build it first")
    command = ["ros2", "launch", "hdnet_ros", "hdnet.launch.py", "lifecycle:=true", "camera:=hsr"]
    launch = subprocess.Popen(
        [*command, f"models_dir:={models_dir}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
        start_new_session=True,
    )
    initialized_here = not ros.rclpy.ok()
    if initialized_here:
        ros.rclpy.init()
    probe = ros.Node("hdnet_launch_probe")
    get = probe.create_client(ros.GetState, "/hdnet_node/get_state")
    label = ""
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and label != "active":
            if get.wait_for_service(timeout_sec=1.0):
                future = get.call_async(ros.GetState.Request())
                ros.rclpy.spin_until_future_complete(probe, future, timeout_sec=5.0)
                if future.done():
                    label = future.result().current_state.label
            time.sleep(0.5)
        assert label == "active", f"hdnet_node is {label or 'not offering get_state'} after {DEADLINE_S} s"
        assert eventually(lambda: probe.count_publishers("/hdnet/skeletons") == 1)  # remapped as for the plain node
        if installed("people_msgs") is not None:
            assert eventually(lambda: probe.count_publishers("/people") == 1)  # where social costmap layers read
    finally:
        probe.destroy_node()
        if initialized_here:
            ros.rclpy.try_shutdown()
        os.killpg(launch.pid, signal.SIGINT)
        try:
            output, _ = launch.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(launch.pid, signal.SIGKILL)
            output, _ = launch.communicate()
        assert "Traceback" not in output, output[-4000:]
