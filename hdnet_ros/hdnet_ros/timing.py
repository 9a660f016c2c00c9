"""Per-stage latency bookkeeping (median and p95 over a run)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import numpy as np


class StageTimer:
    """Collects the wall time of named stages for each frame."""

    Stage = AbstractContextManager[None]

    def __init__(self) -> None:
        self.samples_ms: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def stage(self, name: str, frame_ms: dict[str, float] | None = None) -> Iterator[None]:
        """Time the block; also store it in ``frame_ms`` (this frame's stage times)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - start) * 1000.0
            self.samples_ms[name].append(elapsed)
            if frame_ms is not None:
                frame_ms[name] = elapsed

    def summary(self) -> dict[str, dict[str, float]]:
        """{stage: {median_ms, p95_ms, count}} over everything recorded."""
        return {
            name: {
                "median_ms": round(float(np.median(values)), 3),
                "p95_ms": round(float(np.percentile(values, 95)), 3),
                "count": len(values),
            }
            for name, values in self.samples_ms.items()
            if values
        }
