"""The monocular placement's cost per frame, and the fits it made (issue 19).

    python3 benchmarks/bench_placement.py --models-dir ../shared/models --data-dir ../shared/data
        [--frames N] [--save cases.pkl] [--profile N]

Runs the placement where ``bench_pipeline.py`` runs it: the synthetic crowds of 1, 7 and 20
people (``crowd.py``, BlazePose's answers from the crowd's truth), the sample frames without
depth and the CMU Panoptic images without depth (the camera's floor pose known, then the
floor from the people), each with the default pipeline. Prints the placement stage's median
time per frame per crowd size (the crowds take turns frame by frame) and how many fits a
person took.

``--save`` writes every fit of the run (``place_people``, person by person) (its cues, camera, floor and
keypoint sigma, and its result) to a pickle, so that another version of the fit can be
compared with this one on exactly these inputs (``--compare`` loads such a file and checks
this version's results against the saved ones: every Placement field within 1e-9, relative
above 1, every failure's reason the same; a fit that ran off beyond 1e6 m only by its kind,
as ``test_placement_kernel.py`` says why). The pickle is this benchmark's own output: load
only files you made.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pickle
import pstats
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from bench_pipeline import accepted_boxes, crowd_pipeline, fresh, sample_people
from crowd import make_crowd, person_crops
from frame_sources import sample_frames, shifted_sequence, still_scene
from frame_timing import Run, run_in_turn
from hdnet_ros.camera import CameraModel
from hdnet_ros.pipeline import Pipeline, freeze_loaded_objects
from hdnet_ros.stages import placement as placement_module
from hdnet_ros.stages.placement import fit
from hdnet_ros.stages.placement.fit import Cues, Placement, PlacementFailure, PlacementResult
from hdnet_ros.stages.placement.floor import Floor
from machine import cpu_name
from model_clock import ModelClock, instrument
from panoptic_sequence import panoptic_scenes

from hdnet_ros.config import load_settings

CROWD_SIZES = (1, 7, 20)
FIELDS = ("position", "covariance", "scale", "scale_sigma", "unit_depth", "unit_depth_sigma", "points", "rms_px")


@contextmanager
def recorded(cases: list[tuple[str, tuple[Any, ...], Any]], source: list[str]) -> Iterator[None]:
    """Every fit of the placement stage (``place_people``, person by person) appended to
    ``cases`` as (source, ``place_person``'s arguments, result) while in the block
    (``source[0]`` names the run)."""
    original = placement_module.place_people

    def place_people(
        cues: Sequence[Cues | None], camera: CameraModel, floor: Floor | None, keypoint_sigma_px: float
    ) -> list[PlacementResult | None]:
        results = original(cues, camera, floor, keypoint_sigma_px)
        for one, result in zip(cues, results, strict=True):
            if one is not None:
                cases.append((source[0], (one, camera, floor, keypoint_sigma_px), result))
        return results

    placement_module.place_people = place_people
    try:
        yield
    finally:
        placement_module.place_people = original


RUN_OFF_M = 1e6  # beyond, a fit's last steps solve systems of condition 1e16-1e25: rounding decides


def run_off(result: Any) -> bool:
    """A failure of a fit that ran off beyond RUN_OFF_M (its digits are rounding noise)."""
    match = re.search(r"diverged \(([-0-9.e+]+) m away\)", getattr(result, "reason", ""))
    return match is not None and abs(float(match.group(1))) > RUN_OFF_M


def differences(saved: Any, result: Any) -> tuple[list[str], float]:
    """What differs between two results of place_person (empty: equal within 1e-9,
    relative where values exceed 1; fits that ran off compare by kind only) and the
    largest relative difference of their fields."""
    if isinstance(saved, PlacementFailure) or isinstance(result, PlacementFailure):
        if run_off(saved) or run_off(result):
            kinds = [run_off(r) or "behind the camera" in getattr(r, "reason", "") for r in (saved, result)]
            return ([] if all(kinds) else [f"{saved} != {result}"]), 0.0
        return ([] if saved == result else [f"{saved} != {result}"]), 0.0
    found = [] if saved.standing == result.standing else ["standing"]
    largest = 0.0
    for name in FIELDS:
        a, b = np.asarray(getattr(saved, name), dtype=np.float64), np.asarray(getattr(result, name), dtype=np.float64)
        largest = max(largest, float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1.0))))
        if not np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True):
            found.append(f"{name}: {np.max(np.abs(a - b)):.3g}")
    return found, largest


def compare(path: Path, place: Callable[..., Any]) -> int:
    """This version's results against the saved ones; the number of cases that differ."""
    with path.open("rb") as stream:
        cases = pickle.load(stream)
    differing = 0
    by_source: Counter[str] = Counter()
    largest: dict[str, float] = {}
    for source, args, saved in cases:
        by_source[source] += 1
        result = place(*args)
        found, difference = differences(saved, result)
        largest[source] = max(largest.get(source, 0.0), difference)
        if run_off(saved) or run_off(result):
            print(f"{source}: ran off: {saved.reason} / {result.reason}")
        if found:
            differing += 1
            print(f"{source}: {', '.join(found)}")
    kinds = Counter(type(saved).__name__ for _, _, saved in cases)
    standing = sum(isinstance(s, Placement) and s.standing for _, _, s in cases)
    print(f"{len(cases)} fits compared ({dict(by_source)}; {dict(kinds)}, {standing} standing): {differing} differ")
    print(
        "largest relative difference of a placement's fields: " + ", ".join(f"{k} {v:.2g}" for k, v in largest.items())
    )
    return differing


def timed_runs(settings: Any, base: Any, clock: ModelClock, data_dir: Path) -> dict[int, Run]:
    frames = list(sample_frames(data_dir).values())
    people = sample_people(fresh(settings, base), frames)
    crops = person_crops(frames, accepted_boxes(base.blazepose, frames, people))
    crowds = {count: make_crowd(count, crops) for count in CROWD_SIZES}
    return {
        count: Run(f"{count}-person crowd", crowd_pipeline(settings, base, crowd, clock), still_scene(crowd.frame))
        for count, crowd in crowds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=30, help="recorded frames per crowd size")
    parser.add_argument("--save", type=Path, help="write every fit's inputs and result here")
    parser.add_argument("--compare", type=Path, help="check this version's fits against a saved file, then stop")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile N frames of the 20-person crowd")
    args = parser.parse_args()
    if args.compare:
        raise SystemExit(1 if compare(args.compare, fit.place_person) else 0)
    load_start = os.getloadavg()[0]
    settings = load_settings(overrides={"models.models_dir": args.models_dir})
    base = Pipeline.from_settings(settings).stages
    clock = ModelClock()
    instrument(base, clock)
    runs = timed_runs(settings, base, clock, args.data_dir)
    freeze_loaded_objects()
    cases: list[tuple[str, tuple[Any, ...], Any]] = []
    source = ["crowd"]
    with recorded(cases, source):
        run_in_turn(list(runs.values()), args.frames, 3, clock)
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.profile):
                runs[max(CROWD_SIZES)].step(clock, record=False)
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats("placement", 25)
        if args.save:
            source[0] = "sample frames without depth"
            no_depth = load_settings(overrides={"models.models_dir": args.models_dir})
            frames = list(sample_frames(args.data_dir).values())
            feed, new_scene, length = shifted_sequence(frames, 5, with_depth=False)
            run_in_turn([Run("no depth", fresh(no_depth, base), feed, new_scene)], length, 0, clock)
            source[0] = "panoptic"
            scenes = panoptic_scenes(args.data_dir)
            feed, new_scene, length = shifted_sequence([scene[0] for scene in scenes], 3, with_depth=False)
            run_in_turn([Run("panoptic", fresh(no_depth, base), feed, new_scene)], length, 0, clock)
    print(f"{cpu_name()}, {os.cpu_count()} cores, load {load_start:.2f} -> {os.getloadavg()[0]:.2f}")
    print("people | placement ms (median) | p95 | fits per frame")
    for count, run in runs.items():
        values = np.array([t.stages_ms["placement"] for t in run.timings])
        print(f"{count:6d} | {np.median(values):8.3f} | {np.percentile(values, 95):8.3f}")
    kinds = Counter(type(result).__name__ for _, _, result in cases)
    print(f"fits recorded: {len(cases)} ({dict(kinds)})")
    if args.save:
        with args.save.open("wb") as stream:
            pickle.dump(cases, stream)
        print(f"saved to {args.save} at {time.strftime('%H:%M:%S')}")


if __name__ == "__main__":
    main()
