"""Lifting plus messages against the detector's time, in one run (issue 19, item 3).

    python3 benchmarks/bench_lifting.py --models-dir ../shared/models --data-dir ../shared/data [--runs N] [--json F]

The depth stage (``DepthLifter`` on all people of a frame) and the frame's messages
(Skeleton3DArray, MarkerArray, TF: ``core_outputs`` as the node and the replay build them)
on the synthetic crowd of 1, 3, 7 and 20 people (``crowd.py``: capsule bodies in rows,
Kinect-like depth, the oracle's 2D keypoints; a fresh depth array each call, two copies in
turn, as from a camera; no 3D network estimates), and the person detector (the whole
detection stage: letterbox, YOLOX-Nano on onnxruntime, decoding) on the 20-person crowd's
image. They are timed in turn, in blocks of BLOCK calls (the detector's, then each crowd's
lifting and messages), so they share whatever else the machine does; within a block the
calls follow each other, so onnxruntime's worker threads, which spin for a while after a
run, do not land on the lifting after each detector call. Figures are medians of wall
time. Target: lifting + messages <= 0.2 x the detector's time at 20 people.

:func:`lifting_figures` is what ``bench_pipeline.py`` calls to print the same target.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from crowd import Crowd, make_crowd, person_crops
from frame_sources import sample_frames
from hdnet_ros.inference.runtime import open_backend
from hdnet_ros.model_files import resolve_model_file
from hdnet_ros.node.frame_processor import core_outputs
from hdnet_ros.people import Person
from hdnet_ros.pipeline import FrameResult
from hdnet_ros.stages.depth import DepthLifter
from hdnet_ros.stages.detection import PersonDetector
from machine import cpu_name

from hdnet_ros.config import Settings, load_settings

CROWD_SIZES = (1, 3, 7, 20)
LIFTING_BOUND = 0.2  # lifting + messages / the detector's time, at TARGET_PEOPLE
TARGET_PEOPLE = 20
BLOCK = 10  # calls of one kind in a row


def instruction_set() -> str:
    """The x86-64 vector extensions the networks' kernels care about (from /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())
    if "avx512_vnni" in flags:
        return "AVX-512 VNNI"
    if "avx512f" in flags:
        return "AVX-512 (no VNNI)"
    if "avx_vnni" in flags:
        return "AVX2 with AVX-VNNI"
    if "avx2" in flags:
        return "AVX2 (no VNNI)"
    return "no AVX2" if flags else "not x86-64"


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000.0


def _timed_cpu(call: Callable[[], object]) -> tuple[float, float]:
    """Wall and this thread's CPU time [ms] of ``call`` (the lifting and the messages run
    on the calling thread: its CPU time leaves out what other processes took)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    call()
    return (time.perf_counter() - wall) * 1000.0, (time.thread_time() - cpu) * 1000.0


def lifting_figures(
    settings: Settings, detector: PersonDetector, crowds: dict[int, Crowd], runs: int, warm_up: int = BLOCK
) -> dict[str, Any]:
    """Medians [ms] of the detector, and per crowd of lifting, messages and both, with the
    ratio of both to the detector (module doc); about ``runs`` timed calls of each after
    ``warm_up`` untimed ones."""
    output = settings.output
    image = crowds[max(crowds)].frame.rgb
    cases = {}
    for count, crowd in crowds.items():
        assert crowd.frame.depth_m is not None
        people = [Person(p.detection, p.pixels.copy(), p.scores.copy()) for p in crowd.people]
        depths = itertools.cycle([crowd.frame.depth_m.copy(), crowd.frame.depth_m.copy()])
        lifter = DepthLifter(settings.lifting)  # compiles the depth kernel (or loads it) here, not on a frame
        frame = crowd.frame

        def lift(
            people: list[Person] = people, depths: Any = depths, lifter: DepthLifter = lifter, frame: Any = frame
        ) -> None:
            lifter(people, next(depths), frame.camera, None)

        def messages(people: list[Person] = people, frame: Any = frame) -> None:
            core_outputs(FrameResult(frame, people), output, output.nominal_frame_rate, debug_image=False)

        cases[count] = (lift, messages)
    samples: dict[str, list[float]] = {"detector": []}
    for block in range(-(-(warm_up + runs) // BLOCK)):
        record = block * BLOCK >= warm_up
        detector_block = [_timed(lambda: detector(image)) for _ in range(BLOCK)]
        if record:
            samples["detector"] += detector_block
        for count, (lift, messages) in cases.items():
            for _ in range(BLOCK):
                (lifting_ms, lifting_cpu), (messages_ms, messages_cpu) = _timed_cpu(lift), _timed_cpu(messages)
                if record:
                    samples.setdefault(f"{count}/lifting", []).append(lifting_ms)
                    samples.setdefault(f"{count}/messages", []).append(messages_ms)
                    samples.setdefault(f"{count}/both", []).append(lifting_ms + messages_ms)
                    samples.setdefault(f"{count}/both_cpu", []).append(lifting_cpu + messages_cpu)
    detector_ms = float(np.median(samples["detector"]))
    rows = {}
    for count in crowds:
        both = samples[f"{count}/both"]
        rows[count] = {
            "lifting_ms": float(np.median(samples[f"{count}/lifting"])),
            "messages_ms": float(np.median(samples[f"{count}/messages"])),
            "both_ms": float(np.median(both)),
            "both_p95_ms": float(np.percentile(both, 95)),
            "both_cpu_ms": float(np.median(samples[f"{count}/both_cpu"])),
            "over_detector": float(np.median(both)) / detector_ms,
        }
    ratio = rows[TARGET_PEOPLE]["over_detector"] if TARGET_PEOPLE in rows else float("nan")
    return {
        "detector_ms": detector_ms,
        "detector_p95_ms": float(np.percentile(samples["detector"], 95)),
        "runs": runs,
        "people": rows,
        "target": {
            "name": f"lifting + messages / detection, {TARGET_PEOPLE} people (crowd, oracle 2D)",
            "bound": LIFTING_BOUND,
            "value": ratio,
            "verdict": verdict(ratio, LIFTING_BOUND),
        },
    }


def verdict(value: float, bound: float) -> str:
    if not np.isfinite(value):
        return "not measured"
    if value <= bound:
        return "met"
    return f"missed by {100.0 * (value / bound - 1.0):.0f} %"


def load_detector(settings: Settings) -> PersonDetector:
    models_dir = settings.models.models_dir or None
    path = resolve_model_file(settings.detector.model, models_dir)
    return PersonDetector(open_backend(path, settings.inference, settings.models.threads), settings.detector)


def crowds_of(detector: PersonDetector, data_dir: Path, sizes: tuple[int, ...] = CROWD_SIZES) -> dict[int, Crowd]:
    """The synthetic crowds, their RGB composed from the sample frames' detected people."""
    frames = list(sample_frames(data_dir).values())
    boxes = [[d.box for d in detector(frame.rgb)] for frame in frames]
    crops = person_crops(frames, boxes)
    return {count: make_crowd(count, crops) for count in sizes}


def report(figures: dict[str, Any]) -> None:
    print(
        f"{figures['cpu']}, {figures['cores']} cores, {figures['instruction_set']}; "
        f"load {figures['load_start']:.2f} -> {figures['load_end']:.2f}; {figures['runs']} runs"
    )
    print(f"detection (YOLOX-Nano stage): median {figures['detector_ms']:.2f} ms, p95 {figures['detector_p95_ms']:.2f}")
    print("ms, medians of wall time (CPU: the thread's CPU time, without what other processes took)")
    columns = ("people", "lifting", "messages", "both", "both p95", "both CPU", "/ detection")
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, (6, 9, 9, 8, 9, 9, 12), strict=True)))
    for count, row in figures["people"].items():
        print(
            f"{count:>6} {row['lifting_ms']:>9.2f} {row['messages_ms']:>9.2f} {row['both_ms']:>8.2f} "
            f"{row['both_p95_ms']:>9.2f} {row['both_cpu_ms']:>9.2f} {row['over_detector']:>12.3f}"
        )
    target = figures["target"]
    print(f"target: {target['name']} <= {target['bound']}: {target['value']:.3f}, {target['verdict']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=200, help="timed calls of each (after BLOCK untimed)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    settings = load_settings(overrides={"models.models_dir": args.models_dir})
    detector = load_detector(settings)
    figures = lifting_figures(settings, detector, crowds_of(detector, args.data_dir), args.runs)
    figures |= {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "instruction_set": instruction_set(),
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
    }
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
