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


_MESSAGE_TYPES: dict[type, bool] = {}


def _is_message(value: Any) -> bool:
    kind = type(value)
    known = _MESSAGE_TYPES.get(kind)
    if known is None:
        known = _MESSAGE_TYPES[kind] = hasattr(value, "__dataclass_fields__") or hasattr(
            value, "get_fields_and_field_types"
        )
    return known


class _Field:
    """How one field is copied: its name in the target and in the source, and (found on
    first use) the class of its nested messages and whether a numpy value must become an
    array.array (rclpy's ``sequence<primitive>``)."""

    __slots__ = ("name", "nested", "sequence", "source")

    def __init__(self, name: str, source: str) -> None:
        self.name, self.source = name, source
        self.nested: Callable[[], Any] | None = None
        self.sequence: bool | None = None


# The fields of each (source type, target class) pair: the walk over a frame's thousand
# messages then reads no field lists, type strings or class lookups again.
_PLANS: dict[tuple[type, Any], list[_Field]] = {}


def _plan(msg: Any, target: Any) -> list[_Field]:
    source_fields = {_ROS1_RENAMES.get(name, name): name for name in message_fields(msg)}
    return [_Field(name, source_fields[name]) for name in message_fields(target) if name in source_fields]


def convert(msg: Any, target_class: Callable[[], Any], resolve: Callable[[Any, str], Callable[[], Any]]) -> Any:
    """A ``target_class`` instance with ``msg``'s field values.

    ``resolve(target_instance, field_name)`` returns the class of a nested message field
    (a function of the target's class: it is asked once per class and field).
    Fields the target lacks are dropped (e.g. ROS 1 header.seq); fields it has but ``msg``
    lacks keep the target's defaults.
    """
    target = target_class()
    key = (type(msg), target_class)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _plan(msg, target)
    for field in plan:
        value = getattr(msg, field.source)
        if _is_message(value):
            if field.nested is None:
                field.nested = resolve(target, field.name)
            value = convert(value, field.nested, resolve)
        elif type(value) is list and value and _is_message(value[0]):
            if field.nested is None:
                field.nested = resolve(target, field.name)
            element_class = field.nested
            value = [convert(v, element_class, resolve) for v in value]
        elif isinstance(value, np.ndarray):
            if field.sequence is None:
                field.sequence = _is_sequence(target, field.name)
            value = _array_value(value, field.sequence)
        setattr(target, field.name, value)
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


def _is_sequence(target: Any, name: str) -> bool:
    """Whether the target's field is an rclpy ``sequence<...>`` (rosbags targets: never)."""
    if not hasattr(target, "get_fields_and_field_types"):
        return False
    return bool(target.get_fields_and_field_types()[name].startswith("sequence<"))


def _array_value(value: np.ndarray, sequence: bool) -> Any:
    """A numpy field value in the form the target accepts.

    rclpy keeps fixed-size arrays (``double[9]``) as numpy arrays but checks variable-length
    ``sequence<...>`` fields for an array.array of the right type code (it refuses numpy).
    rosbags targets take numpy arrays as they are.
    """
    if not sequence:
        return value.copy()
    contiguous = np.ascontiguousarray(value)
    code = _ARRAY_CODES[contiguous.dtype.str.lstrip("<>=|")]
    return array.array(code, contiguous.astype(contiguous.dtype.newbyteorder("="), copy=False).tobytes())
