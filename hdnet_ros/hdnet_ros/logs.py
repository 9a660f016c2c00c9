"""The package's loggers: named after their module, and always passing their records on to
the application's handlers.

hdnet_ros adds no handler of its own; the application says where messages go (the command
line's ``logging.basicConfig``, pytest's log capture, a launch file's process). ROS 2's
``launch.logging``, once imported in a process (by a launch file, or by launch_testing's
pytest plugin when pytest starts in a sourced ROS), installs a logger class whose new loggers
do not propagate. A module logger created after that would lose its records: INFO and DEBUG
entirely, WARNING and above to logging's unformatted last-resort output. So the package does
not assume propagation; it sets it.
"""

from __future__ import annotations

import logging


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)``, propagating whatever logger class is installed."""
    logger = logging.getLogger(name)
    logger.propagate = True
    return logger
