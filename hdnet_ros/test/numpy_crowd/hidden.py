"""main's copy (649e036), kept as the reference.

Joints hidden behind another person: guessed by the network, said in their confidence.

A top-down network places every joint of its person, hidden or not. Where a joint lies on
another person's limb or torso side (within ``limb_radius`` x that person's stature of the
segment between two of their joints) and the network is clearly surer of that person's
two joints there than of this one (its score below ``hidden_ratio`` x the lower of
theirs), the other person is in front and this joint is a guess behind them: its score is
multiplied by ``hidden_confidence``. The joint stays published (a guess is often right,
and the 3D stage weighs it by its score); in RGB-D the depth stage checks guessed joints
against the depth image as well (:mod:`hdnet_ros.stages.depth.guessed`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hdnet_ros.joints import (
    BONES,
    LEFT_HIP,
    LEFT_SHOULDER,
    NUM_COCO_JOINTS,
    RIGHT_HIP,
    RIGHT_SHOULDER,
)
from hdnet_ros.stages.crowd.skeletons import Skeletons

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# The segments that cover what is behind them: limbs and the torso's sides (COCO joints only).
_LIMBS = tuple((a, b) for a, b in BONES if max(a, b) < NUM_COCO_JOINTS)
COVERING = (*_LIMBS, (LEFT_SHOULDER, LEFT_HIP), (RIGHT_SHOULDER, RIGHT_HIP))
_FIRST = np.array([a for a, _ in COVERING])
_SECOND = np.array([b for _, b in COVERING])


def segment_distances(points: FloatArray, starts: FloatArray, ends: FloatArray) -> FloatArray:
    """Distances of points [...,2] to segments [...,2]-[...,2], broadcast (NaN propagates):
    points [P,J,1,1,2] against segments [Q,B,2] give [P,J,Q,B]."""
    direction = ends - starts
    length2 = np.sum(direction**2, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(np.sum((points - starts) * direction, axis=-1) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    closest = starts + t[..., None] * direction
    return np.linalg.norm(points - closest, axis=-1)


def _near_boxes(points: FloatArray, ends: FloatArray, radius: FloatArray) -> BoolArray:
    """Points [P,J,2] inside each person's box around their covering segments' ends [Q,E,2]
    grown by their ``radius`` [Q] -> [P,J,Q]: a point within the radius of a segment lies
    in it. Grown by a further 1e-6 of the radius (and 1e-9 px) so that rounding never
    drops a point exactly at the radius; NaN ends are left out, a person without any is
    near nothing."""
    margin = (radius * (1.0 + 1e-6) + 1e-9)[:, None]
    low = np.fmin.reduce(ends, axis=1) - margin  # [Q,2]
    high = np.fmax.reduce(ends, axis=1) + margin
    with np.errstate(invalid="ignore"):
        inside = (points[:, :, None, :] >= low[None, None]) & (points[:, :, None, :] <= high[None, None])
    return np.all(inside, axis=-1)


def hidden_joints(skeletons: Skeletons, limb_radius: float, ratio: float) -> BoolArray:
    """Seen COCO joints [P,J] lying on another person who is clearly seen there (module doc).

    The distances are measured only for the (joint, other person's segment) pairs that pass
    the cheap tests first (the score test and the other person's box around their
    segments): in a crowd of 20 the dense [P,J,Q,B] distances were 4 ms a frame, nearly
    all of them for people far apart. The result is that of the dense test
    (``test_crowd_rules``)."""
    count = len(skeletons)
    hidden = np.zeros(skeletons.scores.shape, dtype=bool)
    if count < 2:
        return hidden
    first, second = _FIRST, _SECOND
    pixels = skeletons.pixels[:, :NUM_COCO_JOINTS]
    scores = skeletons.scores[:, :NUM_COCO_JOINTS]
    starts, ends = skeletons.pixels[:, first], skeletons.pixels[:, second]  # [Q,B,2]
    surer = np.minimum(skeletons.scores[:, first], skeletons.scores[:, second])  # [Q,B]
    radius = limb_radius * skeletons.body_scale()  # [Q]
    near = _near_boxes(pixels, np.concatenate((starts, ends), axis=1), radius)  # [P,J,Q]
    near[np.arange(count), :, np.arange(count)] = False  # not by one's own limbs
    near &= skeletons.seen[:, :NUM_COCO_JOINTS, None]
    p, j, q = np.nonzero(near)
    pair, b = np.nonzero(scores[p, j][:, None] < ratio * surer[q])  # [K,B]: the other is surer there
    if len(pair) == 0:
        return hidden
    p, j, q = p[pair], j[pair], q[pair]
    distance = segment_distances(pixels[p, j], starts[q, b], ends[q, b])
    with np.errstate(invalid="ignore"):
        covered = distance <= radius[q]
    hidden[p[covered], j[covered]] = True
    return hidden
