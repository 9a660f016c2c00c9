"""Two versions of the package on the same frames: every person's keypoints, positions and
track id, frame by frame (a branch that only restructures the glue must publish main's people).

    PYTHONPATH=<main>/hdnet_ros:benchmarks python3 benchmarks/compare_pipelines.py --models-dir ../shared/models \
        --data-dir ../shared/data --save main.pkl
    PYTHONPATH=hdnet_ros:benchmarks python3 benchmarks/compare_pipelines.py ... --save branch.pkl
    python3 benchmarks/compare_pipelines.py --compare main.pkl branch.pkl

``--save`` runs the default pipeline (BlazePose's runtime fixed, so that the start-up probe
cannot choose another one in one of the two processes) on the crowds of ``bench_pipeline.py``
(1, 7 and 20 people), every run of its sample-frame sequence (with and without depth, the 3D
stage scheduled, every frame and off) and the CMU Panoptic images without depth, and writes
what each run published per frame (boxes, track ids, keypoints, positions, depth sources).
``--compare`` prints, per run, the frames and people compared and the largest difference of
each field (0: the same to the bit), and exits 1 where a frame's people or track ids differ or
a keypoint or position differs by more than ``--tolerance``. The pickles are this script's own
output: load only files you made.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from pathlib import Path

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
from frame_timing import PersonSnapshot, Run, run_in_turn
from hdnet_ros.pipeline import Pipeline
from model_clock import ModelClock, instrument
from panoptic_sequence import panoptic_scenes

from hdnet_ros.config import load_settings

FIXED = fixed_runtimes()  # no start-up probe: the same runtimes in both processes
Published = dict[str, list[list[PersonSnapshot]]]  # run -> frames -> people


def published(models_dir: str, data_dir: Path, crowd_frames: int, steps: int) -> Published:
    """What every run published, frame by frame (module doc)."""
    common = {"models.models_dir": models_dir, **FIXED}
    settings = load_settings(overrides=common)
    base = Pipeline.from_settings(settings).stages
    assert base.blazepose is not None
    clock = ModelClock()
    instrument(base, clock)
    frames = list(sample_frames(data_dir).values())
    crops = person_crops(frames, accepted_boxes(base.blazepose, frames, sample_people(fresh(settings, base), frames)))
    crowds = {count: make_crowd(count, crops) for count in CROWD_SIZES}
    runs = [
        Run(
            f"{count}-person crowd",
            crowd_pipeline(settings, base, crowd, clock),
            still_scene(crowd.frame),
            keep_people=True,
        )
        for count, crowd in crowds.items()
    ]
    run_in_turn(runs, crowd_frames, 0, clock)
    sequence, length = sequence_runs(common, base, frames, steps)
    run_in_turn(sequence, length, 0, clock)
    panoptic, panoptic_length = panoptic_runs(common, base, panoptic_scenes(data_dir), max(1, steps // 2))
    run_in_turn(panoptic, panoptic_length, 0, clock)
    return {run.name: run.people for run in [*runs, *sequence, *panoptic]}


def largest(first: np.ndarray, second: np.ndarray) -> float:
    """The largest absolute difference of two arrays (inf where only one is NaN)."""
    if first.shape != second.shape:
        return float("inf")
    if not np.array_equal(np.isnan(first), np.isnan(second)):
        return float("inf")
    known = ~np.isnan(first)
    return float(np.max(np.abs(first[known] - second[known]), initial=0.0))


def compare(first: Published, second: Published, tolerance: float) -> bool:
    """Prints each run's largest differences; whether every run agrees (module doc)."""
    agree = first.keys() == second.keys()
    if not agree:
        print(f"runs differ: {sorted(first)} against {sorted(second)}")
    print("run | frames | people | boxes | track ids | keypoints px | positions m | depth sources")
    for name in [name for name in first if name in second]:
        frames, people, worst = 0, 0, {"box": 0.0, "pixels": 0.0, "positions": 0.0}
        ids = sources = 0
        for ours, theirs in zip(first[name], second[name], strict=False):
            frames += 1
            if len(ours) != len(theirs):
                ids += 1
                continue
            for a, b in zip(ours, theirs, strict=True):
                people += 1
                ids += a.track_id != b.track_id
                sources += not np.array_equal(a.sources, b.sources)
                worst["box"] = max(worst["box"], largest(np.asarray(a.box), np.asarray(b.box)))
                worst["pixels"] = max(worst["pixels"], largest(a.pixels, b.pixels))
                worst["positions"] = max(worst["positions"], largest(a.positions, b.positions))
        frames_differ = len(first[name]) != len(second[name])
        print(
            f"{name} | {frames}{' (counts differ)' if frames_differ else ''} | {people} | {worst['box']:.3g} | "
            f"{ids} differ | {worst['pixels']:.3g} | {worst['positions']:.3g} | {sources} differ"
        )
        agree &= not frames_differ and ids == 0 and sources == 0 and max(worst.values()) <= tolerance
    return agree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", default="../shared/models")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--crowd-frames", type=int, default=12)
    parser.add_argument("--steps", type=int, default=6, help="steps of the sample frames' sequence per frame")
    parser.add_argument("--save", type=Path)
    parser.add_argument("--compare", type=Path, nargs=2)
    parser.add_argument("--tolerance", type=float, default=0.0, help="largest difference allowed (0: to the bit)")
    args = parser.parse_args()
    if args.compare:
        loaded = [pickle.loads(path.read_bytes()) for path in args.compare]
        raise SystemExit(0 if compare(loaded[0], loaded[1], args.tolerance) else 1)
    if args.save is None:
        parser.error("--save or --compare")
    runs = published(args.models_dir, args.data_dir, args.crowd_frames, args.steps)
    args.save.write_bytes(pickle.dumps(runs))
    package = sys.modules["hdnet_ros"].__file__
    print(f"{sum(len(f) for f in runs.values())} frames of {len(runs)} runs from {package} -> {args.save}")
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
