"""``hdnet-ros assets``: download the default models (and sample data), verifying sha256."""

from __future__ import annotations

import argparse
from pathlib import Path

from hdnet_ros.assets import convert_ir_models, fetch_all
from hdnet_ros.model_files import models_dir

HELP = "download the default models and sample data (sha256 checked); convert the OpenVINO IR models to ONNX"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-dir", type=Path, help="where models go (default $HDNET_ROS_MODELS_DIR or ~/.cache/hdnet_ros/models)"
    )
    parser.add_argument("--data-dir", type=Path, help="also fetch the sample bags and COCO photos into this directory")
    parser.add_argument(
        "--mirror",
        help="fetch from <MIRROR>/models/... and <MIRROR>/data/... instead of upstream (http(s):// or file://); "
        "a file published inside a wheel comes from that wheel, beside where the file goes "
        "(models/blazepose_ghum_full/mediapipe-*.whl)",
    )
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    models = models_dir(args.models_dir)
    errors = fetch_all(models, args.data_dir, args.mirror, progress=not args.no_progress)
    errors += convert_ir_models(models)
    if errors:
        print(f"{len(errors)} asset(s) failed:")
        for error in errors:
            print(f"  {error}")
        return 1
    print("all assets present and verified; the OpenVINO IR models converted to ONNX beside them")
    return 0
