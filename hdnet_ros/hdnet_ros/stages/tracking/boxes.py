"""What 2D boxes say about who is who: overlaps, and roots measured on someone in front."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import ROOT
from hdnet_ros.people import Person

FloatArray = npt.NDArray[np.float64]


def iou(a: FloatArray, b: FloatArray) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    inter = _intersection(a, b)
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _area(box: FloatArray) -> float:
    return max(float(box[2] - box[0]), 0.0) * max(float(box[3] - box[1]), 0.0)


def _intersection(a: FloatArray, b: FloatArray) -> float:
    w = min(float(a[2]), float(b[2])) - max(float(a[0]), float(b[0]))
    h = min(float(a[3]), float(b[3])) - max(float(a[1]), float(b[1]))
    return max(w, 0.0) * max(h, 0.0)


def widened(box: FloatArray, factor: float) -> FloatArray:
    """The box with its width grown by ``factor`` times on each side."""
    pad = factor * float(box[2] - box[0])
    return np.array([box[0] - pad, box[1], box[2] + pad, box[3]], dtype=np.float64)


def boxes_overlap(predicted: FloatArray, box: FloatArray, min_iou: float, widen: float = 1.0) -> bool:
    """The 2D gate: the person's box overlaps the track's predicted box.

    A partly occluded person's box shrinks and slides sideways when the occluder moves, so
    the predicted box is widened by ``widen`` times its width on each side and the gate
    passes with enough IoU or with either box mostly inside the other.
    """
    wide = widened(predicted, widen)
    if iou(wide, box) >= min_iou:
        return True
    smaller = min(_area(wide), _area(box))
    return smaller > 0 and _intersection(wide, box) / smaller >= 0.5


def has_root(person: Person) -> bool:
    return bool(np.all(np.isfinite(person.positions[ROOT])))


def hidden_roots(people: list[Person], min_cover: float, depth_m: float) -> set[int]:
    """Indices of people whose root is probably measured on someone in front of them.

    A person whose box lies mostly inside another person's box (more than the other lies
    inside theirs) and whose root is at that person's depth is either beside them at the
    same distance or hidden behind them with the depth windows on the front person's body;
    the two cannot be told apart from the root, so the root is not trusted this frame.
    """
    suspect: set[int] = set()
    for a, first in enumerate(people):
        if not has_root(first):
            continue
        box_a = first.detection.box
        for b, second in enumerate(people):
            if a == b or not has_root(second):
                continue
            box_b = second.detection.box
            inter = _intersection(box_a, box_b)
            cover_a = inter / _area(box_a) if _area(box_a) > 0 else 0.0
            cover_b = inter / _area(box_b) if _area(box_b) > 0 else 0.0
            same_depth = abs(float(first.positions[ROOT, 2] - second.positions[ROOT, 2])) <= depth_m
            if cover_a >= min_cover and cover_a > cover_b and same_depth:
                suspect.add(a)
                break
    return suspect
