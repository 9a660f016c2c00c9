"""The stage timer: exact statistics for short runs, bounded memory for a node that runs for days."""

from __future__ import annotations

import numpy as np
from hdnet_ros.timing import StageTimer


def test_a_short_run_is_summarised_exactly() -> None:
    timer = StageTimer(samples_kept=100)
    for value in range(1, 51):
        timer.add("detection", float(value))
    with timer.stage("tracking"):
        pass
    summary = timer.summary()
    assert summary["detection"] == {
        "median_ms": 25.5,
        "p95_ms": round(float(np.percentile(range(1, 51), 95)), 3),
        "count": 50,
    }
    assert summary["tracking"]["count"] == 1


def test_a_long_run_keeps_a_bounded_uniform_sample() -> None:
    timer = StageTimer(samples_kept=2048, seed=1)
    values = np.random.default_rng(2).uniform(0.0, 100.0, 50_000)
    for value in values:
        timer.add("total", float(value))
    assert len(timer.samples_ms["total"]) == 2048, "memory stays bounded"
    summary = timer.summary()["total"]
    assert summary["count"] == 50_000
    # A uniform sample of the whole run, not its first or last 2048 values: the estimates of
    # the median and p95 fall within their sampling error (a few standard errors) of the run's.
    assert abs(summary["median_ms"] - np.median(values)) < 3.5
    assert abs(summary["p95_ms"] - np.percentile(values, 95)) < 1.5
    early = np.isin(timer.samples_ms["total"], values[:2048]).mean()
    assert 0.01 < early < 0.1, f"{early:.3f} of the kept samples are from the first 2048 times (expected ~4 %)"


def test_clearing_the_samples_starts_a_new_count() -> None:
    timer = StageTimer(samples_kept=10)
    for value in range(100):
        timer.add("total", float(value))
    timer.samples_ms.clear()  # what the benchmarks do between runs
    for value in range(5):
        timer.add("total", float(value))
    assert timer.summary()["total"]["count"] == 5 and timer.samples_ms["total"] == [0.0, 1.0, 2.0, 3.0, 4.0]
