"""What the node's worker thread does with one synchronized triplet, without ROS.

The node hands each triplet (role -> rclpy message) to a :class:`FrameWorker` whose handler
is :meth:`FrameProcessor.process`: convert the images (the node passes cv_bridge; the
latency benchmark passes the same passthrough view without ROS), build the checked frame,
count a skip or a depth fault, run the pipeline, publish, and record the capture-to-publish
latency. Everything ROS-specific comes in as a callable, so the node and
``benchmarks/bench_node_latency.py`` run this same code.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any, Protocol

from hdnet_ros.config import InputConfig
from hdnet_ros.depth_fault import DepthFault, DepthFaultReason, DepthFaultWatch
from hdnet_ros.frame_input import FrameError, SkipReason, build_frame
from hdnet_ros.node.diagnostics import WORKER_EXCEPTION, DiagnosticsAggregator
from hdnet_ros.outputs.frame_outputs import core_outputs
from hdnet_ros.outputs.message_kernel import warm_up as warm_up_message_kernels
from hdnet_ros.outputs.tf_kernel import warm_up as warm_up_tf_frames
from hdnet_ros.people import Frame
from hdnet_ros.pipeline import FrameResult, Pipeline

# core_outputs lives in hdnet_ros.outputs (the node and the replay build their messages with
# it); it is also importable from here, where the benchmarks take it with the worker.
__all__ = ["Decode", "FrameProcessor", "Triplet", "WorkerLog", "core_outputs"]

Triplet = dict[str, Any]  # role ("rgb", "depth", "camera_info") -> message
# (message, role) -> what build_frame reads (an Image or an Image look-alike); raises
# FrameError naming the topic when the message cannot be converted.
Decode = Callable[[Any, str], Any]
# Sets a frame's camera poses from TF (``Frame.floor_pose``, ``Frame.fixed_pose``): CameraPoses.
PoseFrames = Callable[[Frame], None]


class WorkerLog(Protocol):
    """The node's logger; ``throttled`` texts are repeated at most every few seconds."""

    def warning(self, text: str, throttled: bool = False) -> None: ...

    def error(self, text: str, throttled: bool = False) -> None: ...


class FrameProcessor:
    """The worker's handler and its drop/error callbacks (for :class:`FrameWorker`).

    ``publish`` gets every processed frame's result; ``clock_ns`` is the clock the capture
    stamps are compared with when a frame's results are out (the node's ROS time);
    ``depth_watch`` says when depth becomes unusable and when it is back (logged as warnings);
    ``camera_poses`` gives each frame its camera's poses over the floor and in the tracker's
    fixed frame (the node: tf2, :class:`~hdnet_ros.node.camera_poses.CameraPoses`).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        input_config: InputConfig,
        diagnostics: DiagnosticsAggregator,
        depth_watch: DepthFaultWatch,
        decode: Decode,
        publish: Callable[[FrameResult], None],
        clock_ns: Callable[[], int],
        log: WorkerLog,
        camera_poses: PoseFrames | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._input = input_config
        self._diagnostics = diagnostics
        self._depth_watch = depth_watch
        self._decode = decode
        self._publish = publish
        self._clock_ns = clock_ns
        self._log = log
        self._camera_poses = camera_poses
        warm_up_tf_frames()  # TF's compiled body frames, before the first frame (else ~1 s in it)
        warm_up_message_kernels()  # the skeletons' and markers' compiled fields, likewise

    def process(self, triplet: Triplet) -> None:
        frame = self._frame(triplet)
        if frame is None:
            return
        if frame.depth_fault is not None:
            self._diagnostics.record_depth_fault(frame.depth_fault.reason.value)
        transition = self._depth_watch.update(frame.depth_fault)
        if transition:
            self._log.warning(transition)
        if self._camera_poses is not None:
            self._camera_poses(frame)
        result = self._pipeline.process(frame)
        self._publish(result)
        self._diagnostics.record_output(frame.stamp_ns, self._clock_ns())

    def on_worker_busy(self, dropped: Triplet) -> None:
        self._diagnostics.record_drop(SkipReason.WORKER_BUSY.value)

    def on_worker_error(self, error: Exception) -> None:
        self._diagnostics.record_drop(WORKER_EXCEPTION)
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        text = f"unexpected error while processing a frame (counted, the node goes on):\n{details}"
        self._log.error(text, throttled=True)

    def _frame(self, triplet: Triplet) -> Frame | None:
        """The checked frame, or None after counting and logging why it is skipped."""
        try:
            rgb = self._decode(triplet["rgb"], "rgb")
            depth, fault = self._depth(triplet)
            return build_frame(
                rgb,
                depth,
                triplet["camera_info"],
                depth_units_divisor=self._input.depth_units_divisor or None,
                depth_fault=fault,
            )
        except FrameError as error:
            self._diagnostics.record_drop(error.reason.value)
            self._log.warning(f"frame skipped ({error.reason.value}): {error}", throttled=True)
            return None

    def _depth(self, triplet: Triplet) -> tuple[Any | None, DepthFault | None]:
        """The converted depth message, or the fault that it could not be converted."""
        if "depth" not in triplet:
            return None, None
        try:
            return self._decode(triplet["depth"], "depth"), None
        except FrameError as error:
            return None, DepthFault(DepthFaultReason.BAD_ENCODING, str(error))
