"""Why a frame has no usable depth: a per-frame depth fault, not a skipped frame.

A frame whose depth image is unusable (no valid pixel, the wrong size, an encoding that is
not depth) still has its RGB image and camera model, so it goes on through the pipeline's
RGB-only path (root from the skeleton prior or the networks,
every joint's ``depth_source`` NETWORK or INFERRED). The fault travels with the frame so
the transports can count it and say why.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class DepthFaultReason(str, Enum):
    """Keys of the depth-fault counters (summary.json, /diagnostics)."""

    ALL_INVALID = "all_invalid"  # NaN, zero or negative everywhere: no pixel to measure
    SIZE_MISMATCH = "size_mismatch"  # not registered to the RGB image
    BAD_ENCODING = "bad_encoding"  # not a depth encoding, or a payload that does not decode


@dataclass(frozen=True)
class DepthFault:
    """The frame's depth was set aside (``Frame.depth_m`` is None) for ``reason``."""

    reason: DepthFaultReason
    message: str


class DepthFaultWatch:
    """One line when depth becomes unusable and one when it is back, not one per frame.

    Feed every processed frame's fault (None when its depth was usable); :meth:`update`
    returns the line to log at a transition and None otherwise. Depth that goes away again
    later is reported again.
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._faulty_frames = 0  # in the current run of faults; 0 while depth is usable

    @property
    def faulty(self) -> bool:
        return self._faulty_frames > 0

    def update(self, fault: DepthFault | None) -> str | None:
        if fault is not None:
            self._faulty_frames += 1
            if self._faulty_frames > 1:
                return None
            return (
                f"depth on {self.topic} is unusable ({fault.reason.value}: {fault.message}); processing RGB only "
                "(3D from the skeleton and the networks) until it is back; each such frame is counted as a depth fault"
            )
        if not self.faulty:
            return None
        frames, self._faulty_frames = self._faulty_frames, 0
        return f"depth on {self.topic} is usable again after {frames} frame(s) with a depth fault"
