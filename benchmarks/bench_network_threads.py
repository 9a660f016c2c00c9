"""How the networks' threads wait and how big their batches are, measured in the pipeline (issue 19).

    python3 benchmarks/bench_network_threads.py --models-dir ../shared/models --data-dir ../shared/data \
        [--variants off,in_call,...] [--frames 30] [--people 1,7,20] [--json F]

Each variant is the default CPU pipeline with its own onnxruntime sessions for the detector
and the 2D network (and, where it names one, BlazePose on onnxruntime), opened with the
variant's ``inference.onnxruntime_spinning`` mode per network and the 2D network's batch
limit; BlazePose on LiteRT is shared (one interpreter, used in turn). Every variant runs the
synthetic crowd at each size of ``--people`` (``bench_pipeline.py``'s crowd: the real
networks' work, the oracle's answers) and the sample frames' pseudo-sequence, all
pipelines taking turns frame by frame (``frame_timing.run_in_turn``), so they share the
machine's load. Prints per variant and input the whole frame and each network's time
(window medians over ``blazepose.every_frames`` frames) and each variant's frame time over
the first variant's, per input (median over windows of the per-window ratio, the windows
being the same turn of the same frames).

Sessions spin (or not) on the cores of every process: a variant whose threads spin after
their call also slows the variant that runs next. Compare the variants in one run, and
re-run a variant alone (``--variants``) to check a large difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from bench_pipeline import accepted_boxes, crowd_pipeline, fresh, sample_people
from crowd import make_crowd, person_crops
from frame_sources import sample_frames, shifted_sequence, still_scene
from frame_timing import Run, run_in_turn, stage_figures, window_ratio
from hdnet_ros.inference.backend import Backend
from hdnet_ros.inference.blazepose_runtime import blazepose_onnx
from hdnet_ros.inference.onnxruntime_backend import OnnxRuntimeBackend
from hdnet_ros.model_files import resolve_model_file
from hdnet_ros.pipeline import Pipeline, Stages, freeze_loaded_objects
from hdnet_ros.stages.blazepose import BlazePoseStage
from hdnet_ros.stages.detection import PersonDetector
from hdnet_ros.stages.topdown_heatmap import HeatmapKeypoints
from machine import cpu_name
from model_clock import ModelClock, instrument

from hdnet_ros.config import load_settings


@dataclasses.dataclass(frozen=True)
class Variant:
    """Spinning mode per onnxruntime network, the 2D network's batch limit (8: main before
    ``inference.heatmap_max_batch``), BlazePose's runtime, the onnxruntime networks' threads."""

    detector: str = "off"
    keypoints: str = "off"
    keypoints_batch: int = 8
    blazepose: str = "litert"  # "litert" (shared), or an onnxruntime spinning mode for onnx_float
    threads: int = 0  # the onnxruntime networks' threads (0: models.threads)


VARIANTS = {
    "off": Variant(),
    "in_call": Variant("in_call", "in_call"),
    "on": Variant("on", "on"),
    "kp_in_call": Variant("off", "in_call"),
    "kp_on": Variant("off", "on"),
    "off_b20": Variant(keypoints_batch=20),
    "off_b32": Variant(keypoints_batch=32),
    "in_call_b32": Variant("in_call", "in_call", 32),
    "in_call_b20": Variant("in_call", "in_call", 20),
    "in_call_b4": Variant("in_call", "in_call", 4),
    "off_b4": Variant(keypoints_batch=4),
    "in_call_bp_onnx": Variant("in_call", "in_call", blazepose="in_call"),
    "off_bp_onnx": Variant(blazepose="off"),
    "off_t1": Variant(threads=1),
}


def reopened(backend: Backend, threads: int, spinning: str) -> Backend:
    """A new onnxruntime session on the file ``backend`` runs, with ``spinning``."""
    assert isinstance(backend, OnnxRuntimeBackend), f"not an onnxruntime network: {backend!r}"
    return OnnxRuntimeBackend(backend.model_path, threads=threads, spinning=spinning)


def variant_stages(base: Stages, variant: Variant, threads: int, blazepose_onnx: Path | None) -> Stages:
    keypoints = base.keypoints
    assert isinstance(keypoints, HeatmapKeypoints) and base.blazepose is not None
    threads = variant.threads or threads
    detector = PersonDetector(reopened(base.detector.backend, threads, variant.detector), base.detector.config)
    estimator = HeatmapKeypoints(
        reopened(keypoints.backend, threads, variant.keypoints), keypoints.config, variant.keypoints_batch
    )
    body = base.blazepose
    if variant.blazepose != "litert":
        assert blazepose_onnx is not None
        network = OnnxRuntimeBackend(blazepose_onnx, threads=threads, spinning=variant.blazepose)
        body = BlazePoseStage(network, body.config, body.max_batch, "onnx_float")
    return dataclasses.replace(base, detector=detector, keypoints=estimator, blazepose=body)


def build_runs(args: argparse.Namespace, names: list[str], clock: ModelClock) -> tuple[dict[tuple[str, str], Run], int]:
    """Every variant's pipelines on every input, by (variant, input); the window length."""
    settings = load_settings(overrides={"models.models_dir": args.models_dir, "blazepose.runtime": "litert_fp32"})
    base = Pipeline.from_settings(settings).stages
    assert base.blazepose is not None
    onnx_path = None
    if any(VARIANTS[n].blazepose != "litert" for n in names):
        onnx_path = blazepose_onnx(resolve_model_file(settings.blazepose.model, args.models_dir), settings.inference)
    frames = list(sample_frames(args.data_dir).values())
    people = sample_people(fresh(settings, base), frames)
    crops = person_crops(frames, accepted_boxes(base.blazepose, frames, people))
    crowds = {count: make_crowd(count, crops) for count in map(int, args.people.split(","))}
    runs: dict[tuple[str, str], Run] = {}
    for name in names:
        stages = variant_stages(base, VARIANTS[name], settings.models.threads, onnx_path)
        instrument(stages, clock)
        for count, crowd in crowds.items():
            pipeline = crowd_pipeline(settings, stages, crowd, clock)
            runs[(name, f"crowd {count}")] = Run(f"{name} {count}", pipeline, still_scene(crowd.frame))
        if not args.no_sequence:
            source, new_scene, _ = shifted_sequence(frames, max(1, args.frames // len(frames)))
            runs[(name, "sample frames")] = Run(f"{name} sample", fresh(settings, stages), source, new_scene)
    return runs, settings.blazepose.every_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--variants", default="off,in_call,on,kp_in_call", help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--warm-up", type=int, default=4)
    parser.add_argument("--people", default="1,7,20")
    parser.add_argument("--no-sequence", action="store_true", help="the crowd only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started, load_start = time.perf_counter(), os.getloadavg()[0]
    names = args.variants.split(",")
    clock = ModelClock()
    runs, window = build_runs(args, names, clock)
    freeze_loaded_objects()
    run_in_turn(list(runs.values()), args.frames, args.warm_up, clock)
    inputs = list(dict.fromkeys(item for _, item in runs))
    figures: dict[str, Any] = {"cpu": cpu_name(), "load_start": load_start, "variants": {}, "ratios": {}}
    print(f"CPU {cpu_name()}, {os.cpu_count()} cores; load at start {load_start:.2f}")
    print("variant | input | frame ms | detector | 2D network | BlazePose | 2D stage | frame / first variant's")
    for name in names:
        for item in inputs:
            run, first = runs[(name, item)], runs[(names[0], item)]
            table = stage_figures(run.timings, window)
            ratio = window_ratio([t.total_ms for t in run.timings], [t.total_ms for t in first.timings], window)
            figures["variants"].setdefault(name, {})[item] = table
            figures["ratios"].setdefault(name, {})[item] = ratio
            print(
                f"{name} | {item} | {table['total_ms']:.1f} | {table['model_detector_ms']:.1f} | "
                f"{table['model_keypoints_2d_ms']:.1f} | {table['model_blazepose_ms']:.1f} | "
                f"{table['keypoints_2d_ms']:.1f} | {ratio:.3f}"
            )
    figures["load_end"] = os.getloadavg()[0]
    figures["seconds"] = time.perf_counter() - started
    print(f"load at end {figures['load_end']:.2f}; {figures['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
