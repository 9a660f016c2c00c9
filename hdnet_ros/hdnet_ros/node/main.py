"""Entry point of ``hdnet_node`` (``ros2 run hdnet_ros hdnet_node``).

Start-up failures end the process with a message that names the cause and no traceback:
exit code 1 for a model file that is missing or unusable (the message names the file and
why), 2 for invalid parameters, 3 when ROS 2 itself cannot be imported, 4 when a Python
package the core needs is not installed (the message names it and how to install it).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from hdnet_ros.cli import EXTRA_OF_MODULE, missing_module, top_module

EXIT_MODEL_ERROR = 1
EXIT_SETTINGS_ERROR = 2
EXIT_NO_ROS = 3
EXIT_MISSING_DEPENDENCY = 4
# In a ROS workspace rosdep installs numpy, numba, OpenCV, SciPy, PyYAML and tqdm; these have no
# rosdep keys and come from pip (README, "Building in a ROS 2 workspace").
PIP_ONLY = "onnxruntime ai-edge-litert rosbags"


def dependency_message(error: ModuleNotFoundError) -> str | None:
    """One line naming the missing package and how to install it; None for a module that is
    not one of the core's third-party dependencies."""
    module = top_module(error)
    if module not in EXTRA_OF_MODULE:
        return None
    package = EXTRA_OF_MODULE[module][1]
    return (
        f"hdnet_node: {package} is not installed (No module named {module!r}); in a ROS workspace run "
        f"`rosdep install --from-paths src --ignore-src -y` and `python3 -m pip install {PIP_ONLY}`, "
        'elsewhere `pip install "hdnet_ros[cpu]"`'
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except ModuleNotFoundError as error:
        message = dependency_message(error)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return EXIT_MISSING_DEPENDENCY


def _main(argv: Sequence[str] | None) -> int:
    # The core first: a missing numpy must not read as "ROS 2 is missing".
    from hdnet_ros.config import SettingsError
    from hdnet_ros.model_files import ModelFileError
    from hdnet_ros.pipeline import Pipeline

    try:
        import rclpy
        from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
        from rclpy.logging import get_logger

        from hdnet_ros.node.ros_node import NODE_NAME, HdnetNode
    except ImportError as error:
        if isinstance(error, ModuleNotFoundError) and dependency_message(error):
            raise  # main() names the package and how to install it
        print(
            f"hdnet_node needs ROS 2 (Humble or newer) with message_filters, cv_bridge, tf2_ros and "
            f"hdnet_ros_msgs: {error}. Source /opt/ros/<distro>/setup.bash and your workspace's "
            "install/setup.bash (without ROS, use `hdnet-ros replay`).",
            file=sys.stderr,
        )
        return EXIT_NO_ROS
    rclpy.init(args=None if argv is None else list(argv))  # argv as sys.argv: program name first
    logger = get_logger(NODE_NAME)
    node = None
    try:
        node = HdnetNode()
        settings = node.read_settings()
        pipeline = Pipeline.from_settings(settings)
    except SettingsError as error:
        logger.error(f"invalid parameters: {error}")
        return _shut_down(node, EXIT_SETTINGS_ERROR)
    except ModelFileError as error:
        missing = missing_module(error)  # a runtime that is not installed, not a bad file
        if missing is not None:
            logger.error(str(dependency_message(missing)))
            return _shut_down(node, EXIT_MISSING_DEPENDENCY)
        logger.error(f"cannot load the models, stopping: {error}")
        return _shut_down(node, EXIT_MODEL_ERROR)
    except ModuleNotFoundError as error:
        message = dependency_message(error)
        if message is None:
            raise
        logger.error(message)
        return _shut_down(node, EXIT_MISSING_DEPENDENCY)
    node.start(pipeline)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.stop()
    return _shut_down(node, 0)


def _shut_down(node: Any, code: int) -> int:
    import rclpy

    if node is not None:
        node.destroy_node()
    rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
