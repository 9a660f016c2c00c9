"""Per-stage latency bookkeeping (median and p95 over a run)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


class StageTimer:
    """Collects the wall time of named stages for each frame."""

    def __init__(self) -> None:
        self.samples_ms: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.samples_ms[name].append((time.perf_counter() - start) * 1000.0)

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
