"""The crowd benchmark's variants that the product does not run (measured, not kept).

* :func:`masked_people`: every other detection's box painted out of each person's image;
* :func:`refined_people`: a second crop around the skeleton for people whose first skeleton
  extends beyond its box or fills it poorly (counted);
* :func:`fused_detections`: YOLOX-Nano's and PP-PicoDet's boxes fused (weighted box fusion of
  the pairs that overlap, the others kept).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import numpy.typing as npt
from hdnet_ros.joints import NUM_COCO_JOINTS
from hdnet_ros.people import Detection, Frame, Person
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.detection import FrameDetections
from hdnet_ros.stages.tracking.boxes import iou_matrix
from scipy.optimize import linear_sum_assignment

FloatArray = npt.NDArray[np.float64]

# A skeleton's box: its seen joints' extent widened by this share on every side (the joints
# are not the body's outline: the head's top, the feet and the flesh around limbs lie outside).
SKELETON_BOX_MARGIN = 0.2
# Re-crop a person whose skeleton box overlaps its detection box less than this.
REFINE_BELOW_IOU = 0.7
MIN_SEEN_JOINTS = 4
FUSE_IOU = 0.55  # pairs of boxes from the two detectors that are one person


def masked_people(pipeline: Pipeline, frame: Frame, found: FrameDetections) -> list[Person]:
    """The 2D stage with every other detection's box (outside the person's own) painted
    in the ImageNet mean colour, one image per person: does hiding neighbours help?"""
    detections = found.confident + found.candidates
    people = []
    fill = np.array([124, 116, 104], dtype=np.uint8)
    for index, detection in enumerate(detections):
        rgb = frame.rgb.copy()
        own = detection.box.astype(int)
        keep = rgb[max(own[1], 0) : own[3] + 1, max(own[0], 0) : own[2] + 1].copy()
        for other, box in enumerate(d.box.astype(int) for d in detections):
            if other != index:
                rgb[max(box[1], 0) : box[3] + 1, max(box[0], 0) : box[2] + 1] = fill
        rgb[max(own[1], 0) : own[3] + 1, max(own[0], 0) : own[2] + 1] = keep
        single = FrameDetections([detection], []) if index < len(found.confident) else FrameDetections([], [detection])
        people += pipeline.people_of(dataclasses.replace(frame, rgb=rgb), single)[0]
    return people


def skeleton_box(person: Person) -> FloatArray | None:
    """The seen joints' extent widened by SKELETON_BOX_MARGIN (None: too few joints seen)."""
    pixels = person.pixels[:NUM_COCO_JOINTS]
    seen = pixels[np.all(np.isfinite(pixels), axis=1)]
    if len(seen) < MIN_SEEN_JOINTS:
        return None
    low, high = seen.min(axis=0), seen.max(axis=0)
    margin = SKELETON_BOX_MARGIN * (high - low)
    return np.concatenate((low - margin, high + margin))


class RefinedKeypoints:
    """The pipeline's 2D network, run a second time on a crop around the skeleton for each
    person whose first skeleton's box overlaps its detection box less than REFINE_BELOW_IOU;
    the second skeleton is kept where its mean score is higher. ``counts``: crops, refined, kept."""

    def __init__(self, pipeline: Pipeline) -> None:
        assert pipeline.stages.keypoints is not None
        self.network = pipeline.stages.keypoints
        self.runtime = self.network.runtime
        self.counts: Counter[str] = Counter()

    def __call__(self, rgb: npt.NDArray[np.uint8], detections: list[Detection]) -> list:
        first = self.network(rgb, detections)
        again: list[tuple[int, FloatArray]] = []
        for index, (detection, keypoints) in enumerate(zip(detections, first, strict=True)):
            box = skeleton_box(Person(detection, keypoints.pixels, keypoints.scores))
            if box is not None and iou_matrix([box], [detection.box])[0, 0] < REFINE_BELOW_IOU:
                again.append((index, box))
        self.counts["crops"] += len(detections)
        self.counts["refined"] += len(again)
        second = self.network(rgb, [Detection(box, detections[i].score) for i, box in again])
        for (index, _), keypoints in zip(again, second, strict=True):
            if np.mean(keypoints.scores[:NUM_COCO_JOINTS]) > np.mean(first[index].scores[:NUM_COCO_JOINTS]):
                first[index] = keypoints
                self.counts["kept"] += 1
        return first


def fused_detections(first: FrameDetections, second: FrameDetections, threshold: float) -> FrameDetections:
    """Weighted box fusion of two detectors' boxes: pairs with IoU >= FUSE_IOU (one to one,
    Hungarian) become their score-weighted mean box with the higher score; the rest are kept.
    Scores below ``threshold`` are candidates."""
    a, b = first.confident + first.candidates, second.confident + second.candidates
    fused: list[Detection] = []
    used_a: set[int] = set()
    used_b: set[int] = set()
    if a and b:
        overlap = iou_matrix([d.box for d in a], [d.box for d in b])
        for i, j in zip(*linear_sum_assignment(-overlap), strict=True):
            if overlap[i, j] >= FUSE_IOU:
                weights = np.array([a[i].score, b[j].score])
                box = (weights[0] * a[i].box + weights[1] * b[j].box) / weights.sum()
                fused.append(Detection(box, float(weights.max())))
                used_a.add(int(i))
                used_b.add(int(j))
    fused += [d for i, d in enumerate(a) if i not in used_a] + [d for j, d in enumerate(b) if j not in used_b]
    fused.sort(key=lambda d: -d.score)
    return FrameDetections([d for d in fused if d.score >= threshold], [d for d in fused if d.score < threshold])
