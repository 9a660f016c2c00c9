"""The crowd rules' joint tests that compare every person with every other, compiled
(numba, :mod:`.jit`): one call per rule and frame instead of some thirty numpy calls on
[P,Q,17] arrays (about 0.6 ms of a 20-person frame's 1 ms of crowd rules).

Each kernel does the numpy rule's arithmetic operation for operation, in the same order
(the norms as ``sqrt(dx * dx + dy * dy)``, the products as the numpy expressions group
them, NaN where numpy's minimum and clip give NaN), so the masks are the same to the bit:
``test_crowd_kernels`` holds them to main's numpy rules (``test/numpy_crowd``). The rules
themselves are described where they are called from (:mod:`.ownership`, :mod:`.hidden`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

from hdnet_ros.stages.crowd.jit import compiled

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
_LARGEST = np.finfo(np.float64).max  # np.nan_to_num's stand-in for +inf


@compiled
def limb_rejections(
    pixels: FloatArray,
    seen: BoolArray,
    scale: FloatArray,
    slack: float,
    chain_joints: IntArray,
    ancestors: IntArray,
    reaches: FloatArray,
    face_joints: IntArray,
    face_reach: float,
    neck: int,
) -> BoolArray:
    """Implausible limbs [P,J]: ``chain_joints`` [C] in order with their ancestors [C,D]
    (nearest first, -1 pads) and reaches [C,D] in statures; face joints within
    ``face_reach`` statures of the neck."""
    count, joints = seen.shape
    kept = seen.copy()
    rejected = np.zeros((count, joints), dtype=np.bool_)
    for p in range(count):
        for c in range(len(chain_joints)):
            joint = chain_joints[c]
            ref_x, ref_y, reach = np.nan, np.nan, np.nan
            for d in range(ancestors.shape[1]):
                ancestor = ancestors[c, d]
                if ancestor >= 0 and kept[p, ancestor]:  # the nearest kept ancestor
                    ref_x, ref_y, reach = pixels[p, ancestor, 0], pixels[p, ancestor, 1], reaches[c, d]
                    break
            dx, dy = pixels[p, joint, 0] - ref_x, pixels[p, joint, 1] - ref_y
            if kept[p, joint] and math.sqrt(dx * dx + dy * dy) > (slack * reach) * scale[p]:
                rejected[p, joint] = True
                kept[p, joint] = False
        bound = (slack * face_reach) * scale[p]
        for joint in face_joints:
            dx, dy = pixels[p, joint, 0] - pixels[p, neck, 0], pixels[p, joint, 1] - pixels[p, neck, 1]
            rejected[p, joint] = kept[p, joint] and math.sqrt(dx * dx + dy * dy) > bound
    return rejected


@compiled
def _nan_min(a: float, b: float) -> float:
    """np.minimum of two values (NaN when either is)."""
    if math.isnan(a) or math.isnan(b):
        return np.nan
    return a if a <= b else b


@compiled
def shared_rejections(
    pixels: FloatArray,
    scores: FloatArray,
    scale: FloatArray,
    centres: FloatArray,
    radius: float,
    mirror: IntArray,
    score_tie: float,
    torso_ratio: float,
) -> BoolArray:
    """Joints [P,K] (K: the COCO joints of ``pixels`` [P,K,2]) another person claims too,
    with a clearly higher score and a clearly nearer torso (``centres`` [P,2])."""
    count, joints = scores.shape
    to_torso = np.empty((count, count, joints))
    for p in range(count):
        for q in range(count):
            for j in range(joints):
                dx, dy = pixels[p, j, 0] - centres[q, 0], pixels[p, j, 1] - centres[q, 1]
                distance = math.sqrt(dx * dx + dy * dy) / scale[q]
                if math.isnan(distance):  # np.nan_to_num(nan=inf): an unknown torso is far
                    distance = np.inf
                elif distance == np.inf:
                    distance = _LARGEST
                elif distance == -np.inf:
                    distance = -_LARGEST
                to_torso[p, q, j] = distance
    rejected = np.zeros((count, joints), dtype=np.bool_)
    for p in range(count):
        for q in range(count):
            if q == p:
                continue
            limit = radius * _nan_min(scale[p], scale[q])
            for j in range(joints):
                if rejected[p, j] or not scores[q, j] - scores[p, j] > score_tie:
                    continue
                if not to_torso[p, q, j] < torso_ratio * to_torso[p, p, j]:
                    continue
                dx, dy = pixels[p, j, 0] - pixels[q, j, 0], pixels[p, j, 1] - pixels[q, j, 1]
                mx, my = pixels[p, j, 0] - pixels[q, mirror[j], 0], pixels[p, j, 1] - pixels[q, mirror[j], 1]
                rejected[p, j] = math.sqrt(dx * dx + dy * dy) < limit or math.sqrt(mx * mx + my * my) < limit
    return rejected


@compiled
def hidden_mask(
    pixels: FloatArray,
    scores: FloatArray,
    first: IntArray,
    second: IntArray,
    radius: FloatArray,
    ratio: float,
    tested: int,
) -> BoolArray:
    """Seen joints [P,J] among the first ``tested`` that lie within ``radius`` [Q] of another
    person's segment ``first``-``second`` [B] whose two joints score clearly higher."""
    count, joints = scores.shape
    segments = len(first)
    low, high = _segment_boxes(pixels, first, second, radius)
    hidden = np.zeros((count, joints), dtype=np.bool_)
    for p in range(count):
        for j in range(tested):
            x, y = pixels[p, j, 0], pixels[p, j, 1]
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            for q in range(count):
                if q == p or not (low[q, 0] <= x <= high[q, 0] and low[q, 1] <= y <= high[q, 1]):
                    continue
                for b in range(segments):
                    if not scores[p, j] < ratio * _nan_min(scores[q, first[b]], scores[q, second[b]]):
                        continue
                    if _segment_distance(x, y, pixels[q, first[b]], pixels[q, second[b]]) <= radius[q]:
                        hidden[p, j] = True
                        break
                if hidden[p, j]:
                    break
    return hidden


@compiled
def _segment_boxes(
    pixels: FloatArray, first: IntArray, second: IntArray, radius: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Each person's box [Q,2] low and high around their segments' ends, grown by their
    radius (and 1e-6 of it, and 1e-9 px, so that rounding never drops a point exactly at
    the radius); NaN ends are left out (np.fmin / np.fmax), a person without any has NaN."""
    count, segments = len(radius), len(first)
    low = np.full((count, 2), np.nan)
    high = np.full((count, 2), np.nan)
    for q in range(count):
        margin = radius[q] * (1.0 + 1e-6) + 1e-9
        for axis in range(2):
            lo, hi = np.nan, np.nan
            for b in range(2 * segments):
                value = pixels[q, first[b] if b < segments else second[b - segments], axis]
                if not math.isnan(value):
                    lo = value if math.isnan(lo) or value < lo else lo
                    hi = value if math.isnan(hi) or value > hi else hi
            low[q, axis], high[q, axis] = lo - margin, hi + margin
    return low, high


@compiled
def _segment_distance(x: float, y: float, start: FloatArray, end: FloatArray) -> float:
    """hidden.segment_distances for one point and one segment (NaN propagates)."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    length2 = dx * dx + dy * dy
    t = ((x - start[0]) * dx + (y - start[1]) * dy) / (length2 if length2 > 0 else 1.0)
    if t < 0.0:
        t = 0.0
    elif t > 1.0:
        t = 1.0
    ax, ay = x - (start[0] + t * dx), y - (start[1] + t * dy)
    return math.sqrt(ax * ax + ay * ay)


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Compile (or load) the kernels with a real frame's argument types, once per process."""
    pixels = np.zeros((2, 19, 2))
    scores = np.ones((2, 19))
    index = np.zeros(1, dtype=np.int64)
    limb_rejections(pixels, scores > 0, np.ones(2), 2.0, index, index[None], np.ones((1, 1)), index, 0.1, 0)
    shared_rejections(pixels[:, :17], scores[:, :17], np.ones(2), np.zeros((2, 2)), 0.1, np.arange(17), 0.1, 0.5)
    hidden_mask(pixels, scores, index, index, np.ones(2), 0.5, 17)
