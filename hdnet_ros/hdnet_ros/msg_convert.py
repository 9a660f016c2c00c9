"""Copy a message object into another message class with the same fields.

One generic walk serves both transports: ROS 1 bag messages into ROS 2 type-store types
(ROS 1 spells CameraInfo's matrices K, D, R, P) and type-store objects into rclpy classes.
"""

from __future__ import annotations

import array
from collections.abc import Callable
from typing import Any

import numpy as np

# ROS 1 field names that ROS 2 lower-cased.
_ROS1_RENAMES = {"K": "k", "D": "d", "R": "r", "P": "p"}


def message_fields(msg: Any) -> list[str]:
    """Field names of a rosbags dataclass or an rclpy message."""
    if hasattr(msg, "get_fields_and_field_types"):
        return list(msg.get_fields_and_field_types())
    fields = getattr(msg, "__dataclass_fields__", None)
    if fields is None:
        raise TypeError(f"{type(msg).__name__} is not a message")
    return [name for name in fields if name != "__msgtype__" and not name.isupper()]


def _is_message(value: Any) -> bool:
    return hasattr(value, "__dataclass_fields__") or hasattr(value, "get_fields_and_field_types")


def convert(msg: Any, target_class: Callable[[], Any], resolve: Callable[[Any, str], Callable[[], Any]]) -> Any:
    """A ``target_class`` instance with ``msg``'s field values.

    ``resolve(target_instance, field_name)`` returns the class of a nested message field.
    Fields the target lacks are dropped (e.g. ROS 1 header.seq); fields it has but ``msg``
    lacks keep the target's defaults.
    """
    target = target_class()
    source_fields = {_ROS1_RENAMES.get(name, name): name for name in message_fields(msg)}
    for name in message_fields(target):
        if name not in source_fields:
            continue
        value = getattr(msg, source_fields[name])
        if _is_message(value):
            value = convert(value, resolve(target, name), resolve)
        elif isinstance(value, list) and value and _is_message(value[0]):
            element_class = resolve(target, name)
            value = [convert(v, element_class, resolve) for v in value]
        elif isinstance(value, np.ndarray):
            value = _array_value(target, name, value)
        setattr(target, name, value)
    return target


# numpy dtype -> array.array type code, for rclpy's ``sequence<primitive>`` fields.
_ARRAY_CODES = {
    "u1": "B",
    "i1": "b",
    "u2": "H",
    "i2": "h",
    "u4": "I",
    "i4": "i",
    "u8": "Q",
    "i8": "q",
    "f4": "f",
    "f8": "d",
}


def _array_value(target: Any, name: str, value: np.ndarray) -> Any:
    """A numpy field value in the form the target accepts.

    rclpy keeps fixed-size arrays (``double[9]``) as numpy arrays but checks variable-length
    ``sequence<...>`` fields for an array.array of the right type code (it refuses numpy).
    rosbags targets take numpy arrays as they are.
    """
    if not hasattr(target, "get_fields_and_field_types"):
        return value.copy()
    if not target.get_fields_and_field_types()[name].startswith("sequence<"):
        return value.copy()
    contiguous = np.ascontiguousarray(value)
    code = _ARRAY_CODES[contiguous.dtype.str.lstrip("<>=|")]
    return array.array(code, contiguous.astype(contiguous.dtype.newbyteorder("="), copy=False).tobytes())
