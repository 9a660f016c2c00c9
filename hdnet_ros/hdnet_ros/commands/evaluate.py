"""``hdnet-ros evaluate --synthetic``: the depth stage and the tracker on the synthetic
RGB-D benchmark, whose ground truth is exact.

Prints one table per setting (range bins; noise levels; occlusion on/off; people beyond
the sensor's range) and the walking-sequence tracking scores, says which targets are met
and why the others are not, and writes evaluation.json and evaluation.md.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from hdnet_ros.logs import get_logger

HELP = "measure accuracy on the synthetic RGB-D benchmark"
LOG = get_logger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hdnet_ros.synthetic.report import BenchmarkPlan

    full = BenchmarkPlan()
    parser.add_argument("--synthetic", action="store_true", help="run the synthetic benchmark (the only one so far)")
    parser.add_argument(
        "--quick", action="store_true", help="the reduced benchmark of the test suite (320x240, few frames)"
    )
    parser.add_argument("--frames", type=int, metavar="N", help=f"frames per setting (default {full.frames})")
    parser.add_argument(
        "--sequences",
        type=int,
        metavar="N",
        help=f"walking sequences for tracking, 0 = none (default {full.sequences})",
    )
    parser.add_argument(
        "--sequence-frames", type=int, metavar="N", help=f"frames per sequence (default {full.sequence_frames})"
    )
    parser.add_argument("--size", metavar="WxH", help=f"image size (default {full.width}x{full.height})")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same numbers (default 0)")
    parser.add_argument(
        "--settings",
        metavar="NAMES",
        help=f"comma-separated settings to run (default all: {','.join(full.settings)})",
    )
    parser.add_argument(
        "--refiner",
        metavar="MODEL.pt",
        help="also run the default setting through this learned refiner (train_refinet_b.py)",
    )
    parser.add_argument("--out", metavar="DIR", default="evaluation", help="where to write evaluation.json/.md")


def _plan(args: argparse.Namespace) -> object:
    from hdnet_ros.synthetic.report import BenchmarkPlan

    plan = BenchmarkPlan.quick(args.seed) if args.quick else BenchmarkPlan(seed=args.seed)
    if args.frames is not None:
        plan = replace(plan, frames=args.frames)
    if args.sequences is not None:
        plan = replace(plan, sequences=args.sequences)
    if args.sequence_frames is not None:
        plan = replace(plan, sequence_frames=args.sequence_frames)
    if args.size:
        width, height = (int(v) for v in args.size.lower().split("x"))
        plan = replace(plan, width=width, height=height)
    if args.settings:
        plan = replace(plan, settings=tuple(s.strip() for s in args.settings.split(",") if s.strip()))
    return plan


def run(args: argparse.Namespace) -> int:
    from hdnet_ros.synthetic.benchmark import default_settings
    from hdnet_ros.synthetic.report import BenchmarkPlan, run_benchmark

    if not args.synthetic:
        LOG.error("only the synthetic benchmark exists so far: pass --synthetic")
        return 2
    try:
        plan = _plan(args)
    except ValueError:
        LOG.error("--size must look like 640x480, got %r", args.size)
        return 2
    assert isinstance(plan, BenchmarkPlan)
    known = {s.name for s in default_settings(1)}
    unknown = sorted(set(plan.settings) - known)
    if unknown:
        LOG.error("unknown setting(s) %s; known: %s", ", ".join(unknown), ", ".join(sorted(known)))
        return 2
    if min(plan.frames, plan.width, plan.height) < 1 or plan.sequences < 0:
        LOG.error("frames, size and sequences must be positive")
        return 2
    refiner = None
    if args.refiner:
        from hdnet_ros.cli import missing_module
        from hdnet_ros.stages.depth.refiner import SkeletonRefiner

        try:
            refiner = SkeletonRefiner(args.refiner).refine
        except (OSError, ImportError, RuntimeError, ValueError) as exc:
            missing = missing_module(exc)
            if missing is not None:  # torch is not installed: cli.main names the extra
                raise missing from None
            LOG.error("cannot load the refiner %s: %s", args.refiner, exc)
            return 1
    report = run_benchmark(plan, refiner=refiner, tracking=plan.sequences > 0, progress=LOG.info)
    json_path, md_path = report.write(Path(args.out))
    sys.stdout.write(report.markdown())
    print(f"\nwrote {json_path} and {md_path}")
    return 0
