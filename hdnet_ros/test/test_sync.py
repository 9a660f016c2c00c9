"""Approximate-time matching behaves as message_filters' ApproximateTimeSynchronizer."""

from __future__ import annotations

from hdnet_ros.replay.sync import ApproximateTimeSync

MS = 1_000_000


def make(slop_ms: float = 50, queue: int = 10) -> tuple[ApproximateTimeSync[str], list[tuple[str, ...]]]:
    out: list[tuple[str, ...]] = []
    return ApproximateTimeSync(3, queue, int(slop_ms * MS), out.append), out


def test_triplet_within_slop_is_emitted_in_input_order() -> None:
    sync, out = make()
    sync.add(1, 1010 * MS, "depth")
    sync.add(2, 990 * MS, "info")
    assert out == []
    sync.add(0, 1000 * MS, "rgb")
    assert out == [("rgb", "depth", "info")]
    assert sync.pending() == [0, 0, 0]


def test_span_must_be_strictly_below_slop() -> None:
    sync, out = make(slop_ms=20)
    sync.add(0, 1000 * MS, "rgb")
    sync.add(1, 1010 * MS, "depth")
    sync.add(2, 990 * MS, "info")  # span 20 ms == slop: not matched
    assert out == []
    sync.add(2, 1005 * MS, "info2")
    assert out == [("rgb", "depth", "info2")]


def test_nearest_candidates_are_preferred() -> None:
    sync, out = make(slop_ms=100)
    sync.add(1, 960 * MS, "depth_far")
    sync.add(1, 1001 * MS, "depth_near")
    sync.add(2, 1000 * MS, "info")
    sync.add(0, 1000 * MS, "rgb")
    assert out == [("rgb", "depth_near", "info")]
    assert sync.pending() == [0, 1, 0]


def test_full_queue_evicts_oldest_stamp() -> None:
    sync, out = make(queue=2)
    for stamp in (100, 200, 300):
        sync.add(0, stamp * MS, f"rgb{stamp}")
    assert sorted(sync.queues[0]) == [200 * MS, 300 * MS]
    assert sync.stats.evicted == {0: 1}
    assert out == []


def test_same_stamp_replaces_and_is_counted() -> None:
    sync, _ = make()
    sync.add(0, 100 * MS, "a")
    sync.add(0, 100 * MS, "b")
    assert sync.queues[0][100 * MS] == "b"
    assert sync.stats.replaced == {0: 1}
