"""What the synchronizer does not tell: which inputs arrive, and what never gets matched.

message_filters' ApproximateTimeSynchronizer silently forgets messages that find no partner.
The node shows every raw message (before the synchronizer) and every matched triplet to a
:class:`SyncMonitor`, which mirrors the synchronizer's RGB queue to count RGB images that
left it unmatched ("no sync partner"), and explains a stall: which topic is silent, or how
far apart the latest stamps are.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass
class _TopicState:
    topic: str
    last_arrival_ns: int | None = None
    last_stamp_ns: int | None = None
    count: int = 0


class SyncMonitor:
    """Roles are "rgb", "depth" (optional) and "camera_info". Arrival times (``now_ns``) are
    monotonic nanoseconds; stamps are the messages' header stamps."""

    def __init__(self, topics: dict[str, str], queue_size: int, slop_ns: int, start_ns: int) -> None:
        self._topics = {role: _TopicState(topic) for role, topic in topics.items()}
        self._queue_size = queue_size
        self.slop_ns = slop_ns
        self._lock = threading.Lock()
        # The synchronizer's RGB queue: stamps waiting for partners (it keys queues by stamp).
        self._pending_rgb: set[int] = set()
        self._recently_matched: deque[int] = deque(maxlen=queue_size + 1)
        self._last_triplet_ns = start_ns  # a stall is measured from start-up until the first triplet
        self.triplets = 0

    def on_message(self, role: str, stamp_ns: int, now_ns: int) -> int:
        """A raw message arrived; returns how many RGB images this pushed out unmatched."""
        with self._lock:
            state = self._topics[role]
            state.last_arrival_ns, state.last_stamp_ns = now_ns, stamp_ns
            state.count += 1
            if role != "rgb" or stamp_ns in self._recently_matched:
                return 0
            lost = 0
            if stamp_ns in self._pending_rgb:
                lost += 1  # the synchronizer replaces a queued message with the same stamp
            self._pending_rgb.add(stamp_ns)
            while len(self._pending_rgb) > self._queue_size:
                self._pending_rgb.discard(min(self._pending_rgb))  # oldest stamp leaves first
                lost += 1
            return lost

    def on_triplet(self, rgb_stamp_ns: int, now_ns: int) -> None:
        with self._lock:
            self._pending_rgb.discard(rgb_stamp_ns)
            self._recently_matched.append(rgb_stamp_ns)
            self._last_triplet_ns = now_ns
            self.triplets += 1

    def stall(self, now_ns: int, timeout_ns: int) -> str | None:
        """None while triplets arrive; after ``timeout_ns`` without one, why not."""
        with self._lock:
            waited_ns = now_ns - self._last_triplet_ns
            if waited_ns < timeout_ns:
                return None
            return f"no synchronized triplet for {waited_ns / 1e9:.1f} s: {self._explain(now_ns, timeout_ns)}"

    def _explain(self, now_ns: int, timeout_ns: int) -> str:
        silent = []
        for state in self._topics.values():
            if state.last_arrival_ns is None:
                silent.append(f"{state.topic} has published nothing")
            elif now_ns - state.last_arrival_ns >= timeout_ns:
                silent.append(f"{state.topic} silent for {(now_ns - state.last_arrival_ns) / 1e9:.1f} s")
        if silent:
            return "; ".join(silent) + " (check the topic names, the driver and the QoS reliability)"
        rgb = self._topics["rgb"]
        assert rgb.last_stamp_ns is not None  # every topic has arrived, or it was listed as silent
        gaps = []
        for role, state in self._topics.items():
            if role != "rgb" and state.last_stamp_ns is not None:
                gap_s = (state.last_stamp_ns - rgb.last_stamp_ns) / 1e9
                gaps.append(f"{state.topic} stamp {gap_s:+.3f} s from RGB")
        return (
            f"all topics publish but their stamps do not match within input.slop = {self.slop_ns / 1e9:g} s "
            f"({'; '.join(gaps)}): raise input.slop or fix the drivers' clocks"
        )
