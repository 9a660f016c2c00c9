"""The soak's accounting on a short faulty recording (benchmarks/bench_soak.py runs 10,000
frames and checks memory; docs/benchmarks.md): every RGB frame is processed, dropped as older
than the newest (the node's worker busy) or skipped with the reason its fault calls for,
through the replay tool and through the node's worker path; nothing raises. The networks
answer from a recording made on the sample frames; everything around them is the product's."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
FRAMES = 60
SEED = 0  # a plan with every kind of fault in 60 frames
RATES = {"depth_missing": 0.05, "depth_zero": 0.05, "depth_size": 0.05, "rgb_size": 0.05, "zero_stamp": 0.05}

pytestmark = pytest.mark.skipif(
    not (BENCHMARKS / "bench_soak.py").is_file(), reason="benchmarks/ is not beside the tests (an installed package)"
)


@pytest.fixture(scope="module")
def soak(models_dir: Path, data_dir: Path) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        import bench_soak

        yield bench_soak


@pytest.fixture(scope="module")
def recording(soak: Any, models_dir: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings, pipeline, triplets, _ = soak.stand_in_pipeline(str(models_dir), data_dir)
    plan = soak.plan_frames(FRAMES, len(triplets), seed=SEED, rates=RATES, jump_every=40)
    directory = tmp_path_factory.mktemp("soak")
    bag = soak.write_soak_bag(directory / "recording", soak.SoakMessages(triplets), plan)
    return settings, pipeline, plan, bag, directory


def test_the_plan_has_every_fault_and_both_stamp_jumps(soak: Any, recording: Any) -> None:
    _, _, plan, _, _ = recording
    assert {frame.fault for frame in plan} >= set(RATES), "every kind of fault occurs"
    stamps = [frame.stamp_ns for frame in plan if frame.stamp_ns]
    steps = {b - a for a, b in itertools.pairwise(stamps)}
    assert max(steps) > 4e9 and min(steps) < -2e9, "a forward and a backward jump"
    assert all(b.receive_ns > a.receive_ns for a, b in itertools.pairwise(plan)), "received in order"


def test_the_replay_accounts_for_every_frame(soak: Any, recording: Any) -> None:
    settings, pipeline, plan, bag, directory = recording
    pipeline.reset_tracking()
    result = soak.soak_replay(pipeline, settings, bag, directory / "replay", FRAMES)
    assert result["frames_read"] == FRAMES
    assert soak.account(result, soak.expected_outcomes(plan), exact=True) == []
    unprocessed = ("depth_missing", "rgb_size", "zero_stamp")  # no partner, wrong size, no stamp
    assert result["processed"] == FRAMES - sum(frame.fault in unprocessed for frame in plan)
    assert (directory / "replay" / "frames.jsonl").is_file()


def test_the_node_path_accounts_for_every_frame_in_bursts(soak: Any, recording: Any) -> None:
    """As fast as the recording reads: most frames arrive while the worker is busy."""
    settings, pipeline, plan, bag, _ = recording
    pipeline.reset_tracking()
    result = soak.NodePath(pipeline, settings, FRAMES).run(bag, rate_hz=0.0)
    assert result["frames_read"] == FRAMES and result["worker_exceptions"] == 0
    assert soak.account(result, soak.expected_outcomes(plan), exact=False) == []
    assert result["processed"] >= 1 and result["skipped"].get("worker_busy", 0) >= 1
