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
from hdnet_ros.stages.crowd.kernels import hidden_mask
from hdnet_ros.stages.crowd.skeletons import Skeletons

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# The segments that cover what is behind them: limbs and the torso's sides (COCO joints only).
_LIMBS = tuple((a, b) for a, b in BONES if max(a, b) < NUM_COCO_JOINTS)
COVERING = (*_LIMBS, (LEFT_SHOULDER, LEFT_HIP), (RIGHT_SHOULDER, RIGHT_HIP))
_FIRST = np.array([a for a, _ in COVERING], dtype=np.int64)
_SECOND = np.array([b for _, b in COVERING], dtype=np.int64)


def segment_distances(points: FloatArray, starts: FloatArray, ends: FloatArray) -> FloatArray:
    """Distances of points [...,2] to segments [...,2]-[...,2], broadcast (NaN propagates):
    points [P,J,1,1,2] against segments [Q,B,2] give [P,J,Q,B]."""
    direction = ends - starts
    length2 = np.sum(direction**2, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(np.sum((points - starts) * direction, axis=-1) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    closest = starts + t[..., None] * direction
    return np.linalg.norm(points - closest, axis=-1)


def hidden_joints(skeletons: Skeletons, limb_radius: float, ratio: float) -> BoolArray:
    """Seen COCO joints [P,J] lying on another person who is clearly seen there (module doc).

    Compiled (:func:`.kernels.hidden_mask`): per joint, the other people whose box around
    their segments (grown by the radius) holds it, then the score test, then the distance
    to each segment, stopping at the first that covers it; the dense [P,J,Q,B] distances
    were 4 ms a frame in a crowd of 20, the pruned numpy test 0.35 ms. The result is that of
    the dense test (``test_crowd_rules``)."""
    if len(skeletons) < 2:
        return np.zeros(skeletons.scores.shape, dtype=bool)
    return hidden_mask(
        np.ascontiguousarray(skeletons.pixels, dtype=np.float64),
        np.ascontiguousarray(skeletons.scores, dtype=np.float64),
        _FIRST,
        _SECOND,
        limb_radius * skeletons.body_scale(),
        float(ratio),
        NUM_COCO_JOINTS,
    )
