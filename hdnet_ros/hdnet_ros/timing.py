"""Per-stage latency bookkeeping (median and p95 over a run, in bounded memory)."""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import numpy as np

# Samples kept per stage. A node runs for days: keeping every frame's time would grow by
# ~0.4 KB per frame (a dozen stages). Past this many frames each stage keeps a uniform random
# sample of all its times (reservoir sampling), which estimates the median and p95 of the
# whole run (p95 within about +-0.5 percentile points at 2048 samples).
SAMPLES_KEPT = 2048


class StageTimer:
    """Collects the wall time of named stages for each frame."""

    Stage = AbstractContextManager[None]

    def __init__(self, samples_kept: int = SAMPLES_KEPT, seed: int = 0) -> None:
        self.samples_ms: dict[str, list[float]] = defaultdict(list)
        self.counts: Counter[str] = Counter()  # every time recorded, kept or not
        self._kept = samples_kept
        self._random = random.Random(seed)

    @contextmanager
    def stage(self, name: str, frame_ms: dict[str, float] | None = None) -> Iterator[None]:
        """Time the block; also store it in ``frame_ms`` (this frame's stage times)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - start) * 1000.0
            self.add(name, elapsed)
            if frame_ms is not None:
                frame_ms[name] = elapsed

    def add(self, name: str, elapsed_ms: float) -> None:
        """Record one time of ``name`` (Algorithm R: the n-th time replaces a kept one with
        probability kept/n)."""
        samples = self.samples_ms[name]
        if not samples:  # new, or cleared by a caller: start counting again
            self.counts[name] = 0
        self.counts[name] += 1
        if len(samples) < self._kept:
            samples.append(elapsed_ms)
            return
        slot = self._random.randrange(self.counts[name])
        if slot < self._kept:
            samples[slot] = elapsed_ms

    def summary(self) -> dict[str, dict[str, float]]:
        """{stage: {median_ms, p95_ms, count}} over everything recorded."""
        return {
            name: {
                "median_ms": round(float(np.median(values)), 3),
                "p95_ms": round(float(np.percentile(values, 95)), 3),
                "count": self.counts[name],
            }
            for name, values in self.samples_ms.items()
            if values
        }
