"""``hdnet-ros replay``: run the pipeline over bags and write the outputs the node would publish."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from hdnet_ros.cli import missing_module
from hdnet_ros.config import SettingsError, load_settings
from hdnet_ros.logs import get_logger
from hdnet_ros.model_files import ModelFileError
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.replay.runner import ReplayJob, ReplayOptions, summary_line

HELP = "run the pipeline over rosbags (ROS 1 .bag, rosbag2 mcap/sqlite3)"
LOG = get_logger("hdnet_ros.replay")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, help="ROS 1 .bag files or rosbag2 directories")
    parser.add_argument("--output", "-o", type=Path, required=True, help="output directory (created)")
    parser.add_argument("--config", type=Path, help="YAML settings (plain or the node's ros__parameters file)")
    parser.add_argument("--models-dir", help="directory of model files (default $HDNET_ROS_MODELS_DIR)")
    parser.add_argument("--rgb-topic", help="RGB image topic (default: found in the bag)")
    parser.add_argument("--depth-topic", help="depth image topic (default: found in the bag)")
    parser.add_argument("--camera-info-topic", help="camera_info topic (default: the one beside the RGB topic)")
    parser.add_argument("--no-depth", action="store_true", help="RGB-only: ignore depth")
    parser.add_argument("--queue-size", type=int, help="synchronizer queue size per topic")
    parser.add_argument("--slop", type=float, help="largest stamp difference in a synchronized triplet [s]")
    parser.add_argument(
        "--include-inputs", action="store_true", help="copy the synchronized inputs into the output bag"
    )
    parser.add_argument("--no-overlays", action="store_true", help="do not write overlay PNGs")
    parser.add_argument(
        "--overlay-every",
        type=_positive_int,
        default=1,
        metavar="N",
        help="write the overlay PNG of every N-th processed frame (default 1: every frame)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--force", action="store_true", help="replace the outputs of an earlier replay in --output")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    pairs = {
        "models.models_dir": args.models_dir,
        "input.queue_size": args.queue_size,
        "input.slop": args.slop,
        "input.use_depth": False if args.no_depth else None,
    }
    return {name: value for name, value in pairs.items() if value is not None}


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, _overrides(args))
        pipeline = Pipeline.from_settings(settings)
    except (SettingsError, ModelFileError) as error:
        missing = missing_module(error)
        if missing is not None:  # a runtime that is not installed, not a bad file: cli names the extra
            raise missing from None
        LOG.error("%s", error)
        return 2
    if (args.output / "bag").exists():
        if not args.force:
            LOG.error("output %s already holds a replay; choose another --output or add --force", args.output)
            return 2
        for previous in ("bag", "overlays"):
            shutil.rmtree(args.output / previous, ignore_errors=True)
    options = ReplayOptions(
        output_dir=args.output,
        topic_overrides={"rgb": args.rgb_topic, "depth": args.depth_topic, "camera_info": args.camera_info_topic},
        include_inputs=args.include_inputs,
        write_overlays=not args.no_overlays,
        overlay_every=args.overlay_every,
        progress=not args.no_progress,
    )
    summary = ReplayJob(pipeline, settings, options).run(list(args.inputs))
    print(summary_line(summary))
    print(f"outputs in {args.output}/ (bag/, summary.json{', overlays/' if options.write_overlays else ''})")
    for report in summary.failed_inputs:
        print(f"input failed: {report.error}")
    return 1 if summary.failed_inputs else 0
