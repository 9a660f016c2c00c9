"""The frame-dropping policy: a one-item slot between the callbacks and one worker thread.

Callbacks never wait for inference. The newest synchronized frame goes into the slot; the
worker takes it when it is free. A frame still waiting when a newer one arrives is dropped
(and reported), so at most one frame waits and the output is always the freshest frame the
worker could handle: no queue grows when inference is slower than the camera.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most one item; :meth:`put` replaces an item nobody has taken yet."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._items: list[T] = []  # zero or one item (a list, so any T, even None, fits)
        self._closed = False

    def put(self, item: T) -> list[T]:
        """Store ``item``; returns the items it displaced (the dropped frame, if any)."""
        with self._condition:
            dropped, self._items = self._items, [item]
            self._condition.notify()
            return dropped

    def take(self) -> list[T]:
        """Wait for an item and remove it; an empty list once closed and drained."""
        with self._condition:
            self._condition.wait_for(lambda: bool(self._items) or self._closed)
            taken, self._items = self._items, []
            return taken

    def close(self) -> None:
        """Wake the consumer; it still gets the pending item, then an empty list."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()


class FrameWorker(Generic[T]):
    """One daemon thread that runs ``handler`` on the newest submitted item.

    ``on_drop`` hears of every item replaced before the worker reached it (counted as
    "worker busy"); ``on_error`` hears of every exception the handler raised, and the
    worker goes on with the next item: one bad frame never stops the node.
    """

    def __init__(
        self,
        handler: Callable[[T], None],
        on_drop: Callable[[T], None],
        on_error: Callable[[Exception], None],
        name: str = "hdnet_worker",
    ) -> None:
        self._handler = handler
        self._on_drop = on_drop
        self._on_error = on_error
        self._slot: LatestSlot[T] = LatestSlot()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, item: T) -> None:
        """Hand over ``item`` without waiting (safe to call from any callback)."""
        for dropped in self._slot.put(item):
            self._on_drop(dropped)

    def stop(self, timeout: float | None = None) -> None:
        """Finish the current and the pending item, then end the thread."""
        self._slot.close()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while taken := self._slot.take():
            for item in taken:
                try:
                    self._handler(item)
                except Exception as error:  # the node must outlive any bad frame
                    self._on_error(error)
