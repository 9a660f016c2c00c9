"""``hdnet-ros export``: write a network as ONNX and check it against PyTorch."""

from __future__ import annotations

import argparse

from hdnet_ros.logs import get_logger

HELP = "export a network to ONNX"
LOG = get_logger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # torch is imported only when this command is chosen (cli.py imports lazily).
    from hdnet_ros.nets.export import TOLERANCE, registered

    parser.add_argument("model", choices=registered(), metavar="MODEL", help=f"one of: {', '.join(registered())}")
    parser.add_argument("--output", "-o", required=True, metavar="FILE.onnx", help="ONNX file to write")
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="published weights to load first (snapshot_N.pth.tar, ckpt.pth.tar, ...); "
        "without it the network keeps random weights (for tests and timing)",
    )
    batch = parser.add_mutually_exclusive_group()
    batch.add_argument("--batch", type=int, metavar="N", help="fixed batch size N (no dynamic axis)")
    batch.add_argument(
        "--dynamic-batch", action="store_true", help="dynamic batch axis, traced at batch 1 (the default)"
    )
    parser.add_argument(
        "--tolerance", type=float, default=TOLERANCE, help=f"largest relative error accepted (default {TOLERANCE:g})"
    )


def run(args: argparse.Namespace) -> int:
    from hdnet_ros.nets.checkpoints import CheckpointError
    from hdnet_ros.nets.export import ExportError, export_registered

    if args.batch is not None and args.batch < 1:
        LOG.error("--batch must be at least 1, got %d", args.batch)
        return 2
    dynamic = args.batch is None
    try:
        result = export_registered(
            args.model,
            args.output,
            checkpoint=args.checkpoint,
            batch=1 if dynamic else args.batch,
            dynamic_batch=dynamic,
            tolerance=args.tolerance,
        )
    except (CheckpointError, ExportError) as exc:
        LOG.error("%s", exc)
        return 1
    axis = "dynamic" if dynamic else f"fixed at {args.batch}"
    print(f"wrote {result.path} (opset 17, batch axis {axis})")
    print(f"onnx.checker: {result.checker}")
    for name, error in result.relative_errors.items():
        print(f"  {name}: max relative error {error:.3g}")
    print(f"max relative error vs PyTorch (batch {result.verify_batch}): {result.max_relative_error:.3g}")
    return 0
