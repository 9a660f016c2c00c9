"""Entry point of ``hdnet_node`` (``ros2 run hdnet_ros hdnet_node``).

Start-up failures end the process with a message that names the cause and no traceback:
exit code 1 for a model file that is missing or unusable (the message names the file and
why), 2 for invalid parameters, 3 when ROS 2 itself cannot be imported.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from hdnet_ros.config import SettingsError
from hdnet_ros.model_files import ModelFileError
from hdnet_ros.pipeline import Pipeline

EXIT_MODEL_ERROR = 1
EXIT_SETTINGS_ERROR = 2
EXIT_NO_ROS = 3


def main(argv: Sequence[str] | None = None) -> int:
    try:
        import rclpy
        from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
        from rclpy.logging import get_logger

        from hdnet_ros.node.ros_node import NODE_NAME, HdnetNode
    except ImportError as error:
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
        logger.error(f"cannot load the models, stopping: {error}")
        return _shut_down(node, EXIT_MODEL_ERROR)
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
