"""``hdnet-ros``: the command line of the ROS-agnostic core.

The package's hard requirements are empty (ROS installs numpy, OpenCV and friends from apt,
which pip cannot see), so a plain ``pip install hdnet_ros`` lacks the runtime. A command
that meets a missing module says in one line which extra installs it and exits with 2,
never a traceback; so does one that meets a module built for another numpy (numpy_abi).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from hdnet_ros import __version__
from hdnet_ros.numpy_abi import numpy_mismatch_message

# Sub-command name -> module in hdnet_ros.commands. Modules are imported only when their
# command runs, so ``hdnet-ros replay`` never imports torch or TensorRT.
COMMANDS: dict[str, str] = {
    "replay": "replay",
    "assets": "assets",
    "export": "export",
    "build-engine": "build_engine",
    "evaluate": "evaluate",
    "runtimes": "runtimes",
}

# The extra (setup.py's extras_require) each command needs, and the extra and pip package
# of each third-party module the package imports.
COMMAND_EXTRA: dict[str, str] = {
    "replay": "cpu",
    "assets": "cpu",
    "export": "nets",
    "build-engine": "nets",
    "evaluate": "cpu",
    "runtimes": "cpu",
}
EXTRA_OF_MODULE: dict[str, tuple[str, str]] = {
    "numpy": ("cpu", "numpy"),
    "numba": ("cpu", "numba"),
    "cv2": ("cpu", "opencv-python-headless"),
    "onnxruntime": ("cpu", "onnxruntime"),
    "ai_edge_litert": ("cpu", "ai-edge-litert"),
    "rosbags": ("cpu", "rosbags"),
    "scipy": ("cpu", "scipy"),
    "tqdm": ("cpu", "tqdm"),
    "yaml": ("cpu", "PyYAML"),
    "torch": ("nets", "torch"),
    "onnx": ("cpu", "onnx"),
    "onnxscript": ("nets", "onnxscript"),
}
EXTRA_MEANING = {"cpu": "the CPU runtime", "nets": "the network tools (PyTorch, ONNX)"}
EXIT_MISSING_DEPENDENCY = 2

HELP: dict[str, str] = {
    "replay": "run the pipeline over rosbags (ROS 1 .bag, rosbag2 mcap/sqlite3)",
    "assets": "download the default models and sample data (sha256 checked); convert the OpenVINO IR models to ONNX",
    "export": "export a network to ONNX",
    "build-engine": "build and cache a TensorRT engine from an ONNX file",
    "evaluate": "measure accuracy on the synthetic RGB-D benchmark",
    "runtimes": "list the runtime choices kept across starts (--forget: probe again at the next start)",
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


def missing_module(error: BaseException) -> ModuleNotFoundError | None:
    """The ModuleNotFoundError of a known third-party module behind ``error`` (raised as
    it is, or wrapped by a loader that named the file it could not open), else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ModuleNotFoundError) and top_module(current) in EXTRA_OF_MODULE:
            return current
        current = current.__cause__ or current.__context__
    return None


def top_module(error: ModuleNotFoundError) -> str:
    """The top-level package a ModuleNotFoundError names ("" when it names none)."""
    return (error.name or "").split(".")[0]


def missing_dependency_message(command: str, error: ModuleNotFoundError) -> str | None:
    """One line naming what is missing and the extra that installs it; None for a module of
    hdnet_ros itself (a broken checkout, not a missing extra)."""
    module = top_module(error)
    if not module or module == "hdnet_ros":
        return None
    extra, package = EXTRA_OF_MODULE.get(module, (COMMAND_EXTRA.get(command, "cpu"), module))
    program = f"hdnet-ros {command}" if command else "hdnet-ros"
    return (
        f"{program}: {package} is not installed (No module named {module!r}); "
        f'install {EXTRA_MEANING[extra]} with: pip install "hdnet_ros[{extra}]"'
    )


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if a in COMMANDS), "")
    try:
        args = build_parser(args_list).parse_args(args_list)
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.INFO,
            format="%(levelname)s %(name)s: %(message)s",
        )
        result: int = _command_module(args.command).run(args)
    except (ImportError, AttributeError) as error:
        # A package that is not installed, or one built for another numpy (numpy_abi).
        message = numpy_mismatch_message(error, f"hdnet-ros {chosen}" if chosen else "hdnet-ros")
        if message is None and isinstance(error, ModuleNotFoundError):
            message = missing_dependency_message(chosen, error)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return EXIT_MISSING_DEPENDENCY
    return result


if __name__ == "__main__":
    sys.exit(main())
