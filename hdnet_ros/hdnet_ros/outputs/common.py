"""Small message pieces shared by the builders."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros.people import Person
from hdnet_ros.ros_types import typestore


def msg_type(name: str) -> Any:
    """A message class of the type store, e.g. ``msg_type("geometry_msgs/msg/Point")``."""
    return typestore().types[name]


def positional_type(name: str, *fields: str) -> Any:
    """``msg_type(name)``, checked to take ``fields`` as its first positional arguments.

    The builders make thousands of messages per frame; positional arguments cost half of
    keywords. The type store's classes take their fields in the .msg file's order, and
    this check fails loudly if a definition ever changes it."""
    message = msg_type(name)
    names = tuple(f.name for f in dataclasses.fields(message))[: len(fields)]
    if names != fields:
        raise TypeError(f"{name} takes {names}, not {fields}: the builders need updating")
    return message


def stacked(rows: Sequence[npt.ArrayLike]) -> npt.NDArray[Any]:
    """``np.stack`` of a frame's per-person arrays of one shape, as one ``np.array`` call:
    a third of np.stack's cost on small arrays (no per-row view and copy). Rows of unequal
    shapes raise, as with np.stack (numpy < 1.24 would make an object array of them)."""
    result = np.array(rows)
    if result.dtype == object:
        raise ValueError("the rows to stack differ in shape")
    return result


def stamp(stamp_ns: int) -> Any:
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return msg_type("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec)


def header(stamp_ns: int, frame_id: str) -> Any:
    return msg_type("std_msgs/msg/Header")(stamp=stamp(stamp_ns), frame_id=frame_id)


def point(xyz: Any) -> Any:
    x, y, z = (float(v) for v in xyz)
    return msg_type("geometry_msgs/msg/Point")(x=x, y=y, z=z)


def points(xyz: npt.ArrayLike) -> list[Any]:
    """A geometry_msgs/Point per row of ``xyz`` [N,3]: the numbers converted to Python
    floats in one ``tolist`` instead of three ``float`` calls per point."""
    point_type = msg_type("geometry_msgs/msg/Point")
    rows = np.asarray(xyz, dtype=np.float64).reshape(-1, 3).tolist()
    return [point_type(x=x, y=y, z=z) for x, y, z in rows]


def vector3(xyz: Any) -> Any:
    x, y, z = (float(v) for v in xyz)
    return msg_type("geometry_msgs/msg/Vector3")(x=x, y=y, z=z)


def body_label(person: Person, index: int) -> int:
    """The number in a person's TF frame and marker ids: the track id, or (tracking off) the
    person's index in this frame + 1. REP-155 body ids need not persist; track ids do."""
    return int(person.track_id) if person.track_id else index + 1


# Distinct colours for ids (Azure Kinect's palette idea): RGB in 0..1.
PALETTE = np.array(
    [
        (0.90, 0.10, 0.29),
        (0.24, 0.71, 0.29),
        (0.00, 0.51, 0.78),
        (0.96, 0.51, 0.19),
        (0.57, 0.12, 0.71),
        (0.27, 0.94, 0.94),
        (0.94, 0.20, 0.90),
        (0.82, 0.96, 0.24),
        (0.98, 0.75, 0.83),
        (0.00, 0.50, 0.50),
    ]
)


_PALETTE_FLOATS: list[tuple[float, float, float]] = [(r, g, b) for r, g, b in PALETTE.tolist()]


def colour_for(label: int) -> tuple[float, float, float]:
    """The palette's colour for an id (as Python floats, converted once at import)."""
    return _PALETTE_FLOATS[label % len(_PALETTE_FLOATS)]
