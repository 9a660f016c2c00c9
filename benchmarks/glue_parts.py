"""The glue split into its parts, by who owns them: a short pass of the crowd runs with
timers around the functions that make up the glue (crops, decodings, the crowd rules, the
3D stage's plan and decoding, the tracker's association...), besides the stage timings.

The timers wrap module attributes for the pass only (:func:`timed_parts`, restored on exit)
and add about a microsecond a call, so the main measurements run without them. A part
is timed where it is called from its stage; parts of one stage do not add up to the
stage's glue (the rest is the stage's own lines between them).
"""

from __future__ import annotations

import functools
import importlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from frame_timing import Run
from model_clock import ModelClock

# (part, owner, module, attribute): the attribute of the module (a function, or
# Class.method) as the stage calls it.
PARTS: tuple[tuple[str, str, str, str], ...] = (
    ("2D crops (warp)", "2D stage", "hdnet_ros.stages.topdown_heatmap", "warp_crops"),
    ("2D input encoding", "2D stage", "hdnet_ros.stages.topdown_heatmap", "encode_planes"),
    ("2D heatmap decoding (DARK, to the image)", "2D stage", "hdnet_ros.stages.topdown_heatmap", "decode_image_points"),
    ("crowd rules", "2D stage", "hdnet_ros.stages.crowd", "CrowdStage.__call__"),
    ("Tracker.expected (all calls)", "tracking", "hdnet_ros.stages.tracking.tracker", "Tracker.expected"),
    ("3D plan", "3D stage", "hdnet_ros.stages.blazepose.schedule", "BlazePoseSchedule.plan"),
    ("3D crops", "3D stage", "hdnet_ros.stages.blazepose", "BlazePoseStage.prepare"),
    ("3D decoding", "3D stage", "hdnet_ros.stages.blazepose", "BlazePoseStage.decode"),
    ("3D root fits (plan and decoding)", "3D stage (root_fit)", "hdnet_ros.stages.blazepose.carried_fit", "fit_roots"),
    ("3D root fits (plan and decoding)", "3D stage (root_fit)", "hdnet_ros.stages.blazepose", "fit_roots"),
    ("3D carried estimates", "3D stage", "hdnet_ros.stages.blazepose.per_track", "carry_estimate"),
    ("3D arrays and masks stacked", "3D stage", "hdnet_ros.stages.blazepose.per_track", "body_estimates"),
    ("depth kernel", "lifting", "hdnet_ros.stages.depth.measure", "_measure_people"),
    ("people floor", "placement", "hdnet_ros.stages.placement.people_floor", "PeopleFloor.add"),
    ("placement cues", "placement", "hdnet_ros.stages.placement", "frame_cues"),
    ("placement fits", "placement", "hdnet_ros.stages.placement", "place_people"),
    ("Skeleton3DArray", "messages", "hdnet_ros.outputs.frame_outputs", "skeleton_array_msg"),
    ("MarkerArray", "messages", "hdnet_ros.outputs.frame_outputs", "marker_array_msg"),
    ("TF", "messages", "hdnet_ros.outputs.frame_outputs", "body_transforms"),
)


@contextmanager
def timed_parts(totals: dict[str, float]) -> Iterator[None]:
    """Every part of PARTS adds its milliseconds to ``totals[part]`` while in the block."""
    with timed_attributes(((part, module, attribute) for part, _, module, attribute in PARTS), totals):
        yield


@contextmanager
def timed_attributes(
    parts: Iterable[tuple[str, str, str]], totals: dict[str, float], missing_ok: bool = False
) -> Iterator[None]:
    """Each ``(part, module, attribute)`` adds its milliseconds to ``totals[part]`` while in
    the block (``missing_ok``: an attribute or module the package lacks, e.g. an older version's, is
    left out instead of an error)."""
    restore: list[tuple[Any, str, Any]] = []
    try:
        for part, module_name, attribute in parts:
            try:
                owner: Any = importlib.import_module(module_name)
            except ModuleNotFoundError:
                if missing_ok:  # a module another version of the package does not have
                    continue
                raise
            *path, name = attribute.split(".")
            for step in path:
                owner = getattr(owner, step)
            if missing_ok and not hasattr(owner, name):
                continue
            original = getattr(owner, name)
            restore.append((owner, name, original))
            setattr(owner, name, _timer(original, part, totals))
        yield
    finally:
        for owner, name, original in reversed(restore):
            setattr(owner, name, original)


def _timer(function: Callable[..., Any], part: str, totals: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[part] += (time.perf_counter() - start) * 1000.0

    return timed


def glue_part_figures(runs: dict[int, Run], clock: ModelClock, frames: int) -> dict[int, dict[str, float]]:
    """Per crowd size: each part's median ms per frame over ``frames`` frames (0 where it
    did not run), the runs taking turns frame by frame."""
    samples: dict[int, dict[str, list[float]]] = {count: defaultdict(list) for count in runs}
    parts = list(dict.fromkeys(part for part, *_ in PARTS))
    totals: dict[str, float] = defaultdict(float)
    with timed_parts(totals):
        for _ in range(frames):
            for count, run in runs.items():
                totals.clear()
                run.step(clock, record=False)
                for part in parts:
                    samples[count][part].append(totals.get(part, 0.0))
    return {
        count: {part: float(np.median(values)) for part, values in by_part.items()}
        for count, by_part in samples.items()
    }


def owners() -> dict[str, str]:
    """Each part's owner, in PARTS' order."""
    return {part: owner for part, owner, *_ in PARTS}
