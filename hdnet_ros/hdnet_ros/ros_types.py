"""ROS message types without ROS: a rosbags type store with hdnet_ros_msgs registered.

The ``.msg`` files of hdnet_ros_msgs are the single source of truth. They are read from the
source tree when running from a checkout, from the ROS install (share/hdnet_ros_msgs/msg)
when sourced, or from the copy bundled into this package at build time.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

MSG_PACKAGE = "hdnet_ros_msgs"
MSG_DIR_ENV = "HDNET_ROS_MSG_DIR"


def _ament_msg_dir() -> Path | None:
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(MSG_PACKAGE)) / "msg"
    except PackageNotFoundError:
        return None


def message_definition_dir(package_dir: Path | None = None) -> Path:
    """The directory holding hdnet_ros_msgs' .msg files, first found of: $HDNET_ROS_MSG_DIR,
    the source tree beside the package (a checkout), the ROS install's share/ (sourced),
    the copy bundled into the package. ``package_dir``: where hdnet_ros is (this one's)."""
    here = package_dir or Path(__file__).resolve().parent
    candidates = [
        Path(os.environ[MSG_DIR_ENV]) if MSG_DIR_ENV in os.environ else None,
        here.parent.parent / MSG_PACKAGE / "msg",  # source checkout
        _ament_msg_dir(),
        here / "msg",  # bundled by setup.py
    ]
    for candidate in candidates:
        if candidate is not None and any(candidate.glob("*.msg")):
            return candidate
    raise FileNotFoundError(f"no {MSG_PACKAGE} .msg files found (looked in {candidates})")


def message_definitions() -> dict[str, str]:
    """{'hdnet_ros_msgs/msg/Name': definition text} for every .msg file."""
    directory = message_definition_dir()
    return {f"{MSG_PACKAGE}/msg/{path.stem}": path.read_text() for path in sorted(directory.glob("*.msg"))}


@functools.lru_cache(maxsize=1)
def typestore() -> Typestore:
    """ROS 2 Humble's standard types plus hdnet_ros_msgs (cached: build once per process)."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = {}
    for name, text in message_definitions().items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store
