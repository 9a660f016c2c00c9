"""summary.json of a replay: what was read, processed and skipped (with why), and timing.

Skips and depth faults are counted apart: a skipped frame gave no output; a frame with a
depth fault was processed from RGB alone (its depth was unusable) and gave output.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _entry(input_path: str, reason: str, message: str, stamp_ns: int | None, topic: str | None) -> dict[str, Any]:
    """One skipped or depth-faulted frame as summary.json lists it."""
    return {"input": input_path, "reason": reason, "message": message, "stamp_ns": stamp_ns, "topic": topic}


@dataclass
class InputReport:
    path: str
    topics: dict[str, str | None] = field(default_factory=dict)
    messages_read: dict[str, int] = field(default_factory=dict)
    frames_processed: int = 0
    frames_with_depth_fault: int = 0
    depth_input: str = ""  # "sensor", or why the replay of this input ran RGB-only
    error: str | None = None


@dataclass
class ReplaySummary:
    inputs: list[InputReport] = field(default_factory=list)
    frames_read: int = 0  # RGB images read
    frames_processed: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)  # one entry per skip, with reason
    depth_faults: list[dict[str, Any]] = field(default_factory=list)  # one entry per processed frame without depth
    people_per_frame: list[dict[str, Any]] = field(default_factory=list)
    stage_latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    output_messages: dict[str, int] = field(default_factory=dict)
    overlays: dict[str, Any] = field(default_factory=dict)  # PNGs written, errors
    networks: dict[str, Any] = field(default_factory=dict)  # the 3D networks that ran, their counts
    settings: dict[str, Any] = field(default_factory=dict)

    def skip(
        self, input_path: str, reason: str, message: str, stamp_ns: int | None = None, topic: str | None = None
    ) -> None:
        """A frame or message that gave no output."""
        self.skipped.append(_entry(input_path, reason, message, stamp_ns, topic))

    def depth_fault(
        self, input_path: str, reason: str, message: str, stamp_ns: int | None = None, topic: str | None = None
    ) -> None:
        """A frame processed from RGB alone because its depth was unusable."""
        self.depth_faults.append(_entry(input_path, reason, message, stamp_ns, topic))

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(entry["reason"] for entry in self.skipped))

    @property
    def depth_faults_by_reason(self) -> dict[str, int]:
        return dict(Counter(entry["reason"] for entry in self.depth_faults))

    @property
    def failed_inputs(self) -> list[InputReport]:
        return [report for report in self.inputs if report.error]

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames_read": self.frames_read,
            "frames_processed": self.frames_processed,
            "frames_skipped": len(self.skipped),
            "skipped_by_reason": self.skipped_by_reason,
            "skipped": self.skipped,
            "frames_with_depth_fault": len(self.depth_faults),
            "depth_faults_by_reason": self.depth_faults_by_reason,
            "depth_faults": self.depth_faults,
            "people_per_frame": self.people_per_frame,
            "stage_latency_ms": self.stage_latency_ms,
            "networks": self.networks,
            "inputs": [vars(report) for report in self.inputs],
            "output_messages": self.output_messages,
            "overlays": self.overlays,
            "settings": self.settings,
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False, default=str) + "\n")
