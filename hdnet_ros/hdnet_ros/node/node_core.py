"""The node's work and its life cycle, without ROS: one core for the plain and the managed node.

:class:`NodeCore` owns the settings, the pipeline, the publishers, the subscriptions, the
worker, the diagnostics timer and the input checks, and moves through the states of a ROS 2
managed node (design.ros2.org/articles/node_lifecycle.html)::

    unconfigured --configure--> inactive --activate--> active
    active --deactivate--> inactive --cleanup--> unconfigured
    any --shutdown--> finalized          a transition's error --on_error--> unconfigured

``configure`` reads the parameters, loads the models and creates the publishers (slow; a
reason a user can fix is a FAILURE that leaves the node unconfigured); ``activate``
subscribes, starts the worker and the diagnostics timer; ``deactivate`` stops the work
without unloading: the subscriptions are dropped, the worker finishes and ends, nothing is
published any more; ``cleanup`` releases the pipeline and the publishers; ``shutdown``
releases everything from any state; ``on_error`` does the same and returns to unconfigured.

``hdnet_node`` runs configure and activate at start-up; ``hdnet_lifecycle_node`` calls them
from its transition callbacks. Everything rclpy does comes in through a :class:`Transport`
(``ros_node.RosTransport``), so the state machine and the publishing are tested with a fake
one. The frames' path is the worker's :class:`FrameProcessor` (frame_slot, frame_processor).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hdnet_ros.config import Settings
from hdnet_ros.depth_fault import DepthFaultWatch
from hdnet_ros.frame_input import FrameError, SkipReason, stamp_to_ns
from hdnet_ros.inference.openvino_compiled import COMPILED
from hdnet_ros.node.camera_poses import CameraPoses
from hdnet_ros.node.decoded_image import DecodedImage
from hdnet_ros.node.diagnostics import DiagnosticsAggregator
from hdnet_ros.node.frame_processor import FrameProcessor, Triplet
from hdnet_ros.node.frame_slot import FrameWorker
from hdnet_ros.node.health import InputHealth, facts_of
from hdnet_ros.node.startup import EXIT_UNEXPECTED, startup_failure
from hdnet_ros.node.sync_monitor import SyncMonitor
from hdnet_ros.node.transport import (
    OPTIONAL_OUTPUTS,
    OUTPUTS,
    SUCCESS,
    InputTopic,
    Outcome,
    OutputTopic,
    State,
    TransformUnavailableError,
    TransitionResult,
    Transport,
    input_topics,
)
from hdnet_ros.outputs.frame_outputs import core_outputs
from hdnet_ros.outputs.navigation import navigation_outputs
from hdnet_ros.outputs.network_report import network_values
from hdnet_ros.people import Frame
from hdnet_ros.pipeline import FrameResult, Pipeline, freeze_loaded_objects, thaw_loaded_objects
from hdnet_ros.transform_buffer import Transform

DIAGNOSTICS_PERIOD_S = 1.0
WORKER_STOP_TIMEOUT_S = 10.0  # deactivate waits this long for the frame being processed


@dataclass(frozen=True)
class _Configured:
    """What configure makes (and cleanup releases)."""

    settings: Settings
    pipeline: Pipeline
    outputs: frozenset[str]  # the publishers' names
    inputs: dict[str, InputTopic]  # by role, in the synchronizer's order
    diagnostics: DiagnosticsAggregator
    health: InputHealth
    processor: FrameProcessor
    transforms: CameraPoses  # TF at the image stamps, for the pipeline and the people outputs


@dataclass(frozen=True)
class _Running:
    """What activate makes (and deactivate ends)."""

    monitor: SyncMonitor
    worker: FrameWorker[Triplet]


class NodeCore:
    """The work of ``hdnet_node`` behind the managed node's transitions (see the module doc).

    Transitions run on the executor's thread; the callbacks and the worker thread act only
    while the core is active. ``build_pipeline`` loads the models (the tests pass a stand-in).
    """

    def __init__(
        self,
        transport: Transport,
        name: str = "hdnet_node",
        build_pipeline: Callable[[Settings], Pipeline] = Pipeline.from_settings,
    ) -> None:
        self._transport = transport
        self._log = transport.log
        self._name = name
        self._build_pipeline = build_pipeline
        self._lock = threading.Lock()  # the state, between transitions, callbacks and the worker
        self._state = State.UNCONFIGURED
        self._configured: _Configured | None = None
        self._running: _Running | None = None  # set exactly while active
        self._said_absent: set[str] = set()

    @property
    def state(self) -> State:
        return self._state

    @property
    def pipeline(self) -> Pipeline | None:
        return self._configured.pipeline if self._configured is not None else None

    @property
    def settings(self) -> Settings | None:
        return self._configured.settings if self._configured is not None else None

    @property
    def outputs(self) -> frozenset[str]:
        """The names of the publishers configure created."""
        return self._configured.outputs if self._configured is not None else frozenset()

    @property
    def accepts_parameter_changes(self) -> bool:
        """Parameters are read by configure: they may change only while unconfigured."""
        return self._state is State.UNCONFIGURED

    # ---- transitions ------------------------------------------------------------------------

    def configure(self, pipeline: Pipeline | None = None) -> TransitionResult:
        """Read the parameters, load the models (or take ``pipeline``), create the publishers."""
        if self._state is not State.UNCONFIGURED:
            return self._refused("configure")
        try:
            settings = pipeline.settings if pipeline is not None else self._transport.read_settings()
            loaded = pipeline if pipeline is not None else self._build_pipeline(settings)
            self._configured = self._configure(settings, loaded)
            freeze_loaded_objects()  # no cycle collection walks the models between frames
        except Exception as error:
            self._release(forget_models=False)  # the models compiled before the failure serve the next try
            return self._failed("configure", error)
        self._state = State.INACTIVE
        self._log.info(f"configured ({', '.join(sorted(self.outputs))}): activate to subscribe")
        return SUCCESS

    def activate(self) -> TransitionResult:
        """Start the worker, subscribe and publish diagnostics once a second."""
        if self._state is not State.INACTIVE or self._configured is None:
            return self._refused("activate")
        try:
            self._activate(self._configured)
        except Exception as error:
            self._stop_work()
            return self._failed("activate", error)
        topics = ", ".join(f"{source.role} on {source.topic}" for source in self._configured.inputs.values())
        self._log.info(f"active: waiting for {topics}")
        return SUCCESS

    def deactivate(self) -> TransitionResult:
        """Stop the work without unloading: no subscriptions, no worker, no publication."""
        if self._state is not State.ACTIVE:
            return self._refused("deactivate")
        try:
            self._stop_work()
        except Exception as error:
            return self._failed("deactivate", error)
        self._log.info("inactive: unsubscribed, the models stay loaded")
        return SUCCESS

    def cleanup(self) -> TransitionResult:
        """Release the pipeline and the publishers: back to unconfigured."""
        if self._state is not State.INACTIVE:
            return self._refused("cleanup")
        try:
            self._release()
        except Exception as error:
            return self._failed("cleanup", error)
        self._state = State.UNCONFIGURED
        return SUCCESS

    def shutdown(self) -> TransitionResult:
        """Release everything, from any state; the core is finalized."""
        try:
            self._stop_work()
            self._release()
        except Exception as error:
            return self._failed("shutdown", error)
        finally:
            self._state = State.FINALIZED
        return SUCCESS

    def on_error(self) -> TransitionResult:
        """After a transition's error: release everything and be unconfigured again (a
        FAILURE, leaving the node finalized, only if even that fails)."""
        try:
            self._stop_work()
            self._release()
        except Exception as error:
            self._state = State.FINALIZED
            return self._failed("error recovery", error, outcome=Outcome.FAILURE)
        self._state = State.UNCONFIGURED
        self._log.info("recovered from an error: unconfigured, configure again to go on")
        return SUCCESS

    def _refused(self, transition: str) -> TransitionResult:
        return TransitionResult(Outcome.FAILURE, f"cannot {transition} while {self._state.value}")

    def _failed(self, transition: str, error: Exception, outcome: Outcome = Outcome.ERROR) -> TransitionResult:
        """A cause the user can fix is logged in one line (FAILURE); anything else with its
        traceback (``outcome``)."""
        failure = startup_failure(error)
        if failure is not None:
            self._log.error(f"{transition} failed: {failure.message}")
            return TransitionResult(Outcome.FAILURE, failure.message, failure.exit_code)
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self._log.error(f"{transition} failed with an unexpected error:\n{details}")
        return TransitionResult(outcome, f"{type(error).__name__}: {error}", EXIT_UNEXPECTED)

    # ---- what the transitions make and release ----------------------------------------------

    def _configure(self, settings: Settings, pipeline: Pipeline) -> _Configured:
        outputs = [*OUTPUTS, *self._installed_optional_outputs()]
        pose_frames = (settings.floor.frame, settings.tracking.fixed_frame if settings.tracking.enabled else "")
        self._transport.create_outputs(outputs, listen_tf=bool(settings.node.target_frame or any(pose_frames)))
        inputs = {source.role: source for source in input_topics(settings)}
        diagnostics = DiagnosticsAggregator(f"{self._name}: frames", hardware_id=inputs["rgb"].topic)
        depth = inputs.get("depth")
        transforms = CameraPoses(self._transport.lookup_transform, *pose_frames, settings.node.tf_timeout_s)
        processor = FrameProcessor(
            pipeline,
            settings.input,
            diagnostics,
            DepthFaultWatch(depth.topic if depth is not None else ""),
            decode=self._decode,
            publish=self._publish,
            clock_ns=self._transport.now_ns,
            log=self._log,
            camera_poses=transforms if any(pose_frames) else None,
        )
        names = frozenset(output.name for output in outputs)
        return _Configured(settings, pipeline, names, inputs, diagnostics, InputHealth(), processor, transforms)

    def _installed_optional_outputs(self) -> list[OutputTopic]:
        installed = []
        for output, absent in OPTIONAL_OUTPUTS.items():
            if self._transport.message_package_available(output.package):
                installed.append(output)
            elif output.package not in self._said_absent:
                self._said_absent.add(output.package)
                self._log.info(absent)
        return installed

    def _activate(self, configured: _Configured) -> None:
        settings, processor = configured.settings, configured.processor
        # Rates and silences are measured in wall time (a paused bag is silent; sim time would
        # stop with it); latencies compare ROS time with the capture stamps.
        now = time.monotonic_ns()
        topics = {role: source.topic for role, source in configured.inputs.items()}
        monitor = SyncMonitor(topics, settings.input.queue_size, int(settings.input.slop * 1e9), start_ns=now)
        configured.diagnostics.start(now)
        worker: FrameWorker[Triplet] = FrameWorker(
            processor.process, processor.on_worker_busy, processor.on_worker_error
        )
        worker.start()
        with self._lock:
            self._running, self._state = _Running(monitor, worker), State.ACTIVE
        # Subscribed last: no message can arrive before everything it needs exists.
        self._transport.subscribe(
            list(configured.inputs.values()),
            settings.input.queue_size,
            settings.input.slop,
            self._on_message,
            self._on_triplet,
        )
        self._transport.start_timer(DIAGNOSTICS_PERIOD_S, self._on_timer)

    def _stop_work(self) -> None:
        """Active -> inactive: stop publishing first, then unsubscribe and end the worker (its
        current frame finishes unpublished). Does nothing unless active."""
        with self._lock:
            if self._state is not State.ACTIVE:
                return
            running, self._running, self._state = self._running, None, State.INACTIVE
        try:
            self._transport.unsubscribe()
            self._transport.stop_timer()
        finally:
            if running is not None:
                running.worker.stop(timeout=WORKER_STOP_TIMEOUT_S)

    def _release(self, forget_models: bool = True) -> None:
        """Destroy the publishers and drop the pipeline (safe on whatever configure made);
        ``forget_models``: with the OpenVINO models the process kept for a later build
        (cleanup, shutdown and errors free the models' memory, as they say)."""
        try:
            self._transport.destroy_outputs()
        finally:
            self._configured = None
            if forget_models:
                COMPILED.clear()
            thaw_loaded_objects()

    # ---- callbacks (executor thread: cheap, never wait for inference) -----------------------

    def _active(self) -> tuple[_Configured, _Running] | None:
        with self._lock:
            if self._running is None or self._configured is None:
                return None  # a message or timer already due when the node was deactivated
            return self._configured, self._running

    def _on_message(self, msg: Any, role: str) -> None:
        active = self._active()
        if active is None:
            return
        configured, running = active
        for _ in range(running.monitor.on_message(role, stamp_to_ns(msg.header.stamp), time.monotonic_ns())):
            configured.diagnostics.record_drop(SkipReason.NO_SYNC_PARTNER.value)

    def _on_triplet(self, *messages: Any) -> None:
        active = self._active()
        if active is None:
            return
        configured, running = active
        triplet = dict(zip(configured.inputs, messages, strict=True))
        running.monitor.on_triplet(stamp_to_ns(triplet["rgb"].header.stamp), time.monotonic_ns())
        configured.diagnostics.record_input()
        facts = {role: facts_of(msg, configured.inputs[role].topic) for role, msg in triplet.items()}
        for warning in configured.health.check_triplet(facts["rgb"], facts.get("depth"), facts["camera_info"]):
            self._log.warning(warning)
        running.worker.submit(triplet)

    def _on_timer(self) -> None:
        active = self._active()
        if active is None:
            return
        configured, running = active
        now = time.monotonic_ns()
        report = configured.diagnostics.report(now, network_values(configured.pipeline.network_report()))
        self._transport.publish_diagnostics(report)
        stall = running.monitor.stall(now, int(configured.settings.node.sync_timeout_s * 1e9))
        for warning in configured.health.check_sync(stall):
            self._log.warning(warning)

    # ---- worker thread (called by FrameProcessor) -------------------------------------------

    def _decode(self, msg: Any, role: str) -> DecodedImage:
        configured = self._configured
        if configured is None:
            raise FrameError(SkipReason.UNREADABLE_MESSAGE, f"{role} image arrived after cleanup")
        return self._transport.decode(msg, configured.inputs[role])

    def _publish(self, result: FrameResult) -> None:
        """Publish what the core's builders make (the replay writes the same objects); nothing
        once deactivation has begun."""
        active = self._active()
        if active is None:
            return
        configured, _ = active
        settings, transport, output = configured.settings, self._transport, configured.settings.output
        outputs = core_outputs(
            result,
            output,
            frame_rate_hz=configured.diagnostics.output_rate_hz or output.nominal_frame_rate,
            debug_image=settings.node.publish_debug_image and transport.subscription_count("debug_image") > 0,
        )
        transport.publish("skeletons", outputs.skeletons)
        transport.publish("markers", outputs.markers)
        if outputs.transforms:
            transport.publish_transforms(outputs.transforms)
        self._publish_people(result, configured)
        if outputs.debug_image is not None:
            transport.publish("debug_image", outputs.debug_image)

    def _publish_people(self, result: FrameResult, configured: _Configured) -> None:
        frame, node = result.frame, configured.settings.node
        target = node.target_frame or frame.frame_id
        transform = self._transform_to(target, frame, configured.transforms, configured.outputs)
        people = navigation_outputs(result.people, frame.stamp_ns, frame.frame_id, target, transform)
        if "bodies_tracked" in configured.outputs:
            self._transport.publish("bodies_tracked", people.bodies)
        if people.poses is not None:
            self._transport.publish("people", people.poses)
        if people.people is not None and "people_nav" in configured.outputs:
            self._transport.publish("people_nav", people.people)

    def _transform_to(
        self, target: str, frame: Frame, transforms: CameraPoses, outputs: frozenset[str]
    ) -> Transform | None:
        """Camera frame -> ``target`` at the image stamp (never now(): people move, robots too;
        a frame found missing is not waited for again: :mod:`~hdnet_ros.node.camera_poses`)."""
        if target == frame.frame_id:
            return Transform.identity()
        try:
            return transforms.lookup(target, frame.frame_id, frame.stamp_ns)
        except TransformUnavailableError as error:
            topics = "~/people and ~/people_nav" if "people_nav" in outputs else "~/people"
            self._log.warning(
                f"{topics} not published: no transform {frame.frame_id} -> {target} at the image stamp: {error}",
                throttled=True,
            )
            return None
