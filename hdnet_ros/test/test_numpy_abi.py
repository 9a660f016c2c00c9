"""A module built for another numpy (ROS 2 Humble's OpenCV, cv_bridge or numba under a numpy
that pip installed) is named with the fix, in one line, by the command line and the node,
never a traceback or a message that blames ROS. The failures are made as they happen: a
sitecustomize on PYTHONPATH makes importing the named modules raise the error their
compiled parts raise (``AttributeError: _ARRAY_API not found`` from cv_bridge or OpenCV
built for numpy 1.x under numpy 2, vision_opencv#535; numba 0.55's ``ImportError: Numba
needs NumPy 1.21 or less``)."""

from __future__ import annotations

import importlib.metadata
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from hdnet_ros.cli import EXIT_MISSING_DEPENDENCY as CLI_EXIT_MISSING_DEPENDENCY
from hdnet_ros.node.main import EXIT_MISSING_DEPENDENCY
from hdnet_ros.node.startup import PIP_ONLY, startup_failure
from hdnet_ros.numpy_abi import FIX, numpy_mismatch, numpy_mismatch_message
from test_cli_missing_extras import message_lines, run_module

CV_BRIDGE = "_ARRAY_API not found"  # cv_bridge / OpenCV built for numpy 1.x, imported under numpy 2
NUMBA = "Numba needs NumPy 1.21 or less"  # Ubuntu 22.04's numba 0.55 under a newer numpy

BROKEN_MODULES = """
import importlib.abc
import importlib.machinery
import os
import sys

_BROKEN = set(os.environ["HDNET_TEST_BROKEN_MODULES"].split(","))
_ERROR = {"AttributeError": AttributeError, "ImportError": ImportError}[os.environ["HDNET_TEST_BROKEN_ERROR"]]
_MESSAGE = os.environ["HDNET_TEST_BROKEN_MESSAGE"]


class _Broken(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    \"\"\"Finds the broken modules first; executing one raises what its compiled part would.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name in _BROKEN:
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise _ERROR(_MESSAGE)


sys.meta_path.insert(0, _Broken())
"""


def run_broken(
    tmp_path: Path, broken: Sequence[str], error: str, message: str, module: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` where importing the ``broken`` modules raises ``error(message)``."""
    env = {
        "HDNET_TEST_BROKEN_MODULES": ",".join(broken),
        "HDNET_TEST_BROKEN_ERROR": error,
        "HDNET_TEST_BROKEN_MESSAGE": message,
    }
    return run_module(tmp_path, [], module, *args, env=env, sitecustomize=BROKEN_MODULES)


def one_line(stderr: str) -> str:
    lines = message_lines(stderr)
    assert len(lines) == 1, lines
    return lines[0]


def test_the_messages_of_modules_built_for_another_numpy_are_recognised() -> None:
    for error in (
        AttributeError(CV_BRIDGE),
        ImportError("numpy.core.multiarray failed to import"),
        ImportError(NUMBA),
        ImportError("A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.2.6 as it may crash."),
    ):
        assert numpy_mismatch(error) is error
    try:
        try:
            raise AttributeError(CV_BRIDGE)
        except AttributeError as inner:
            raise RuntimeError("cannot load the models") from inner
    except RuntimeError as wrapped:
        assert isinstance(numpy_mismatch(wrapped), AttributeError)  # found behind a wrapper
    for other in (
        ImportError("cannot import name 'CvBridge' from 'cv_bridge'"),
        AttributeError("'NoneType' object has no attribute 'shape'"),
        ModuleNotFoundError("No module named 'numpy'", name="numpy"),
        RuntimeError(CV_BRIDGE),  # not an import failure
    ):
        assert numpy_mismatch(other) is None
        assert numpy_mismatch_message(other, "hdnet_node") is None


def test_the_message_names_the_installed_numpy_the_failure_and_the_fix() -> None:
    message = numpy_mismatch_message(ImportError("numpy.core.multiarray failed to import\nmore"), "hdnet_node")
    assert message is not None and "\n" not in message
    assert message.startswith("hdnet_node: a compiled module does not load with the installed numpy ")
    assert importlib.metadata.version("numpy") in message
    assert "ImportError: numpy.core.multiarray failed to import" in message
    assert message.endswith(f"`{FIX}`") and '"numpy<2"' in FIX


def test_the_workspace_pip_line_keeps_numpy_1_and_a_numba_that_fits() -> None:
    """The line the node prints for a missing package (the README's) must not pull numpy 2
    into a ROS workspace, and must bring a numba for the numpy it leaves there."""
    packages = PIP_ONLY.split()
    assert '"numpy<2"' in packages and "numba" in packages
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"python3 -m pip install {PIP_ONLY}" in readme


def test_the_node_blames_numpy_not_ros_when_a_ros_module_does_not_load(tmp_path: Path) -> None:
    """cv_bridge (imported with rclpy's modules) built for numpy 1.x under numpy 2: not "needs ROS 2"."""
    result = run_broken(tmp_path, ["rclpy"], "AttributeError", CV_BRIDGE, "hdnet_ros.node.main")
    assert result.returncode == EXIT_MISSING_DEPENDENCY, result.stderr
    line = one_line(result.stderr)
    assert line.startswith("hdnet_node: a compiled module does not load with the installed numpy")
    assert CV_BRIDGE in line and FIX in line and "needs ROS 2" not in line


def test_an_unrelated_attribute_error_of_a_ros_module_is_not_blamed_on_numpy(tmp_path: Path) -> None:
    """A bug is a bug: its traceback, not a line about numpy."""
    result = run_broken(
        tmp_path, ["rclpy"], "AttributeError", "module 'rclpy' has no attribute 'init'", "hdnet_ros.node.main"
    )
    assert result.returncode == 1 and "Traceback" in result.stderr
    assert "AttributeError: module 'rclpy' has no attribute 'init'" in result.stderr and FIX not in result.stderr


def test_a_configure_that_meets_a_module_built_for_another_numpy_says_so() -> None:
    try:
        raise RuntimeError("cannot open the detector") from ImportError(NUMBA)
    except RuntimeError as error:
        failure = startup_failure(error)
    assert failure is not None and failure.exit_code == EXIT_MISSING_DEPENDENCY
    assert NUMBA in failure.message and FIX in failure.message


@pytest.mark.parametrize(
    ("module", "error", "message"), [("cv2", "AttributeError", CV_BRIDGE), ("numba", "ImportError", NUMBA)]
)
def test_replay_names_numpy_when_opencv_or_numba_was_built_for_another(
    module: str, error: str, message: str, tmp_path: Path
) -> None:
    result = run_broken(
        tmp_path, [module], error, message, "hdnet_ros.cli", "replay", "in.bag", "--output", str(tmp_path / "out")
    )
    assert result.returncode == CLI_EXIT_MISSING_DEPENDENCY, result.stderr
    assert "Traceback" not in result.stderr
    line = one_line(result.stderr)
    assert line.startswith("hdnet-ros replay: a compiled module does not load with the installed numpy")
    assert f"{error}: {message}" in line and FIX in line
    assert not (tmp_path / "out").exists()


def test_the_node_names_numpy_when_opencv_was_built_for_another(tmp_path: Path) -> None:
    """Ubuntu's OpenCV (the core's cv2 in a ROS workspace) under numpy 2 fails before any ROS import."""
    result = run_broken(tmp_path, ["cv2"], "AttributeError", CV_BRIDGE, "hdnet_ros.node.main")
    assert result.returncode == EXIT_MISSING_DEPENDENCY, result.stderr
    assert "Traceback" not in result.stderr and "needs ROS 2" not in result.stderr
    line = one_line(result.stderr)
    assert line.startswith("hdnet_node: a compiled module does not load with the installed numpy")
    assert f"AttributeError: {CV_BRIDGE}" in line
