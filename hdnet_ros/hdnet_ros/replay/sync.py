"""Approximate-time matching with the semantics of message_filters' ApproximateTimeSynchronizer
(the Python policy the node uses), so a bag replays exactly as the live node would pair it.

Per input, a queue keyed by header stamp holds at most ``queue_size`` messages (a newer
message with the same stamp replaces the older one; the oldest stamps are evicted first).
When a message arrives, every other queue's stamps within ``slop`` of its stamp are tried,
nearest first, in input order; the first combination whose stamps span less than ``slop``
is emitted and removed from the queues.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class SyncStats:
    """Messages that never made it into a synchronized set, per input index."""

    evicted: dict[int, int] = field(default_factory=dict)  # pushed out of a full queue
    replaced: dict[int, int] = field(default_factory=dict)  # same stamp arrived again

    def count(self, table: dict[int, int], index: int) -> None:
        table[index] = table.get(index, 0) + 1


class ApproximateTimeSync(Generic[T]):
    """Feed messages with :meth:`add`; matched tuples go to ``callback`` in input order."""

    def __init__(
        self, num_inputs: int, queue_size: int, slop_ns: int, callback: Callable[[tuple[T, ...]], None]
    ) -> None:
        if num_inputs < 1 or queue_size < 1 or slop_ns < 0:
            raise ValueError("need at least one input, a queue size >= 1 and a non-negative slop")
        self.queues: list[dict[int, T]] = [{} for _ in range(num_inputs)]
        self.queue_size = queue_size
        self.slop_ns = slop_ns
        self.callback = callback
        self.stats = SyncStats()

    def add(self, index: int, stamp_ns: int, message: T) -> None:
        queue = self.queues[index]
        if stamp_ns in queue:
            self.stats.count(self.stats.replaced, index)
        queue[stamp_ns] = message
        while len(queue) > self.queue_size:
            del queue[min(queue)]
            self.stats.count(self.stats.evicted, index)
        self._try_match(index, stamp_ns)

    def _candidates(self, index: int, stamp_ns: int) -> list[list[int]] | None:
        """For each other input, its stamps within slop of ``stamp_ns``, nearest first."""
        candidates = []
        for other, queue in enumerate(self.queues):
            if other == index:
                continue
            near = sorted((s for s in queue if abs(s - stamp_ns) <= self.slop_ns), key=lambda s: abs(s - stamp_ns))
            if not near:
                return None
            candidates.append(near)
        return candidates

    def _try_match(self, index: int, stamp_ns: int) -> None:
        candidates = self._candidates(index, stamp_ns)
        if candidates is None:
            return
        for combination in itertools.product(*candidates):
            stamps = list(combination)
            stamps.insert(index, stamp_ns)
            if max(stamps) - min(stamps) < self.slop_ns or (self.slop_ns == 0 and max(stamps) == min(stamps)):
                matched = tuple(queue.pop(s) for queue, s in zip(self.queues, stamps, strict=True))
                self.callback(matched)
                return

    def pending(self) -> list[int]:
        """How many messages wait unmatched in each input's queue."""
        return [len(queue) for queue in self.queues]
