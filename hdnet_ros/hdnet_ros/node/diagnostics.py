"""Diagnostics aggregation: what the node reports on /diagnostics once a second.

The node feeds events (a synchronized input frame, a published frame with its capture
stamp, a dropped frame with its reason) with explicit times in nanoseconds; :meth:`report`
turns the period since the last report into a plain DiagnosticStatus-like record that the
node copies into diagnostic_msgs/DiagnosticArray. No clock is read here: the node passes
wall (monotonic) time for the periods and ROS time for the publish time of a frame, so
latencies follow the bag's clock under sim time while rates stay per real second.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from hdnet_ros.frame_input import SkipReason

# Every reason the node counts; the SkipReasons plus what only the node can see.
WORKER_EXCEPTION = "worker_exception"
REPORTED_REASONS: tuple[str, ...] = (*(reason.value for reason in SkipReason), WORKER_EXCEPTION)
# Drops that mean "the input is wrong", as opposed to "inference is slower than the camera".
_INPUT_FAULTS = frozenset(REPORTED_REASONS) - {SkipReason.WORKER_BUSY.value}
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

    def __init__(self, name: str, hardware_id: str = "") -> None:
        self.name = name
        self.hardware_id = hardware_id
        self._lock = threading.Lock()
        self._inputs = 0
        self._outputs = 0
        self._drops: Counter[str] = Counter()  # this period
        self._total_drops: Counter[str] = Counter()
        self._latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
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

    def report(self, now_ns: int) -> StatusReport:
        """The status of the period since the last report (which this call closes)."""
        with self._lock:
            start = self._period_start_ns if self._period_start_ns is not None else now_ns
            seconds = (now_ns - start) / 1e9
            input_rate = self._inputs / seconds if seconds > 0 else 0.0
            output_rate = self._outputs / seconds if seconds > 0 else 0.0
            latencies = np.array(self._latencies_ms)
            drops, totals = dict(self._drops), dict(self._total_drops)
            self._inputs = self._outputs = 0
            self._drops.clear()
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
        level, message = self._judge(input_rate, output_rate, drops)
        return StatusReport(level, self.name, message, self.hardware_id, values)

    @staticmethod
    def _judge(input_rate: float, output_rate: float, drops: dict[str, int]) -> tuple[Level, str]:
        faults = {reason: count for reason, count in drops.items() if reason in _INPUT_FAULTS and count}
        if faults:
            listed = ", ".join(f"{reason} {count}" for reason, count in sorted(faults.items()))
            return Level.WARN, f"frames dropped for bad input in the last period: {listed}"
        if input_rate == 0.0:
            return Level.WARN, "no synchronized RGB/depth/camera_info frames"
        busy = drops.get(SkipReason.WORKER_BUSY.value, 0)
        if busy:
            return Level.OK, f"processing {output_rate:.1f} of {input_rate:.1f} frames/s (older frames dropped)"
        return Level.OK, f"processing {output_rate:.1f} frames/s"
