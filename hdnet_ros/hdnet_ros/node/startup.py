"""Why the node could not start, in one line, and the exit code that says it.

A start-up (the plain node) or a ``configure`` transition (the managed node) fails for one
of a few reasons a user can fix: invalid parameters, a model file that is missing or
unusable, a Python package the core needs that is not installed or was built for another
numpy (:mod:`hdnet_ros.numpy_abi`). :func:`startup_failure`
turns the exception into the line to log; the plain node exits with its code, the managed
node logs it and stays unconfigured. Nothing here imports the core's third-party packages
(PyYAML, numpy, ...), so a missing one can still be named.
"""

from __future__ import annotations

from dataclasses import dataclass

from hdnet_ros.cli import EXTRA_OF_MODULE, missing_module, top_module
from hdnet_ros.numpy_abi import numpy_mismatch_message

EXIT_MODEL_ERROR = 1
EXIT_SETTINGS_ERROR = 2
EXIT_NO_ROS = 3
EXIT_MISSING_DEPENDENCY = 4
EXIT_UNEXPECTED = 5  # a bug: the log has the traceback
# In a ROS workspace rosdep installs numpy, numba, OpenCV, SciPy, PyYAML and tqdm; these have no
# rosdep keys and come from pip (README, "Building in a ROS 2 workspace"). ai-edge-litert needs
# numpy 1.23.2 or newer, and left free pip would take numpy 2, under which the distribution's
# OpenCV, cv_bridge and numba (built for numpy 1.x) do not load (numpy_abi): so numpy 1.x, and
# a numba built for it.
PIP_ONLY = '"numpy<2" numba onnxruntime onnx ai-edge-litert openvino rosbags'


def dependency_message(error: ModuleNotFoundError, program: str = "hdnet_node") -> str | None:
    """One line naming the missing package and how to install it; None for a module that is
    not one of the core's third-party dependencies."""
    module = top_module(error)
    if module not in EXTRA_OF_MODULE:
        return None
    package = EXTRA_OF_MODULE[module][1]
    return (
        f"{program}: {package} is not installed (No module named {module!r}); in a ROS workspace run "
        f"`rosdep install --from-paths src --ignore-src -y` and `python3 -m pip install {PIP_ONLY}`, "
        'elsewhere `pip install "hdnet_ros[cpu]"`'
    )


@dataclass(frozen=True)
class StartupFailure:
    """What stopped the start-up: the line to log and the plain node's exit code."""

    exit_code: int
    message: str


def startup_failure(error: Exception) -> StartupFailure | None:
    """The failure ``error`` stands for; None for an unexpected exception (a bug: the caller
    logs its traceback)."""
    # Imported here: they need PyYAML and numpy, whose absence this module must still name.
    from hdnet_ros.config import SettingsError
    from hdnet_ros.model_files import ModelFileError

    if isinstance(error, SettingsError):
        return StartupFailure(EXIT_SETTINGS_ERROR, f"invalid parameters: {error}")
    mismatch = numpy_mismatch_message(error, "hdnet_node")  # a runtime imported at configure, or behind a model error
    if mismatch is not None:
        return StartupFailure(EXIT_MISSING_DEPENDENCY, mismatch)
    if isinstance(error, ModelFileError):
        missing = missing_module(error)  # a runtime that is not installed, not a bad file
        if missing is not None:
            return StartupFailure(EXIT_MISSING_DEPENDENCY, str(dependency_message(missing)))
        return StartupFailure(EXIT_MODEL_ERROR, f"cannot load the models: {error}")
    if isinstance(error, ModuleNotFoundError):
        message = dependency_message(error)
        if message is not None:
            return StartupFailure(EXIT_MISSING_DEPENDENCY, message)
    return None
