"""Frame times as the node and the replay spend them: ``Pipeline.process`` plus the frame's
messages (Skeleton3DArray, MarkerArray, TF), split into stages and model calls.

Several pipelines (a crowd size, a configuration) are run in turn, frame by frame, so that
they share whatever else the machine is doing; each keeps its own tracker and sees its own
stream of frames at 30 Hz stamps.

The 3D stage runs per track every ``blazepose.every_frames``-th frame, so frame times come
in cycles (one heavy frame, then light ones): a plain median would be the light frame.
:func:`window_median` takes the median over consecutive windows of that many frames of the
windows' means, which is what the pipeline costs per frame over a cycle, and stays robust
to a frame slowed down by another process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from hdnet_ros.joints import ROOT
from hdnet_ros.node.frame_processor import core_outputs
from hdnet_ros.people import Frame
from hdnet_ros.pipeline import Pipeline
from model_clock import MODELS, ModelClock

RATE_HZ = 30.0
PERIOD_NS = round(1e9 / RATE_HZ)
START_NS = 1_700_000_000 * 10**9
MESSAGES = "messages"
STAGES = ("detection", "keypoints_2d", "pose_3d", "placement", "depth_lifting", "tracking", MESSAGES)

FloatArray = npt.NDArray[np.float64]
# (frame index, stamp) -> the frame to process; the stamp is the runner's, always rising.
FrameSource = Callable[[int, int], Frame]


@dataclass(frozen=True)
class PersonSnapshot:
    """What a run published about one person (for comparing runs on the same frames)."""

    box: tuple[float, ...]
    track_id: int
    positions: FloatArray  # [J,3]
    sources: npt.NDArray[np.uint8]  # [J]
    pixels: FloatArray  # [J,2]

    @property
    def root(self) -> FloatArray:
        return self.positions[ROOT]


@dataclass(frozen=True)
class FrameTiming:
    """One frame: whole time, per stage and per model [ms], and what ran."""

    total_ms: float  # process() and the messages
    stages_ms: dict[str, float]
    models_ms: dict[str, float]
    people: int
    blazepose_crops: int

    @property
    def models_total_ms(self) -> float:
        return sum(self.models_ms.values())

    @property
    def glue_ms(self) -> float:
        return self.total_ms - self.models_total_ms


@dataclass
class Run:
    """One pipeline fed by one frame source; ``new_scene(i)`` says where tracking restarts."""

    name: str
    pipeline: Pipeline
    source: FrameSource
    new_scene: Callable[[int], bool] = lambda index: index == 0
    keep_people: bool = False
    timings: list[FrameTiming] = field(default_factory=list)
    people: list[list[PersonSnapshot]] = field(default_factory=list)
    _index: int = 0
    _stamps: int = 0

    def step(self, clock: ModelClock, record: bool = True) -> None:
        """Process the next frame (and build its messages), timed."""
        frame = self.source(self._index, START_NS + self._stamps * PERIOD_NS)
        if self.new_scene(self._index):
            self.pipeline.reset_tracking()
        self._index += 1
        self._stamps += 1
        body = self.pipeline.stages.blazepose
        crops_before = body.counts["crops"] if body is not None else 0
        output = self.pipeline.settings.output
        clock.start_frame()
        start = time.perf_counter()
        result = self.pipeline.process(frame)
        built = time.perf_counter()
        core_outputs(result, output, output.nominal_frame_rate, debug_image=False)
        end = time.perf_counter()
        if not record:
            return
        stages = {name: ms for name, ms in result.stage_ms.items() if name != "total"}
        stages[MESSAGES] = (end - built) * 1000.0
        if clock.scaffold_ms:  # the benchmark's stand-ins hand out BlazePose's answers
            stages["pose_3d"] -= clock.scaffold_ms
        self.timings.append(
            FrameTiming(
                total_ms=(end - start) * 1000.0 - clock.scaffold_ms,
                stages_ms=stages,
                models_ms=clock.frame_ms(),
                people=len(result.people),
                blazepose_crops=(body.counts["crops"] if body is not None else 0) - crops_before,
            )
        )
        if self.keep_people:
            self.people.append(
                [
                    PersonSnapshot(
                        tuple(float(v) for v in p.detection.box),
                        p.track_id,
                        p.positions.copy(),
                        p.depth_sources.copy(),
                        np.asarray(p.pixels, dtype=np.float64).copy(),
                    )
                    for p in result.people
                ]
            )

    def restart(self) -> None:
        """Back to the source's first frame (after a warm-up); tracking restarts there."""
        self._index = 0


def run_in_turn(runs: Sequence[Run], frames: int, warm_up: int, clock: ModelClock) -> None:
    """``warm_up`` unrecorded frames per run, then ``frames`` recorded ones, the runs taking
    turns frame by frame (the order rotated each round so no run always goes first)."""
    for _ in range(warm_up):
        for run in runs:
            run.step(clock, record=False)
    for run in runs:
        run.restart()
    for index in range(frames):
        shift = index % len(runs)
        for run in [*runs[shift:], *runs[:shift]]:
            run.step(clock)


def window_means(values: Sequence[float], window: int) -> FloatArray:
    """Means of consecutive, non-overlapping windows of ``window`` values (a partial last
    window is left out unless it is the only one)."""
    array = np.asarray(values, dtype=np.float64)
    usable = (len(array) // window) * window
    if usable == 0:
        return np.array([array.mean()]) if len(array) else np.array([np.nan])
    return array[:usable].reshape(-1, window).mean(axis=1)


def window_median(values: Sequence[float], window: int) -> float:
    return float(np.median(window_means(values, window)))


def window_ratio(numerators: Sequence[float], denominators: Sequence[float], window: int) -> float:
    """Median over windows of sum(numerators) / sum(denominators): a ratio of two things
    measured in the same frames."""
    top = window_means(numerators, window)
    bottom = window_means(denominators, window)
    return float(np.median(top / bottom))


def stage_figures(timings: Sequence[FrameTiming], window: int) -> dict[str, float]:
    """Window medians [ms] of the whole frame, each stage, each model, the models' sum and
    the glue, and the per-window glue ratio (whole / models)."""
    figures = {
        "total_ms": window_median([t.total_ms for t in timings], window),
        "total_p95_ms": float(np.percentile([t.total_ms for t in timings], 95)),
        "models_ms": window_median([t.models_total_ms for t in timings], window),
        "glue_ms": window_median([t.glue_ms for t in timings], window),
        "whole_over_models": window_ratio([t.total_ms for t in timings], [t.models_total_ms for t in timings], window),
        "people": float(np.mean([t.people for t in timings])),
        "blazepose_crops_per_frame": float(np.mean([t.blazepose_crops for t in timings])),
    }
    for stage in STAGES:
        figures[f"{stage}_ms"] = window_median([t.stages_ms.get(stage, 0.0) for t in timings], window)
    for model in MODELS:
        figures[f"model_{model}_ms"] = window_median([t.models_ms[model] for t in timings], window)
    return figures
