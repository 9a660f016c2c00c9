"""The printed report of ``bench_pipeline.py``: the targets with their verdicts, the
runtimes, and the tables of the crowd, the lifting, the scheduled 3D stage, the cycle
collector and the Panoptic pseudo-sequence, from the figures it measured."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from frame_timing import MESSAGES
from glue_parts import owners
from model_clock import BLAZEPOSE, DETECTOR, KEYPOINTS


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(
            " | ".join(
                str(cell).ljust(w) if i == 0 else str(cell).rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def report_runtimes(runtimes: dict[str, Any]) -> None:
    chosen = runtimes["chosen"]
    print(
        f"\nRuntimes (instruction set {runtimes['instruction_set']}; detector {chosen.get('detector', '?')}, "
        f"2D network {chosen['model']} on {chosen['2D']}, BlazePose {chosen['BlazePose']}); ms per call of 4 people / "
        "crops (detector: one frame), interleaved medians"
    )
    rows = []
    for row in runtimes["rows"]:
        if "missing" in row:
            rows.append([row["network"], row["runtime"], "not available", row["missing"][:60]])
        else:
            rows.append([row["network"], row["runtime"], f"{row['ms_per_call']:.1f}", accuracy_text(row)])
    print_table(["network", "runtime", "ms/call", "accuracy against the published network"], rows)


def accuracy_text(row: dict[str, Any]) -> str:
    nan = float("nan")
    if row["network"] == "2D heatmaps":
        return (
            f"COCO PCK {row['pck']:.3f} OKS {row['oks']:.3f}; joints {row.get('px_median', nan):.4f} / "
            f"{row.get('px_max', nan):.4f} px from onnxruntime's (median / worst)"
        )
    if row["network"] == "detector":
        same = "the same people" if row.get("same_people") else "OTHER people"
        return (
            f"COCO photos: {row['people']} people, {same} as onnxruntime, boxes "
            f"{row.get('box_px_max', nan):.4f} px (worst)"
        )
    if row["network"] == "MoveNet":
        return (
            f"COCO PCK {row['pck']:.3f} OKS {row['oks']:.3f}; joints median / p90 "
            f"{row.get('crop_px_median', nan):.2f} / {row.get('crop_px_p90', nan):.2f} crop px"
        )
    return (
        f"{row.get('accepted', 0)} crops: landmarks {row.get('landmarks_px_max', nan):.4f} px, world "
        f"{row.get('world_mm_max', nan):.3f} mm, mask IoU {row.get('mask_iou_min', nan):.4f}, presence "
        f"{row.get('presence_max', nan):.1e} (worst)"
    )


def report(figures: dict[str, Any]) -> None:
    print(
        f"\nCPU: {figures['cpu']} ({figures['cores']} cores); load average at start {figures['load_start']:.2f}, "
        f"at end {figures['load_end']:.2f}; {figures['plan']}; {figures['seconds']:.0f} s"
    )
    print(f"crowd: {figures['crowd_description']}")
    print(f"pseudo-sequence: {figures['sequence_description']}")
    print("\nTargets (issue 19)")
    print_table(["target", "bound", "measured", "verdict"], [list(t.values()) for t in figures["targets"]])
    report_runtimes(figures["runtimes"])

    crowd = figures["crowd"]
    print("\nFrame time against people (crowd; window medians, ms; p95 of single frames)")
    header = ["people", "frame", "p95", "models", "glue", "whole/models", "detection", "2D kp", "(network)"]
    header += ["3D stage", "(BlazePose)", "BP crops/frame", "placement", "lifting", "tracking", "messages"]
    rows = []
    for count, f in crowd["table"].items():
        rows.append(
            [str(count)]
            + [f"{f[k]:.1f}" for k in ("total_ms", "total_p95_ms", "models_ms", "glue_ms")]
            + [f"{f['whole_over_models']:.2f}"]
            + [f"{f[k]:.1f}" for k in ("detection_ms", "keypoints_2d_ms", f"model_{KEYPOINTS}_ms", "pose_3d_ms")]
            + [f"{f[f'model_{BLAZEPOSE}_ms']:.1f}", f"{f['blazepose_crops_per_frame']:.1f}"]
            + [f"{f[k]:.2f}" for k in ("placement_ms", "depth_lifting_ms", "tracking_ms", f"{MESSAGES}_ms")]
        )
    print_table(header, rows)
    extra = crowd["per_extra_person_ms"]
    print(
        f"one more person: {extra['total_ms']:.2f} ms = 2D keypoints {extra['keypoints_2d_ms']:.2f} "
        f"(network {extra[f'model_{KEYPOINTS}_ms']:.2f}), 3D stage {extra['pose_3d_ms']:.2f} "
        f"(BlazePose {extra[f'model_{BLAZEPOSE}_ms']:.2f}), placement {extra['placement_ms']:.2f}, "
        f"lifting {extra['depth_lifting_ms']:.2f}, "
        f"tracking {extra['tracking_ms']:.2f}, messages {extra[f'{MESSAGES}_ms']:.2f}; detection "
        f"{crowd['detection_ms']:.2f} ms (model {crowd['detector_model_ms']:.2f}): "
        f"{crowd['extra_person_over_detector']:.2f}x; t(20)/t(1) = {crowd['growth']:.2f} "
        "(both medians of per-window ratios, the crowds taking turns; ratios of the window medians: "
        f"{crowd['extra_person_over_detector_of_medians']:.2f}x and {crowd['growth_of_medians']:.2f})"
    )

    lifting = figures["lifting"]
    print("\nLifting all people + messages (ms)")
    rows = [
        [f"synthetic crowd, oracle 2D, {n} people", f"{v['median_ms']:.3f}", f"{v['p95_ms']:.3f}"]
        for n, v in lifting["synthetic_oracle"].items()
    ]
    rows += [
        [f"sample frame {i}, {v['people']} people, BlazePose", f"{v['median_ms']:.3f}", f"{v['p95_ms']:.3f}"]
        for i, v in enumerate(lifting["sample_frames_with_blazepose"])
    ]
    print_table(["input", "median", "p95"], rows)
    accuracy = figures["accuracy"]
    print(
        f"synthetic benchmark, default setting, {accuracy['frames']} frames, seed {accuracy['seed']} "
        f"({accuracy['people']} people): MRPE {accuracy['mrpe_mm']:.1f} mm, PCK_abs {accuracy['pck_abs_pct']:.1f} %, "
        f"AP25 {accuracy['ap_root_25_pct']:.1f} %"
    )

    report_glue(figures)
    report_sequence(figures)
    report_collector(figures["collector"])
    report_panoptic(figures)


# The glue of each stage: its time less its network's (window medians of the crowd's table).
GLUE_OF_STAGES = (
    ("detection (letterbox, decoding)", "detection_ms", f"model_{DETECTOR}_ms"),
    ("2D stage (crops, encoding, decoding, crowd rules)", "keypoints_2d_ms", f"model_{KEYPOINTS}_ms"),
    ("3D stage (plan, crops, decoding, carried poses)", "pose_3d_ms", f"model_{BLAZEPOSE}_ms"),
    ("placement (stages/placement)", "placement_ms", ""),
    ("lifting", "depth_lifting_ms", ""),
    ("tracking", "tracking_ms", ""),
    ("messages", f"{MESSAGES}_ms", ""),
)


def report_glue(figures: dict[str, Any]) -> None:
    """The glue by stage (from the crowd's table) and by part (``glue_parts.py``'s pass)."""
    table, parts = figures["crowd"]["table"], figures["glue_parts"]
    sizes = [int(n) for n in parts]
    print(f"\nThe glue by stage and by part (crowd; ms per frame at {', '.join(map(str, sizes))} people)")
    rows = []
    for name, stage, model in GLUE_OF_STAGES:
        rows.append([name] + [f"{table[n][stage] - (table[n][model] if model else 0.0):.2f}" for n in sizes])
    rows.append(["all glue (frame less model calls)"] + [f"{table[n]['glue_ms']:.2f}" for n in sizes])
    print_table(["stage", *(f"{n} people" for n in sizes)], rows)
    owner = owners()
    rows = [[part, owner[part]] + [f"{parts[n][part]:.2f}" for n in parts] for part in owner]
    print_table(["part (timed where its stage calls it; medians)", "owner", *(f"{n} people" for n in sizes)], rows)


def report_sequence(figures: dict[str, Any]) -> None:
    sequence = figures["sequence"]
    print("\nThe 3D stage scheduled (sample frames pseudo-sequence; window medians, ms)")
    rows = [
        [
            name,
            f"{f['people']:.1f}",
            f"{f['blazepose_crops_per_frame']:.2f}",
            f"{f['total_ms']:.1f}",
            f"{f['total_p95_ms']:.1f}",
            f"{f['models_ms']:.1f}",
            f"{f['glue_ms']:.1f}",
            f"{f['whole_over_models']:.2f}",
            f"{f['pose_3d_ms']:.1f}",
            f"{f['depth_lifting_ms']:.2f}",
        ]
        for name, f in sequence["timing"].items()
    ]
    header = ["run", "people", "BP crops/frame", "frame", "p95", "models", "glue", "whole/models", "3D stage"]
    print_table([*header, "lifting"], rows)
    print(
        f"on/off {sequence['on_over_off']:.3f}x (every frame/off {sequence['every_frame_over_off']:.3f}x), "
        "medians of per-window ratios"
    )
    schedules = {f"crowd of {n}": c for n, c in figures["crowd"]["schedule"].items()} | sequence["schedule"]
    print("\nWhom BlazePose ran on (person frames, warm-up included; rejected: crops without a person)")
    keys = ("new", "refit", "turn", "carried", "deferred", "rejected")
    rows = [[name, *(str(c.get(k, 0)) for k in keys)] for name, c in schedules.items() if c]
    print_table(["run", *keys], rows)
    rows = []
    fused = sequence["fused_vs_moved_first_frame"]
    for what, s, e in (
        ("root vs measured first frame moved (depth on)", fused["scheduled"]["root"], fused["every frame"]["root"]),
        ("joints vs measured first frame moved", fused["scheduled"]["joints"], fused["every frame"]["joints"]),
    ):
        rows.append(
            [what] + [f"{run[k]:.1f}" for run in (s, e) for k in ("mean_mm", "median_mm", "p95_mm")] + [str(s["count"])]
        )
    anchors = fused["every frame"]["anchors"]
    print(
        "depth on: each frame of a scene against the scene's first frame as the every-frame run estimated it, "
        f"moved with the shift; anchors: the {anchors['anchors']} of {anchors['first_frame_people']} first-frame "
        "people whose root the sensor measured (SENSOR or FUSED)"
    )
    header = ["error (mm)", "sched mean", "sched p50", "sched p95", "every mean", "every p50", "every p95", "n"]
    print_table(header, rows)
    by_phase = ", ".join(f"{name} {ratio:.3f}" for name, ratio in sequence["fused_ratio_by_phase"].items())
    print(
        f"joint error scheduled / every frame by the phase of the schedule's cycle: {by_phase}; "
        f"pooled {sequence['fused_ratio']:.3f}"
    )
    for name, mono in sequence["monocular_root_vs_sensor"].items():
        print(
            f"monocular root ({name}, depth off) vs the 3D-off run's sensor root: mean {mono['mean_mm']:.1f}, "
            f"p50 {mono['median_mm']:.1f}, p95 {mono['p95_mm']:.1f} mm, n {mono['count']}"
        )
    by_phase = ", ".join(f"{name} {ratio:.3f}" for name, ratio in sequence["monocular_ratio_by_phase"].items())
    print(
        f"monocular root scheduled / every frame by the phase of the schedule's cycle without depth: {by_phase}; "
        f"pooled {sequence['monocular_ratio']:.3f} (scheduled: both phases' person-frames; p50 and p95 the larger)"
    )
    rows = [
        [what, f"{v['median_mm']:.1f}", f"{v['p95_mm']:.1f}", str(v["count"])]
        for what, v in sequence["scheduled_vs_every_frame"].items()
    ]
    print("scheduled - every frame (depth on):")
    print_table(["difference (mm)", "median", "p95", "n"], rows)


def report_collector(collector: dict[str, Any]) -> None:
    print("\nThe cycle collector (7-person crowd, frames in a row; ms)")
    rows = [
        [state, str(c["tracked_objects"]), str(c["frozen_objects"])]
        + [f"{c['frame_ms'][k]:.1f}" for k in ("p50", "p95", "p99", "max")]
        + [f"{c['collections'][g]['count']} / {c['collections'][g]['max_ms']:.1f}" for g in ("0", "1", "2")]
        for state, c in collector.items()
    ]
    header = ["models", "objects the collector walks", "frozen", "frame p50", "p95", "p99", "max"]
    print_table([*header, "gen 0 (n / max ms)", "gen 1", "gen 2"], rows)


def report_panoptic(figures: dict[str, Any]) -> None:
    panoptic = figures["panoptic"]
    print(f"\n{figures['panoptic_description']}")
    rows = [
        [name, f"{r['people']:.1f}", f"{r['crops_per_frame']:.2f}"]
        + [f"{r[k]:.1f}" for k in ("mean_mm", "median_mm", "p95_mm")]
        + [str(r["count"])]
        for name, r in panoptic["rows"].items()
    ]
    print_table(["run", "people", "BP crops/frame", "root error mean", "p50", "p95", "n"], rows)
    print(f"scheduled / every frame (means): {panoptic['ratio']:.3f}")
