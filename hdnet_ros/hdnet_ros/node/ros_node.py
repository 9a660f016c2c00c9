"""``hdnet_node``: synchronized RGB + depth + camera_info in, skeletons, TF, markers and people out.

A thin rclpy layer. :class:`RosTransport` gives :class:`hdnet_ros.node.node_core.NodeCore`
what it needs from ROS (parameters, publishers, message_filters subscriptions, cv_bridge,
TF, timers, the logger); the core does the work, the same for this plain node and for the
managed ``hdnet_lifecycle_node`` (lifecycle_node.py). :class:`HdnetNode` declares the
Settings tree as read-only parameters and runs configure and activate at start-up. Every
decision that does not need ROS lives in the sibling modules and is tested without ROS.

Topics (relative to the node): ~/skeletons (hdnet_ros_msgs/Skeleton3DArray), ~/markers
(visualization_msgs/MarkerArray), ~/people (geometry_msgs/PoseArray in node.target_frame),
~/people_nav (people_msgs/People, when people_msgs is installed), /humans/bodies/tracked
(hri_msgs/IdsList, when hri_msgs is installed), ~/debug_image (sensor_msgs/Image, drawn only
while subscribed), /tf (body_<id> at each pelvis, stamped with the image time),
/diagnostics (once a second).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import message_filters
import tf2_ros
from cv_bridge import CvBridge, CvBridgeError
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import TransformStamped
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time

from hdnet_ros.config import Settings, SettingsError
from hdnet_ros.frame_input import FrameError, SkipReason
from hdnet_ros.image_codec import ImageDecodeError
from hdnet_ros.msg_convert import convert
from hdnet_ros.node.decoded_image import DecodedImage, decoded_image, decompressed_encoding
from hdnet_ros.node.diagnostics import StatusReport
from hdnet_ros.node.node_core import NodeCore
from hdnet_ros.node.parameters import NODE_NAME, ParameterSpec, parameter_specs, settings_from_parameters
from hdnet_ros.node.rclpy_types import MessageClassResolver
from hdnet_ros.node.transport import (
    CoreLog,
    InputTopic,
    OutputTopic,
    TransformUnavailableError,
    TransitionResult,
)
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.transform_buffer import Transform

__all__ = ["NODE_NAME", "HdnetNode", "RosTransport", "Skeleton3DArray", "declare_parameters"]

# The source tree's hdnet_ros_msgs/msg/ (the .msg files) looks like a Python namespace package
# to type checkers; import the generated module by name so they do not misread it.
Skeleton3DArray = importlib.import_module("hdnet_ros_msgs.msg").Skeleton3DArray

WARN_THROTTLE_S = 5.0
_RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


class _RosLog:
    """The node's rclpy logger behind the core's CoreLog."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def info(self, text: str) -> None:
        self._logger.info(text)

    def warning(self, text: str, throttled: bool = False) -> None:
        self._emit(self._logger.warning, text, throttled)

    def error(self, text: str, throttled: bool = False) -> None:
        self._emit(self._logger.error, text, throttled)

    @staticmethod
    def _emit(log: Callable[..., Any], text: str, throttled: bool) -> None:
        if throttled:
            log(text, throttle_duration_sec=WARN_THROTTLE_S)
        else:
            log(text)


def _descriptor(spec: ParameterSpec, read_only: bool) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(
        name=spec.name,
        type=getattr(ParameterType, spec.type_name),
        description=spec.description,
        read_only=read_only,
    )
    if spec.float_range is not None:
        low, high = spec.float_range
        descriptor.floating_point_range = [FloatingPointRange(from_value=low, to_value=high, step=0.0)]
    if spec.integer_range is not None:
        low_int, high_int = spec.integer_range
        descriptor.integer_range = [IntegerRange(from_value=low_int, to_value=high_int, step=0)]
    return descriptor


def declare_parameters(node: Node, read_only: bool) -> None:
    """Declare the Settings tree with types, ranges and descriptions; SettingsError names a
    value of the wrong type or out of range."""
    for spec in parameter_specs():
        try:
            node.declare_parameter(spec.name, spec.default, _descriptor(spec, read_only))
        except (InvalidParameterTypeException, InvalidParameterValueException) as error:
            raise SettingsError(f"parameter {spec.name}: {error}") from error


class RosTransport:
    """The core's Transport on one rclpy node; ``lifecycle`` makes lifecycle publishers
    (they publish only while the managed node is active)."""

    def __init__(self, node: Node, lifecycle: bool = False) -> None:
        self._node = node
        self._lifecycle = lifecycle
        self.log: CoreLog = _RosLog(node.get_logger())
        self._resolve = MessageClassResolver()
        self._bridge = CvBridge()
        self._publishers: dict[str, tuple[Any, Callable[[], Any]]] = {}
        self._tf_broadcaster: tf2_ros.TransformBroadcaster | None = None
        self._tf_buffer: tf2_ros.Buffer | None = None
        self._tf_listener: tf2_ros.TransformListener | None = None
        self._subscribers: list[message_filters.Subscriber] = []
        self._synchronizer: message_filters.ApproximateTimeSynchronizer | None = None
        self._timer: Any = None

    def read_settings(self) -> Settings:
        """The declared parameters as Settings; SettingsError says which value is wrong."""
        values = {spec.name: self._node.get_parameter(spec.name).value for spec in parameter_specs()}
        return settings_from_parameters(values)

    def message_package_available(self, package: str) -> bool:
        try:
            importlib.import_module(f"{package}.msg")
        except ImportError:
            return False
        return True

    # ---- publishers ---------------------------------------------------------------------------

    def create_outputs(self, outputs: Sequence[OutputTopic], listen_tf: bool) -> None:
        node = self._node
        # A managed node's lifecycle publishers publish only while it is active.
        create = getattr(node, "create_lifecycle_publisher" if self._lifecycle else "create_publisher")
        for output in outputs:
            message_class = self._resolve.message_class(output.message_type)
            publisher = create(message_class, output.topic, QoSProfile(depth=output.qos_depth))
            self._publishers[output.name] = (publisher, message_class)
        self._tf_broadcaster = tf2_ros.TransformBroadcaster(node)
        if listen_tf:
            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, node)

    def destroy_outputs(self) -> None:
        node = self._node
        destroy = getattr(node, "destroy_lifecycle_publisher" if self._lifecycle else "destroy_publisher")
        for publisher, _ in self._publishers.values():
            destroy(publisher)
        self._publishers.clear()
        if self._tf_listener is not None:
            self._tf_listener.unregister()
        self._tf_listener = self._tf_buffer = None
        if self._tf_broadcaster is not None:
            node.destroy_publisher(self._tf_broadcaster.pub_tf)
        self._tf_broadcaster = None

    def publish(self, output: str, msg: Any) -> None:
        publisher, message_class = self._publishers[output]
        publisher.publish(convert(msg, message_class, self._resolve))

    def publish_transforms(self, transforms: list[Any]) -> None:
        if self._tf_broadcaster is not None:
            self._tf_broadcaster.sendTransform([convert(t, TransformStamped, self._resolve) for t in transforms])

    def publish_diagnostics(self, report: StatusReport) -> None:
        array = DiagnosticArray()
        array.header.stamp = self._node.get_clock().now().to_msg()
        array.status = [
            DiagnosticStatus(
                level=bytes([int(report.level)]),  # diagnostic_msgs' byte fields are bytes in rclpy
                name=report.name,
                message=report.message,
                hardware_id=report.hardware_id,
                values=[KeyValue(key=key, value=value) for key, value in report.values.items()],
            )
        ]
        self._publishers["diagnostics"][0].publish(array)

    def subscription_count(self, output: str) -> int:
        return int(self._publishers[output][0].get_subscription_count())

    # ---- subscriptions and the timer ------------------------------------------------------------

    def subscribe(
        self,
        inputs: Sequence[InputTopic],
        queue_size: int,
        slop_s: float,
        on_message: Callable[[Any, str], None],
        on_triplet: Callable[..., None],
    ) -> None:
        for source in inputs:
            qos = QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=source.qos_depth,
                reliability=_RELIABILITY[source.reliability],
                durability=DurabilityPolicy.VOLATILE,
            )
            message_class = self._resolve.message_class(source.message_type)
            subscriber = message_filters.Subscriber(self._node, message_class, source.topic, qos_profile=qos)
            # Registered before the synchronizer's own callback, so the core sees every message
            # before the synchronizer may match it.
            subscriber.registerCallback(on_message, source.role)
            self._subscribers.append(subscriber)
        self._synchronizer = message_filters.ApproximateTimeSynchronizer(self._subscribers, queue_size, slop_s)
        self._synchronizer.registerCallback(on_triplet)

    def unsubscribe(self) -> None:
        for subscriber in self._subscribers:
            self._node.destroy_subscription(subscriber.sub)
        self._subscribers.clear()
        self._synchronizer = None

    def start_timer(self, period_s: float, callback: Callable[[], None]) -> None:
        self._timer = self._node.create_timer(period_s, callback, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
        self._timer = None

    # ---- the worker's needs -------------------------------------------------------------------

    def decode(self, msg: Any, source: InputTopic) -> DecodedImage:
        """cv_bridge passthrough; a failure names the topic (frame_processor makes it a counted
        skip for RGB, a depth fault for depth)."""
        where = f"{source.role} image on {source.topic}"
        try:
            if source.message_type == "sensor_msgs/msg/CompressedImage":
                array = self._bridge.compressed_imgmsg_to_cv2(msg, desired_encoding="passthrough")
                encoding = decompressed_encoding(array)
            else:
                array = self._bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough")
                encoding = msg.encoding
        except (CvBridgeError, ImageDecodeError) as error:
            raise FrameError(SkipReason.BAD_ENCODING, f"{where}: {error}") from error
        except (TypeError, ValueError) as error:  # numpy: the payload is shorter than its header says
            raise FrameError(SkipReason.UNREADABLE_MESSAGE, f"{where}: {error}") from error
        return decoded_image(msg.header, array, encoding)

    def lookup_transform(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> Transform:
        if self._tf_buffer is None:
            raise TransformUnavailableError(
                "no TF listener (node.target_frame, floor.frame and tracking.fixed_frame empty at configure)"
            )
        try:
            looked_up = self._tf_buffer.lookup_transform(
                target, source, Time(nanoseconds=stamp_ns), timeout=Duration(seconds=timeout_s)
            )
        except tf2_ros.ExtrapolationException as error:  # known frames, not at this stamp
            raise TransformUnavailableError(str(error), stale=True) from error
        except tf2_ros.TransformException as error:
            raise TransformUnavailableError(str(error)) from error
        return Transform.from_msg(looked_up.transform)

    def now_ns(self) -> int:
        """ROS time (the bag's time under use_sim_time), comparable with header stamps."""
        return int(self._node.get_clock().now().nanoseconds)


class HdnetNode(Node):
    """Construct (declares the parameters, read-only), then :meth:`start`: configure (reads
    them, loads the models) and activate (publishers, worker, subscriptions)."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__(NODE_NAME, **node_options)
        declare_parameters(self, read_only=True)  # read once: refusing `ros2 param set` is clearer than ignoring it
        self._transport = RosTransport(self)
        self.core = NodeCore(self._transport, name=self.get_name())

    def read_settings(self) -> Settings:
        """The declared parameters as Settings; SettingsError says which value is wrong."""
        return self._transport.read_settings()

    def start(self, pipeline: Pipeline | None = None) -> TransitionResult:
        """Configure (with ``pipeline``, or loading the models the parameters name) and
        activate; a failure is logged with its reason and returned with its exit code."""
        configured = self.core.configure(pipeline)
        return self.core.activate() if configured.ok else configured

    def stop(self) -> None:
        """Unsubscribe, let the worker finish its frame, release everything (before destroy_node)."""
        self.core.shutdown()
