"""The glue of the detection, the 2D stage, the 3D stage, the placement and the tracking: two
versions of the package taking turns (issue 19; branches perf18, perf20).

    python3 benchmarks/glue_turns.py --models-dir ../shared/models --data-dir ../shared/data \
        --other /work/main [--rounds 3] [--frames 30]

Each round runs one process on the other checkout's package (``--other``: a checkout's root,
say main's) and one on this one's, in turn, each timing the crowds of ``bench_pipeline.py``
(1, 7 and 20 people, frames in turn after a warm-up): per frame, each stage's time less its
network's (the 2D stage: its time less the 2D network's calls, so the crops, encoding,
decoding, crowd rules and ``Tracker.expected``; the placement and the tracking have no
network; the detection and the 3D stage: their time less the detector's and BlazePose's calls),
and, in a second pass with timers around them, the parts of that glue (a part a
version lacks is left out). Prints the medians over the frames of each round, both versions
side by side, and the load. Two processes cannot share one frame's load, so the rounds
alternate to share the machine's over time; on a loaded machine compare the rounds' pairs,
not single figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SIZES = (1, 7, 20)
STAGE_GLUE = ("detection", "keypoints_2d", "pose_3d", "placement", "tracking")
# (part, module, attribute): timed where the stage calls it; missing in a version: left out.
PARTS = (
    ("detection: input (letterbox)", "hdnet_ros.stages.detection.yolox", "YoloxDecoding.prepare"),
    ("detection: decoding", "hdnet_ros.stages.detection.yolox", "YoloxDecoding.boxes"),
    ("detection: boxes to detections", "hdnet_ros.stages.detection", "to_detections"),
    ("2D crops (warp)", "hdnet_ros.stages.topdown_heatmap", "warp_crops"),
    ("2D input encoding", "hdnet_ros.stages.topdown_heatmap", "encode_planes"),
    ("2D decoding (main: DARK only)", "hdnet_ros.stages.topdown_heatmap", "decode_peaks"),
    ("2D decoding to the image", "hdnet_ros.stages.topdown_heatmap", "decode_image_points"),
    ("2D cells to the image (main)", "hdnet_ros.stages.topdown_heatmap", "cells_to_image"),
    ("crowd rules", "hdnet_ros.stages.crowd", "CrowdStage.__call__"),
    ("Tracker.expected (all calls)", "hdnet_ros.stages.tracking.tracker", "Tracker.expected"),
    ("3D plan", "hdnet_ros.stages.blazepose.schedule", "BlazePoseSchedule.plan"),
    ("3D crops", "hdnet_ros.stages.blazepose", "BlazePoseStage.prepare"),
    ("3D decoding", "hdnet_ros.stages.blazepose", "BlazePoseStage.decode"),
    ("3D root fits (plan and decoding)", "hdnet_ros.stages.blazepose.carried_fit", "fit_roots"),
    ("3D root fits (plan and decoding)", "hdnet_ros.stages.blazepose", "fit_roots"),
    ("3D carried estimates", "hdnet_ros.stages.blazepose.per_track", "carry_estimate"),
    ("3D arrays and masks stacked", "hdnet_ros.stages.blazepose.per_track", "body_estimates"),
    ("placement: depth image's floor (depth stage)", "hdnet_ros.stages.depth", "DepthLifter.floor_plane"),
    ("placement cues (main: per person)", "hdnet_ros.stages.placement", "person_cues"),
    ("placement cues (frame_cues)", "hdnet_ros.stages.placement", "frame_cues"),
    ("placement fits (main: place_person)", "hdnet_ros.stages.placement", "place_person"),
    ("placement fits (place_people)", "hdnet_ros.stages.placement", "place_people"),
    ("scale learning (after the depth stage)", "hdnet_ros.stages.placement", "MonocularPlacement.learn"),
)


@contextmanager
def timed(totals: dict[str, float]) -> Iterator[None]:
    """Every part of PARTS the package has adds its milliseconds to ``totals`` in the block."""
    from glue_parts import timed_attributes

    with timed_attributes(PARTS, totals, missing_ok=True):
        yield


def measure(models_dir: str, data_dir: Path, frames: int) -> dict[str, Any]:
    """This process's package on the crowds: stage glue and parts, medians [ms] per size."""
    from bench_placement import timed_runs
    from fixed_runtimes import fixed_runtimes
    from frame_timing import run_in_turn
    from hdnet_ros.pipeline import Pipeline, freeze_loaded_objects
    from model_clock import ModelClock, instrument

    from hdnet_ros.config import load_settings

    # No start-up probe: the same runtimes in both versions' processes.
    settings = load_settings(overrides={"models.models_dir": models_dir, **fixed_runtimes()})
    base = Pipeline.from_settings(settings).stages
    clock = ModelClock()
    instrument(base, clock)
    runs = timed_runs(settings, base, clock, data_dir)
    freeze_loaded_objects()
    load = os.getloadavg()[0]
    run_in_turn(list(runs.values()), frames, 3, clock)
    result: dict[str, Any] = {"package": sys.modules["hdnet_ros"].__file__, "sizes": {}}
    for count, run in runs.items():
        glue = {stage: float(np.median([stage_glue(t, stage) for t in run.timings])) for stage in STAGE_GLUE}
        result["sizes"][str(count)] = {"glue": glue, "parts": defaultdict(list)}
    totals: dict[str, float] = defaultdict(float)
    with timed(totals):
        for _ in range(frames):
            for count, run in runs.items():
                totals.clear()
                run.step(clock, record=False)
                for part, ms in totals.items():
                    result["sizes"][str(count)]["parts"][part].append(ms)
    for figures in result["sizes"].values():
        figures["parts"] = {part: float(np.median(values)) for part, values in figures["parts"].items()}
    result["load"] = [load, os.getloadavg()[0]]
    return result


def stage_glue(timing: Any, stage: str) -> float:
    """A frame's time in ``stage`` less its network's calls (none for the placement and tracking)."""
    from model_clock import BLAZEPOSE, DETECTOR, KEYPOINTS

    model = {"detection": DETECTOR, "keypoints_2d": KEYPOINTS, "pose_3d": BLAZEPOSE}.get(stage)
    network = timing.models_ms[model] if model is not None else 0.0
    return float(timing.stages_ms.get(stage, 0.0) - network)


def child(checkout: Path, args: argparse.Namespace) -> dict[str, Any]:
    environment = dict(os.environ, PYTHONPATH=f"{checkout / 'hdnet_ros'}:{HERE}")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--models-dir", args.models_dir]
    command += ["--data-dir", str(args.data_dir), "--frames", str(args.frames)]
    output = subprocess.run(command, env=environment, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def report(rounds: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    for index, (other, ours) in enumerate(rounds, start=1):
        print(
            f"\nround {index}: other ({other['package']}) load {other['load'][0]:.1f}-{other['load'][1]:.1f}; "
            f"this ({ours['package']}) load {ours['load'][0]:.1f}-{ours['load'][1]:.1f}"
        )
        print("ms per frame (median) | " + " | ".join(f"{n} people: other / this" for n in SIZES))
        rows = [(f"{stage} glue", "glue", stage) for stage in STAGE_GLUE]
        rows.append(("the five stages' glue", "sum", ""))
        parts = sorted({p for run in (other, ours) for size in run["sizes"].values() for p in size["parts"]})
        rows += [(part, "parts", part) for part in parts]
        for label, kind, key in rows:
            cells = []
            for count in SIZES:
                pair = []
                for run in (other, ours):
                    figures = run["sizes"][str(count)]
                    value = sum(figures["glue"].values()) if kind == "sum" else figures[kind].get(key)
                    pair.append("-" if value is None else f"{value:.3f}")
                cells.append(" / ".join(pair))
            print(f"{label} | " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", default="../shared/models")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--other", type=Path, help="the other checkout's root (main's)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.models_dir, args.data_dir, args.frames)))
        return
    if args.other is None:
        parser.error("--other")
    rounds = []
    for _ in range(args.rounds):
        other = child(args.other, args)
        rounds.append((other, child(HERE.parent, args)))
    report(rounds)


if __name__ == "__main__":
    main()
