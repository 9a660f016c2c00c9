"""The 3D stage's cost under several settings, the pipelines taking turns frame by frame.

    python3 benchmarks/bench_3d_stage_ab.py --models-dir ../shared/models --data-dir ../shared/data \
        --variant "new masks: blazepose.mask_max_age_frames=0" --variant "kept masks: blazepose.mask_max_age_frames=15"

The sample frames' pseudo-sequence (with depth, ``frame_sources.shifted_sequence``), or with
``--crowd N`` the N-person crowd of ``bench_pipeline.py`` (still capsule people wearing real
person crops, the oracle's 2D, BlazePose's answers from the truth at its real cost), runs
through a pipeline without the 3D stage and one per ``--variant`` (a label, then settings
``NAME=VALUE`` separated by commas, YAML values) in one process, each frame through each
pipeline in turn, so that the machine's load and speed, which wander by 1.3-1.4x between
runs on a shared 2-core machine, hit them alike. The runtimes are fixed (``--set``
overrides them for every pipeline) so that the start-up probes cannot choose differently.
Prints each pipeline's frame time, its ratio to the 3D-off pipeline's (medians and means over
the frames, and the median of the per-frame ratios), its BlazePose crops a frame and the
crops that made no mask.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from bench_pipeline import accepted_boxes, crowd_pipeline, fresh, sample_people
from crowd import make_crowd, person_crops
from frame_sources import sample_frames, shifted_sequence, still_scene
from frame_timing import FrameSource
from hdnet_ros.pipeline import Pipeline, resolve_networks
from hdnet_ros.stages.blazepose import BlazePoseStage
from model_clock import ModelClock

from hdnet_ros.config import Settings, load_settings

RUNTIMES = {"detector.runtime": "openvino", "keypoints.runtime": "openvino", "blazepose.runtime": "openvino"}
OFF = "3D stage off"
OFF_SETTINGS = {"networks.pose_3d": "", "networks.root_depth": ""}
STEPS = 30  # the pseudo-sequence's frames per sample frame
FRAME_NS = 33_333_333


def parsed_settings(items: str) -> dict[str, Any]:
    """``NAME=VALUE[,NAME=VALUE...]`` as settings (YAML values)."""
    pairs = [item.split("=", 1) for item in items.split(",") if item.strip()]
    return {name.strip(): yaml.safe_load(value) for name, value in pairs}


def parsed_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``LABEL: NAME=VALUE,...`` as (label, settings)."""
    label, _, items = text.partition(":")
    return label.strip(), parsed_settings(items)


def crowd_runs(settings: dict[str, Settings], data_dir: Path, count: int) -> tuple[dict[str, Pipeline], FrameSource]:
    """Each variant's pipeline on the ``count``-person crowd (the networks loaded once, each
    variant's BlazePose settings on them), and the crowd's frames."""
    frames = list(sample_frames(data_dir).values())
    on = next(own for own in settings.values() if resolve_networks(own) != ("", ""))
    base = Pipeline.from_settings(on).stages
    assert base.blazepose is not None
    boxes = accepted_boxes(base.blazepose, frames, sample_people(fresh(on, base), frames))
    crowd = make_crowd(count, person_crops(frames, boxes))
    pipelines = {}
    for name, own in settings.items():
        body = BlazePoseStage(base.blazepose.backend, own.blazepose, base.blazepose.max_batch, base.blazepose.runtime)
        pipeline = crowd_pipeline(own, dataclasses.replace(base, blazepose=body), crowd, ModelClock())
        if resolve_networks(own) == ("", ""):
            pipeline = fresh(own, pipeline.stages, blazepose=None, blazepose_root=False)
        pipelines[name] = pipeline
    return pipelines, still_scene(crowd.frame)


def run_in_turn(
    pipelines: dict[str, Pipeline], source: FrameSource, length: int, rounds: int
) -> dict[str, list[float]]:
    """Each of ``length`` frames of ``source`` through every pipeline in turn, ``rounds`` timed
    rounds after an untimed one (each round starts its tracks afresh); the frame times [ms]
    per pipeline."""
    times: dict[str, list[float]] = {name: [] for name in pipelines}
    for round_index in range(rounds + 1):
        for pipeline in pipelines.values():
            pipeline.reset_tracking()
        for index in range(length):
            frame = source(index, (round_index * length + index) * FRAME_NS)
            for name, pipeline in pipelines.items():
                start = time.perf_counter()
                pipeline.process(frame)
                if round_index > 0:
                    times[name].append(1000.0 * (time.perf_counter() - start))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds over the sequence, after one untimed")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL: NAME=VALUE,...")
    parser.add_argument("--set", default="", metavar="NAME=VALUE,...", help="settings of every pipeline")
    parser.add_argument("--crowd", type=int, default=0, metavar="N", help="the N-person crowd instead (N in 1-20)")
    parser.add_argument("--crowd-frames", type=int, default=60, help="frames of the crowd per round")
    args = parser.parse_args()
    common = {"models.models_dir": str(args.models_dir)} | RUNTIMES | parsed_settings(args.set)
    variants = dict([(OFF, OFF_SETTINGS), *map(parsed_variant, args.variant)])
    settings = {name: load_settings(overrides=common | own) for name, own in variants.items()}
    if args.crowd:
        pipelines, source = crowd_runs(settings, args.data_dir, args.crowd)
        length = args.crowd_frames
    else:
        pipelines = {name: Pipeline.from_settings(own) for name, own in settings.items()}
        source, _, length = shifted_sequence(list(sample_frames(args.data_dir).values()), STEPS)
    print(f"load average at start {os.getloadavg()[0]:.2f}; runtimes {common}")
    times = run_in_turn(pipelines, source, length, args.rounds)
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    off = np.array(times[OFF])
    for name, values in times.items():
        frame_ms = np.array(values)
        body = pipelines[name].stages.blazepose
        frames = (args.rounds + 1) * length  # the counts include the untimed round
        crops = body.counts["crops"] / frames if body is not None else 0.0
        without = body.counts["without_mask"] / frames if body is not None else 0.0
        print(
            f"{name}: frame median {np.median(frame_ms):.1f} ms, mean {frame_ms.mean():.1f} ms; on / off "
            f"{np.median(frame_ms) / np.median(off):.3f} (medians), {frame_ms.mean() / off.mean():.3f} (means), "
            f"{np.median(frame_ms / off):.3f} (median of the frames' ratios); BlazePose crops a frame {crops:.2f}, "
            f"of which without a new mask {without:.2f}"
        )


if __name__ == "__main__":
    main()
