"""The frame-dropping policy: at most one frame waits for the worker; a newer frame replaces
it (counted as dropped), and no exception stops the worker. Events sequence the threads;
their timeouts are only safety nets, nothing here measures time."""

from __future__ import annotations

import threading

from hdnet_ros.node.frame_slot import FrameWorker, LatestSlot

SAFETY_S = 10.0


def test_slot_keeps_only_the_newest_item() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) == []
    assert slot.put(2) == [1]  # 1 was never taken: dropped
    assert slot.take() == [2]
    assert slot.put(3) == []


def test_closed_slot_hands_out_the_pending_item_then_nothing() -> None:
    slot: LatestSlot[int | None] = LatestSlot()
    slot.put(None)  # any item, even None, is an item
    slot.close()
    assert slot.take() == [None]
    assert slot.take() == []


def test_busy_worker_drops_the_older_pending_frame_and_handles_the_newest() -> None:
    started, release = threading.Event(), threading.Event()
    handled: list[str] = []
    dropped: list[str] = []
    errors: list[Exception] = []

    def handler(item: str) -> None:
        handled.append(item)
        if item == "a":
            started.set()
            assert release.wait(SAFETY_S)

    worker = FrameWorker(handler, dropped.append, errors.append)
    worker.start()
    worker.submit("a")
    assert started.wait(SAFETY_S)  # the worker is busy with "a"
    worker.submit("b")  # waits in the slot
    worker.submit("c")  # replaces "b"
    assert dropped == ["b"]
    release.set()
    worker.stop(SAFETY_S)
    assert handled == ["a", "c"]
    assert errors == []


def test_worker_survives_an_exception_and_reports_it() -> None:
    failed = threading.Event()
    handled: list[str] = []
    errors: list[Exception] = []

    def handler(item: str) -> None:
        if item == "bad":
            raise RuntimeError("broken frame")
        handled.append(item)

    def on_error(error: Exception) -> None:
        errors.append(error)
        failed.set()

    worker = FrameWorker(handler, lambda item: None, on_error)
    worker.start()
    worker.submit("bad")
    assert failed.wait(SAFETY_S)
    worker.submit("good")
    worker.stop(SAFETY_S)
    assert handled == ["good"]
    assert [str(e) for e in errors] == ["broken frame"]
