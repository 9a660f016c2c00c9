"""Diagnostics aggregation: what the node reports on /diagnostics once a second.

The node feeds events (a synchronized input frame, a published frame with its capture
stamp, a dropped frame with its reason, a frame processed without its depth with the depth
fault's reason) with explicit times in nanoseconds; :meth:`report`
turns the period since the last report into a plain DiagnosticStatus-like record that the
node copies into diagnostic_msgs/DiagnosticArray. No clock is read here: the node passes
wall (monotonic) time for the periods and ROS time for the publish time of a frame, so
latencies follow the bag's clock under sim time while rates stay per real second.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from hdnet_ros.depth_fault import DepthFaultReason
from hdnet_ros.frame_input import SkipReason

# Every reason the node counts; the SkipReasons plus what only the node can see.
WORKER_EXCEPTION = "worker_exception"
REPORTED_REASONS: tuple[str, ...] = (*(reason.value for reason in SkipReason), WORKER_EXCEPTION)
# Drops that mean "the input is wrong", as opposed to "inference is slower than the camera".
_INPUT_FAULTS = frozenset(REPORTED_REASONS) - {SkipReason.WORKER_BUSY.value}
# Frames that were processed, but from RGB alone because their depth was unusable.
DEPTH_FAULT_REASONS: tuple[str, ...] = tuple(reason.value for reason in DepthFaultReason)
LATENCY_WINDOW = 300  # latency samples kept for median / p95 (several seconds of frames)


class Level(IntEnum):
    """diagnostic_msgs/DiagnosticStatus levels."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


@dataclass(frozen=True)
class StatusReport:
    """One diagnostic_msgs/DiagnosticStatus, without ROS."""

    level: Level
    name: str
    message: str
    hardware_id: str
    values: dict[str, str] = field(default_factory=dict)


class DiagnosticsAggregator:
    """Thread-safe counters: callbacks and the worker record, the 1 Hz timer reports."""

    def __init__(self, name: str, hardware_id: str = "", latency_window: int = LATENCY_WINDOW) -> None:
        self.name = name
        self.hardware_id = hardware_id
        self._lock = threading.Lock()
        self._inputs = 0
        self._outputs = 0
        self._drops: Counter[str] = Counter()  # this period
        self._total_drops: Counter[str] = Counter()
        self._depth_faults: Counter[str] = Counter()  # this period
        self._total_depth_faults: Counter[str] = Counter()
        self._latencies_ms: deque[float] = deque(maxlen=latency_window)
        self._period_start_ns: int | None = None
        self.output_rate_hz = 0.0  # of the last reported period; 0 until one is measured

    def start(self, now_ns: int) -> None:
        with self._lock:
            self._period_start_ns = now_ns

    def record_input(self) -> None:
        """A synchronized input frame arrived."""
        with self._lock:
            self._inputs += 1

    def record_output(self, capture_stamp_ns: int, published_ns: int) -> None:
        """A frame's results were published; the latency is capture stamp to publish time."""
        with self._lock:
            self._outputs += 1
            self._latencies_ms.append((published_ns - capture_stamp_ns) / 1e6)

    def record_drop(self, reason: str) -> None:
        with self._lock:
            self._drops[reason] += 1
            self._total_drops[reason] += 1

    def record_depth_fault(self, reason: str) -> None:
        """A frame was processed from RGB alone: its depth was unusable for ``reason``."""
        with self._lock:
            self._depth_faults[reason] += 1
            self._total_depth_faults[reason] += 1

    def latencies_ms(self) -> list[float]:
        """The capture-to-publish latencies kept (the last ``latency_window`` frames)."""
        with self._lock:
            return list(self._latencies_ms)

    def drop_totals(self) -> dict[str, int]:
        """Frames dropped since start-up, by reason."""
        with self._lock:
            return dict(self._total_drops)

    def depth_fault_totals(self) -> dict[str, int]:
        """Frames processed without their depth since start-up, by reason."""
        with self._lock:
            return dict(self._total_depth_faults)

    def report(self, now_ns: int, extra: Mapping[str, str] | None = None) -> StatusReport:
        """The status of the period since the last report (which this call closes); ``extra``
        values (e.g. :func:`hdnet_ros.outputs.network_report.network_values`) are appended."""
        with self._lock:
            start = self._period_start_ns if self._period_start_ns is not None else now_ns
            seconds = (now_ns - start) / 1e9
            input_rate = self._inputs / seconds if seconds > 0 else 0.0
            output_rate = self._outputs / seconds if seconds > 0 else 0.0
            latencies = np.array(self._latencies_ms)
            drops, totals = dict(self._drops), dict(self._total_drops)
            faults, fault_totals = dict(self._depth_faults), dict(self._total_depth_faults)
            self._inputs = self._outputs = 0
            self._drops.clear()
            self._depth_faults.clear()
            self._period_start_ns = now_ns
            self.output_rate_hz = output_rate
        values = {
            "input rate [Hz]": f"{input_rate:.2f}",
            "output rate [Hz]": f"{output_rate:.2f}",
            "latency median [ms]": f"{np.median(latencies):.1f}" if latencies.size else "n/a",
            "latency p95 [ms]": f"{np.percentile(latencies, 95):.1f}" if latencies.size else "n/a",
        }
        for reason in REPORTED_REASONS:
            values[f"dropped {reason}"] = str(totals.get(reason, 0))
        for reason in DEPTH_FAULT_REASONS:
            values[f"depth fault {reason}"] = str(fault_totals.get(reason, 0))
        values.update(extra or {})
        level, message = self._judge(input_rate, output_rate, drops, faults)
        return StatusReport(level, self.name, message, self.hardware_id, values)

    @staticmethod
    def _judge(
        input_rate: float, output_rate: float, drops: dict[str, int], depth_faults: dict[str, int]
    ) -> tuple[Level, str]:
        bad_input = {reason: count for reason, count in drops.items() if reason in _INPUT_FAULTS and count}
        warnings = []
        if bad_input:
            listed = ", ".join(f"{reason} {count}" for reason, count in sorted(bad_input.items()))
            warnings.append(f"frames dropped for bad input in the last period: {listed}")
        if any(depth_faults.values()):
            listed = ", ".join(f"{reason} {count}" for reason, count in sorted(depth_faults.items()) if count)
            warnings.append(f"depth unusable in the last period, frames processed from RGB only: {listed}")
        if warnings:
            return Level.WARN, "; ".join(warnings)
        if input_rate == 0.0:
            return Level.WARN, "no synchronized RGB/depth/camera_info frames"
        busy = drops.get(SkipReason.WORKER_BUSY.value, 0)
        if busy:
            return Level.OK, f"processing {output_rate:.1f} of {input_rate:.1f} frames/s (older frames dropped)"
        return Level.OK, f"processing {output_rate:.1f} frames/s"
