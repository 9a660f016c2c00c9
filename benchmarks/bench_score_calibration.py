"""Where each 2D network's keypoint scores say "right as often as wrong" (its publishing threshold).

    python3 benchmarks/bench_score_calibration.py [--models-dir ../shared/models] [--data-dir ../shared/data]
        [--json calibration.json]

The threshold is fitted on people the crowd benchmark does not score: the 15 CMU Panoptic
views (``panoptic_dev``: 3 cameras x 5 frames, 3 people each, the reference joints
triangulated from 5 views and projected into each camera; SOURCE.md puts them within about
8 px). Each view runs the product's detector (YOLOX-Nano, confident boxes) and each 2D
network on every box with no threshold and no crowd rules; people are matched to the
reference by box IoU. Every labelled joint is right or wrong at PCK@0.1 of its detection
box's diagonal; P(right | score) is fitted as a logistic curve and the score where it is
1/2 reported with a bootstrap interval (:mod:`hdnet_ros.evaluation.score_calibration`).
The crowd benchmark's annotated photos are fitted the same way as a check that the
threshold carries over to crowds; they do not choose it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from hdnet_ros.evaluation.annotations import load_sets
from hdnet_ros.evaluation.score_calibration import JointOutcomes, bootstrap_interval, half_right_score
from hdnet_ros.joints import NUM_COCO_JOINTS
from hdnet_ros.people import Detection
from hdnet_ros.pipeline import Pipeline, build_stages
from hdnet_ros.stages.tracking.boxes import iou_matrix
from panoptic_bags import load_reference
from scipy.optimize import linear_sum_assignment

from hdnet_ros.config import load_settings

NETWORKS = ("pp_tinypose_128x96", "pp_tinypose_256x192", "movenet_lightning_int8")
BINS = ((0.0, 0.1), (0.1, 0.2), (0.2, 0.25), (0.25, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 1.01))
MATCH_IOU = 0.3  # the reference's box is its joints' extent, smaller than a detection box
View = tuple[np.ndarray, list[np.ndarray]]  # RGB, reference joints [17,2] per person (NaN: unknown)


def panoptic_views(data_dir: Path) -> list[View]:
    """Every Panoptic view with its people's reference joints projected into it (NaN outside the image)."""
    reference = load_reference(data_dir)
    views = []
    for frame, cameras in reference.frames.items():
        for name, people in cameras.items():
            camera = reference.cameras[name]
            path = reference.image(data_dir, name, frame)
            bgr = cv2.imread(str(path))
            if bgr is None:
                raise SystemExit(f"cannot read {path}")
            joints = []
            for person in people:
                projected = person.joints @ camera.K.T
                pixels = projected[:, :2] / projected[:, 2:3]
                outside = ~((pixels >= 0) & (pixels < [camera.width, camera.height])).all(axis=1)
                pixels[outside] = np.nan
                if np.count_nonzero(np.isfinite(pixels).all(axis=1)) >= 6:
                    joints.append(pixels)
            views.append((cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), joints))
    return views


def outcomes(pipeline: Pipeline, views: list[View], detections: list[list[Detection]]) -> JointOutcomes:
    """Every labelled joint of every matched person, right or wrong (module doc)."""
    keypoints_of = pipeline.stages.keypoints
    assert keypoints_of is not None
    parts = []
    for (rgb, people), found in zip(views, detections, strict=True):
        if not people or not found:
            continue
        keypoints = keypoints_of(rgb, found)
        extents = [np.r_[np.nanmin(p, axis=0), np.nanmax(p, axis=0)] for p in people]
        overlap = iou_matrix(extents, [d.box for d in found])
        for person, box in zip(*linear_sum_assignment(-overlap), strict=True):
            if overlap[person, box] < MATCH_IOU:
                continue
            x0, y0, x1, y1 = found[box].box
            found_box = keypoints[box]
            parts.append(
                JointOutcomes.of(
                    found_box.pixels[:NUM_COCO_JOINTS],
                    found_box.scores[:NUM_COCO_JOINTS],
                    people[person],
                    float(np.hypot(x1 - x0, y1 - y0)),
                )
            )
    return JointOutcomes.joined(parts)


def unthresholded(models_dir: Path, network: str) -> Pipeline:
    """The product's detector and ``network`` with every keypoint kept (no threshold, no crowd rules)."""
    values = {
        "models.models_dir": str(models_dir),
        "keypoints.model": network,
        "keypoints.min_score": 0.0,
        "keypoints.heatmap_min_score": 0.0,
        "crowd.enabled": False,
        "networks.pose_3d": "",
        "networks.root_depth": "",
        "tracking.enabled": False,
    }
    if network == "movenet_lightning_int8":
        values["keypoints.runtime"] = "litert_int8"
    settings = load_settings(overrides=values)
    return Pipeline(settings, build_stages(settings))


def report(name: str, joints: JointOutcomes) -> dict[str, Any]:
    low, high = bootstrap_interval(joints)
    half = half_right_score(joints)
    print(f"  {name:10s} {len(joints):4d} joints, right {np.mean(joints.right):.3f}; P(right) = 1/2 at score ", end="")
    print(f"{half:.3f} (90 % {low:.3f}-{high:.3f})")
    bins = {f"{a:.2f}-{b:.2f}": joints.right_share(a, b) for a, b in BINS}
    print("             " + "  ".join(f"[{k}) {n:3d} {share:4.2f}" for k, (n, share) in bins.items()))
    return {"joints": len(joints), "half_right_score": half, "interval_90": [low, high], "bins": bins}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_MODELS_DIR", "../shared/models"))
    )
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_DATA_DIR", "../shared/data")))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    views = panoptic_views(args.data_dir)
    photos = load_sets(args.data_dir)
    crowd_views = [(p.rgb, [person.keypoints for person in p.people]) for p in photos]
    defaults = load_settings()
    print(f"Panoptic: {len(views)} views, {sum(len(p) for _, p in views)} people with a reference; ", end="")
    print(f"crowd photos: {len(photos)}, {sum(len(p.people) for p in photos)} annotated people (check only)")
    print(f"thresholds now: keypoints.heatmap_min_score {defaults.keypoints.heatmap_min_score}, ", end="")
    print(f"keypoints.min_score {defaults.keypoints.min_score}")
    results: dict[str, Any] = {}
    detections: dict[str, list[list[Detection]]] = {}
    for network in NETWORKS:
        pipeline = unthresholded(args.models_dir, network)
        if not detections:
            detections = {
                "panoptic": [pipeline.detector.detect(rgb).confident for rgb, _ in views],
                "crowd": [pipeline.detector.detect(rgb).confident for rgb, _ in crowd_views],
            }
        print(network)
        results[network] = {
            "panoptic": report("Panoptic", outcomes(pipeline, views, detections["panoptic"])),
            "crowd": report("crowd", outcomes(pipeline, crowd_views, detections["crowd"])),
        }
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
