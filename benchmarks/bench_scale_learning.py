"""Each person's own size with depth as the teacher (issue 17.4): what happens to a tracked
person's root when the depth sensor stops measuring them.

    python3 benchmarks/bench_scale_learning.py [--models-dir ../shared/models] [--data-dir ../shared/data]
        [--sample-frames 30] [--json scale_learning.json]

1. Synthetic (``hdnet_ros.synthetic.walk_away``): one person walks from 2 m to 8 m, the
   sensor's range ends at 4.5 m; the monocular cue is an oracle network skeleton 8 % smaller
   than the person (module doc). The product's depth stage, placement fit and tracker run
   on it, with ``placement.learn_scale`` on and off, and the floor as a robot has it: from
   TF (the camera's mounting), from the depth stage's plane of the rendered floor, or none
   (the worst case); each the mean of ``--seeds`` runs.
2. The sample RGB-D frames (``rgbd_hsr``, the real pipeline with BlazePose): each frame
   made into a pseudo-sequence (``frame_sources.shifted_sequence``: the images shifted by
   1-2 px per frame, 30 Hz), its depth removed from the middle frame on. The teacher is the
   same sequence with depth throughout: the standing person's sensor root frame by frame
   (there is no truth to measure the sensor's own error against, so no ratio here).

Printed: the root error while the sensor measures and beyond (or without) it, their ratio,
and the jump where the sensor's root ends (the root's step there minus the teacher's or
the true step); for the sample frames also how far the standing person's depth moves over
the frames without depth, against the sensor's (a floor made from people pulling them);
then the issue's targets (no jump above 0.3 m, the error beyond the range within 1.5x of
the error inside it) with values and verdicts.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from frame_sources import sample_frames, shifted_sequence
from frame_timing import PERIOD_NS, START_NS
from hdnet_ros.joints import ROOT
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.synthetic.walk_away import FLOORS, WalkAwayConfig, walk_away
from machine import cpu_name

from hdnet_ros.config import load_settings

JUMP_MAX_M = 0.3
BEYOND_RATIO_MAX = 1.5
FLOOR_NAMES = {"none": "no floor", "depth": "depth floor", "tf": "TF floor"}


def synthetic_rows(seeds: int) -> dict[str, dict[str, Any]]:
    """Per floor source and learning on/off: the errors' means over ``seeds`` runs (the
    keypoint noise's draw moves one run's error beyond the range by a factor of 2-3), the
    largest jump."""
    rows = {}
    for floor in FLOORS:
        for learn in (False, True):
            results = [walk_away(WalkAwayConfig(), learn_scale=learn, seed=seed, floor=floor) for seed in range(seeds)]
            inside = float(np.mean([r.inside_m for r in results]))
            beyond = float(np.mean([r.beyond_m for r in results]))
            rows[f"{FLOOR_NAMES[floor]}, {'learned scale' if learn else 'no learning'}"] = {
                "floor": floor,
                "learn": learn,
                "inside_m": inside,
                "beyond_m": beyond,
                "ratio": beyond / inside,
                "beyond_per_seed_m": [r.beyond_m for r in results],
                "jump_m": float(np.nanmax([r.jump_m for r in results])),
                "frames_measured": int(results[0].measured.sum()),
                "frames": len(results[0].depths),
            }
    return rows


def _standing_roots(pipeline: Pipeline, source: Any, length: int) -> list[np.ndarray]:
    """The standing person's (largest box) root in every frame of a sequence."""
    pipeline.reset_tracking()
    roots = []
    for index in range(length):
        people = pipeline.process(source(index, START_NS + index * PERIOD_NS)).people
        people = [p for p in people if p.valid[ROOT]]
        person = max(people, key=lambda p: p.detection.box[3] - p.detection.box[1]) if people else None
        roots.append(person.positions[ROOT].copy() if person is not None else np.full(3, np.nan))
    return roots


def sample_rows(models_dir: str, data_dir: Path, length: int) -> dict[str, dict[str, Any]]:
    frames = list(sample_frames(data_dir).values())
    rows = {}
    for learn in (False, True):
        settings = load_settings(None, {"models.models_dir": models_dir, "placement.learn_scale": learn})
        pipeline = Pipeline.from_settings(settings)
        beyond, jumps, drifts = [], [], []
        for frame in frames:
            with_depth, _, _ = shifted_sequence([frame], length, with_depth=True)
            teacher = _standing_roots(pipeline, with_depth, length)
            cut = length // 2

            def stretch(index: int, stamp: int, source: Any = with_depth, cut: int = cut) -> Any:
                shown = source(index, stamp)
                return shown if index < cut else dataclasses.replace(shown, depth_m=None)

            roots = _standing_roots(pipeline, stretch, length)
            errors = [float(np.linalg.norm(r - t)) for r, t in zip(roots, teacher, strict=True)]
            beyond.extend(errors[cut:])
            step = np.linalg.norm((roots[cut] - roots[cut - 1]) - (teacher[cut] - teacher[cut - 1]))
            jumps.append(float(step))
            drifts.append(float((roots[-1][2] - roots[cut][2]) - (teacher[-1][2] - teacher[cut][2])))
        rows["learned scale" if learn else "no learning"] = {
            "without_depth_m": float(np.nanmean(beyond)),
            "jump_m": float(np.nanmax(jumps)),
            "drift_m": [round(d, 4) for d in drifts],
            "frames": len(frames) * length,
        }
    return rows


def print_rows(title: str, rows: dict[str, dict[str, Any]]) -> None:
    header = "| variant | root error, sensor's range | beyond it (per seed) | ratio | largest jump when depth ends |"
    print(f"\n{title}\n{header}")
    print("|---|---:|---:|---:|---:|")
    for name, row in rows.items():
        seeds = ", ".join(f"{value * 1000:.0f}" for value in row["beyond_per_seed_m"])
        print(
            f"| {name} | {row['inside_m'] * 1000:.0f} mm | {row['beyond_m'] * 1000:.0f} mm ({seeds}) | "
            f"{row['ratio']:.1f} | {row['jump_m'] * 1000:.0f} mm |"
        )


def print_sample_rows(rows: dict[str, dict[str, Any]]) -> None:
    print(
        "\nSample RGB-D frames, depth removed for the second half of each sequence (against the sensor's root "
        "of the same frames with depth; drift: the standing person's depth from the first frame without depth "
        "to the last, less the sensor's, per sample frame):\n"
        "| variant | root error without depth | jump when depth ends | depth drift without depth |\n"
        "|---|---:|---:|---:|"
    )
    for name, row in rows.items():
        drifts = ", ".join(f"{d * 1000:+.0f}" for d in row["drift_m"])
        print(f"| {name} | {row['without_depth_m'] * 1000:.0f} mm | {row['jump_m'] * 1000:.0f} mm | {drifts} mm |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", default=os.environ.get("HDNET_ROS_MODELS_DIR", "../shared/models"))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_DATA_DIR", "../shared/data")))
    parser.add_argument("--sample-frames", type=int, default=30, help="length of each sample frame's sequence")
    parser.add_argument("--seeds", type=int, default=3, help="synthetic runs (keypoint noise draws) per variant")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    synthetic = synthetic_rows(args.seeds)
    samples = sample_rows(args.models_dir, args.data_dir, args.sample_frames)
    print(f"Scale learning; {cpu_name()}")
    print_rows(
        f"Synthetic walk from 2 m to 8 m, sensor range 4.5 m (oracle network 8 % small; mean of {args.seeds} seeds):",
        synthetic,
    )
    print_sample_rows(samples)
    print(
        "\n| target | bound | measured (learned scale) | verdict |\n|---|---|---|---|\n"
        "(the floor from TF or depth is how a robot runs; no floor is the reported worst case)"
    )
    checks = []
    for floor in FLOORS:
        learned = synthetic[f"{FLOOR_NAMES[floor]}, learned scale"]
        name = f"synthetic, {FLOOR_NAMES[floor]}"
        checks.append(
            (f"{name}: jump when depth ends", f"<= {JUMP_MAX_M} m", learned["jump_m"], learned["jump_m"] <= JUMP_MAX_M)
        )
        checks.append(
            (
                f"{name}: error beyond / inside",
                f"<= {BEYOND_RATIO_MAX}",
                learned["ratio"],
                learned["ratio"] <= BEYOND_RATIO_MAX,
            )
        )
    jump = samples["learned scale"]["jump_m"]
    checks.append(("sample frames: jump when depth ends", f"<= {JUMP_MAX_M} m", jump, jump <= JUMP_MAX_M))
    for name, bound, value, met in checks:
        print(f"| {name} | {bound} | {value:.2f} | {'met' if met else 'missed'} |")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": datetime.date.today().isoformat(),
                    "cpu": cpu_name(),
                    "synthetic": synthetic,
                    "samples": samples,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
