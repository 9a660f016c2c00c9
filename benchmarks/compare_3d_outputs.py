"""Two trees' pipelines on the same frames, every person compared: run this file once per
tree (``PYTHONPATH=<tree>/hdnet_ros``) with ``--dump FILE``, then ``--compare A B``.

The runs (the default pipeline, as ``bench_pipeline.py`` builds them): the 20- and
7-person crowds, the sample frames' pseudo-sequence with and without depth (the schedule at
its three phases, and every frame) and CMU Panoptic without depth. Recorded per frame and
person: the box, track, 3D joints and their depth sources, the 2D keypoints, the network
pose, feet and landmarks carried by the person, and the 3D stage's schedule (whom it runs
on, who carries a pose, the monocular roots of the plan) and counts. ``--compare`` prints
the largest difference of each field per run (positions in m, pixels in px) and whether
every decision (tracks, depth sources, the schedule's) is the same.

    PYTHONPATH=/path/main/hdnet_ros python3 benchmarks/compare_3d_outputs.py --dump /tmp/main.pkl
    PYTHONPATH=$PWD/hdnet_ros python3 benchmarks/compare_3d_outputs.py --dump /tmp/branch.pkl
    python3 benchmarks/compare_3d_outputs.py --compare /tmp/main.pkl /tmp/branch.pkl
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from bench_pipeline import (
    CROWD_SIZES,
    accepted_boxes,
    crowd_pipeline,
    fresh,
    panoptic_runs,
    sample_people,
    sequence_runs,
)
from crowd import make_crowd, person_crops
from fixed_runtimes import fixed_runtimes
from frame_sources import sample_frames, still_scene
from frame_timing import PERIOD_NS, START_NS, Run
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.blazepose import schedule as schedule_module
from model_clock import ModelClock, instrument
from panoptic_sequence import panoptic_scenes

from hdnet_ros.config import load_settings

FIELDS = ("positions", "pixels", "network_pose", "network_feet", "network_pixels", "feet_pixels")
Record = dict[str, Any]


def _array(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float64).copy()


def _person(person: Any) -> Record:
    record: Record = {name: _array(getattr(person, name, None)) for name in FIELDS}
    record["box"] = np.asarray(person.detection.box, dtype=np.float64).copy()
    record["track"] = person.track_id
    record["sources"] = np.asarray(person.depth_sources).copy()
    record["age"] = person.network_pose_age
    return record


def _plan(plan: Any) -> Record:
    roots = [None if r is None else (r.position.copy(), r.sigma) for r in plan.roots]
    return {"run": plan.run.copy(), "carried": plan.carried.copy(), "roots": roots, "shifts": plan.shifts.copy()}


def record_run(run: Run, frames: int, plans: list[Record]) -> list[Record]:
    """``frames`` frames of ``run`` (as Run.step feeds them), every person and plan recorded."""
    records = []
    for index in range(frames):
        frame = run.source(index, START_NS + index * PERIOD_NS)
        if run.new_scene(index):
            run.pipeline.reset_tracking()
        plans.clear()
        result = run.pipeline.process(frame)
        counts = dict(run.pipeline.schedule.counts) if run.pipeline.schedule is not None else {}
        body = run.pipeline.stages.blazepose
        records.append(
            {
                "people": [_person(p) for p in result.people],
                "plans": list(plans),
                "schedule_counts": counts,
                "stage_counts": dict(body.counts) if body is not None else {},
            }
        )
    return records


def dump(models_dir: Path, data_dir: Path, steps: int, crowd_frames: int) -> dict[str, list[Record]]:
    plans: list[Record] = []
    original = schedule_module.BlazePoseSchedule.plan

    def recording_plan(self: Any, *args: Any, **kwargs: Any) -> Any:
        plan = original(self, *args, **kwargs)
        plans.append(_plan(plan))
        return plan

    schedule_module.BlazePoseSchedule.plan = recording_plan  # type: ignore[method-assign]
    # BlazePose's runtime fixed: "auto" times the runtimes at start-up and may choose another each time.
    common = {"models.models_dir": str(models_dir), **fixed_runtimes()}  # no start-up probe: the same in both
    settings = load_settings(overrides=common)
    base = Pipeline.from_settings(settings).stages
    clock = ModelClock()
    instrument(base, clock)
    frames = list(sample_frames(data_dir).values())
    people = sample_people(fresh(settings, base), frames)
    assert base.blazepose is not None
    crops = person_crops(frames, accepted_boxes(base.blazepose, frames, people))
    result: dict[str, list[Record]] = {}
    for count in (7, max(CROWD_SIZES)):
        crowd = make_crowd(count, crops)
        run = Run(f"{count}-person crowd", crowd_pipeline(settings, base, crowd, clock), still_scene(crowd.frame))
        result[run.name] = record_run(run, crowd_frames, plans)
    runs, length = sequence_runs(common, base, frames, steps)
    for run in runs:
        result[f"sample frames: {run.name}"] = record_run(run, length, plans)
    scenes = panoptic_scenes(data_dir)
    panoptic, panoptic_length = panoptic_runs(common, base, scenes, steps)
    for run in panoptic:
        result[run.name] = record_run(run, panoptic_length, plans)
    return result


def _largest(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """The largest difference of two arrays (inf where their shape or NaNs differ)."""
    if a is None or b is None:
        return 0.0 if a is None and b is None else np.inf
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        return np.inf
    finite = np.isfinite(a)
    return float(np.max(np.abs(a[finite] - b[finite]), initial=0.0))


def compare(first: dict[str, list[Record]], second: dict[str, list[Record]]) -> bool:
    """Print each run's largest differences; True where every decision is the same."""
    same = first.keys() == second.keys()
    for name, runs in first.items():
        worst = dict.fromkeys((*FIELDS, "box", "plan roots", "plan shifts"), 0.0)
        decisions = True
        for a, b in zip(runs, second[name], strict=True):
            decisions &= len(a["people"]) == len(b["people"]) and len(a["plans"]) == len(b["plans"])
            decisions &= a["schedule_counts"] == b["schedule_counts"] and a["stage_counts"] == b["stage_counts"]
            for p, q in zip(a["people"], b["people"], strict=False):
                decisions &= p["track"] == q["track"] and p["age"] == q["age"]
                decisions &= np.array_equal(p["sources"], q["sources"])
                for field in (*FIELDS, "box"):
                    worst[field] = max(worst[field], _largest(p[field], q[field]))
            for p, q in zip(a["plans"], b["plans"], strict=False):
                decisions &= np.array_equal(p["run"], q["run"]) and np.array_equal(p["carried"], q["carried"])
                worst["plan shifts"] = max(worst["plan shifts"], _largest(p["shifts"], q["shifts"]))
                for r, s in zip(p["roots"], q["roots"], strict=True):
                    decisions &= (r is None) == (s is None)
                    if r is not None and s is not None:
                        worst["plan roots"] = max(worst["plan roots"], _largest(r[0], s[0]), abs(r[1] - s[1]))
        same &= decisions
        figures = ", ".join(f"{field} {value:.1e}" for field, value in worst.items())
        print(f"{name} ({len(runs)} frames): decisions {'the same' if decisions else 'DIFFER'}; largest: {figures}")
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path, help="write this tree's records here")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("A", "B"), help="compare two dumps")
    parser.add_argument("--models-dir", type=Path, default=Path("../shared/models"))
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--steps", type=int, default=3, help="shifted steps of the sequences")
    parser.add_argument("--crowd-frames", type=int, default=30)
    args = parser.parse_args()
    if args.dump:
        records = dump(args.models_dir, args.data_dir, args.steps, args.crowd_frames)
        args.dump.write_bytes(pickle.dumps(records))
    if args.compare:
        first, second = (pickle.loads(path.read_bytes()) for path in args.compare)
        raise SystemExit(0 if compare(first, second) else 1)


if __name__ == "__main__":
    main()
