"""Tracking from a camera that moves (``tracking.fixed_frame``): the synthetic walking
sequences (rendered depth, the sensor model, the depth stage, the tracker) seen by a camera
that pans about the vertical back and forth, as a robot's head scans or a robot turns, with
the tracker following the camera's pose in the world (as TF gives it ``odom``) and without.

    python3 benchmarks/bench_ego_motion.py [--sequences 4] [--frames 300] [--size 320x240] [--seed 0]

Prints per pan amplitude (0 = a still camera): CLEAR MOT (MOTA, identity switches, false
positives and misses at 0.5 m, MOTP), the velocity error against the walkers' own velocity
in the world (in the camera's axes, as published) and the share of matched person-frames
published with a velocity. The camera pans with a period of 6 s; at 60 degrees each way it
turns at up to 1.1 rad/s, and people leave the view and come back.
"""

from __future__ import annotations

import argparse
import time

from hdnet_ros.synthetic.benchmark import TrackingRun, run_tracking
from machine import cpu_name

PANS_DEG = (0.0, 30.0, 60.0)


def row(pan: float, follow: bool, run: TrackingRun, seconds: float) -> str:
    mot = run.mot
    return (
        f"{pan:5.0f} | {'yes' if follow else 'no':6} | {100 * mot.mota:6.1f} | {mot.id_switches:5d} | "
        f"{mot.false_positives:4d} / {mot.misses:4d} | {1000 * mot.motp:4.0f} | {run.velocity_error_mps:9.3f} | "
        f"{100 * run.velocity_known:7.1f} | {seconds:5.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="320x240", help="image size WxH")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print(
        f"{args.sequences} sequences x {args.frames} frames at 15 Hz, 4 walkers, {width}x{height}, seed {args.seed}; "
        f"{cpu_name()}"
    )
    print("pan (deg each way) | followed | MOTA % | IDsw | FP / FN | MOTP mm | vel. error m/s | known % | s")
    for pan in PANS_DEG:
        for follow in (True, False) if pan else (True,):
            start = time.perf_counter()
            run = run_tracking(
                args.sequences, args.frames, args.seed, width, height, pan_amplitude_deg=pan, follow_camera=follow
            )
            print(row(pan, follow, run, time.perf_counter() - start), flush=True)


if __name__ == "__main__":
    main()
