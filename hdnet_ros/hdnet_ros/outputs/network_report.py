"""What the 3D networks did, as labelled values: one wording for both transports.

The node appends these values to its /diagnostics status; the replay prints them in its
summary line (:func:`hdnet_ros.replay.runner.network_line`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def network_values(report: Mapping[str, Any]) -> dict[str, str]:
    """The 3D networks' part of the status (``Pipeline.network_report``): which run, and
    BlazePose's crops, rejected crops (no person seen: no estimate, counted) and people
    without a monocular root, since start."""
    values = {
        "3D pose network": str(report.get("pose_3d") or "off"),
        "root depth network": str(report.get("root_depth") or "off"),
    }
    body = report.get("blazepose")
    if body:
        values["BlazePose crops"] = str(body.get("crops", 0))
        values["BlazePose rejected (low presence)"] = str(body.get("low_presence", 0))
        values["BlazePose without a root"] = str(body.get("no_root", 0))
    values.update(placement_values(report.get("placement")))
    return values


def placement_values(counts: Mapping[str, int] | None) -> dict[str, str]:
    """Which floor placed people (frames per source: ``tf``, ``depth``, ``people`` (its height
    and up), ``people_up`` (its up alone), ``none``), TF floors not used and why (``missing``,
    ``stale``, ``below_floor``, ``too_high``, ``tilted``), and people placed on the floor."""
    if counts is None:
        return {}
    sources = {key[len("floor_") :]: n for key, n in counts.items() if key.startswith("floor_") and n}
    refused = {key[len("tf_") :]: n for key, n in counts.items() if key.startswith("tf_") and n}
    values = {"floor (frames)": ", ".join(f"{k} {v}" for k, v in sorted(sources.items())) or "none yet"}
    if refused:
        values["TF floor not used (frames)"] = ", ".join(f"{k} {v}" for k, v in sorted(refused.items()))
    values["people placed on the floor"] = str(counts.get("standing", 0))
    return values
