"""The CMU Panoptic frames (``panoptic_dev``, SOURCE.md) as pseudo-sequences without depth,
scored against their metric 3D reference: what the BlazePose schedule costs the monocular
root where the truth is known.

Each of the 15 images (3 cameras x 5 frames, three people standing and talking, 1.5-4.5 m
away) is repeated like the sample frames (``frame_sources.shifted_sequence``: shifted
right 1-2 px per frame at 30 Hz, tracking restarted per image), RGB only, with the
camera's pose over the floor as TF gives it (the "pose known" case of
``bench_panoptic.py``). The reference moves with the image: each joint keeps its depth and
its pixel moves by the shift. Each frame's people are matched to the reference people by
their joints in the image (``bench_panoptic.match``); the error is the root's (pelvis)
distance from the reference's, over the people the reference scores and marks eligible,
every frame but each image's first (the same in every run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from bench_panoptic import PELVIS, Published, match
from frame_sources import sequence_shift
from frame_timing import PersonSnapshot
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import ROOT
from hdnet_ros.people import CameraPose, Frame
from panoptic_bags import OPTICAL_FRAME, PanopticCamera, ReferencePerson, load_reference

Scene = tuple[Frame, PanopticCamera, list[ReferencePerson]]


def panoptic_scenes(data_dir: Path) -> list[Scene]:
    """Every Panoptic image as a frame without depth (the camera's floor pose attached),
    with its camera and reference people; camera by camera, frame by frame."""
    reference = load_reference(data_dir)
    scenes = []
    for name, camera in reference.cameras.items():
        model = CameraModel(camera.width, camera.height, camera.K)
        for number, people in sorted(reference.frames.items()):
            bgr = cv2.imread(str(reference.image(data_dir, name, number)), cv2.IMREAD_COLOR)
            if bgr is None:
                raise SystemExit(f"cannot read {reference.image(data_dir, name, number)}")
            frame = Frame(
                rgb=np.ascontiguousarray(bgr[:, :, ::-1]),
                depth_m=None,
                camera=model,
                stamp_ns=0,
                frame_id=OPTICAL_FRAME,
                floor_pose=CameraPose(camera.floor_to_camera),
            )
            scenes.append((frame, camera, people[name]))
    return scenes


def moved_person(person: ReferencePerson, shift_px: int, camera: CameraModel) -> ReferencePerson:
    """``person`` as the image shifted right by ``shift_px`` shows them: each joint at its
    depth, its pixel moved."""

    def move(points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        result = np.full_like(points, np.nan)
        valid = np.all(np.isfinite(points), axis=1) & (points[:, 2] > 0)
        if np.any(valid):
            rays = camera.normalized_rays(camera.project(points[valid]) + np.array([shift_px, 0.0]))
            result[valid] = np.column_stack((rays * points[valid, 2:3], points[valid, 2]))
        return result

    return ReferencePerson(move(person.joints), move(person.pelvis)[0], person.scored, person.eligible)


def root_errors(people: list[list[PersonSnapshot]], scenes: list[Scene], steps: int) -> list[float]:
    """The root errors [m] of one run over the pseudo-sequence (every frame but each
    image's first), over the scored and eligible reference people matched."""
    errors: list[float] = []
    for index, found in enumerate(people):
        step = index % steps
        if step == 0:
            continue
        frame, camera, reference = scenes[index // steps]
        moved = [moved_person(p, sequence_shift(step), frame.camera) for p in reference]
        published = [Published(p.positions, p.pixels, int(p.sources[ROOT])) for p in found]
        for ref_index, pub_index in match(camera, moved, published).items():
            person = moved[ref_index]
            root = published[pub_index].joints[PELVIS]
            if person.scored and person.eligible and np.all(np.isfinite(root)):
                errors.append(float(np.linalg.norm(root - person.pelvis)))
    return errors


def summary(errors: list[float]) -> dict[str, Any]:
    values = 1000.0 * np.asarray(errors, dtype=np.float64)
    if not len(values):
        return {"mean_mm": float("nan"), "median_mm": float("nan"), "p95_mm": float("nan"), "count": 0}
    return {
        "mean_mm": float(np.mean(values)),
        "median_mm": float(np.median(values)),
        "p95_mm": float(np.percentile(values, 95)),
        "count": len(values),
    }
