"""``hdnet_node``: synchronized RGB + depth + camera_info in, skeletons, TF, markers out.

A thin rclpy layer. It declares the Settings tree as parameters, subscribes through
message_filters, and hands the newest synchronized triplet to one worker thread (frame_slot);
the worker (frame_processor, rclpy-free) converts with cv_bridge, runs the core pipeline and
publishes what the core's builders return, copied into rclpy messages by msg_convert.
Callbacks never wait for inference. Every decision that does not need ROS lives in the
sibling modules and is tested without ROS.

Topics (relative to the node): ~/skeletons (hdnet_ros_msgs/Skeleton3DArray), ~/markers
(visualization_msgs/MarkerArray), ~/people (geometry_msgs/PoseArray in node.target_frame),
~/debug_image (sensor_msgs/Image, drawn only while subscribed), /tf (body_<id> at each
pelvis, stamped with the image time), /diagnostics (once a second).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

import message_filters
import tf2_ros
from cv_bridge import CvBridge, CvBridgeError
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseArray, TransformStamped
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from hdnet_ros.config import Settings, SettingsError
from hdnet_ros.depth_fault import DepthFaultWatch
from hdnet_ros.frame_input import FrameError, SkipReason, stamp_to_ns
from hdnet_ros.image_codec import ImageDecodeError
from hdnet_ros.msg_convert import convert
from hdnet_ros.node.decoded_image import DecodedImage, decoded_image, decompressed_encoding
from hdnet_ros.node.diagnostics import DiagnosticsAggregator
from hdnet_ros.node.frame_processor import FrameProcessor, Triplet
from hdnet_ros.node.frame_slot import FrameWorker
from hdnet_ros.node.health import InputHealth, facts_of
from hdnet_ros.node.parameters import NODE_NAME, ParameterSpec, parameter_specs, settings_from_parameters
from hdnet_ros.node.people_pose import RigidTransform, people_in_frame, pose_array_msg
from hdnet_ros.node.rclpy_types import MessageClassResolver
from hdnet_ros.node.sync_monitor import SyncMonitor
from hdnet_ros.outputs.frame_outputs import core_outputs
from hdnet_ros.outputs.network_report import network_values
from hdnet_ros.people import FloorPose
from hdnet_ros.pipeline import FrameResult, Pipeline
from hdnet_ros.transform_buffer import Transform

# The source tree's hdnet_ros_msgs/msg/ (the .msg files) looks like a Python namespace package
# to type checkers; import the generated module by name so they do not misread it.
Skeleton3DArray = importlib.import_module("hdnet_ros_msgs.msg").Skeleton3DArray

WARN_THROTTLE_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0
OUTPUT_QOS = QoSProfile(depth=10)  # reliable, volatile: consumers must not miss a frame's result
_RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


class _WorkerLog:
    """The node's rclpy logger behind frame_processor's WorkerLog."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger

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


def _descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(
        name=spec.name,
        type=getattr(ParameterType, spec.type_name),
        description=spec.description,
        # Read once at start-up: refusing `ros2 param set` is clearer than ignoring it.
        read_only=True,
    )
    if spec.float_range is not None:
        low, high = spec.float_range
        descriptor.floating_point_range = [FloatingPointRange(from_value=low, to_value=high, step=0.0)]
    if spec.integer_range is not None:
        low_int, high_int = spec.integer_range
        descriptor.integer_range = [IntegerRange(from_value=low_int, to_value=high_int, step=0)]
    return descriptor


class HdnetNode(Node):
    """Construct (declares parameters), :meth:`read_settings`, then :meth:`start` with a pipeline."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__(NODE_NAME, **node_options)
        self._specs = parameter_specs()
        for spec in self._specs:
            try:
                self.declare_parameter(spec.name, spec.default, _descriptor(spec))
            except (InvalidParameterTypeException, InvalidParameterValueException) as error:
                raise SettingsError(f"parameter {spec.name}: {error}") from error
        self._resolve = MessageClassResolver()
        self._bridge = CvBridge()
        self._worker: FrameWorker[Triplet] | None = None

    def read_settings(self) -> Settings:
        """The declared parameters as Settings; SettingsError says which value is wrong."""
        return settings_from_parameters({spec.name: self.get_parameter(spec.name).value for spec in self._specs})

    # ---- start-up -------------------------------------------------------------------------

    def start(self, pipeline: Pipeline) -> None:
        """Create publishers, the worker and the subscriptions (in that order: no message can
        arrive before everything it needs exists)."""
        self._pipeline = pipeline
        self._settings = settings = pipeline.settings
        self._skeleton_pub = self.create_publisher(Skeleton3DArray, "~/skeletons", OUTPUT_QOS)
        self._marker_pub = self.create_publisher(MarkerArray, "~/markers", OUTPUT_QOS)
        self._people_pub = self.create_publisher(PoseArray, "~/people", OUTPUT_QOS)
        self._debug_pub = self.create_publisher(Image, "~/debug_image", QoSProfile(depth=2))
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", OUTPUT_QOS)
        self._tf_broadcaster = tf2_ros.TransformBroadcaster(self)
        self._tf_buffer: tf2_ros.Buffer | None = None
        if settings.node.target_frame or settings.floor.frame:
            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)

        self._topics = self._input_topics(settings)
        self._roles = list(self._topics)
        self._health = InputHealth()
        # Rates and silences are measured in wall time (a paused bag is silent; sim time would
        # stop with it); latencies compare ROS time with the capture stamps.
        now = time.monotonic_ns()
        self._diagnostics = DiagnosticsAggregator(f"{self.get_name()}: frames", hardware_id=self._topics["rgb"])
        self._diagnostics.start(now)
        self._monitor = SyncMonitor(
            self._topics, settings.input.queue_size, int(settings.input.slop * 1e9), start_ns=now
        )
        processor = FrameProcessor(
            pipeline,
            settings.input,
            self._diagnostics,
            DepthFaultWatch(self._topics.get("depth", "")),
            decode=self._decode,
            publish=self._publish,
            clock_ns=self._now_ns,
            log=_WorkerLog(self.get_logger()),
            floor_lookup=self._floor_pose if settings.floor.frame else None,
        )
        self._worker = FrameWorker(processor.process, processor.on_worker_busy, processor.on_worker_error)
        self._worker.start()
        self._subscribe(settings)
        self.create_timer(
            DIAGNOSTICS_PERIOD_S, self._on_diagnostics_timer, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )
        self.get_logger().info("waiting for " + ", ".join(f"{role} on {topic}" for role, topic in self._topics.items()))

    @staticmethod
    def _input_topics(settings: Settings) -> dict[str, str]:
        rgb = settings.input.rgb_topic
        topics = {"rgb": f"{rgb}/compressed" if settings.node.rgb_compressed else rgb}
        if settings.input.use_depth:
            topics["depth"] = settings.input.depth_topic
        topics["camera_info"] = settings.input.camera_info_topic
        return topics

    def _qos(self, role: str) -> QoSProfile:
        node = self._settings.node
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=getattr(node, f"{role}_qos_depth"),
            reliability=_RELIABILITY[getattr(node, f"{role}_reliability")],
            durability=DurabilityPolicy.VOLATILE,
        )

    def _subscribe(self, settings: Settings) -> None:
        classes = {
            "rgb": CompressedImage if settings.node.rgb_compressed else Image,
            "depth": Image,
            "camera_info": CameraInfo,
        }
        self._subscribers = []
        for role in self._roles:
            topic = self._topics[role]
            subscriber = message_filters.Subscriber(self, classes[role], topic, qos_profile=self._qos(role))
            # Registered before the synchronizer's own callback, so the monitor sees every
            # message before the synchronizer may match it.
            subscriber.registerCallback(self._on_message, role)
            self._subscribers.append(subscriber)
        self._synchronizer = message_filters.ApproximateTimeSynchronizer(
            self._subscribers, settings.input.queue_size, settings.input.slop
        )
        self._synchronizer.registerCallback(self._on_triplet)

    # ---- callbacks (executor thread: cheap, never wait for inference) ---------------------

    def _now_ns(self) -> int:
        """ROS time (the bag's time under use_sim_time), comparable with header stamps."""
        return int(self.get_clock().now().nanoseconds)

    def _on_message(self, msg: Any, role: str) -> None:
        lost = self._monitor.on_message(role, stamp_to_ns(msg.header.stamp), time.monotonic_ns())
        for _ in range(lost):
            self._diagnostics.record_drop(SkipReason.NO_SYNC_PARTNER.value)

    def _on_triplet(self, *messages: Any) -> None:
        triplet = dict(zip(self._roles, messages, strict=True))
        self._monitor.on_triplet(stamp_to_ns(triplet["rgb"].header.stamp), time.monotonic_ns())
        self._diagnostics.record_input()
        facts = {role: facts_of(msg, self._topics[role]) for role, msg in triplet.items()}
        for warning in self._health.check_triplet(facts["rgb"], facts.get("depth"), facts["camera_info"]):
            self.get_logger().warning(warning)
        assert self._worker is not None
        self._worker.submit(triplet)

    def _on_diagnostics_timer(self) -> None:
        now = time.monotonic_ns()
        report = self._diagnostics.report(now, network_values(self._pipeline.network_report()))
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [
            DiagnosticStatus(
                level=bytes([int(report.level)]),  # diagnostic_msgs' byte fields are bytes in rclpy
                name=report.name,
                message=report.message,
                hardware_id=report.hardware_id,
                values=[KeyValue(key=key, value=value) for key, value in report.values.items()],
            )
        ]
        self._diagnostics_pub.publish(array)
        stall = self._monitor.stall(now, int(self._settings.node.sync_timeout_s * 1e9))
        for warning in self._health.check_sync(stall):
            self.get_logger().warning(warning)

    # ---- worker thread (called by frame_processor.FrameProcessor) ----------------------------

    def _decode(self, msg: Any, role: str) -> DecodedImage:
        """cv_bridge passthrough; a failure names the topic (frame_processor makes it a counted
        skip for RGB, a depth fault for depth)."""
        where = f"{role} image on {self._topics[role]}"
        try:
            if role == "rgb" and self._settings.node.rgb_compressed:
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

    def _floor_pose(self, camera_frame: str, stamp_ns: int) -> FloorPose | None:
        """The camera's pose over ``floor.frame`` from tf2 at the image stamp (worker thread);
        a failed lookup says why (the placement counts it and falls back)."""
        if self._tf_buffer is None:
            return None
        try:
            looked_up = self._tf_buffer.lookup_transform(
                self._settings.floor.frame,
                camera_frame,
                Time(nanoseconds=stamp_ns),
                timeout=Duration(seconds=self._settings.node.tf_timeout_s),
            )
        except tf2_ros.ExtrapolationException as error:
            return FloorPose(None, "stale", str(error))
        except tf2_ros.TransformException as error:
            return FloorPose(None, "missing", str(error))
        return FloorPose(Transform.from_msg(looked_up.transform).matrix)

    def _publish(self, result: FrameResult) -> None:
        """Publish what the core's builders make (the replay writes the same objects)."""
        output = self._settings.output
        outputs = core_outputs(
            result,
            output,
            frame_rate_hz=self._diagnostics.output_rate_hz or output.nominal_frame_rate,
            debug_image=self._settings.node.publish_debug_image and self._debug_pub.get_subscription_count() > 0,
        )
        self._skeleton_pub.publish(convert(outputs.skeletons, Skeleton3DArray, self._resolve))
        self._marker_pub.publish(convert(outputs.markers, MarkerArray, self._resolve))
        if outputs.transforms:
            self._tf_broadcaster.sendTransform(
                [convert(t, TransformStamped, self._resolve) for t in outputs.transforms]
            )
        self._publish_people(result)
        if outputs.debug_image is not None:
            self._debug_pub.publish(convert(outputs.debug_image, Image, self._resolve))

    def _publish_people(self, result: FrameResult) -> None:
        stamp, camera_frame = result.frame.stamp_ns, result.frame.frame_id
        target = self._settings.node.target_frame or camera_frame
        transform = RigidTransform.identity()
        if target != camera_frame and self._tf_buffer is not None:
            try:
                looked_up = self._tf_buffer.lookup_transform(
                    target,
                    camera_frame,
                    Time(nanoseconds=stamp),  # the image time, never now(): people move, robots too
                    timeout=Duration(seconds=self._settings.node.tf_timeout_s),
                )
            except tf2_ros.TransformException as error:
                self.get_logger().warning(
                    f"~/people not published: no transform {camera_frame} -> {target} at the image stamp: {error}",
                    throttle_duration_sec=WARN_THROTTLE_S,
                )
                return
            transform = RigidTransform.from_msg(looked_up.transform)
        poses = pose_array_msg(people_in_frame(result.people, transform), stamp, target)
        self._people_pub.publish(convert(poses, PoseArray, self._resolve))

    def stop(self) -> None:
        """Let the worker finish its frame (call before destroy_node)."""
        if self._worker is not None:
            self._worker.stop(timeout=10.0)
