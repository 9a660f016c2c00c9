"""The rclpy side of :func:`hdnet_ros.msg_convert.convert`: finding nested message classes.

The core builds every output as a rosbags type-store object; the node copies it field by
field into the rclpy class. For a nested field, convert asks ``resolve(target, field)`` for
the field's class. rclpy messages describe their fields with
``get_fields_and_field_types()``, e.g. ``{'header': 'std_msgs/Header', 'skeletons':
'sequence<hdnet_ros_msgs/Skeleton3D>'}`` (bounded: ``'sequence<pkg/T, 5>'``, fixed size:
``'pkg/T[3]'``); the class lives in the module ``<package>.msg``. Nothing here imports ROS
at import time, so it is tested with stand-in classes.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

_FIXED_ARRAY = re.compile(r"\[\d+\]$")


def nested_message_type(type_string: str) -> tuple[str, str] | None:
    """('geometry_msgs', 'Point') for a message-typed field's type string; None for a
    primitive (``'double'``, ``'sequence<uint8>'``, ``'string<10>'``)."""
    element = type_string.strip()
    if element.startswith("sequence<") and element.endswith(">"):
        element = element[len("sequence<") : -1].split(",", 1)[0].strip()
    element = _FIXED_ARRAY.sub("", element)
    package, slash, name = element.partition("/")
    if not slash or not package or not name or "/" in name:
        return None
    return package, name


class MessageClassResolver:
    """``resolve(target, field)`` for msg_convert.convert, caching classes by type name.

    The callbacks and the worker convert concurrently, hence the lock around the cache.
    """

    def __init__(self, import_module: Callable[[str], ModuleType] = importlib.import_module) -> None:
        self._import_module = import_module
        self._classes: dict[tuple[str, str], Callable[[], Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, target: Any, field: str) -> Callable[[], Any]:
        type_string = target.get_fields_and_field_types()[field]
        key = nested_message_type(type_string)
        if key is None:
            raise TypeError(f"{type(target).__name__}.{field} ({type_string}) is not a message field")
        return self._class(key)

    def message_class(self, message_type: str) -> Callable[[], Any]:
        """The class of ``'people_msgs/msg/People'`` (the type-store name); ImportError when its
        package is not installed."""
        package, kind, name = message_type.split("/")
        if kind != "msg":
            raise ValueError(f"{message_type} is not a message type")
        return self._class((package, name))

    def _class(self, key: tuple[str, str]) -> Callable[[], Any]:
        with self._lock:
            if key not in self._classes:
                package, name = key
                self._classes[key] = getattr(self._import_module(f"{package}.msg"), name)
            return self._classes[key]
