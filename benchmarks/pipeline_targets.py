"""The targets ``bench_pipeline.py`` judges (issue 19), from its figures: each with its
bound, the measured value and a verdict.

Speed, as ratios measured in one run: one more person against the detector's time, the 3D
stage on / off on the sample-frame sequence, lifting plus messages at 20 people against
the detector's time, whole frame / model calls, t(20) / t(1). Accuracy unchanged within
noise: the synthetic benchmark's MRPE and PCK_abs against the run recorded in
docs/benchmarks.md before issue 19 (the benchmark has no networks and no randomness left at
a fixed seed: any change is the depth stage's), the COCO photos' PCK of the 2D runtime
that runs against the published network's in the same run (MoveNet's LiteRT int8 file,
PP-TinyPose's file in float32 on onnxruntime: its bf16 runtime is judged), BlazePose's chosen
runtime within the tests' float32 bounds of the published file, and the scheduled 3D
stage's joint error against every frame (issue 11).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from runtime_figures import BLAZEPOSE_TOLERANCE, MOVENET

PER_PERSON_BOUND = 1.0 / 3.0  # one more person / the detector's time
SCHEDULED_BOUND = 1.3  # 3D stage on / off
LIFTING_OVER_DETECTION_BOUND = 0.2  # lifting + messages at 20 people / the detector's time
GLUE_BOUND = 1.10  # whole frame / model calls
GROWTH_BOUND = 4.0  # t(20) / t(1)
SCHEDULE_ACCURACY_BOUND = 1.10  # joint error, scheduled / every frame
# The synthetic benchmark, default setting, 40 frames, seed 0, as recorded in
# docs/benchmarks.md (2026-12-04) before issue 19 (53.58 mm, 88.66 %), re-recorded on
# 2026-12-07 when the feet's floor cue began to place the pelvis above the feet (issue 17,
# docs/evaluation.md "The floor without the placement": 53.90 mm, 89.10 %), and again on
# 2026-12-07 when the feet's cue weighed both feet by the chance that one is lifted
# (docs/evaluation.md "Both feet, and the one that is lifted": 54.98 mm, 88.51 %; 4 of
# the 86 people moved; the 300-frame benchmark 61.85 -> 61.84 mm); the bounds are the
# recorded figures' rounding and a tenth of a millimetre's float summation order.
SYNTHETIC_REFERENCE = {"frames": 40, "mrpe_mm": 54.98, "pck_abs_pct": 88.51}
SYNTHETIC_TOLERANCE = {"mrpe_mm": 0.15, "pck_abs_pct": 0.15}
# The published MoveNet's own PCK on the COCO photos spreads over 0.789-0.842 between CPUs
# (docs/inference.md): a runtime that loses less than that spread is within the noise.
COCO_PCK_DROP_BOUND = 0.04


def verdict(value: float, bound: float) -> str:
    if not np.isfinite(value):
        return "not measured"
    return "met" if value <= bound else f"MISSED by {100.0 * (value / bound - 1.0):.1f} %"


def target_row(name: str, bound: float, value: float, unit: str, prefix: str = "<=") -> dict[str, Any]:
    return {
        "target": name,
        "bound": f"{prefix} {bound:.3g}{unit}",
        "measured": f"{value:.3f}{unit}",
        "verdict": verdict(value, bound),
    }


def speed_targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    crowd = figures["crowd"]
    table = crowd["table"]
    lifting_20 = figures["lifting"]["synthetic_oracle"][20]["median_ms"]
    return [
        target_row("one more person / detection (crowd)", PER_PERSON_BOUND, crowd["extra_person_over_detector"], "x"),
        target_row(
            "3D stage on (scheduled) / off, sample frames", SCHEDULED_BOUND, figures["sequence"]["on_over_off"], "x"
        ),
        target_row(
            f"lifting + messages, 20 people ({lifting_20:.1f} ms) / detection",
            LIFTING_OVER_DETECTION_BOUND,
            lifting_20 / crowd["detection_ms"],
            "x",
        ),
        target_row("whole frame / model calls, 7 people (crowd)", GLUE_BOUND, table[7]["whole_over_models"], "x"),
        target_row("whole frame / model calls, 20 people (crowd)", GLUE_BOUND, table[20]["whole_over_models"], "x"),
        target_row("t(20) / t(1) (crowd)", GROWTH_BOUND, crowd["growth"], "x"),
    ]


def coco_pck_row(chosen: dict[str, str], by_runtime: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """The COCO photos' PCK of the 2D runtime that runs against the published network's:
    MoveNet's LiteRT int8 file, or the heatmap network's file in float32 on onnxruntime (a
    runtime of the same outputs, OpenVINO in float32, is the same within rounding; bf16 is
    judged here)."""
    network, reference = ("MoveNet", "litert_int8") if chosen["model"] == MOVENET else ("2D heatmaps", "onnxruntime")
    published, mine = by_runtime.get((network, reference), {}), by_runtime.get((network, chosen["2D"]), {})
    name = f"COCO PCK, {chosen['model']} {chosen['2D']} ({reference} {published.get('pck', float('nan')):.3f})"
    if "pck" not in published or "pck" not in mine:
        return {"target": name, "bound": f"drop <= {COCO_PCK_DROP_BOUND}", "measured": "", "verdict": "n/a"}
    drop = published["pck"] - mine["pck"]
    row = target_row(name, COCO_PCK_DROP_BOUND, drop, "")
    return {**row, "bound": f"drop <= {COCO_PCK_DROP_BOUND}", "measured": f"{mine['pck']:.3f} ({-drop:+.3f})"}


def accuracy_targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    accuracy = figures["accuracy"]
    for key, unit in (("mrpe_mm", "mm"), ("pck_abs_pct", "%")):
        name = f"synthetic {key.split('_')[0].upper()}{'_abs' if 'abs' in key else ''} vs recorded"
        if accuracy["frames"] != SYNTHETIC_REFERENCE["frames"] or accuracy["seed"] != 0:
            rows.append(
                {"target": name, "bound": "", "measured": f"{accuracy[key]:.2f}{unit}", "verdict": "n/a (quick)"}
            )
            continue
        change = abs(accuracy[key] - SYNTHETIC_REFERENCE[key])
        row = target_row(
            f"{name} {SYNTHETIC_REFERENCE[key]}{unit}", SYNTHETIC_TOLERANCE[key], change, unit, "|change| <="
        )
        rows.append({**row, "measured": f"{accuracy[key]:.2f}{unit} ({accuracy[key] - SYNTHETIC_REFERENCE[key]:+.2f})"})
    runtimes = figures["runtimes"]
    chosen = runtimes["chosen"]
    by_runtime = {(r["network"], r["runtime"]): r for r in runtimes["rows"]}
    rows.append(coco_pck_row(chosen, by_runtime))
    body = by_runtime.get(("BlazePose", chosen["BlazePose"]), {})
    if "within_tolerance" in body:
        worst = max(body["relative"][name] / bound for name, bound in BLAZEPOSE_TOLERANCE.items())
        rows.append(
            {
                "target": f"BlazePose {chosen['BlazePose']} vs the published outputs",
                "bound": "float32 bounds of the tests",
                "measured": f"{worst:.2f} of the bound",
                "verdict": "met" if body["within_tolerance"] else "MISSED",
            }
        )
    sequence = figures["sequence"]
    rows.append(
        target_row(
            "joint error (depth on), scheduled (3 phases) / every frame",
            SCHEDULE_ACCURACY_BOUND,
            sequence["fused_ratio"],
            "x",
        )
    )
    rows.append(
        target_row(
            "monocular root error (no depth), scheduled (2 phases) / every frame",
            SCHEDULE_ACCURACY_BOUND,
            sequence["monocular_ratio"],
            "x",
        )
    )
    rows.append(
        target_row(
            "Panoptic root error (no depth, reference 3D), scheduled / every frame",
            SCHEDULE_ACCURACY_BOUND,
            figures["panoptic"]["ratio"],
            "x",
        )
    )
    return rows


def targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    return speed_targets(figures) + accuracy_targets(figures)
