"""The node core's view of ROS: the managed node's states and transition outcomes, the topics,
and the :class:`Transport` that rclpy provides.

:class:`hdnet_ros.node.node_core.NodeCore` subscribes, publishes, logs, reads parameters and
looks up TF only through a :class:`Transport`: ``ros_node.RosTransport`` implements it with
rclpy (for the plain and the managed node alike), the tests with a recording fake. The
topics are data here (:data:`OUTPUTS`, :data:`OPTIONAL_OUTPUTS`, :func:`input_topics`), so
what the node subscribes and publishes is decided, and tested, without ROS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from hdnet_ros.config import Settings
from hdnet_ros.node.decoded_image import DecodedImage
from hdnet_ros.node.diagnostics import StatusReport
from hdnet_ros.outputs.navigation import PEOPLE_TYPE, TRACKED_BODIES_TYPE
from hdnet_ros.transform_buffer import Transform


class State(Enum):
    """The primary states of a managed node."""

    UNCONFIGURED = "unconfigured"
    INACTIVE = "inactive"
    ACTIVE = "active"
    FINALIZED = "finalized"


class Outcome(Enum):
    """rclpy's TransitionCallbackReturn: SUCCESS, FAILURE (refused, the state is unchanged),
    ERROR (an unexpected exception: the managed node then runs on_error)."""

    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


@dataclass(frozen=True)
class TransitionResult:
    outcome: Outcome
    reason: str = ""  # why it failed (already logged)
    exit_code: int = 0  # the plain node's exit code for this failure

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS


SUCCESS = TransitionResult(Outcome.SUCCESS)


@dataclass(frozen=True)
class InputTopic:
    """One subscription of the synchronizer."""

    role: str  # "rgb", "depth" or "camera_info"
    topic: str
    message_type: str  # e.g. "sensor_msgs/msg/Image"
    reliability: str  # "best_effort" or "reliable"
    qos_depth: int


@dataclass(frozen=True)
class OutputTopic:
    """One publisher: ``name`` is how the core refers to it, ``topic`` the ROS name."""

    name: str
    topic: str
    message_type: str  # e.g. "people_msgs/msg/People"
    qos_depth: int = 10  # reliable, volatile: consumers must not miss a frame's result

    @property
    def package(self) -> str:
        return self.message_type.split("/", 1)[0]


OUTPUTS: tuple[OutputTopic, ...] = (
    OutputTopic("skeletons", "~/skeletons", "hdnet_ros_msgs/msg/Skeleton3DArray"),
    OutputTopic("markers", "~/markers", "visualization_msgs/msg/MarkerArray"),
    OutputTopic("people", "~/people", "geometry_msgs/msg/PoseArray"),
    OutputTopic("debug_image", "~/debug_image", "sensor_msgs/msg/Image", qos_depth=2),
    OutputTopic("diagnostics", "/diagnostics", "diagnostic_msgs/msg/DiagnosticArray"),
)
# On when their message package is installed (optional dependencies), said once when not.
OPTIONAL_OUTPUTS: dict[OutputTopic, str] = {
    OutputTopic("people_nav", "~/people_nav", PEOPLE_TYPE): (
        "people_msgs is not installed: ~/people_nav (people_msgs/People, what social costmap layers for Nav2 "
        "read on /people) is not published. people_msgs has no ROS 2 binary release: build it from "
        "wg-perception/people's ros2 branch in the workspace (docs/ros_node.md) and configure again"
    ),
    OutputTopic("bodies_tracked", "/humans/bodies/tracked", TRACKED_BODIES_TYPE): (
        "hri_msgs is not installed: /humans/bodies/tracked (hri_msgs/IdsList, REP-155's list of the body_<id> "
        "frames) is not published. Install it (rosdep key hri_msgs: ros-$ROS_DISTRO-hri-msgs) and configure again"
    ),
}


class TransformUnavailableError(Exception):
    """TF cannot map the camera frame into the target frame at the image stamp; ``stale``:
    both frames are known but not at that stamp (extrapolation), else a frame is missing."""

    def __init__(self, message: str, stale: bool = False) -> None:
        super().__init__(message)
        self.stale = stale


class CoreLog(Protocol):
    """The node's logger; ``throttled`` texts are repeated at most every few seconds."""

    def info(self, text: str) -> None: ...

    def warning(self, text: str, throttled: bool = False) -> None: ...

    def error(self, text: str, throttled: bool = False) -> None: ...


class Transport(Protocol):
    """What the core needs from rclpy. Messages are handed over as the core builds them
    (rosbags type-store objects); the transport converts and publishes them."""

    log: CoreLog

    def read_settings(self) -> Settings: ...

    def message_package_available(self, package: str) -> bool: ...

    def create_outputs(self, outputs: Sequence[OutputTopic], listen_tf: bool) -> None: ...

    def destroy_outputs(self) -> None: ...

    def subscribe(
        self,
        inputs: Sequence[InputTopic],
        queue_size: int,
        slop_s: float,
        on_message: Callable[[Any, str], None],
        on_triplet: Callable[..., None],
    ) -> None: ...

    def unsubscribe(self) -> None: ...

    def start_timer(self, period_s: float, callback: Callable[[], None]) -> None: ...

    def stop_timer(self) -> None: ...

    def decode(self, msg: Any, source: InputTopic) -> DecodedImage: ...

    def publish(self, output: str, msg: Any) -> None: ...

    def publish_transforms(self, transforms: list[Any]) -> None: ...

    def publish_diagnostics(self, report: StatusReport) -> None: ...

    def subscription_count(self, output: str) -> int: ...

    def lookup_transform(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> Transform: ...

    def now_ns(self) -> int: ...


def input_topics(settings: Settings) -> list[InputTopic]:
    """The synchronizer's subscriptions, in its order: rgb, depth (unless RGB-only), camera_info."""
    node, rgb = settings.node, settings.input.rgb_topic
    plan = [("rgb", f"{rgb}/compressed" if node.rgb_compressed else rgb)]
    if settings.input.use_depth:
        plan.append(("depth", settings.input.depth_topic))
    plan.append(("camera_info", settings.input.camera_info_topic))
    types = {
        "rgb": "sensor_msgs/msg/CompressedImage" if node.rgb_compressed else "sensor_msgs/msg/Image",
        "depth": "sensor_msgs/msg/Image",
        "camera_info": "sensor_msgs/msg/CameraInfo",
    }
    return [
        InputTopic(role, topic, types[role], getattr(node, f"{role}_reliability"), getattr(node, f"{role}_qos_depth"))
        for role, topic in plan
    ]
