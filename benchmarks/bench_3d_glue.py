"""The 3D stage's glue on bench_pipeline's crowd: the BlazePose stage's time less its
network's (the schedule's plan, the crops, the decoding, the carried estimates, the arrays)
per frame at 1, 7 and 20 people, window medians, the runs taking turns frame by frame.

Run it once per tree, alternately, to compare two trees under the same load:

    for i in 1 2 3; do
        PYTHONPATH=/path/main/hdnet_ros python3 benchmarks/bench_3d_glue.py
        PYTHONPATH=$PWD/hdnet_ros python3 benchmarks/bench_3d_glue.py
    done
"""

from __future__ import annotations

import argparse
import gc
import os
from pathlib import Path

import numpy as np
from bench_pipeline import accepted_boxes, crowd_pipeline, fresh, sample_people
from crowd import make_crowd, person_crops
from frame_sources import sample_frames, still_scene
from frame_timing import Run, run_in_turn
from hdnet_ros.pipeline import Pipeline
from model_clock import BLAZEPOSE, ModelClock, instrument

from hdnet_ros.config import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("../shared/models"))
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--sizes", default="1,7,20", help="crowd sizes, comma-separated")
    parser.add_argument("--frames", type=int, default=40, help="timed frames per crowd")
    args = parser.parse_args()
    settings = load_settings(overrides={"models.models_dir": str(args.models_dir)})
    base = Pipeline.from_settings(settings).stages
    assert base.blazepose is not None
    clock = ModelClock()
    instrument(base, clock)
    frames = list(sample_frames(args.data_dir).values())
    crops = person_crops(frames, accepted_boxes(base.blazepose, frames, sample_people(fresh(settings, base), frames)))
    runs = {}
    for count in (int(size) for size in args.sizes.split(",")):
        crowd = make_crowd(count, crops)
        runs[count] = Run(f"{count}", crowd_pipeline(settings, base, crowd, clock), still_scene(crowd.frame))
    gc.freeze()  # as the node does once the pipeline is built
    load = os.getloadavg()[0]
    run_in_turn(list(runs.values()), args.frames, 5, clock)
    print(f"load {load:.1f} -> {os.getloadavg()[0]:.1f}")
    for count, run in runs.items():
        glue = [t.stages_ms["pose_3d"] - t.models_ms.get(BLAZEPOSE, 0.0) for t in run.timings]
        crops_per_frame = np.mean([t.blazepose_crops for t in run.timings])
        print(f"{count:3d} people: 3D stage less BlazePose {np.median(glue):.3f} ms, {crops_per_frame:.2f} crops")


if __name__ == "__main__":
    main()
