"""What 2D boxes say about who is who: overlaps, and roots measured on someone in front."""

from __future__ import annotations

import math

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


def _areas(boxes: FloatArray) -> FloatArray:
    return np.maximum(boxes[:, 2] - boxes[:, 0], 0.0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0.0)


def intersection_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """Intersection areas [N,M] of boxes ``a`` [N,4] with boxes ``b`` [M,4]."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.maximum(w, 0.0) * np.maximum(h, 0.0)


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """:func:`iou` of every box of ``a`` [N,4] with every box of ``b`` [M,4] ([N,M]): the same
    arithmetic in the same order, so the same values to the bit, without a Python loop."""
    first = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    second = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = intersection_matrix(first, second)
    union = _areas(first)[:, None] + _areas(second)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def overlap_matrix(
    predicted: npt.ArrayLike,
    boxes: npt.ArrayLike,
    min_iou: float,
    widen: float = 1.0,
    min_cover: float = 0.5,
    min_pad: npt.ArrayLike = 0.0,
) -> npt.NDArray[np.bool_]:
    """The 2D gate of every track's predicted box [N,4] with every person's box [M,4] ([N,M]):
    the person's box overlaps the track's.

    A partly occluded person's box shrinks and slides sideways when the occluder moves, so
    the predicted box is widened by ``widen`` times its width on each side, or by
    ``min_pad`` pixels [N] where that is more (a coasting track's uncertainty), and the gate
    passes with enough IoU or with the smaller box at least ``min_cover`` inside the other
    (a box without an area overlaps nothing).
    """
    tracks = np.asarray(predicted, dtype=np.float64).reshape(-1, 4)
    people = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    pad = np.maximum(widen * (tracks[:, 2] - tracks[:, 0]), min_pad)
    wide = np.stack((tracks[:, 0] - pad, tracks[:, 1], tracks[:, 2] + pad, tracks[:, 3]), axis=1)
    smaller = np.minimum(_areas(wide)[:, None], _areas(people)[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = (smaller > 0) & (intersection_matrix(wide, people) / smaller >= min_cover)
    return (iou_matrix(wide, people) >= min_iou) | inside


def clear_pairs(overlap: FloatArray, min_iou: float, max_rival_iou: float) -> npt.NDArray[np.bool_]:
    """[T,P] the pairs of ``overlap`` (IoU of T boxes with P boxes, or any score where larger
    is closer) that reach ``min_iou`` while every other entry of the pair's row and column
    stays under ``max_rival_iou`` (<= ``min_iou``): the same box again, no other one near."""
    overlap = np.asarray(overlap, dtype=np.float64)
    if overlap.size == 0:
        return np.zeros(overlap.shape, dtype=bool)
    # The largest entry in each row and column other than the pair's own: the second largest
    # where the pair holds the largest (a pair that reaches min_iou does); none: -inf.
    rows, cols = np.sort(overlap, axis=1), np.sort(overlap, axis=0)
    row_rival = rows[:, -2] if overlap.shape[1] > 1 else np.full(overlap.shape[0], -np.inf)
    col_rival = cols[-2, :] if overlap.shape[0] > 1 else np.full(overlap.shape[1], -np.inf)
    rivals_far = (row_rival[:, None] < max_rival_iou) & (col_rival[None, :] < max_rival_iou)
    return np.asarray((overlap >= min_iou) & rivals_far)


def has_root(person: Person) -> bool:
    """Whether the person's root is known (all three coordinates finite; on Python floats:
    twice per person and frame)."""
    x, y, z = person.positions[ROOT].tolist()
    return math.isfinite(x) and math.isfinite(y) and math.isfinite(z)


def hidden_roots(people: list[Person], min_cover: float, depth_m: float) -> set[int]:
    """Indices of people whose root is probably measured on someone in front of them.

    A person whose box lies mostly inside another person's box (more than the other lies
    inside theirs) and whose root is at that person's depth is either beside them at the
    same distance or hidden behind them with the depth windows on the front person's body;
    the two cannot be told apart from the root, so the root is not trusted this frame.
    """
    if len(people) < 2:
        return set()
    boxes = np.array([p.detection.box for p in people], dtype=np.float64).reshape(-1, 4)
    depths = np.array([p.positions[ROOT, 2] for p in people], dtype=np.float64)
    rooted = np.array([has_root(p) for p in people])
    areas = _areas(boxes)
    with np.errstate(divide="ignore", invalid="ignore"):
        # cover[a, b]: the share of a's box inside b's box
        cover = np.where(areas[:, None] > 0, intersection_matrix(boxes, boxes) / areas[:, None], 0.0)
    same_depth = np.abs(depths[:, None] - depths[None, :]) <= depth_m
    pairs = rooted[:, None] & rooted[None, :] & ~np.eye(len(people), dtype=bool)
    suspect = pairs & (cover >= min_cover) & (cover > cover.T) & same_depth
    return {int(index) for index in np.flatnonzero(np.any(suspect, axis=1))}
