"""The 3D stage on real frames seen by a camera that turns: BlazePose's carried poses and
crops with the camera's pose in ``tracking.fixed_frame`` and without.

    python3 benchmarks/bench_turning_3d.py --models-dir ../shared/models --data-dir ../shared/data \
        [--amplitude-deg 15] [--period-s 3] [--frames 45]

Each sample RGB-D frame becomes a sequence (30 Hz) of the same camera panning about its
vertical back and forth (a sine of ``--amplitude-deg`` each way and ``--period-s``): the
image and the depth warped exactly as the turned camera sees them
(``hdnet_ros.synthetic.turned_view``), with its pose in a fixed frame as TF gives ``odom``.
The same frames run through the default pipeline given that pose and not given it (the
tracker then takes the camera as still). Prints per run: BlazePose's crops a frame, the
schedule's refits (a carried pose whose fit to the frame's keypoints lands away from the
network's root: run again), the poses carried, and the carried poses' turn error: each
carried pose against its run's pose turned by the camera's true turn since (mean joint
distance, and the share over 2 cm). The people stand still in these sequences: every
change of their body in the camera's axes is the camera's.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from frame_sources import sample_frames
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.synthetic.turned_view import turned_frame, yaw_turn
from machine import cpu_name, instruction_set

from hdnet_ros.config import load_settings

FRAME_NS = 33_333_333
RATE_HZ = 30.0


def pan_angle(step: int, amplitude_deg: float, period_s: float) -> float:
    return math.radians(amplitude_deg) * math.sin(2.0 * math.pi * step / RATE_HZ / period_s)


def run(pipeline: Pipeline, frames: list, steps: int, amplitude_deg: float, period_s: float, given: bool) -> dict:
    """The turning sequences through ``pipeline`` (``given``: with the camera's pose); the
    schedule's counts and the carried poses' turn errors [m]."""
    errors: list[float] = []
    for scene, first in enumerate(frames):
        pipeline.reset_tracking()
        runs: dict[int, tuple[int, np.ndarray]] = {}  # track -> (step, pose) of its last accepted run
        for step in range(steps):
            angle = pan_angle(step, amplitude_deg, period_s)
            frame = turned_frame(first, yaw_turn(angle))
            frame.stamp_ns = (scene * steps + step + 1) * FRAME_NS
            if not given:
                frame.fixed_pose = None
            for person in pipeline.process(frame).people:
                if person.network_pose is None:
                    continue
                if person.network_pose_age == 0:
                    runs[person.track_id] = (step, person.network_pose)
                elif person.track_id in runs and runs[person.track_id][0] == step - person.network_pose_age:
                    then, pose = runs[person.track_id]
                    turn = yaw_turn(angle).T @ yaw_turn(pan_angle(then, amplitude_deg, period_s))
                    gaps = np.linalg.norm(person.network_pose - pose @ turn.T, axis=1)
                    errors.append(float(np.nanmean(gaps)))
    counts = pipeline.schedule.counts
    total = len(frames) * steps
    return {
        "crops": pipeline.stages.blazepose.counts["crops"] / total if pipeline.stages.blazepose else 0.0,
        "refit": counts["refit"],
        "carried": counts["carried"],
        "errors": np.array(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--amplitude-deg", type=float, default=15.0)
    parser.add_argument("--period-s", type=float, default=3.0)
    parser.add_argument("--frames", type=int, default=45, help="frames per sample frame's sequence")
    args = parser.parse_args()
    frames = list(sample_frames(args.data_dir).values())
    top = math.radians(args.amplitude_deg) * 2.0 * math.pi / args.period_s
    print(
        f"{len(frames)} sample frames x {args.frames} frames at 30 Hz, panning {args.amplitude_deg:g} deg each way "
        f"every {args.period_s:g} s (up to {top:.2f} rad/s); {cpu_name()} ({instruction_set()})"
    )
    print("camera pose | BlazePose crops a frame | refits | carried | carried turn error mean / p90 mm | > 2 cm | s")
    for given in (True, False):
        pipeline = Pipeline.from_settings(load_settings(overrides={"models.models_dir": str(args.models_dir)}))
        start = time.perf_counter()
        figures = run(pipeline, frames, args.frames, args.amplitude_deg, args.period_s, given)
        errors = figures["errors"]
        print(
            f"{'given' if given else 'not given':11} | {figures['crops']:23.2f} | {figures['refit']:6d} | "
            f"{figures['carried']:7d} | {1000 * errors.mean():14.1f} / {1000 * np.percentile(errors, 90):5.1f} | "
            f"{100 * np.mean(errors > 0.02):5.1f} % | {time.perf_counter() - start:3.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
