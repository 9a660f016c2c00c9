"""What person masks are worth to the depth stage: the synthetic benchmark without masks,
with the renderer's exact person labels and with degraded ones; and on the real sample
frames, BlazePose's masks against none (which joints move, and where their depth comes from).

    python3 benchmarks/bench_masks.py --models-dir ../shared/models --data-dir ../shared/data [--frames 150]

The capsule renders cannot be segmented by BlazePose (it was trained on photographs), so
the synthetic rows use the labels (``hdnet_ros.synthetic.masks``); the real frames have no
3D ground truth, so their rows say what changes, not what is right.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
from frame_sources import sample_frames
from hdnet_ros.people import Person
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.synthetic.benchmark import default_settings, run_setting, summarize
from machine import cpu_name

from hdnet_ros.config import load_settings

METRICS = ("mrpe_mm", "pck_abs_pct", "pck_rel_pct", "ap_root_25_pct", "mpjpe_abs_mm", "bone_error_mm")
MASKS: dict[str, int | None] = {"none": None, "exact labels": 0, "labels +-3 px": 3}


def synthetic_table(frames: int, seed: int) -> list[dict[str, Any]]:
    rows = []
    for setting in (s for s in default_settings(frames) if s.name in ("default", "occlusion_off")):
        for name, noise in MASKS.items():
            summary = summarize(run_setting(setting, seed, mask_noise_px=noise).records)
            rows.append({"setting": setting.name, "masks": name, **{k: round(summary[k], 1) for k in METRICS}})
    return rows


def sample_changes(pipeline: Pipeline, data_dir: Path) -> list[dict[str, Any]]:
    """Per person of the sample frames: the joints that move by more than 5 cm, or change
    their depth source, when BlazePose's mask is given to the depth stage."""
    changes = []
    for index, frame in enumerate(sample_frames(data_dir).values()):
        people, bodies = pipeline.keypoints_of(frame, pipeline.detector(frame.rgb))
        pipeline.reset_tracking()
        networks = pipeline.networks_of(frame, people, bodies)
        runs = []
        for estimates in (networks, dataclasses.replace(networks, masks=None)):
            copies = [Person(p.detection, p.pixels.copy(), p.scores.copy()) for p in people]
            pipeline.lifter(copies, frame.depth_m, frame.camera, estimates)
            runs.append(copies)
        for person, (masked, plain) in enumerate(zip(*runs, strict=True)):
            moved = np.linalg.norm(masked.positions - plain.positions, axis=1)
            joints = np.flatnonzero((masked.valid & plain.valid & (moved > 0.05)) | (masked.valid != plain.valid))
            sources = np.flatnonzero(masked.depth_sources != plain.depth_sources)
            changes.append(
                {
                    "frame": index,
                    "person": person,
                    "box_height_px": round(float(masked.detection.box[3] - masked.detection.box[1])),
                    "joints_moved_5cm": int(joints.size),
                    "sources_changed": int(sources.size),
                }
            )
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=150, help="synthetic frames per setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    synthetic = synthetic_table(args.frames, args.seed)
    print(f"CPU: {cpu_name()}; synthetic benchmark, {args.frames} frames per setting, seed {args.seed}")
    print("| setting | masks | " + " | ".join(METRICS) + " |")
    print("|---|---|" + "---|" * len(METRICS))
    for row in synthetic:
        print(f"| {row['setting']} | {row['masks']} | " + " | ".join(f"{row[k]:.1f}" for k in METRICS) + " |")
    pipeline = Pipeline.from_settings(load_settings(overrides={"models.models_dir": args.models_dir}))
    changes = sample_changes(pipeline, args.data_dir)
    people = len(changes)
    moved = sum(c["joints_moved_5cm"] for c in changes)
    changed = sum(c["sources_changed"] for c in changes)
    print(f"\nsample frames: {people} people; with BlazePose's masks {moved} joints move by > 5 cm,", end=" ")
    print(f"{changed} change source")
    for change in changes:
        if change["joints_moved_5cm"] or change["sources_changed"]:
            print(f"  {change}")
    if args.json:
        args.json.write_text(
            json.dumps({"cpu": cpu_name(), "synthetic": synthetic, "sample": changes}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
