"""summary.json of a replay: what was read, processed and skipped (with why), and timing."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class InputReport:
    path: str
    topics: dict[str, str | None] = field(default_factory=dict)
    messages_read: dict[str, int] = field(default_factory=dict)
    frames_processed: int = 0
    error: str | None = None


@dataclass
class ReplaySummary:
    inputs: list[InputReport] = field(default_factory=list)
    frames_read: int = 0  # RGB images read
    frames_processed: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)  # one entry per skip, with reason
    people_per_frame: list[dict[str, Any]] = field(default_factory=list)
    stage_latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    output_messages: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def skip(
        self, input_path: str, reason: str, message: str, stamp_ns: int | None = None, topic: str | None = None
    ) -> None:
        self.skipped.append(
            {"input": input_path, "reason": reason, "message": message, "stamp_ns": stamp_ns, "topic": topic}
        )

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(entry["reason"] for entry in self.skipped))

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
            "people_per_frame": self.people_per_frame,
            "stage_latency_ms": self.stage_latency_ms,
            "inputs": [vars(report) for report in self.inputs],
            "output_messages": self.output_messages,
            "settings": self.settings,
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False, default=str) + "\n")
