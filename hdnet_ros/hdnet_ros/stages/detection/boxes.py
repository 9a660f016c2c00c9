"""What every detector decoding ends with: boxes in image pixels -> the frame's detections.

Clip to the image, non-maximum suppression, drop boxes too small for keypoints, sort by
score, keep at most ``max_people``. Shared by the decodings (:mod:`.yolox`,
:mod:`.yolox_nms`, :mod:`.picodet`), which only turn a network's outputs into boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.people import Detection

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BoxFilter:
    """How raw boxes become detections (the detector's settings, resolved)."""

    floor: float  # lowest score kept (a low-score candidate's floor, or the threshold)
    nms_threshold: float  # IoU above which the lower-scored of two boxes goes; 1: no NMS
    min_height_px: float
    max_people: int


def clip_boxes(xyxy: FloatArray, image_size: tuple[int, int]) -> FloatArray:
    """Boxes [N,4] clipped to the image (height, width)."""
    height, width = image_size
    # np.clip's values (NaN kept; a zero's sign aside, which numpy 1.x's clip drops) in two
    # ufunc calls against each column's bound, not gathered and scattered halves (40 -> 5 us).
    upper = np.array([width - 1, height - 1, width - 1, height - 1], dtype=np.float64)
    return np.minimum(np.maximum(0.0, np.asarray(xyxy, dtype=np.float64)), upper)


def nms_order(xyxy: FloatArray, scores: FloatArray, threshold: float) -> npt.NDArray[np.intp]:
    """Indices kept by greedy NMS at IoU ``threshold`` (OpenCV's), best score first."""
    if threshold >= 1.0 or len(scores) <= 1:
        return np.argsort(-scores, kind="stable")
    xywh = np.concatenate((xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]), axis=1)
    indices = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, threshold)
    return np.asarray(indices, dtype=np.intp).reshape(-1)


def to_detections(
    xyxy: FloatArray, scores: FloatArray, image_size: tuple[int, int], rules: BoxFilter
) -> list[Detection]:
    """Detections from boxes [N,4] (image pixels) and scores [N]: clipped, suppressed,
    tall enough, best first, at most ``max_people``."""
    keep = scores >= rules.floor
    boxes, kept_scores = clip_boxes(xyxy[keep], image_size), scores[keep].astype(np.float64)
    detections = [
        Detection(box=boxes[i], score=float(kept_scores[i]))
        for i in nms_order(boxes, kept_scores, rules.nms_threshold)
        if boxes[i, 3] - boxes[i, 1] >= rules.min_height_px
    ]
    detections.sort(key=lambda d: d.score, reverse=True)
    return detections[: rules.max_people]
