"""``hdnet-ros``: the command line of the ROS-agnostic core."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from hdnet_ros import __version__

# Sub-command name -> module in hdnet_ros.commands. Modules are imported only when their
# command runs, so ``hdnet-ros replay`` never imports torch or TensorRT.
COMMANDS: dict[str, str] = {
    "replay": "replay",
    "assets": "assets",
    "export": "export",
    "build-engine": "build_engine",
    "evaluate": "evaluate",
}

HELP: dict[str, str] = {
    "replay": "run the pipeline over rosbags (ROS 1 .bag, rosbag2 mcap/sqlite3)",
    "assets": "download the default models and sample data, verifying their sha256",
    "export": "export a network to ONNX",
    "build-engine": "build and cache a TensorRT engine from an ONNX file",
    "evaluate": "measure accuracy on the synthetic RGB-D benchmark",
}


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"hdnet_ros.commands.{COMMANDS[name]}")


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hdnet-ros", description=__doc__)
    parser.add_argument("--version", action="version", version=f"hdnet-ros {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Only the chosen command's module is imported (its arguments are needed to parse).
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name in COMMANDS:
        command_parser = sub.add_parser(name, help=HELP[name], description=HELP[name])
        if name == chosen:
            _command_module(name).add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(args_list).parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    result: int = _command_module(args.command).run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
