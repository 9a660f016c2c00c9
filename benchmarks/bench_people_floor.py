"""The floor from the people: its cost per frame on its cadence and the floors it offers (issue 19).

    python3 benchmarks/bench_people_floor.py --models-dir ../shared/models --data-dir ../shared/data
        [--json people_floor.json]

The estimator (``stages/placement/people_floor.py``) solves again on a cadence
(``REESTIMATE_FRAMES``, ``REESTIMATE_SHARE``) and keeps its floor between; solving every
frame (``reestimate_frames=1``, branch perf10) is the reference. (perf10's comparison with
main's numpy solver, ``hdnet_ros/test/numpy_placement/people_floor.py``, stays in the tests;
that reference predates mono6's design effect over tracks, so on the tracked sample frames
its sigmas are no longer this estimator's.)

1. The sample frames' pseudo-sequence WITH depth (``frame_sources.shifted_sequence``: each
   of the three RGB-D frames 30 times, 1-2 px shifts; the depth stage offers no floor on
   them, so the people's is used), through four default pipelines taking turns frame by
   frame: the people floor solved every frame, on its cadence, without a people floor
   (``floor.from_people`` false: what the rest of the placement costs), and the 3D stage
   off (the issue's "off": no placement at all). Printed: the placement stage's mean and median ms per
   frame in each, and the whole frame's.
2. The observations the cadence's pipeline gave the floor each frame, and those of the CMU
   Panoptic frames without a camera pose (``bench_panoptic.py``'s "pose unknown": each
   camera's five frames in turn, the estimate kept within a camera), through the estimator
   every frame and on its cadence: the estimator's ms per frame each, its solves and
   searches; at the frames where the cadence solves, the frames whose decision differs (no
   floor, its up only, the floor with its height) and the largest differences of the
   normal [deg], the camera height [mm], the sigmas and the covariance (relative); at the
   frames it keeps its floor, the frames whose decision differs from solving then (a first
   floor that comes later) and the largest differences of the normal and height (what the
   cadence costs in the floor), and the most frames a kept floor was old.
3. A static camera's longer run (a robot standing still): the recorded observation lists of
   the second and third sample frames (which the estimator takes for one camera: no restart
   between them, where the first frame's early floor is wrong and restarts once) cycled for
   ``--static-frames`` frames (the history full after ~60),
   through the estimator every frame and on its cadence: ms per frame over all frames and
   over the last two thirds (the steady state), solves and searches.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
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

Recording = list[tuple[str, list[list[FloorObservation]]]]


def recorded(pipeline: Pipeline, name: str, recording: Recording) -> None:
    """Record every observation list the pipeline's people floor is given, under ``name``."""
    floor = pipeline.stages.floors.people_floor
    add = type(floor).add
    recording.append((name, []))

    def recording_add(observations: list[FloorObservation]) -> Floor | None:
        recording[-1][1].append(list(observations))
        return add(floor, observations)

    floor.add = recording_add  # type: ignore[method-assign]


def sample_sequence(settings: dict[str, Any], data_dir: Path, recording: Recording) -> dict[str, dict[str, float]]:
    """Part 1 (module doc): the stage's and the frame's ms per frame, every frame and on the
    cadence (``settings["default"]``), without a people floor and with the 3D stage off."""
    pipelines = {
        "every_frame": Pipeline.from_settings(settings["default"]),
        "cadence": Pipeline.from_settings(settings["default"]),
        "no_people_floor": Pipeline.from_settings(settings["no_people_floor"]),
        "3d_off": Pipeline.from_settings(settings["3d_off"]),
    }
    pipelines["every_frame"].stages.floors.people_floor = PeopleFloor(reestimate_frames=1)
    recorded(pipelines["cadence"], "sample_sequence", recording)
    source, new_scene, length = shifted_sequence(list(sample_frames(data_dir).values()), 30, True)
    times: dict[str, dict[str, list[float]]] = {name: {"placement": [], "total": []} for name in pipelines}
    for index in range(length):
        frame = source(index, (index + 1) * 33_000_000)
        turn = index % len(pipelines)
        order = list(pipelines.items())
        for name, pipeline in order[turn:] + order[:turn]:
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


# As bench_pipeline.py's "3D stage off".
THREE_D_OFF: dict[str, Any] = {"networks.pose_3d": "", "networks.root_depth": ""}
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
    solved = {"normal_deg": 0.0, "height_mm": 0.0, "sigma_relative": 0.0, "covariance_relative": 0.0}
    kept = {"normal_deg": 0.0, "height_mm": 0.0}
    seconds = {"every_frame": 0.0, "cadence": 0.0}
    counts = dict.fromkeys(("frames", "solves_compared", "kept_compared", "solves", "searches", "restarts"), 0)
    counts["oldest_kept"] = 0  # the most frames a kept floor was old
    differing: dict[str, list[str]] = {"solved": [], "kept": []}
    for name, sequence in recording:
        every, cadence = PeopleFloor(reestimate_frames=1), PeopleFloor()
        age = 0
        for index, observations in enumerate(sequence):
            start = time.perf_counter()
            b = every.add(observations)
            seconds["every_frame"] += time.perf_counter() - start
            estimates = cadence.estimates
            start = time.perf_counter()
            a = cadence.add(observations)
            seconds["cadence"] += time.perf_counter() - start
            counts["frames"] += 1
            fresh = cadence.estimates > estimates
            age = 0 if fresh else age + 1
            counts["oldest_kept"] = max(counts["oldest_kept"], age)
            kind = "solved" if fresh else "kept"
            if (a is None) != (b is None) or (a is not None and b is not None and a.source != b.source):
                differing[kind].append(f"{name}:{index}")
                continue
            if a is None or b is None:
                continue
            counts[f"{'solves' if fresh else 'kept'}_compared"] += 1
            worst = solved if fresh else kept
            angle = float(np.degrees(np.arccos(min(1.0, float(a.normal @ b.normal)))))
            worst["normal_deg"] = max(worst["normal_deg"], angle)
            worst["height_mm"] = max(worst["height_mm"], 1e3 * abs(a.camera_height - b.camera_height))
            if not fresh:
                continue
            for mine, theirs in ((a.sigma_tilt_rad, b.sigma_tilt_rad), (a.sigma_offset_m, b.sigma_offset_m)):
                if np.isfinite(theirs):
                    solved["sigma_relative"] = max(solved["sigma_relative"], abs(mine / theirs - 1.0))
            if a.covariance is not None and b.covariance is not None:
                relative = float(np.abs(a.covariance - b.covariance).max() / np.abs(b.covariance).max())
                solved["covariance_relative"] = max(solved["covariance_relative"], relative)
        counts["solves"] += cadence.estimates
        counts["searches"] += cadence.searches
        counts["restarts"] += cadence.restarts
    return {
        **counts,
        "differing_frames": differing,
        "at_solves": solved,
        "kept_floors": kept,
        "estimator_ms_per_frame": {k: 1e3 * v / max(counts["frames"], 1) for k, v in seconds.items()},
    }


def static_run(recording: Recording, frames: int) -> dict[str, dict[str, float]]:
    """Part 3 (module doc)."""
    sequence = recording[0][1][30:90]  # the second and third sample frames' 30 steps each
    figures: dict[str, dict[str, float]] = {}
    for name, estimator in (("every_frame", PeopleFloor(reestimate_frames=1)), ("cadence", PeopleFloor())):
        seconds = []
        for index in range(frames):
            start = time.perf_counter()
            estimator.add(sequence[index % len(sequence)])
            seconds.append(time.perf_counter() - start)
        steady = seconds[frames // 3 :]
        figures[name] = {
            "ms_per_frame": 1e3 * float(np.mean(seconds)),
            "steady_ms_per_frame": 1e3 * float(np.mean(steady)),
            "steady_max_ms": 1e3 * float(np.max(steady)),
            "solves": estimator.estimates,
            "searches": estimator.searches,
            "restarts": estimator.restarts,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", default=os.environ.get("HDNET_ROS_MODELS_DIR", "../shared/models"))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_DATA_DIR", "../shared/data")))
    parser.add_argument("--static-frames", type=int, default=300, help="length of part 3's static run")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    variants = {"default": {}, "no_people_floor": {"floor.from_people": False}, "3d_off": THREE_D_OFF}
    settings = {
        name: load_settings(overrides={"models.models_dir": args.models_dir, **overrides})
        for name, overrides in variants.items()
    }
    recording: Recording = []
    stage = sample_sequence(settings, args.data_dir, recording)
    panoptic_sequences(settings["default"], args.data_dir, recording)
    figures: dict[str, Any] = {
        "cpu": cpu_name(),
        "sample_sequence": stage,
        "solvers": compare(recording),
        "static_run": static_run(recording, args.static_frames),
    }
    print(f"CPU: {figures['cpu']}")
    for name, values in stage.items():
        print(f"sample sequence, {name:15s}: " + ", ".join(f"{k} {v:.2f}" for k, v in values.items()))
    print(json.dumps(figures["solvers"], indent=1))
    for name, values in figures["static_run"].items():
        shown = ", ".join(f"{k} {v:.2f}" for k, v in values.items())
        print(f"static run of {args.static_frames} frames, {name:11s}: {shown}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
