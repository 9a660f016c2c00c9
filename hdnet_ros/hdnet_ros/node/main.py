"""Entry points of ``hdnet_node`` and ``hdnet_lifecycle_node`` (``ros2 run hdnet_ros ...``).

``hdnet_node`` configures and activates itself at start-up. Start-up failures end the process
with a message that names the cause and no traceback: exit code 1 for a model file that is
missing or unusable (the message names the file and why), 2 for invalid parameters, 3 when
ROS 2 itself cannot be imported, 4 when a Python package the core needs is not installed or
was built for another numpy than the installed one (the message names it and how to install
it), 5 for an unexpected error (the log has its traceback).

``hdnet_lifecycle_node`` starts unconfigured and waits for its lifecycle transitions (from
``ros2 lifecycle set``, the launch file's ``autostart`` or a lifecycle manager); a failing
``configure`` is logged and leaves it unconfigured. Exit codes 2 (a parameter override of the
wrong type), 3 and 4 as above.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from hdnet_ros.node.startup import (
    EXIT_MISSING_DEPENDENCY,
    EXIT_NO_ROS,
    EXIT_SETTINGS_ERROR,
    dependency_message,
)
from hdnet_ros.numpy_abi import numpy_mismatch, numpy_mismatch_message

__all__ = ["EXIT_MISSING_DEPENDENCY", "EXIT_NO_ROS", "dependency_message", "lifecycle_main", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``hdnet_node``: configure and activate at start-up, spin until shut down."""
    return _guarded(argv, lifecycle=False)


def lifecycle_main(argv: Sequence[str] | None = None) -> int:
    """``hdnet_lifecycle_node``: a managed node, unconfigured until told otherwise."""
    return _guarded(argv, lifecycle=True)


def _guarded(argv: Sequence[str] | None, lifecycle: bool) -> int:
    program = "hdnet_lifecycle_node" if lifecycle else "hdnet_node"
    try:
        return _main(argv, lifecycle, program)
    except (ImportError, AttributeError) as error:
        # A package that is not installed, or one built for another numpy (numpy_abi).
        message = numpy_mismatch_message(error, program)
        if message is None and isinstance(error, ModuleNotFoundError):
            message = dependency_message(error, program)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return EXIT_MISSING_DEPENDENCY


def _main(argv: Sequence[str] | None, lifecycle: bool, program: str) -> int:
    # The core first: a missing numpy must not read as "ROS 2 is missing".
    import hdnet_ros.pipeline  # noqa: F401
    from hdnet_ros.config import SettingsError

    try:
        import rclpy
        from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
        from rclpy.logging import get_logger

        from hdnet_ros.node.parameters import NODE_NAME
        from hdnet_ros.node.ros_node import HdnetNode

        node_class: type[Any] = HdnetNode
        if lifecycle:
            from hdnet_ros.node.lifecycle_node import HdnetLifecycleNode

            node_class = HdnetLifecycleNode
    except (ImportError, AttributeError) as error:
        if numpy_mismatch(error) or (isinstance(error, ModuleNotFoundError) and dependency_message(error)):
            raise  # _guarded names the package and how to install it (cv_bridge built for numpy 1.x: numpy_abi)
        if isinstance(error, AttributeError):
            raise
        print(
            f"{program} needs ROS 2 (Humble or newer) with message_filters, cv_bridge, tf2_ros and "
            f"hdnet_ros_msgs: {error}. Source /opt/ros/<distro>/setup.bash and your workspace's "
            "install/setup.bash (without ROS, use `hdnet-ros replay`).",
            file=sys.stderr,
        )
        return EXIT_NO_ROS
    rclpy.init(args=None if argv is None else list(argv))  # argv as sys.argv: program name first
    node = None
    try:
        node = node_class()
    except SettingsError as error:
        get_logger(NODE_NAME).error(f"invalid parameters: {error}")
        return _shut_down(node, EXIT_SETTINGS_ERROR)
    if not lifecycle:
        started = node.start()
        if not started.ok:
            return _shut_down(node, started.exit_code)  # the core logged why
    else:
        node.get_logger().info("unconfigured: waiting for the configure transition")
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
