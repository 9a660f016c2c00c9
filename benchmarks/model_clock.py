"""The model calls of a pipeline, timed inside the pipeline's own ``process`` call.

:func:`instrument` puts a timing proxy between each stage and its network: a
:class:`TimedBackend` around every :class:`Backend` (detector, BlazePose, a batched
MoveNet) and a :class:`TimedInterpreter` around the LiteRT interpreter that the published
MoveNet runs once per crop. The proxies add the wall time of each call to a
:class:`ModelClock` under the model's name, so a frame's time splits exactly into what the
networks took and what the project's own code took (the glue), measured in the same call.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import Any

import numpy.typing as npt
from hdnet_ros.inference.backend import Arrays, Backend, TensorSpec
from hdnet_ros.pipeline import Stages
from hdnet_ros.stages.keypoints2d import MoveNetBatched, MoveNetLiteRT
from hdnet_ros.stages.topdown_heatmap import HeatmapKeypoints

DETECTOR = "detector"
KEYPOINTS = "keypoints_2d"
BLAZEPOSE = "blazepose"
MODELS = (DETECTOR, KEYPOINTS, BLAZEPOSE)


class ModelClock:
    """Milliseconds spent in each model since the last :meth:`start_frame`, and in the
    benchmark's own stand-ins (``scaffold_ms``: handing out prepared answers), which the
    frame's time leaves out."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)
        self.scaffold_ms = 0.0

    def start_frame(self) -> None:
        self.ms.clear()
        self.scaffold_ms = 0.0

    def add(self, model: str, start_s: float) -> None:
        self.ms[model] += (time.perf_counter() - start_s) * 1000.0

    def add_scaffold(self, start_s: float) -> None:
        self.scaffold_ms += (time.perf_counter() - start_s) * 1000.0

    def frame_ms(self) -> dict[str, float]:
        """This frame's time per model (every model of MODELS, 0 where it did not run)."""
        return {model: self.ms.get(model, 0.0) for model in MODELS}


class TimedBackend(Backend):
    """A backend that times every ``run`` of the one it wraps (checks and dtype conversion
    included: they are part of handing the network its input)."""

    def __init__(self, inner: Backend, clock: ModelClock, model: str) -> None:
        self.inner = inner
        self.kind = inner.kind
        self._clock = clock
        self._model = model

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self.inner.inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self.inner.outputs

    @property
    def skippable(self) -> frozenset[str]:  # type: ignore[override]
        return self.inner.skippable

    def run(self, inputs: Mapping[str, npt.ArrayLike], skip: Collection[str] = ()) -> Arrays:
        start = time.perf_counter()
        try:
            return self.inner.run(inputs, skip)
        finally:
            self._clock.add(self._model, start)

    def _run(self, inputs: Arrays) -> Arrays:  # run() is overridden; kept for the interface
        return self.inner.run(inputs)


class TimedInterpreter:
    """A LiteRT interpreter whose ``set_tensor``, ``invoke`` and ``get_tensor`` are timed
    (copying the crop in and the keypoints out is part of the model call)."""

    def __init__(self, inner: Any, clock: ModelClock, model: str) -> None:
        self._inner = inner
        self._clock = clock
        self._model = model

    def set_tensor(self, index: int, value: Any) -> None:
        start = time.perf_counter()
        self._inner.set_tensor(index, value)
        self._clock.add(self._model, start)

    def invoke(self) -> None:
        start = time.perf_counter()
        self._inner.invoke()
        self._clock.add(self._model, start)

    def get_tensor(self, index: int) -> Any:
        start = time.perf_counter()
        value = self._inner.get_tensor(index)
        self._clock.add(self._model, start)
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def instrument(stages: Stages, clock: ModelClock) -> None:
    """Wrap every network of ``stages`` so that ``clock`` times it (in place, once)."""
    detector = stages.detector
    if not isinstance(detector.backend, TimedBackend):
        detector.backend = TimedBackend(detector.backend, clock, DETECTOR)
    keypoints = stages.keypoints
    if isinstance(keypoints, MoveNetLiteRT) and not isinstance(keypoints._interpreter, TimedInterpreter):
        # The published int8 MoveNet: one interpreter call per crop, no Backend in between.
        keypoints._interpreter = TimedInterpreter(keypoints._interpreter, clock, KEYPOINTS)
    elif isinstance(keypoints, (MoveNetBatched, HeatmapKeypoints)) and not isinstance(keypoints.backend, TimedBackend):
        keypoints.backend = TimedBackend(keypoints.backend, clock, KEYPOINTS)
    body = stages.blazepose
    if body is not None and not isinstance(body.backend, TimedBackend):
        # BlazePose's landmarks are the 2D keypoints when no keypoint model is configured.
        body.backend = TimedBackend(body.backend, clock, BLAZEPOSE if keypoints is not None else KEYPOINTS)
