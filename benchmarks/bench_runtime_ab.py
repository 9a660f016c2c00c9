"""The pipeline with each network's CPU runtime forced, variants taking turns frame by frame.

    python3 benchmarks/bench_runtime_ab.py --models-dir ../shared/models --data-dir ../shared/data [--rounds 21]

The start-up probe (``inference/runtime_choice.py``) times each network alone, each
candidate's second call; inside the pipeline a network's call follows other runtimes' work
(cold caches, sleeping threads). This runs the sample frames through three pipelines in
turn, in one process, so the load hits each alike: the runtimes main used (onnxruntime,
onnxruntime, LiteRT), every network on OpenVINO, and BlazePose alone on OpenVINO. It prints
each stage's median [ms] per variant.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from frame_sources import sample_frames
from hdnet_ros.pipeline import Pipeline

from hdnet_ros.config import load_settings

VARIANTS: dict[str, dict[str, str]] = {
    "onnxruntime/LiteRT": {
        "detector.runtime": "onnxruntime",
        "keypoints.runtime": "onnxruntime",
        "blazepose.runtime": "litert_fp32",
    },
    "all OpenVINO": {"detector.runtime": "openvino", "keypoints.runtime": "openvino", "blazepose.runtime": "openvino"},
    "BlazePose on OpenVINO": {
        "detector.runtime": "onnxruntime",
        "keypoints.runtime": "onnxruntime",
        "blazepose.runtime": "openvino",
    },
}
UNTIMED_ROUNDS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=21, help="rounds over the sample frames per variant")
    args = parser.parse_args()
    frames = list(sample_frames(args.data_dir).values())
    pipelines = {
        name: Pipeline.from_settings(load_settings(overrides={"models.models_dir": str(args.models_dir), **runtimes}))
        for name, runtimes in VARIANTS.items()
    }
    times: dict[str, dict[str, list[float]]] = {name: {} for name in pipelines}
    names = list(pipelines)
    load = os.getloadavg()[0]
    for step in range(args.rounds):
        for name in names[step % len(names) :] + names[: step % len(names)]:  # each variant first in turn
            for frame in frames:
                start = time.perf_counter()
                stage_ms = pipelines[name].process(frame).stage_ms
                wall = (time.perf_counter() - start) * 1000.0
                if step >= UNTIMED_ROUNDS:
                    for stage, ms in {**stage_ms, "wall": wall}.items():
                        times[name].setdefault(stage, []).append(ms)
    print(f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; stage medians [ms]")
    print("stage".ljust(16) + "".join(name.rjust(24) for name in names))
    for stage in times[names[0]]:
        print(stage.ljust(16) + "".join(f"{float(np.median(times[name][stage])):24.2f}" for name in names))


if __name__ == "__main__":
    main()
