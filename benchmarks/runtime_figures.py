"""Each network's CPU runtimes side by side: what one typical call costs and how far the
outputs are from the published network's, measured in one run (issue 19, item 1).

* MoveNet (``keypoints.runtime``): the candidates of ``stages/keypoint_runtimes.py`` timed
  on the probe frame (4 people: crops, network, decoding), then run on the COCO photos'
  detections: PCK at half a head and OKS against the annotations, and the distance of
  each joint to the published network's (LiteRT) in px of the 192 px crop.
* BlazePose (``blazepose.runtime``): the candidates of ``inference/runtime.py`` timed on 4
  crops, then run on the sample frames' people, cut as the stage cuts them: the largest
  difference to LiteRT per output relative to the crop's largest magnitude (the bounds of
  ``test_blazepose_network.py``), and in the units that matter (landmark px, world mm,
  mask IoU at logit 0, presence).

* PP-TinyPose (the default 2D network; ``keypoints.runtime``) and the person detector
  (``detector.runtime``): the candidates of ``inference/model_file_runtimes.py``
  (onnxruntime, OpenVINO) timed on the probe's call (4 crops; one frame), then run on the
  COCO photos: PP-TinyPose's PCK / OKS and its keypoints' distance to onnxruntime's [px],
  the detector's people per photo and its boxes' distance to onnxruntime's [px].

The timing interleaves the candidates (``runtime_choice.probe_ms``), as the start-up probe
does, with more rounds.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from bench_keypoints_coco import load_photos, score
from hdnet_ros.inference.backend import Arrays
from hdnet_ros.inference.blazepose_runtime import blazepose_candidates
from hdnet_ros.inference.model_file_runtimes import PROBE_CROPS, model_file_candidates
from hdnet_ros.inference.runtime_choice import Candidate, probe_ms
from hdnet_ros.joints import NUM_COCO_JOINTS
from hdnet_ros.model_files import ModelFileError, resolve_model_file
from hdnet_ros.people import Frame, Person
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.detection import PersonDetector
from hdnet_ros.stages.keypoint_runtimes import BF16_MEASURED, movenet_candidates
from hdnet_ros.stages.keypoints2d import MOVENET_INPUT_SIZE, KeypointEstimator
from hdnet_ros.stages.topdown_heatmap import HeatmapKeypoints

from hdnet_ros.config import Settings

PUBLISHED = {
    "MoveNet": "litert_int8",
    "BlazePose": "litert_fp32",
    "2D heatmaps": "onnxruntime",
    "detector": "onnxruntime",
}
# test_blazepose_network.TOLERANCE (kept equal to it; the bounds there were widened after
# OpenCV 4.10's crops, with the measurements that set them): two float32 evaluations of
# BlazePose differ by less (relative to each output's largest magnitude in the crop;
# presence absolute).
BLAZEPOSE_TOLERANCE = {"landmarks": 3e-4, "presence": 3e-4, "mask": 1e-2, "heatmaps": 2e-4, "world_landmarks": 3e-4}
BODY = 33  # BlazePose's body landmarks (then 6 auxiliary points)


def _open(candidates: list[Candidate[Any]]) -> tuple[dict[str, Candidate[Any]], dict[str, Any], dict[str, str]]:
    by_name, opened, missing = {c.name: c for c in candidates}, {}, {}
    for candidate in candidates:
        try:
            opened[candidate.name] = candidate.open()
        except (ModelFileError, ImportError, RuntimeError, ValueError) as error:
            missing[candidate.name] = str(error)
    return by_name, opened, missing


def _timed(by_name: Mapping[str, Candidate[Any]], opened: Mapping[str, Any], rounds: int) -> dict[str, float]:
    calls = {name: functools.partial(by_name[name].call, runtime) for name, runtime in opened.items()}
    return probe_ms(calls, 2, rounds)


MOVENET = "movenet_lightning_int8"


def movenet_rows(settings: Settings, pipeline: Pipeline, data_dir: Path, rounds: int) -> list[dict[str, Any]]:
    """Per MoveNet runtime: ms per call (4 people), COCO PCK / OKS, crop-px distance to LiteRT
    (MoveNet's, whichever 2D network the settings name)."""
    path = resolve_model_file(MOVENET, settings.models.models_dir or None)
    candidates = movenet_candidates(path, settings.keypoints, settings.inference, settings.models.threads)
    by_name, opened, missing = _open(candidates)
    medians = _timed(by_name, opened, rounds)
    photos = load_photos(data_dir / "coco_keypoints", pipeline)
    keypoints: dict[str, list[Any]] = {}
    for name, estimator in opened.items():
        keypoints[name] = [estimator(photo.rgb, photo.detections) for photo in photos]
    published = keypoints.get(PUBLISHED["MoveNet"])
    rows: list[dict[str, Any]] = []
    for name in by_name:
        if name not in opened:
            rows.append({"network": "MoveNet", "runtime": name, "missing": missing[name]})
            continue
        found = [[(k.pixels[:NUM_COCO_JOINTS], k.scores[:NUM_COCO_JOINTS]) for k in ks] for ks in keypoints[name]]
        row = {"network": "MoveNet", "runtime": name, "ms_per_call": medians[name], **score(photos, found)}
        if published is not None:
            row.update(_crop_px(photos, keypoints[name], published, settings.keypoints.crop_scale))
        rows.append(row)
        by_name[name].close(opened[name])
    return rows


def _crop_px(photos: list[Any], ours: list[Any], theirs: list[Any], crop_scale: float) -> dict[str, float]:
    """Median and p90 distance [px of the 192 px crop] of joints both runtimes placed."""
    errors: list[float] = []
    for photo, mine, reference in zip(photos, ours, theirs, strict=True):
        for detection, a, b in zip(photo.detections, mine, reference, strict=True):
            x0, y0, x1, y1 = detection.box
            crop_px = max(x1 - x0, y1 - y0) * crop_scale / MOVENET_INPUT_SIZE
            both = np.all(np.isfinite(a.pixels) & np.isfinite(b.pixels), axis=1)
            errors += (np.linalg.norm(a.pixels[both] - b.pixels[both], axis=1) / crop_px).tolist()
    return {"crop_px_median": float(np.median(errors)), "crop_px_p90": float(np.percentile(errors, 90))}


def blazepose_rows(
    settings: Settings, pipeline: Pipeline, frames: list[Frame], people: list[list[Person]], rounds: int
) -> list[dict[str, Any]]:
    """Per BlazePose runtime: ms per call (4 crops) and its outputs against LiteRT's on the
    sample frames' people (crops as the stage cuts them)."""
    stage = pipeline.stages.blazepose
    assert stage is not None
    path = resolve_model_file(settings.blazepose.model, settings.models.models_dir or None)
    by_name, opened, missing = _open(blazepose_candidates(path, settings.inference, settings.models.threads))
    medians = _timed(by_name, opened, rounds)
    crops = np.concatenate([stage.prepare(f.rgb, found).images.copy() for f, found in zip(frames, people, strict=True)])
    outputs: dict[str, Arrays] = {name: backend.run({"image": crops}) for name, backend in opened.items()}
    published = outputs.get(PUBLISHED["BlazePose"])
    rows: list[dict[str, Any]] = []
    for name in by_name:
        if name not in opened:
            rows.append({"network": "BlazePose", "runtime": name, "missing": missing[name]})
            continue
        row: dict[str, Any] = {"network": "BlazePose", "runtime": name, "ms_per_call": medians[name]}
        if published is not None:
            row.update(blazepose_differences(outputs[name], published, stage.config.presence_threshold))
        rows.append(row)
        by_name[name].close(opened[name])
    return rows


def blazepose_differences(outputs: Arrays, reference: Arrays, threshold: float) -> dict[str, Any]:
    """Worst relative difference per output (the tests' measure) and landmark px, world mm,
    mask IoU and presence in their own units. Presence is judged on every crop (it decides
    which are used); the other outputs on the crops the reference accepts, the only ones the
    stage reads: a crop of nobody (presence ~0) amplifies summation order most, and was the
    one crop past the world skeleton's bound (3.2e-4 of 0.51 m: 0.17 mm; docs/benchmarks.md,
    the twenty-ninth session)."""
    accepted = np.asarray(reference["presence"]).reshape(-1) >= threshold
    relative = {}
    for name in BLAZEPOSE_TOLERANCE:
        ours, theirs = np.asarray(outputs[name], np.float64), np.asarray(reference[name], np.float64)
        worst = np.abs(ours - theirs).reshape(len(theirs), -1).max(axis=1)
        if name != "presence":
            worst = (worst / np.abs(theirs).reshape(len(theirs), -1).max(axis=1))[accepted]
        relative[name] = float(worst.max(initial=0.0))
    count = len(accepted)
    xy = [np.asarray(o["landmarks"]).reshape(count, -1, 5)[accepted, :BODY, :2] for o in (outputs, reference)]
    world = [np.asarray(o["world_landmarks"]).reshape(count, -1, 3)[accepted, :BODY] for o in (outputs, reference)]
    masks = [np.asarray(o["mask"])[accepted, ..., 0] > 0 for o in (outputs, reference)]
    union = np.maximum((masks[0] | masks[1]).sum(axis=(1, 2)), 1)
    return {
        "relative": relative,
        "within_tolerance": all(relative[name] <= bound for name, bound in BLAZEPOSE_TOLERANCE.items()),
        "crops": count,
        "accepted": int(accepted.sum()),
        "landmarks_px_max": float(np.linalg.norm(xy[0] - xy[1], axis=2).max(initial=0.0)),
        "world_mm_max": float(1000.0 * np.linalg.norm(world[0] - world[1], axis=2).max(initial=0.0)),
        "mask_iou_min": float(((masks[0] & masks[1]).sum(axis=(1, 2)) / union).min(initial=1.0)),
        "presence_max": relative["presence"],
    }


def chosen_runtimes(pipeline: Pipeline) -> dict[str, str]:
    """What the pipeline's ``auto`` settings chose on this CPU: the detector's runtime, the 2D
    network (``model``, ``runtime``) and BlazePose's runtime."""
    keypoints: KeypointEstimator | None = pipeline.keypoints
    body = pipeline.stages.blazepose
    return {
        "detector": f"{pipeline.settings.detector.model} on {pipeline.stages.detector.runtime}",
        "model": pipeline.settings.keypoints.model,
        "2D": getattr(keypoints, "runtime", "") if keypoints is not None else "",
        "BlazePose": body.runtime if body is not None else "",
    }


def heatmap_rows(settings: Settings, pipeline: Pipeline, data_dir: Path, rounds: int) -> list[dict[str, Any]]:
    """Per runtime of the 2D heatmap network (when the settings name one, e.g. PP-TinyPose):
    ms per call (4 crops), COCO PCK / OKS, and the keypoints' distance to onnxruntime's [px]."""
    if not isinstance(pipeline.keypoints, HeatmapKeypoints):
        return []
    inference, name = settings.inference, settings.keypoints.model
    path = resolve_model_file(name, settings.models.models_dir or None)
    candidates = model_file_candidates(
        name, path, inference, settings.models.threads, inference.heatmap_max_batch, PROBE_CROPS, name in BF16_MEASURED
    )
    by_name, opened, missing = _open(candidates)
    medians = _timed(by_name, opened, rounds)
    photos = load_photos(data_dir / "coco_keypoints", pipeline)
    found: dict[str, list[Any]] = {}
    for runtime, backend in opened.items():
        network = HeatmapKeypoints(backend, settings.keypoints, inference.heatmap_max_batch)
        found[runtime] = [
            [(k.pixels[:NUM_COCO_JOINTS], k.scores[:NUM_COCO_JOINTS]) for k in network(p.rgb, p.detections)]
            for p in photos
        ]
    reference = found.get(PUBLISHED["2D heatmaps"])
    rows: list[dict[str, Any]] = []
    for runtime in by_name:
        if runtime not in opened:
            rows.append({"network": "2D heatmaps", "runtime": runtime, "missing": missing[runtime]})
            continue
        row = {
            "network": "2D heatmaps",
            "runtime": runtime,
            "ms_per_call": medians[runtime],
            **score(photos, found[runtime]),
        }
        if reference is not None:
            distances = _px_distances(found[runtime], reference)
            row["px_median"], row["px_max"] = float(np.median(distances)), float(distances.max(initial=0.0))
        rows.append(row)
        by_name[runtime].close(opened[runtime])
    return rows


def _px_distances(ours: list[Any], theirs: list[Any]) -> np.ndarray:
    """The distances [image px] of the joints both placed, over all photos and people."""
    distances = [np.zeros(0)]
    for mine, reference in zip(ours, theirs, strict=True):
        for (a, _), (b, _) in zip(mine, reference, strict=True):
            both = np.all(np.isfinite(a) & np.isfinite(b), axis=1)
            distances.append(np.linalg.norm(a[both] - b[both], axis=1))
    return np.concatenate(distances)


def detector_rows(settings: Settings, pipeline: Pipeline, data_dir: Path, rounds: int) -> list[dict[str, Any]]:
    """Per detector runtime: ms per call (one frame) and, on the COCO photos, the people
    found and the boxes' largest distance to onnxruntime's [px]."""
    name = settings.detector.model
    path = resolve_model_file(name, settings.models.models_dir or None)
    by_name, opened, missing = _open(
        model_file_candidates(name, path, settings.inference, settings.models.threads, 1, 1)
    )
    medians = _timed(by_name, opened, rounds)
    photos = load_photos(data_dir / "coco_keypoints", pipeline)
    found = {
        r: [PersonDetector(b, settings.detector).detect(p.rgb).confident for p in photos] for r, b in opened.items()
    }
    reference = found.get(PUBLISHED["detector"])
    rows: list[dict[str, Any]] = []
    for runtime in by_name:
        if runtime not in opened:
            rows.append({"network": "detector", "runtime": runtime, "missing": missing[runtime]})
            continue
        people = sum(len(d) for d in found[runtime])
        row: dict[str, Any] = {
            "network": "detector",
            "runtime": runtime,
            "ms_per_call": medians[runtime],
            "people": people,
        }
        if reference is not None:
            same = all(len(a) == len(b) for a, b in zip(found[runtime], reference, strict=True))
            pairs = [
                (a.box, b.box)
                for ours, theirs in zip(found[runtime], reference, strict=True)
                for a, b in zip(ours, theirs, strict=False)
            ]
            row["same_people"] = same
            row["box_px_max"] = float(max((np.abs(a - b).max() for a, b in pairs), default=0.0))
        rows.append(row)
        by_name[runtime].close(opened[runtime])
    return rows
