"""The pipeline's networks answered from a recording, so that a long benchmark pays only for
the project's own code (decoding, depth, tracking, messages, transports) and not the models.

:func:`stand_in_networks` runs the real pipeline on a few frames with recording proxies
around each network (the detector's backend, MoveNet's LiteRT interpreter or batched
backend, BlazePose's backend), then swaps in proxies that answer from the recording without
running anything:

* the detector by the fingerprint of the image it is given (its letterboxed input tensor):
  the sample frames get their own answers; an image never seen gets the first answer;
* MoveNet and BlazePose per crop, the recorded rows in turn: their outputs are relative to
  the crop, so any recorded answer decodes to a plausible person inside the crop's box.

Everything downstream of the raw network outputs is the product's code, unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
from hdnet_ros.inference.backend import Arrays, Backend, TensorSpec
from hdnet_ros.people import Frame
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.keypoints2d import MoveNetBatched, MoveNetLiteRT
from hdnet_ros.stages.topdown_heatmap import HeatmapKeypoints


def fingerprint(array: npt.NDArray[Any]) -> str:
    """A cheap identity of a network input (every 97th byte and the shape)."""
    data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)[::97]
    return hashlib.blake2b(data.tobytes() + str(array.shape).encode(), digest_size=16).hexdigest()


class RecordedBackend(Backend):
    """Records what ``inner`` answers; after :meth:`answer_from_recording`, answers without it.

    ``per_row``: the batch axis holds independent crops (MoveNet, BlazePose), answered row by
    row from the recorded rows in turn; otherwise whole answers keyed by the input's
    fingerprint (the detector).
    """

    def __init__(self, inner: Backend, per_row: bool) -> None:
        self.inner: Backend | None = inner
        self.kind = f"recorded {inner.kind}"
        self._inputs, self._outputs = inner.inputs, inner.outputs
        self._per_row = per_row
        self._by_input: dict[str, Arrays] = {}
        self._rows: dict[str, list[npt.NDArray[Any]]] = {}
        self._next_row = 0

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def answer_from_recording(self) -> None:
        if not (self._by_input or self._rows):
            raise RuntimeError(f"{self.kind}: nothing was recorded")
        self.inner = None

    def _run(self, inputs: Arrays) -> Arrays:
        if self.inner is not None:
            outputs = self.inner.run(inputs)
            self._record(inputs, outputs)
            return outputs
        if self._per_row:
            count = len(next(iter(inputs.values())))
            rows = len(next(iter(self._rows.values())))
            picks = [(self._next_row + k) % rows for k in range(count)]
            self._next_row += count
            return {name: np.stack([values[k] for k in picks]) for name, values in self._rows.items()}
        key = fingerprint(next(iter(inputs.values())))
        return self._by_input.get(key) or next(iter(self._by_input.values()))

    def _record(self, inputs: Arrays, outputs: Arrays) -> None:
        if self._per_row:
            for name, values in outputs.items():
                self._rows.setdefault(name, []).extend(np.array(row) for row in values)
        else:
            self._by_input[fingerprint(next(iter(inputs.values())))] = {n: np.array(v) for n, v in outputs.items()}


class RecordedInterpreter:
    """MoveNet's LiteRT interpreter (one crop per invoke), recorded, then answered in turn."""

    def __init__(self, inner: Any) -> None:
        self.inner: Any | None = inner
        self._answers: dict[int, list[npt.NDArray[Any]]] = {}
        self._calls: dict[int, int] = {}

    def answer_from_recording(self) -> None:
        if not self._answers:
            raise RuntimeError("recorded MoveNet interpreter: nothing was recorded")
        self.inner = None

    def set_tensor(self, index: int, value: Any) -> None:
        if self.inner is not None:
            self.inner.set_tensor(index, value)

    def invoke(self) -> None:
        if self.inner is not None:
            self.inner.invoke()

    def get_tensor(self, index: int) -> npt.NDArray[Any]:
        if self.inner is not None:
            value = np.array(self.inner.get_tensor(index))
            self._answers.setdefault(index, []).append(value)
            return value
        answers = self._answers[index]
        call = self._calls.get(index, 0)
        self._calls[index] = call + 1
        return answers[call % len(answers)]


def stand_in_networks(pipeline: Pipeline, frames: Iterable[Frame], passes: int = 3) -> dict[str, str]:
    """Record the networks of ``pipeline`` on ``frames`` (``passes`` times, so that the
    BlazePose schedule runs new and carried tracks), then answer from the recording.
    Returns {stage: what now answers it}."""
    stages = pipeline.stages
    recorded: dict[str, Any] = {"detector": RecordedBackend(stages.detector.backend, per_row=False)}
    stages.detector.backend = recorded["detector"]
    keypoints = stages.keypoints
    if isinstance(keypoints, MoveNetLiteRT):
        recorded["keypoints"] = keypoints._interpreter = RecordedInterpreter(keypoints._interpreter)
    elif isinstance(keypoints, (MoveNetBatched, HeatmapKeypoints)):
        recorded["keypoints"] = keypoints.backend = RecordedBackend(keypoints.backend, per_row=True)
    if stages.blazepose is not None:
        recorded["blazepose"] = stages.blazepose.backend = RecordedBackend(stages.blazepose.backend, per_row=True)
    if stages.root_depth is not None or stages.pose_3d is not None:
        raise SystemExit("the root-depth and 3D pose networks have no stand-in: leave networks.* off")
    frames = list(frames)
    for _ in range(passes):
        for frame in frames:
            pipeline.process(frame)
    for proxy in recorded.values():
        proxy.answer_from_recording()
    pipeline.reset_tracking()
    pipeline.timer.samples_ms.clear()
    return {stage: type(proxy).__name__ for stage, proxy in recorded.items()}
