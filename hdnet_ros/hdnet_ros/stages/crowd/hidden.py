"""Joints hidden behind another person: guessed by the network, said in their confidence.

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


def segment_distances(points: FloatArray, starts: FloatArray, ends: FloatArray) -> FloatArray:
    """Distances of points [P,J,2] to segments [Q,B,2]-[Q,B,2] -> [P,J,Q,B] (NaN propagates)."""
    p = points[:, :, None, None, :]
    a, b = starts[None, None], ends[None, None]
    direction = b - a
    length2 = np.sum(direction**2, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(np.sum((p - a) * direction, axis=-1) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    closest = a + t[..., None] * direction
    return np.linalg.norm(p - closest, axis=-1)


def hidden_joints(skeletons: Skeletons, limb_radius: float, ratio: float) -> BoolArray:
    """Seen COCO joints [P,J] lying on another person who is clearly seen there (module doc)."""
    count = len(skeletons)
    hidden = np.zeros(skeletons.scores.shape, dtype=bool)
    if count < 2:
        return hidden
    first = np.array([a for a, _ in COVERING])
    second = np.array([b for _, b in COVERING])
    pixels = skeletons.pixels[:, :NUM_COCO_JOINTS]
    scores = skeletons.scores[:, :NUM_COCO_JOINTS]
    distance = segment_distances(pixels, skeletons.pixels[:, first], skeletons.pixels[:, second])  # [P,J,Q,B]
    surer = np.minimum(skeletons.scores[:, first], skeletons.scores[:, second])  # [Q,B]
    radius = limb_radius * skeletons.body_scale()  # [Q]
    with np.errstate(invalid="ignore"):
        covered = (distance <= radius[None, None, :, None]) & (scores[:, :, None, None] < ratio * surer[None, None])
    covered[np.arange(count), :, np.arange(count)] = False  # not by one's own limbs
    hidden[:, :NUM_COCO_JOINTS] = np.any(covered, axis=(2, 3)) & skeletons.seen[:, :NUM_COCO_JOINTS]
    return hidden
