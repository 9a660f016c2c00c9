"""3D stage on / off with the fixed and the adaptive BlazePose period, taking turns frame by frame.

    python3 benchmarks/bench_adaptive_period_ab.py --models-dir ../shared/models --data-dir ../shared/data [--rounds 2]

Three pipelines run the sample frames' pseudo-sequence (with depth) in one process, each
frame through each in turn, so the load hits them alike: without the 3D stage, with it at
``blazepose.still_period_factor`` 1 (the fixed periods: main's decisions) and at 3. The
runtimes are fixed (onnxruntime, onnxruntime, LiteRT) so that the three start-up probes
cannot choose differently. Prints each one's frame time and its ratio to the 3D-off run's.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np
from bench_3d_stage_ab import STEPS, run_in_turn
from frame_sources import sample_frames, shifted_sequence
from hdnet_ros.pipeline import Pipeline

from hdnet_ros.config import load_settings

RUNTIMES = {"detector.runtime": "onnxruntime", "keypoints.runtime": "onnxruntime", "blazepose.runtime": "litert_fp32"}
VARIANTS: dict[str, dict[str, Any]] = {
    "3D stage off": {"networks.pose_3d": "", "networks.root_depth": ""},
    "fixed period (factor 1)": {"blazepose.still_period_factor": 1},
    "adaptive period (factor 3)": {"blazepose.still_period_factor": 3},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds over the sequence, after one untimed")
    args = parser.parse_args()
    common = {"models.models_dir": str(args.models_dir)} | RUNTIMES
    pipelines = {name: Pipeline.from_settings(load_settings(overrides=common | own)) for name, own in VARIANTS.items()}
    source, _, length = shifted_sequence(list(sample_frames(args.data_dir).values()), STEPS)
    print(f"load average at start {os.getloadavg()[0]:.2f}")
    times = run_in_turn(pipelines, source, length, args.rounds)  # each round starts its tracks afresh
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    off = np.array(times["3D stage off"])
    for name, values in times.items():
        frame_ms = np.array(values)
        body = pipelines[name].stages.blazepose
        crops = body.counts["crops"] / ((args.rounds + 1) * length) if body is not None else 0.0
        print(
            f"{name}: frame median {np.median(frame_ms):.1f} ms, mean {frame_ms.mean():.1f} ms; "
            f"on / off {np.median(frame_ms) / np.median(off):.3f} (medians), {frame_ms.mean() / off.mean():.3f} "
            f"(means); {crops:.2f} BlazePose crops a frame"
        )


if __name__ == "__main__":
    main()
