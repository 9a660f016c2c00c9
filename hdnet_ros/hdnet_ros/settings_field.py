"""``setting()``: a dataclass field that carries the description the node declares with it,
and ``SettingsError``, what every stage raises for a value it does not accept."""

from __future__ import annotations

from dataclasses import field
from typing import Any, TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """A configuration value or name that the pipeline does not accept."""


def setting(default: T, description: str, **constraints: Any) -> T:
    """A dataclass field with a default, a description and optional min/max/choices.

    The same metadata gives ROS parameter descriptors in the node and validation of the
    YAML files that replay reads, so both transports accept exactly the same settings.
    """
    metadata = {"description": description, **constraints}
    result: T = field(default=default, metadata=metadata)
    return result
