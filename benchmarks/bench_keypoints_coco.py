"""2D keypoints on the COCO test photos: MoveNet (the keypoint stage) against BlazePose's
landmarks mapped to COCO-17, accuracy and cost in one run.

    python3 benchmarks/bench_keypoints_coco.py [--models-dir ../shared/models] [--data-dir ../shared/data]
        [--runs 5] [--json keypoints_coco.json]

The people are those of hdnet_ros/test/test_keypoints_coco.py: every annotated person with
at least 10 labelled joints, matched to a YOLOX detection (IoU > 0.5); both estimators get
the same detections. Accuracy: PCK at half a head (head ~ 1/7 of the box's longer side; an
unseen joint is a miss) and COCO's OKS. Cost: the median over ``--runs`` calls of one
image's estimator call (all its detections) divided by its detections, then the median
over images. BlazePose runs three ways: unrotated crops (its own cost only), crops rotated
by MoveNet's torso (the stage's default: the cost adds MoveNet's), and without MediaPipe's
heatmap refinement. The photos are 5 people and 76 joints: differences of a few joints are
within the noise of so small a sample.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import NUM_COCO_JOINTS
from hdnet_ros.people import Detection, Frame, Person
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.blazepose import BlazePoseConfig, BlazePoseStage
from hdnet_ros.stages.keypoints2d import KeypointEstimator
from hdnet_ros.stages.tracking.boxes import iou
from machine import cpu_name
from measure import time_ms

from hdnet_ros.config import load_settings

# COCO's per-keypoint OKS constants (as in hdnet_ros/test/test_keypoints_coco.py).
SIGMAS = (
    np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89])
    / 10.0
)
MIN_LABELLED = 10
Keypoints = list[tuple[np.ndarray, np.ndarray]]  # per detection: pixels [17,2] (NaN unseen), scores [17]


@dataclasses.dataclass
class Photo:
    rgb: np.ndarray
    detections: list[Detection]
    people: list[dict[str, Any]]  # truth [17,3], area, size, detection index


Estimator = Callable[[Photo], Keypoints]


def load_photos(folder: Path, pipeline: Pipeline) -> list[Photo]:
    annotations = json.loads((folder / "person_keypoints.json").read_text())
    photos = []
    for image in annotations["images"]:
        bgr = cv2.imread(str(folder / image["file_name"]))
        if bgr is None:
            raise SystemExit(f"cannot read {folder / image['file_name']}")
        rgb = np.ascontiguousarray(bgr[:, :, ::-1], dtype=np.uint8)
        detections = pipeline.detector(rgb)
        people = []
        for ann in (a for a in annotations["annotations"] if a["image_id"] == image["id"]):
            truth = np.array(ann["keypoints"], float).reshape(NUM_COCO_JOINTS, 3)
            if (truth[:, 2] > 0).sum() < MIN_LABELLED:
                continue
            x, y, w, h = ann["bbox"]
            overlaps = [iou(np.array([x, y, x + w, y + h]), d.box) for d in detections]
            best = int(np.argmax(overlaps)) if overlaps else -1
            match = best if best >= 0 and overlaps[best] > 0.5 else None
            people.append({"truth": truth, "area": ann["area"], "size": max(w, h), "detection": match})
        photos.append(Photo(rgb, detections, people))
    return photos


def score(photos: Sequence[Photo], keypoints: Sequence[Keypoints]) -> dict[str, float]:
    """PCK@0.5 head and mean OKS over the annotated people (an unmatched person scores 0)."""
    hits, total, similarities = 0, 0, []
    for photo, found in zip(photos, keypoints, strict=True):
        for person in photo.people:
            truth, labelled = person["truth"][:, :2], person["truth"][:, 2] > 0
            total += int(labelled.sum())
            if person["detection"] is None:
                similarities.append(0.0)
                continue
            pixels = found[person["detection"]][0]
            error = np.linalg.norm(np.nan_to_num(pixels, nan=-1e4) - truth, axis=1)[labelled]
            hits += int(np.sum(error <= 0.5 * person["size"] / 7.0))
            d2 = np.sum((np.where(np.isfinite(pixels), pixels, 0.0) - truth) ** 2, axis=1)
            similarities.append(float(np.mean(np.exp(-d2 / (2 * person["area"] * (2 * SIGMAS) ** 2))[labelled])))
    return {"pck": hits / total, "oks": float(np.mean(similarities)), "joints": total}


def movenet_keypoints(pipeline: Pipeline, photo: Photo) -> Keypoints:
    return [
        (k.pixels[:NUM_COCO_JOINTS], k.scores[:NUM_COCO_JOINTS]) for k in movenet(pipeline)(photo.rgb, photo.detections)
    ]


def movenet(pipeline: Pipeline) -> KeypointEstimator:
    if pipeline.keypoints is None:
        raise SystemExit("keypoints.model names BlazePose: this benchmark compares it with MoveNet")
    return pipeline.keypoints


def blazepose_keypoints(stage: BlazePoseStage, photo: Photo, people: list[Person], min_score: float) -> Keypoints:
    """BlazePose's landmarks as COCO-17; a joint below ``min_score`` (the keypoint stage's
    ``keypoints.min_score``) is not seen."""
    frame = Frame(photo.rgb, None, photo_camera(photo.rgb), 1, "photo")
    result: Keypoints = []
    for estimate in stage(frame, people):
        if estimate is None:  # rejected crop: nothing seen
            result.append((np.full((NUM_COCO_JOINTS, 2), np.nan), np.zeros(NUM_COCO_JOINTS)))
            continue
        k = estimate.keypoints(min_score)
        result.append((k.pixels[:NUM_COCO_JOINTS], k.scores[:NUM_COCO_JOINTS]))
    return result


def photo_camera(rgb: np.ndarray) -> CameraModel:
    """A nominal camera for a photo (the 2D landmarks do not depend on it; the root does)."""
    return CameraModel.from_fov(rgb.shape[1], rgb.shape[0], 60.0)


def per_person_ms(estimate: Estimator, photo: Photo, runs: int) -> float:
    """Median ms of one estimator call on the photo, per detection."""
    return float(np.median(time_ms(functools.partial(estimate, photo), runs))) / max(len(photo.detections), 1)


def unguided(detections: list[Detection]) -> list[Person]:
    nan = np.full((19, 2), np.nan)
    return [Person(d, nan, np.zeros(19)) for d in detections]


def guided(pipeline: Pipeline, photo: Photo) -> list[Person]:
    keypoints = movenet(pipeline)(photo.rgb, photo.detections)
    return [Person(d, k.pixels, k.scores) for d, k in zip(photo.detections, keypoints, strict=True)]


def rows(pipeline: Pipeline, stage: BlazePoseStage, photos: list[Photo], runs: int) -> list[dict[str, Any]]:
    base = stage.config
    min_score = pipeline.settings.keypoints.min_score

    def blazepose(config: BlazePoseConfig, rotate: bool, photo: Photo) -> Keypoints:
        stage.config = config
        people = guided(pipeline, photo) if rotate else unguided(photo.detections)
        return blazepose_keypoints(stage, photo, people, min_score)

    estimators: dict[str, Estimator] = {
        "MoveNet Lightning int8 (keypoint stage)": functools.partial(movenet_keypoints, pipeline),
        "BlazePose GHUM full, unrotated crops": functools.partial(
            blazepose, dataclasses.replace(base, rotate_crops=False), False
        ),
        "BlazePose GHUM full, crops rotated by MoveNet (+ MoveNet's cost)": functools.partial(blazepose, base, True),
        "BlazePose, rotated, no heatmap refinement": functools.partial(
            blazepose, dataclasses.replace(base, heatmap_refinement=False), True
        ),
    }
    results = []
    for name, estimate in estimators.items():
        keypoints = [estimate(photo) for photo in photos]
        cost = float(np.median([per_person_ms(estimate, photo, runs) for photo in photos]))
        results.append({"estimator": name, **score(photos, keypoints), "ms_per_person": cost})
    stage.config = base
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_MODELS_DIR", "../shared/models"))
    )
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_DATA_DIR", "../shared/data")))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # MoveNet against BlazePose: the comparison this benchmark was made for (the default 2D
    # network's figures are the crowd benchmark's, bench_crowd_2d.py).
    overrides = {"models.models_dir": str(args.models_dir), "keypoints.model": "movenet_lightning_int8"}
    settings = load_settings(overrides=overrides)
    pipeline = Pipeline.from_settings(settings)
    stage = pipeline.stages.blazepose  # the pipeline's own 3D stage (settings.blazepose)
    if stage is None:
        raise SystemExit(f"BlazePose GHUM 3D is not in {args.models_dir}: nothing to compare MoveNet with")
    photos = load_photos(args.data_dir / "coco_keypoints", pipeline)
    table = rows(pipeline, stage, photos, args.runs)
    detections = sum(len(p.detections) for p in photos)
    judged = sum(len(p.people) for p in photos)
    print(f"COCO photos: {len(photos)} images, {detections} detections, {judged} judged people")
    print(f"CPU: {cpu_name()}, threads {settings.models.threads}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'estimator':66s} {'PCK@0.5h':>9s} {'OKS':>6s} {'ms/person':>10s}")
    for row in table:
        print(f"{row['estimator']:66s} {row['pck']:9.3f} {row['oks']:6.3f} {row['ms_per_person']:10.1f}")
    if args.json:
        meta = {"date": datetime.date.today().isoformat(), "cpu": cpu_name(), "runs": args.runs}
        args.json.write_text(json.dumps({"meta": meta, "rows": table}, indent=2))


if __name__ == "__main__":
    main()
