"""The floor from the people: its cost per frame and its floors against main's solver (issue 19).

    python3 benchmarks/bench_people_floor.py --models-dir ../shared/models --data-dir ../shared/data
        [--json people_floor.json]

Main's solver searched from every start each frame with scipy's numeric Jacobian (kept as
the tests' reference: ``hdnet_ros/test/numpy_placement/people_floor.py``, imported from
there); this one solves from the last frame's minima with the compiled residuals and their
analytic Jacobian (``stages/placement/people_floor.py``).

1. The sample frames' pseudo-sequence WITH depth (``frame_sources.shifted_sequence``: each
   of the three RGB-D frames 30 times, 1-2 px shifts; the depth stage offers no floor on
   them, so the people's is used), through two default pipelines taking turns frame by
   frame: one with main's solver, one with this. Printed: the placement stage's mean and
   median ms per frame in each, and the whole frame's.
2. The observations the second pipeline gave the floor each frame, and those of the CMU
   Panoptic frames without a camera pose (``bench_panoptic.py``'s "pose unknown": each
   camera's five frames in turn, the estimate kept within a camera), through both solvers:
   the estimator's ms per frame, the frames whose decision differs (no floor, its up only,
   the floor with its height), the largest differences of the normal [deg], the camera
   height [mm], the sigmas and the covariance (relative), and the searches this one ran.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from frame_sources import sample_frames, shifted_sequence
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.placement.floor import Floor
from hdnet_ros.stages.placement.people_floor import FloorObservation, PeopleFloor
from machine import cpu_name
from panoptic_sequence import panoptic_scenes

from hdnet_ros.config import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hdnet_ros" / "test"))
from numpy_placement import people_floor as main_solver  # the tests' reference

Recording = list[tuple[str, list[list[FloorObservation]]]]


def recorded(pipeline: Pipeline, name: str, recording: Recording) -> None:
    """Record every observation list the pipeline's people floor is given, under ``name``."""
    placement = pipeline.stages.placement
    assert placement is not None
    floor = placement.people_floor
    add = type(floor).add
    recording.append((name, []))

    def recording_add(observations: list[FloorObservation]) -> Floor | None:
        recording[-1][1].append(list(observations))
        return add(floor, observations)

    floor.add = recording_add  # type: ignore[method-assign]


def sample_sequence(settings: Any, data_dir: Path, recording: Recording) -> dict[str, dict[str, float]]:
    """Part 1 (module doc): the stage's and the frame's ms per frame, main's solver and this."""
    pipelines = {"main": Pipeline.from_settings(settings), "this": Pipeline.from_settings(settings)}
    placement = pipelines["main"].stages.placement
    assert placement is not None
    placement.people_floor = main_solver.PeopleFloor()
    recorded(pipelines["this"], "sample_sequence", recording)
    source, new_scene, length = shifted_sequence(list(sample_frames(data_dir).values()), 30, True)
    times: dict[str, dict[str, list[float]]] = {name: {"placement": [], "total": []} for name in pipelines}
    for index in range(length):
        frame = source(index, (index + 1) * 33_000_000)
        order = list(pipelines.items())[:: 1 if index % 2 else -1]
        for name, pipeline in order:
            if new_scene(index):
                pipeline.stages.tracker.reset()
                pipeline.schedule.reset()
            stage_ms = pipeline.process(frame).stage_ms
            for part in ("placement", "total"):
                times[name][part].append(stage_ms.get(part, 0.0))
    return {
        name: {f"{part}_{kind}_ms": float(f(values)) for part, values in parts.items() for kind, f in STATS.items()}
        for name, parts in times.items()
    }


STATS: dict[str, Callable[[list[float]], Any]] = {"mean": np.mean, "median": np.median}


def panoptic_sequences(settings: Any, data_dir: Path, recording: Recording) -> None:
    """The Panoptic frames without a pose, camera by camera (module doc)."""
    pipeline = Pipeline.from_settings(settings)
    placement = pipeline.stages.placement
    assert placement is not None
    for index, (frame, _, _) in enumerate(panoptic_scenes(data_dir)):
        if index % 5 == 0:
            pipeline.reset_tracking()
            recorded(pipeline, f"panoptic_camera_{index // 5}", recording)
        pipeline.process(dataclasses.replace(frame, floor_pose=None, stamp_ns=(index + 1) * 33_000_000))


def compare(recording: Recording) -> dict[str, Any]:
    """Part 2 (module doc)."""
    worst = {"normal_deg": 0.0, "height_mm": 0.0, "sigma_relative": 0.0, "covariance_relative": 0.0}
    seconds = {"main": 0.0, "this": 0.0}
    frames, differing, floors, searches = 0, [], 0, 0
    for name, sequence in recording:
        mine, theirs = PeopleFloor(), main_solver.PeopleFloor()
        for index, observations in enumerate(sequence):
            start = time.perf_counter()
            a = mine.add(observations)
            seconds["this"] += time.perf_counter() - start
            start = time.perf_counter()
            b = theirs.add(observations)
            seconds["main"] += time.perf_counter() - start
            frames += 1
            if (a is None) != (b is None) or (a is not None and b is not None and a.source != b.source):
                differing.append(f"{name}:{index}")
                continue
            if a is None or b is None:
                continue
            floors += 1
            worst["normal_deg"] = max(worst["normal_deg"], float(np.degrees(np.arccos(min(1.0, a.normal @ b.normal)))))
            worst["height_mm"] = max(worst["height_mm"], 1e3 * abs(a.camera_height - b.camera_height))
            for mine_sigma, main_sigma in ((a.sigma_tilt_rad, b.sigma_tilt_rad), (a.sigma_offset_m, b.sigma_offset_m)):
                if np.isfinite(main_sigma):
                    worst["sigma_relative"] = max(worst["sigma_relative"], abs(mine_sigma / main_sigma - 1.0))
            if a.covariance is not None and b.covariance is not None:
                relative = float(np.abs(a.covariance - b.covariance).max() / np.abs(b.covariance).max())
                worst["covariance_relative"] = max(worst["covariance_relative"], relative)
        searches += mine.searches
    return {
        "frames": frames,
        "floors_compared": floors,
        "differing_frames": differing,
        "worst": worst,
        "searches": searches,
        "estimator_ms_per_frame": {k: 1e3 * v / max(frames, 1) for k, v in seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", default=os.environ.get("HDNET_ROS_MODELS_DIR", "../shared/models"))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_DATA_DIR", "../shared/data")))
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    settings = load_settings(overrides={"models.models_dir": args.models_dir})
    recording: Recording = []
    stage = sample_sequence(settings, args.data_dir, recording)
    panoptic_sequences(settings, args.data_dir, recording)
    figures = {"cpu": cpu_name(), "sample_sequence": stage, "solvers": compare(recording)}
    print(f"CPU: {figures['cpu']}")
    for name, values in stage.items():
        print(f"sample sequence, {name:4s} solver: " + ", ".join(f"{k} {v:.2f}" for k, v in values.items()))
    print(json.dumps(figures["solvers"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
