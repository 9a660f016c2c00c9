"""Person by person on the CMU Panoptic frames (``panoptic_dev``, SOURCE.md): where each
camera's signed depth error of ``bench_panoptic.py`` comes from.

    python3 benchmarks/panoptic_people.py [--models-dir ../shared/models] [--data-dir ../shared/data]
        [--variants pose_known,pose_unknown] [--cameras 00_03,00_12] [--json people.json]

The frames go through the pipeline as the replay gives them to it (RGB only, each camera's
five frames in order with their recording stamps, the camera's pose over the floor on every
frame in "pose known", a counted missing TF in "pose unknown"; the same figures as
``bench_panoptic.py``) and each published person is matched to the reference as there.
Per scored, eligible person it prints the signed depth error of the root and what placed
it: the root's source, the image borders that cut the person, the floor in use, the fit
(standing on the floor, fitted scale, stated depth sigma) or why there is none, which of
the hips and shoulders the fit took from the 3D network's landmarks (``y``) rather than the
2D network's keypoints (``n``), and the 3D network's torso against the reference's (a
skeleton smaller than the person places them near at the stranger's scale prior).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from bench_panoptic import VARIANTS, Published, match
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER, ROOT
from hdnet_ros.people import CameraPose, DepthSource, Frame, Person
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.placement.cues import cut_sides, fit_joints, nearer_boxes
from hdnet_ros.stages.placement.fit import Placement, PlacementResult
from panoptic_bags import OPTICAL_FRAME, PanopticCamera, Reference, ReferencePerson, frame_stamp_ns, load_reference

from hdnet_ros.config import load_settings

TORSO_JOINTS = (LEFT_HIP, RIGHT_HIP, LEFT_SHOULDER, RIGHT_SHOULDER)


def torso_length(joints: np.ndarray) -> float:
    """Mid-shoulders to mid-hips [m] (COCO indices)."""
    shoulders = (joints[LEFT_SHOULDER] + joints[RIGHT_SHOULDER]) / 2
    hips = (joints[LEFT_HIP] + joints[RIGHT_HIP]) / 2
    return float(np.linalg.norm(shoulders - hips))


def camera_frames(reference: Reference, data_dir: Path, name: str, variant: str) -> list[tuple[int, Frame]]:
    """One camera's frames as the replay hands them to the pipeline."""
    camera = reference.cameras[name]
    model = CameraModel(camera.width, camera.height, camera.K)
    pose = CameraPose(camera.floor_to_camera) if variant == "pose_known" else CameraPose(None, "missing", "no /tf")
    frames = []
    for number in sorted(reference.frames):
        bgr = cv2.imread(str(reference.image(data_dir, name, number)), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read {reference.image(data_dir, name, number)}")
        rgb = np.ascontiguousarray(bgr[:, :, ::-1], dtype=np.uint8)
        frames.append((number, Frame(rgb, None, model, frame_stamp_ns(number), OPTICAL_FRAME, floor_pose=pose)))
    return frames


def describe(
    person: Person,
    fit: PlacementResult | None,
    truth: ReferencePerson,
    camera: CameraModel,
    floor: str,
    nearer: list[np.ndarray],
) -> dict[str, Any]:
    """What placed one matched person, and how far off."""
    error = person.positions[ROOT] - truth.pelvis
    row: dict[str, Any] = {
        "true_depth_m": float(truth.pelvis[2]),
        "signed_depth_m": float(error[2]),
        "root_error_m": float(np.linalg.norm(error)),
        "root_source": DepthSource(int(person.depth_sources[ROOT])).name.lower(),
        "cut": "".join(side for side, cut in zip("LTRB", cut_sides(person.detection.box, camera), strict=True) if cut),
        "floor": floor,
    }
    if isinstance(fit, Placement):
        row |= {"standing": fit.standing, "scale": fit.scale, "depth_sigma_m": fit.depth_sigma}
    elif fit is not None:
        row["unplaced"] = fit.reason
    if person.network_pose is not None and person.network_pixels is not None:
        taken = fit_joints(person, camera, nearer)[1][list(TORSO_JOINTS)]
        row["landmarks_hips_shoulders"] = "".join("y" if t else "n" for t in taken)
        row["torso_network_m"] = torso_length(person.network_pose)
        row["torso_reference_m"] = torso_length(truth.joints)
    return row


def run(pipeline: Pipeline, reference: Reference, data_dir: Path, variant: str, name: str) -> list[dict[str, Any]]:
    camera: PanopticCamera = reference.cameras[name]
    pipeline.reset_tracking()
    rows = []
    for number, frame in camera_frames(reference, data_dir, name, variant):
        people = pipeline.process(frame).people
        placement = pipeline.stages.placement
        placed = placement.placed if placement is not None else []
        fits = {id(person): fit for person, fit in placed}
        fronts = {
            id(person): nearer_boxes([p for p, _ in placed], i, frame.camera) for i, (person, _) in enumerate(placed)
        }
        chosen = pipeline.stages.floors.floor
        floor = chosen.source if chosen is not None else "none"
        published = [
            Published(np.asarray(p.positions, np.float64), np.asarray(p.pixels, np.float64), int(p.depth_sources[ROOT]))
            for p in people
        ]
        truths = reference.frames[number][name]
        for ref_index, pub_index in sorted(match(camera, truths, published).items()):
            truth, person = truths[ref_index], people[pub_index]
            if not (truth.scored and truth.eligible and np.all(np.isfinite(person.positions[ROOT]))):
                continue
            row = describe(person, fits.get(id(person)), truth, frame.camera, floor, fronts.get(id(person), []))
            rows.append({"variant": variant, "camera": name, "frame": number, "reference": ref_index} | row)
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(
        "| variant | camera | frame | person | true depth | signed depth error | root | cut | floor | fit "
        "| landmarks (hips, shoulders) | torso: network / reference |"
    )
    print("|---|---|---:|---:|---:|---:|---|---|---|---|---|---|")
    for row in rows:
        fit = (
            f"{'standing' if row['standing'] else 'free'}, scale {row['scale']:.3f}, sigma {row['depth_sigma_m']:.2f} m"
            if "scale" in row
            else row.get("unplaced", "no pose")
        )
        torso = f"{row['torso_network_m']:.3f} / {row['torso_reference_m']:.3f} m" if "torso_network_m" in row else "-"
        print(
            f"| {row['variant']} | {row['camera']} | {row['frame']} | {row['reference']} | "
            f"{row['true_depth_m']:.2f} m | {row['signed_depth_m'] * 1000:+.0f} mm | {row['root_source']} | "
            f"{row['cut'] or '-'} | {row['floor']} | {fit} | {row.get('landmarks_hips_shoulders', '-')} | {torso} |"
        )
    print("\n| variant | camera | people | mean signed depth error | MRPE | network torso / reference |")
    print("|---|---|---:|---:|---:|---:|")
    for key in sorted({(r["variant"], r["camera"]) for r in rows}):
        group = [r for r in rows if (r["variant"], r["camera"]) == key]
        ratios = [r["torso_network_m"] / r["torso_reference_m"] for r in group if "torso_network_m" in r]
        print(
            f"| {key[0]} | {key[1]} | {len(group)} | {np.mean([r['signed_depth_m'] for r in group]) * 1000:+.0f} mm | "
            f"{np.mean([r['root_error_m'] for r in group]) * 1000:.0f} mm | {np.mean(ratios):.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", default=os.environ.get("HDNET_ROS_MODELS_DIR", "../shared/models"))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_DATA_DIR", "../shared/data")))
    parser.add_argument("--variants", default=",".join(VARIANTS), help="pose_known, pose_unknown or both")
    parser.add_argument("--cameras", default="", help="comma-separated camera names (default: all)")
    parser.add_argument("--json", type=Path, help="write every row here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    reference = load_reference(args.data_dir)
    settings = load_settings(None, {"models.models_dir": args.models_dir, "input.use_depth": False})
    pipeline = Pipeline.from_settings(settings)
    cameras = args.cameras.split(",") if args.cameras else list(reference.cameras)
    rows = [
        row
        for variant in args.variants.split(",")
        for name in cameras
        for row in run(pipeline, reference, args.data_dir, variant, name)
    ]
    print_rows(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
