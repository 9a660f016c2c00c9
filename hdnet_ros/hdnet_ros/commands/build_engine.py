"""``hdnet-ros build-engine``: build and cache a TensorRT engine ahead of time.

The first start of a node on a new robot would otherwise spend minutes building the
engine; this builds it once (on the target GPU: engines are GPU-specific) into the same
cache the TensorRT backend reads, with the same key (see docs/inference.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from hdnet_ros.logs import get_logger

HELP = "build and cache a TensorRT engine from an ONNX file"
LOG = get_logger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onnx", type=Path, required=True, metavar="FILE", help="ONNX model (dynamic batch axis)")
    parser.add_argument(
        "--engine",
        type=Path,
        metavar="FILE",
        help="engine file to write (a FILE.json next to it records its key); "
        "default ~/.cache/hdnet_ros/engines/<onnx stem>-<sha>.<precision>.b<min>-<opt>-<max>.engine",
    )
    parser.add_argument(
        "--precision", choices=("fp32", "fp16", "int8"), default="fp32", help="default fp32, as the backend's default"
    )
    parser.add_argument(
        "--calibration-cache",
        type=Path,
        metavar="FILE",
        help="int8: TensorRT calibration cache, read if it exists, written after calibrating otherwise",
    )
    parser.add_argument(
        "--calibration-data",
        type=Path,
        metavar="FILE",
        help="int8: samples to calibrate on: .npy [M,...] for a one-input model, or .npz keyed by input name",
    )
    parser.add_argument("--min-batch", type=int, default=1, help="smallest batch the engine runs (default 1)")
    parser.add_argument("--opt-batch", type=int, default=4, help="batch TensorRT tunes for (default 4)")
    parser.add_argument("--max-batch", type=int, default=8, help="largest batch in one execution (default 8)")
    parser.add_argument("--device", default="cuda:0", help="CUDA device to build on (default cuda:0)")
    parser.add_argument("--workspace-mib", type=int, default=1024, help="TensorRT workspace limit (default 1024 MiB)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cached engine matches")


def _calibration_data(path: Path | None, onnx_path: Path) -> dict[str, Any] | None:
    if path is None:
        return None
    loaded = np.load(path)
    if isinstance(loaded, np.ndarray):
        import onnx

        names = [i.name for i in onnx.load(str(onnx_path), load_external_data=False).graph.input]
        if len(names) != 1:
            raise ValueError(f"{onnx_path} has inputs {names}: give --calibration-data as .npz keyed by input name")
        return {names[0]: loaded}
    return {name: loaded[name] for name in loaded.files}


def quantized(onnx_path: Path) -> bool:
    """Whether the ONNX file has Q/DQ nodes (explicit quantisation); False without onnx."""
    try:
        import onnx
    except ImportError:
        return False
    try:
        graph = onnx.load(str(onnx_path), load_external_data=False).graph
    except Exception:  # not a readable ONNX file: TensorRT's parser names the problem at build
        return False
    return any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in graph.node)


def run(args: argparse.Namespace) -> int:
    from hdnet_ros.inference.backend import BackendUnavailable, BatchProfile
    from hdnet_ros.inference.engine_cache import EngineCacheError

    try:
        profile = BatchProfile(args.min_batch, args.opt_batch, args.max_batch)
    except ValueError as error:
        LOG.error("%s", error)
        return 2
    if not args.onnx.is_file():
        LOG.error("ONNX file %s does not exist", args.onnx)
        return 1
    from hdnet_ros.inference.tensorrt_backend import implicit_int8_available, prepare_engine

    try:
        # TensorRT 10 calibrates a float32 file; a quantized file (Q/DQ) carries its scales, and
        # TensorRT 11 takes only those (it says so at build when the file has none).
        calibrates = args.precision == "int8" and not quantized(args.onnx) and implicit_int8_available()
        if calibrates and args.calibration_cache is None:
            LOG.error("--precision int8 needs --calibration-cache FILE (and --calibration-data unless FILE exists)")
            return 2
        calibration = _calibration_data(args.calibration_data, args.onnx)
        _, engine_path, decision = prepare_engine(
            args.onnx,
            args.engine,
            precision=args.precision,
            device=args.device,
            force_engine_update=args.force,
            batch_profile=profile,
            calibration_cache_path=args.calibration_cache,
            calibration_data=calibration,
            workspace_bytes=args.workspace_mib << 20,
        )
    except BackendUnavailable as error:
        LOG.error("cannot build a TensorRT engine here: %s", error)
        return 1
    except (EngineCacheError, ValueError, OSError) as error:
        LOG.error("%s", error)
        return 1
    if decision.reuse:
        print(f"engine {engine_path} is up to date (cache hit); --force rebuilds it")
    else:
        print(f"built {engine_path} ({decision.reason})")
    return 0
