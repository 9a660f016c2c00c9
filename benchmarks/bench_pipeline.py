"""Time each pipeline stage on the sample RGB-D frames (median and p95 of many runs).

    python3 benchmarks/bench_pipeline.py --models-dir ../shared/models --data-dir ../shared/data

All runs happen in one process after a warm-up, so the figures compare stages with each
other on the same machine; report them with the CPU they came from.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from hdnet_ros.frame_input import build_frame
from hdnet_ros.outputs.markers import marker_array_msg
from hdnet_ros.outputs.skeletons import skeleton_array_msg
from hdnet_ros.outputs.tf_frames import body_transforms
from hdnet_ros.people import Frame, Person
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.replay.bag_input import BagInput
from machine import cpu_name
from measure import time_ms

from hdnet_ros.config import load_settings


def load_frames(data_dir: Path) -> list[Frame]:
    frames = []
    for bag in sorted((data_dir / "rgbd_hsr").glob("*.bag")):
        with BagInput(bag, {}) as reader:
            messages = {item.role: item.message for item in reader.messages()}
        frames.append(build_frame(messages["rgb"], messages["depth"], messages["camera_info"]))
    return frames


def lift_all(pipeline: Pipeline, people: list[Person], frame: Frame) -> None:
    for person in people:
        pipeline.lifter.lift(person, frame.depth_m, frame.camera)


def build_outputs(people: list[Person], frame: Frame) -> None:
    skeleton_array_msg(people, frame.stamp_ns, frame.frame_id)
    marker_array_msg(people, frame.stamp_ns, frame.frame_id, 0.2)
    body_transforms(people, frame.stamp_ns, frame.frame_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    pipeline = Pipeline.from_settings(load_settings(overrides={"models.models_dir": args.models_dir}))
    stages: dict[str, list[float]] = {}
    people_counts: list[int] = []
    for frame in load_frames(args.data_dir):
        detections = pipeline.detector(frame.rgb)
        keypoints = pipeline.keypoints(frame.rgb, detections)
        people = [Person(d, k.pixels, k.scores) for d, k in zip(detections, keypoints, strict=True)]
        people_counts.append(len(people))
        timed: dict[str, Callable[[], Any]] = {
            "detection (YOLOX-Nano, onnxruntime)": partial(pipeline.detector, frame.rgb),
            "2D keypoints (MoveNet, LiteRT, all people)": partial(pipeline.keypoints, frame.rgb, detections),
            "depth lifting (all people)": partial(lift_all, pipeline, people, frame),
            "output messages (skeletons, markers, TF)": partial(build_outputs, people, frame),
            "whole pipeline": partial(pipeline.process, frame),
        }
        for name, function in timed.items():
            stages.setdefault(name, []).extend(time_ms(function, args.runs))

    report = {
        "cpu": cpu_name(),
        "frames": len(people_counts),
        "runs_per_frame": args.runs,
        "people_per_frame": people_counts,
        "stages_ms": {
            name: {"median": round(float(np.median(v)), 2), "p95": round(float(np.percentile(v, 95)), 2)}
            for name, v in stages.items()
        },
    }
    print(f"CPU: {report['cpu']}; {len(people_counts)} frames x {args.runs} runs; people per frame {people_counts}")
    print(f"{'stage':48s} {'median ms':>10s} {'p95 ms':>10s}")
    for name, figures in report["stages_ms"].items():
        print(f"{name:48s} {figures['median']:10.2f} {figures['p95']:10.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
