"""How the benchmarks time a call: a warm-up, then wall time per call in milliseconds."""

from __future__ import annotations

import time
from collections.abc import Callable


def time_ms(call: Callable[[], object], runs: int) -> list[float]:
    """``runs`` wall times of ``call`` in ms, after one untimed call (allocations, kernel selection)."""
    call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples
