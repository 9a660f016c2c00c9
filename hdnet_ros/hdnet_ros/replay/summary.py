"""summary.json of a replay: what was read, processed and skipped (with why), and timing.

Skips and depth faults are counted apart: a skipped frame gave no output; a frame with a
depth fault was processed from RGB alone (its depth was unusable) and gave output.

The per-frame entries (people, roots, depth fault, stage times) grow with the recording, so
a replay keeps them in ``frames.jsonl`` as they come (:class:`FrameRecords`) and streams
them into summary.json at the end: an hour of frames costs disk, not memory.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


def _entry(input_path: str, reason: str, message: str, stamp_ns: int | None, topic: str | None) -> dict[str, Any]:
    """One skipped or depth-faulted frame as summary.json lists it."""
    return {"input": input_path, "reason": reason, "message": message, "stamp_ns": stamp_ns, "topic": topic}


class FrameRecords:
    """summary.json's ``people_per_frame``: one entry per processed frame, appended as JSON
    lines to ``path`` when given (nothing kept in memory), in a list otherwise."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._entries: list[dict[str, Any]] = []
        self._file: IO[str] | None = path.open("w") if path is not None else None
        self._count = 0

    def append(self, entry: dict[str, Any]) -> None:
        self._count += 1
        if self.path is None:
            self._entries.append(entry)
            return
        if self._file is None:
            raise ValueError(f"{self.path} is closed: no frame can be added")
        self._file.write(json.dumps(entry, allow_nan=False, default=str) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.path is None:
            yield from self._entries
            return
        if self._file is not None:
            self._file.flush()
        with self.path.open() as lines:
            for line in lines:
                yield json.loads(line)


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
    people_per_frame: FrameRecords = field(default_factory=FrameRecords)
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

    def to_dict(self, frames: bool = True) -> dict[str, Any]:
        """Everything summary.json holds (``frames`` False: without the per-frame entries)."""
        summary = {
            "frames_read": self.frames_read,
            "frames_processed": self.frames_processed,
            "frames_skipped": len(self.skipped),
            "skipped_by_reason": self.skipped_by_reason,
            "skipped": self.skipped,
            "frames_with_depth_fault": len(self.depth_faults),
            "depth_faults_by_reason": self.depth_faults_by_reason,
            "depth_faults": self.depth_faults,
            "stage_latency_ms": self.stage_latency_ms,
            "networks": self.networks,
            "inputs": [vars(report) for report in self.inputs],
            "output_messages": self.output_messages,
            "overlays": self.overlays,
            "settings": self.settings,
        }
        if frames:
            summary["people_per_frame"] = list(self.people_per_frame)
        return summary

    def write(self, path: Path) -> None:
        """summary.json; the per-frame entries are streamed in one by one, never all in memory."""
        text = json.dumps(self.to_dict(frames=False), indent=2, allow_nan=False, default=str)
        with path.open("w") as out:
            out.write(text[: text.rindex("}")].rstrip() + ',\n  "people_per_frame": [')
            for index, entry in enumerate(self.people_per_frame):
                out.write(("," if index else "") + "\n    " + json.dumps(entry, allow_nan=False, default=str))
            out.write("\n  ]\n}\n")
