"""BlazePose's monocular root and metric skeleton against the depth sensor, on every sample
RGB-D frame, in one run; plus the stage's cost split.

    python3 benchmarks/bench_blazepose_root.py [--models-dir ../shared/models] [--data-dir ../shared/data]
        [--runs 5] [--json blazepose_root.json]

The default pipeline (detection, MoveNet, depth lifting, tracking) gives the people and,
with the depth image, each one's sensor-derived pelvis: the teacher. For every person whose
pelvis the sensor measures (depth source SENSOR) the stage's monocular root, which uses no
depth, is compared with it: the 3D distance, the depth error, and whether that lies within
2 sigma of the fit's stated uncertainty. Four variants: crops rotated by MoveNet's torso or
not, the viewing-direction correction on or off. The skeleton's agreement: for the joints the
sensor measured, the BlazePose joint (pelvis-relative) against the sensor's joint minus the
sensor's pelvis (MPJPE rel), and the absolute joint (monocular root plus pose) against the
sensor's (MPJPE abs). The sensor's joints are surface points moved by per-part offsets, not
bone centres: a few centimetres of disagreement are the sensor model's, not the network's.

The sample people all stand upright, where crop rotation has nothing to correct; a second
table turns each frame a quarter (camera, boxes and MoveNet keypoints turned with it) so the
standing person lies on their side, and compares the result, turned back, with the sensor.
A third table refits the root from other landmark sets of the same estimates.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from frame_sources import sample_frames
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import NUM_COCO_JOINTS, PELVIS
from hdnet_ros.people import DepthSource, Detection, Frame, Person
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.blazepose import BlazePoseConfig, BlazePoseStage, MonocularRoot, open_blazepose_stage
from hdnet_ros.stages.blazepose.root_fit import ROOT_FIT_LANDMARKS, fit_roots
from machine import cpu_name
from measure import time_ms

from hdnet_ros.config import load_settings

VARIANTS: dict[str, dict[str, Any]] = {
    "rotated, view correction": {"rotate_crops": True, "view_correction": True},
    "rotated, no view correction": {"rotate_crops": True, "view_correction": False},
    "unrotated, view correction": {"rotate_crops": False, "view_correction": True},
    "unrotated, no view correction": {"rotate_crops": False, "view_correction": False},
}
DEFAULT_VARIANT = "rotated, view correction"  # BlazePoseConfig's defaults
# Landmark sets for the root fit; the first is the stage's (root_fit.ROOT_FIT_LANDMARKS).
LANDMARK_SETS: dict[str, tuple[int, ...]] = {
    "shoulders, hips, legs, feet (stage)": ROOT_FIT_LANDMARKS,
    "shoulders, hips, legs": (11, 12, 23, 24, 25, 26, 27, 28),
    "shoulders and hips only": (11, 12, 23, 24),
    "stage's set plus arms": (*ROOT_FIT_LANDMARKS, 13, 14, 15, 16),
    "all 33 landmarks": tuple(range(33)),
}
TEACHER_OFF = {"networks.pose_3d": "", "networks.root_depth": ""}  # the sensor's pelvis, no network in it
STANDING_MAX_ERROR_M = 0.35  # issue 9: the standing person within 0.35 m of the sensor's torso position
# (X', Y', Z) of a frame turned a quarter -> (X, Y, Z) of the original frame.
UNTURN = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
Row = dict[str, Any]


def sensor_people(pipeline: Pipeline, frame: Frame) -> list[Person]:
    pipeline.reset_tracking()  # each sample bag is its own recording
    return pipeline.process(frame).people


def standing_index(people: list[Person]) -> int:
    """The standing person of issue 9: the nearest, tallest box in every sample frame."""
    return int(np.argmax([p.detection.box[3] - p.detection.box[1] for p in people]))


def skeleton_rows(person: Person, relative_pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sensor-measured COCO joints: BlazePose's pelvis-relative joints and the sensor's."""
    measured = (person.depth_sources[:NUM_COCO_JOINTS] == DepthSource.SENSOR) & person.valid[:NUM_COCO_JOINTS]
    return relative_pose[:NUM_COCO_JOINTS][measured], person.positions[:NUM_COCO_JOINTS][measured] - person.root


def compare(stage: BlazePoseStage, frame: Frame, people: list[Person]) -> list[Row]:
    """One row per person whose pelvis the sensor measured."""
    rows = []
    standing = standing_index(people)
    for index, (person, estimate) in enumerate(zip(people, stage(frame, people), strict=True)):
        if person.depth_sources[PELVIS] != DepthSource.SENSOR:
            continue
        row: Row = {"standing": index == standing, "sensor_z": float(person.root[2])}
        if estimate is None:
            rows.append({**row, "result": "rejected crop"})
            continue
        relative, sensor_relative = skeleton_rows(person, estimate.relative_pose)
        row["mpjpe_rel"] = float(np.mean(np.linalg.norm(relative - sensor_relative, axis=1)))
        if not isinstance(estimate.root, MonocularRoot):
            rows.append({**row, "result": estimate.root.reason})
            continue
        root = estimate.root
        error = root.position - person.root
        absolute = root.position + relative
        row.update(
            result="ok",
            z=root.depth,
            sigma=root.sigma,
            error=float(np.linalg.norm(error)),
            z_error=float(error[2]),
            within_2_sigma=bool(abs(error[2]) <= 2 * root.sigma),
            mpjpe_abs=float(np.mean(np.linalg.norm(absolute - (sensor_relative + person.root), axis=1))),
            rms_px=root.rms_px,
        )
        rows.append(row)
    return rows


def turned(frame: Frame, people: list[Person]) -> tuple[Frame, list[Person]]:
    """The frame turned a quarter (``np.rot90``: counter-clockwise) with its camera and its
    people (boxes and MoveNet keypoints): everyone now lies on their side.

    Image pixel (u, v) goes to (v, W-1-u), camera point (X, Y, Z) to (Y, -X, Z); the radial
    distortion stays, the tangential coefficients swap (p1' = -p2, p2' = p1).
    """
    width = frame.rgb.shape[1]
    c = frame.camera
    distortion = c.D.copy()
    if len(distortion) >= 4:
        distortion[2], distortion[3] = -c.D[3], c.D[2]
    K = np.array([[c.fy, 0.0, c.cy], [0.0, c.fx, width - 1 - c.cx], [0.0, 0.0, 1.0]])
    camera = CameraModel(c.height, c.width, K, distortion, c.distortion_model)

    def turn(uv: np.ndarray) -> np.ndarray:
        return np.stack((uv[..., 1], width - 1 - uv[..., 0]), axis=-1)

    moved = []
    for person in people:
        corners = turn(person.detection.box.reshape(2, 2))
        box = np.concatenate((corners.min(axis=0), corners.max(axis=0)))
        moved.append(Person(Detection(box, person.detection.score), turn(person.pixels), person.scores))
    return Frame(np.ascontiguousarray(np.rot90(frame.rgb)), None, camera, frame.stamp_ns, frame.frame_id), moved


def compare_turned(stage: BlazePoseStage, frame: Frame, people: list[Person]) -> Row:
    """The standing person in the frame turned a quarter: root and skeleton turned back."""
    person = people[standing_index(people)]
    turned_frame, turned_people = turned(frame, [person])
    (estimate,) = stage(turned_frame, turned_people)
    row: Row = {"sensor_z": float(person.root[2])}
    if estimate is None:
        return {**row, "result": "rejected crop"}
    if not isinstance(estimate.root, MonocularRoot):
        return {**row, "result": estimate.root.reason}
    relative, sensor_relative = skeleton_rows(person, estimate.relative_pose @ UNTURN.T)
    root = UNTURN @ estimate.root.position
    return {
        **row,
        "result": "ok",
        "rotation_deg": float(np.degrees(estimate.rotation)),
        "z": float(root[2]),
        "error": float(np.linalg.norm(root - person.root)),
        "mpjpe_rel": float(np.mean(np.linalg.norm(relative - sensor_relative, axis=1))),
    }


def landmark_set_errors(stage: BlazePoseStage, frames: list[tuple[str, Frame, list[Person]]]) -> dict[str, list[Row]]:
    """The root fitted from other landmark sets (same estimates, default config) against the
    sensor's pelvis, for every person the sensor measures."""
    estimates = []
    for _, frame, people in frames:
        standing = standing_index(people)
        for index, (person, estimate) in enumerate(zip(people, stage(frame, people), strict=True)):
            if person.depth_sources[PELVIS] == DepthSource.SENSOR and estimate is not None:
                estimates.append((frame.camera, person, index == standing, estimate))
    results: dict[str, list[Row]] = {}
    for name, landmarks in LANDMARK_SETS.items():
        rows = []
        for camera, person, is_standing, estimate in estimates:
            (root,) = fit_roots(
                estimate.pixels[None], estimate.visibility[None], estimate.world[None], camera, landmarks=landmarks
            )
            error = float(np.linalg.norm(root.position - person.root)) if isinstance(root, MonocularRoot) else None
            rows.append({"standing": is_standing, "sensor_z": float(person.root[2]), "error": error})
        results[name] = rows
    return results


def print_landmark_sets(results: dict[str, list[Row]]) -> None:
    print("\nroot fit landmark sets (default config), |err| [m] per person the sensor measures:")
    for name, rows in results.items():
        cells = " ".join(
            f"{r['sensor_z']:.1f} m: {r['error']:.3f}" if r["error"] is not None else f"{r['sensor_z']:.1f} m: none"
            for r in rows
        )
        print(f"  {name:34s} {cells}")


def stage_cost(stage: BlazePoseStage, frame: Frame, people: list[Person], runs: int) -> dict[str, float]:
    """Medians [ms] of the stage's parts on one frame: crop preparation, network, decoding."""
    crops = stage.prepare(frame.rgb, people)
    outputs = stage.infer(crops.images)
    parts = {
        "prepare": time_ms(lambda: stage.prepare(frame.rgb, people), runs),
        "network": time_ms(lambda: stage.infer(crops.images), runs),
        "decode": time_ms(lambda: stage.decode(outputs, crops, frame.camera), runs),
        "whole stage": time_ms(lambda: stage(frame, people), runs),
    }
    return {name: float(np.median(samples)) for name, samples in parts.items()}


def print_rows(results: dict[str, list[Row]]) -> None:
    print(
        f"{'variant':30s} {'frame':24s} {'sensor z':>8s} {'mono z':>7s} {'sigma':>6s} {'|err|':>6s} {'z err':>6s} "
        f"{'<2sig':>5s} {'rms px':>6s} {'MPJPE rel':>9s} {'MPJPE abs':>9s}"
    )
    for variant, rows in results.items():
        for row in rows:
            start = f"{variant:30s} {row['frame']:24s} {row['sensor_z']:8.2f}"
            if row["result"] != "ok":
                print(f"{start} {row['result']}")
                continue
            print(
                f"{start} {row['z']:7.2f} {row['sigma']:6.2f} {row['error']:6.3f} {row['z_error']:+6.3f} "
                f"{'yes' if row['within_2_sigma'] else 'no':>5s} {row['rms_px']:6.1f} {row['mpjpe_rel']:9.3f} "
                f"{row['mpjpe_abs']:9.3f}"
            )


def print_summary(results: dict[str, list[Row]]) -> None:
    print(
        f"\n{'variant':30s} {'people':>8s} {'max |err|':>9s} {'median |err|':>12s} {'median |z err|/z':>16s} "
        f"{'median MPJPE rel':>16s} {'median rms px':>13s}"
    )
    for variant, rows in results.items():
        for group in ("standing", "others"):
            ok = [r for r in rows if r["result"] == "ok" and r["standing"] == (group == "standing")]
            if not ok:
                print(f"{variant:30s} {group:>8s} no fitted root")
                continue
            errors = [r["error"] for r in ok]
            print(
                f"{variant:30s} {group:>8s} {max(errors):9.3f} {np.median(errors):12.3f} "
                f"{np.median([abs(r['z_error']) / r['sensor_z'] for r in ok]):16.3f} "
                f"{np.median([r['mpjpe_rel'] for r in ok]):16.3f} {np.median([r['rms_px'] for r in ok]):13.1f}"
            )


def print_turned(results: dict[str, list[Row]]) -> None:
    print("\nthe standing person, frame turned a quarter (lying on the side), results turned back:")
    print(f"{'variant':30s} {'sensor z':>8s} {'crop rot':>8s} {'mono z':>7s} {'|err|':>6s} {'MPJPE rel':>9s}")
    for variant, rows in results.items():
        for row in rows:
            if row["result"] != "ok":
                print(f"{variant:30s} {row['sensor_z']:8.2f} {row['result']}")
                continue
            print(
                f"{variant:30s} {row['sensor_z']:8.2f} {row['rotation_deg']:8.0f} {row['z']:7.2f} "
                f"{row['error']:6.3f} {row['mpjpe_rel']:9.3f}"
            )


def print_verdict(rows: list[Row], frames: int) -> None:
    standing = [r for r in rows if r["result"] == "ok" and r["standing"]]
    worst = max((r["error"] for r in standing), default=float("inf"))
    verdict = "met" if len(standing) == frames and worst <= STANDING_MAX_ERROR_M else "MISSED"
    print(
        f"\nissue 9 target, standing person of every frame within {STANDING_MAX_ERROR_M} m ({DEFAULT_VARIANT}): "
        f"{len(standing)}/{frames} frames fitted, worst {worst:.3f} m -> {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env = os.environ.get
    parser.add_argument("--models-dir", type=Path, default=Path(env("HDNET_ROS_MODELS_DIR", "../shared/models")))
    parser.add_argument("--data-dir", type=Path, default=Path(env("HDNET_ROS_DATA_DIR", "../shared/data")))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = load_settings(overrides={"models.models_dir": str(args.models_dir)})
    # The teacher is the sensor alone: with the 3D stage on, the pipeline fuses BlazePose's own
    # root into the pelvis (FUSED), and the stage would be measured against itself.
    teacher = load_settings(overrides={**TEACHER_OFF, "models.models_dir": str(args.models_dir)})
    pipeline = Pipeline.from_settings(teacher)
    stage = open_blazepose_stage(BlazePoseConfig(), settings.inference, str(args.models_dir), settings.models.threads)
    frames = [(name, frame, sensor_people(pipeline, frame)) for name, frame in sample_frames(args.data_dir).items()]
    results: dict[str, list[Row]] = {}
    turned_results: dict[str, list[Row]] = {}
    for variant, changes in VARIANTS.items():
        stage.config = dataclasses.replace(BlazePoseConfig(), **changes)
        results[variant] = [{"frame": n, **row} for n, f, people in frames for row in compare(stage, f, people)]
        turned_results[variant] = [compare_turned(stage, f, people) for _, f, people in frames]
    stage.config = BlazePoseConfig()
    print(f"CPU: {cpu_name()}, threads {settings.models.threads}, load average {os.getloadavg()[0]:.2f}")
    print(f"sample frames: {len(frames)}, people per frame {[len(p) for _, _, p in frames]}")
    print_rows(results)
    print_summary(results)
    print_turned(turned_results)
    landmark_sets = landmark_set_errors(stage, frames)
    print_landmark_sets(landmark_sets)
    print_verdict(results[DEFAULT_VARIANT], len(frames))
    print("\nstage cost, default config [ms, median of runs]:")
    costs = {}
    for name, frame, people in frames:
        costs[name] = stage_cost(stage, frame, people, args.runs)
        parts = ", ".join(f"{k} {v:.1f}" for k, v in costs[name].items())
        print(f"  {name} ({len(people)} people): {parts}; per person {costs[name]['whole stage'] / len(people):.1f}")
    if args.json:
        meta = {"date": datetime.date.today().isoformat(), "cpu": cpu_name(), "runs": args.runs}
        report = {
            "meta": meta,
            "results": results,
            "turned": turned_results,
            "landmark_sets": landmark_sets,
            "cost_ms": costs,
        }
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
