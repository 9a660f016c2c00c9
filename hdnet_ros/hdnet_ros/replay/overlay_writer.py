"""Overlay PNGs written by a thread of their own, so the pipeline never waits for PNG encoding.

Encoding a 640x480 PNG costs about as much as a quarter of a frame's inference; OpenCV
releases the GIL while it encodes, so a writer thread overlaps it with the next frame.
The queue is bounded: when the writer falls behind, :meth:`OverlayWriter.submit` waits for
a free place (memory stays bounded and no overlay is dropped). :meth:`OverlayWriter.close`
writes what is still queued, joins the thread and says what was written and what failed.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

MAX_PENDING = 8  # overlays waiting for the writer (about 7 MB of 640x480 RGB)
MAX_REPORTED_ERRORS = 10  # error texts kept; every error is counted


@dataclass
class OverlayStats:
    written: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # the first MAX_REPORTED_ERRORS, with the file

    def as_dict(self) -> dict[str, object]:
        return {"written": self.written, "failed": self.failed, "errors": list(self.errors)}


_Item = tuple[Path, npt.NDArray[np.uint8]]


class OverlayWriter:
    """Writes RGB images as PNG files in ``directory`` from a background thread."""

    def __init__(self, directory: Path, max_pending: int = MAX_PENDING) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self.directory = directory
        self.stats = OverlayStats()
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="hdnet_overlay_writer", daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, name: str, rgb: npt.NDArray[np.uint8]) -> None:
        """Queue ``rgb`` (HxWx3, RGB order; not modified afterwards by the caller) as ``name``.png."""
        if self._closed:
            raise RuntimeError("overlay writer is closed")
        self._queue.put((self.directory / f"{name}.png", rgb))

    def close(self) -> OverlayStats:
        """Write every queued overlay, stop the thread and return the counts (idempotent)."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        return self.stats

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            path, rgb = item
            try:
                if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
                    raise OSError("OpenCV could not write the file (directory missing or not writable?)")
                self.stats.written += 1
            except Exception as error:  # cv2.error, OSError: report, keep writing the others
                self.stats.failed += 1
                if len(self.stats.errors) < MAX_REPORTED_ERRORS:
                    self.stats.errors.append(f"{path}: {type(error).__name__}: {error}")
