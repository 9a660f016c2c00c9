"""Which networks run and what they did, as labelled values: one wording for both transports.

The node appends these values to its /diagnostics status; the replay prints them in its
summary line (:func:`hdnet_ros.replay.runner.network_line`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RUNTIME_LABELS = {"detector": "detector", "keypoints_2d": "2D keypoints", "blazepose": "BlazePose"}


def stage_runtimes(detector: Any, keypoints_2d: Any | None, blazepose: Any | None) -> dict[str, str]:
    """The runtime (``auto``'s choice or the configured one) of each running network's stage
    (its ``runtime``), by report key; a stage that does not run (None) is left out."""
    stages = {"detector": detector, "keypoints_2d": keypoints_2d, "blazepose": blazepose}
    return {key: str(stage.runtime) for key, stage in stages.items() if stage is not None}


def network_values(report: Mapping[str, Any]) -> dict[str, str]:
    """The networks' part of the status (``Pipeline.network_report``): which detector, 2D
    and 3D networks run and on which runtimes; what the crowd stage did (joints of other people rejected,
    low-score boxes kept and dropped, duplicate detections merged, joints found hidden);
    BlazePose's crops, rejected crops (no person seen: no estimate, counted) and people
    without a monocular root, since start."""
    values = {}
    if report.get("detector"):
        values["detector"] = str(report["detector"])
    if report.get("keypoints_2d"):
        values["2D keypoints"] = str(report["keypoints_2d"])
    values["3D pose network"] = str(report.get("pose_3d") or "off")
    values["root depth network"] = str(report.get("root_depth") or "off")
    runtimes = report.get("runtimes")
    if runtimes:  # the log says why each was chosen (a probe, a kept probe, the configuration)
        values["runtimes"] = ", ".join(f"{RUNTIME_LABELS.get(k, k)} {v}" for k, v in runtimes.items())
    crowd = report.get("crowd")
    if crowd:
        values["crowd: joints of others rejected"] = str(crowd.get("rejected_joints", 0))
        values["crowd: low-score boxes kept/dropped"] = (
            f"{crowd.get('low_score_kept', 0)}/{crowd.get('low_score_dropped', 0)}"
        )
        values["crowd: duplicates merged"] = str(crowd.get("merged_detections", 0))
        values["crowd: hidden joints"] = str(crowd.get("hidden_joints", 0))
    body = report.get("blazepose")
    if body:
        values["BlazePose crops"] = str(body.get("crops", 0))
        values["BlazePose rejected (low presence)"] = str(body.get("low_presence", 0))
        values["BlazePose without a root"] = str(body.get("no_root", 0))
        values["BlazePose crops without a new mask (not read, or kept)"] = str(body.get("without_mask", 0))
        schedule = body.get("schedule") or {}
        values["BlazePose masks kept (still people)"] = str(schedule.get("mask_kept", 0))
    values.update(placement_values(report.get("placement")))
    values.update(tracking_values(report.get("tracking")))
    return values


def placement_values(counts: Mapping[str, int] | None) -> dict[str, str]:
    """Which floor placed people (frames per source: ``tf``, ``depth``, ``people`` (its height
    and up), ``people_up`` (its up alone), ``none``), TF floors not used and why (``missing``,
    ``stale``, ``below_floor``, ``too_high``, ``tilted``), and people placed on the floor (by the
    placement's fit: absent without it, where the floor serves the depth stage's priors alone)."""
    if counts is None:
        return {}
    sources = {key[len("floor_") :]: n for key, n in counts.items() if key.startswith("floor_") and n}
    refused = {key[len("tf_") :]: n for key, n in counts.items() if key.startswith("tf_") and n}
    values = {"floor (frames)": ", ".join(f"{k} {v}" for k, v in sorted(sources.items())) or "none yet"}
    if refused:
        values["TF floor not used (frames)"] = ", ".join(f"{k} {v}" for k, v in sorted(refused.items()))
    if "standing" in counts:
        values["people placed on the floor"] = str(counts["standing"])
    return values


def tracking_values(counts: Mapping[str, Any] | None) -> dict[str, str]:
    """The frame the tracks moved in: frames tracked in ``tracking.fixed_frame`` (those whose
    pose jumped, the tracks not moved, among them) and those whose camera pose there was not
    known (``missing``, ``stale``, ``invalid``: tracked as if the camera had not moved), or
    the camera frame where no fixed frame is configured."""
    if not counts:  # tracking off
        return {}
    fixed = str(counts.get("fixed_frame") or "")
    if not fixed:
        return {"tracking frame": "camera (tracking.fixed_frame empty)"}
    kept = ("fixed_frame", "fixed_jump")
    failed = {key[len("fixed_") :]: n for key, n in counts.items() if key.startswith("fixed_") and key not in kept}
    parts = [f"{fixed} {counts.get('fixed', 0)}"]
    if counts.get("fixed_jump"):  # among those: the pose jumped, the tracks were not moved
        parts[0] += f" ({counts['fixed_jump']} jumped)"
    parts += [f"camera ({fixed} {reason}) {n}" for reason, n in sorted(failed.items()) if n]
    return {"tracking frame (frames)": ", ".join(parts)}
