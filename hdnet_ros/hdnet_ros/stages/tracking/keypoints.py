"""Who is who by the skeletons in the image: how far each track's last 2D keypoints moved to
each of this frame's people (:func:`keypoint_moves`), and the pairs that leave no doubt
(:func:`same_skeletons`).

Boxes and roots both fail where people overlap in the image. The detector's boxes around
two people, one seated behind the other, trade shapes from frame to frame (a tall box and a
short one around the same upper body), and each one's root lands now on their own body, now
on the other's. The 2D network's keypoints stay on their bodies: between frames at 15-30 Hz a
person's joints move a few pixels, the other person's are tens of pixels away.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import NUM_JOINTS
from hdnet_ros.people import Person
from hdnet_ros.stages.depth.jit import StageKernels
from hdnet_ros.stages.tracking.boxes import clear_pairs
from hdnet_ros.stages.tracking.track import Track

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
# numba, cached where a change to any tracking source starts a fresh cache (the depth stage's
# rule, :mod:`hdnet_ros.stages.depth.jit`): ``tracking-<hash>`` beside the other stages'.
compiled = StageKernels("tracking", Path(__file__).resolve().parent).compiled

# Joints the 2D network is at least this sure of in both frames are compared (its jitter on
# still people: a median 3 % of the box height, docs/benchmarks.md "the BlazePose period
# adapts to motion"), and at least this many of them.
MIN_SCORE = 0.3
MIN_JOINTS = 4
# The same skeleton: its joints moved by at most SAME_MOVE box heights (median), while no
# other skeleton of the track or of the person lies within RIVAL_MOVE of it.
SAME_MOVE = 0.05
RIVAL_MOVE = 0.15


def keypoint_moves(
    last_pixels: FloatArray,
    last_scores: FloatArray,
    shifts: FloatArray,
    heights: FloatArray,
    pixels: FloatArray,
    scores: FloatArray,
) -> FloatArray:
    """[T,P] the median distance between each track's last keypoints ([T,J,2], scores [T,J];
    moved by ``shifts`` [T,2], where its box is predicted to have gone) and each person's
    ([P,J,2], [P,J]) over the joints seen in both (scores >= MIN_SCORE, finite pixels), in
    the track's box heights ``heights`` [T]; inf where fewer than MIN_JOINTS are."""
    moved = np.asarray(last_pixels, dtype=np.float64) + np.asarray(shifts, dtype=np.float64)[:, None, :]
    return _median_moves(
        moved,
        np.asarray(last_scores) >= MIN_SCORE,
        np.asarray(pixels, dtype=np.float64),
        np.asarray(scores) >= MIN_SCORE,
        np.asarray(heights, dtype=np.float64),
        MIN_JOINTS,
    )


@compiled
def _median_moves(  # pragma: no cover - compiled
    moved: FloatArray, moved_seen: BoolArray, pixels: FloatArray, seen: BoolArray, heights: FloatArray, least: int
) -> FloatArray:
    """[T,P] :func:`keypoint_moves` of the tracks' moved keypoints, with the seen masks: a
    loop over the pairs (numpy's sort of [T,P,J] and its indexing took 0.3 ms at 20 people)."""
    tracks, people, joints = moved.shape[0], pixels.shape[0], pixels.shape[1]
    result = np.full((tracks, people), np.inf)
    distances = np.empty(joints)
    for t in range(tracks):
        scale = max(heights[t], 1.0)
        for p in range(people):
            count = 0
            for j in range(joints):
                if moved_seen[t, j] and seen[p, j]:
                    dx, dy = moved[t, j, 0] - pixels[p, j, 0], moved[t, j, 1] - pixels[p, j, 1]
                    distance = math.sqrt(dx * dx + dy * dy)
                    if math.isfinite(distance):
                        distances[count] = distance
                        count += 1
            if count >= least:
                ordered = np.sort(distances[:count])
                result[t, p] = 0.5 * (ordered[(count - 1) // 2] + ordered[count // 2]) / scale
    return result


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Compile (or load) the kernel with a frame's argument types, once per process."""
    pixels, seen = np.zeros((1, NUM_JOINTS, 2)), np.ones((1, NUM_JOINTS), dtype=bool)
    _median_moves(pixels, seen, pixels, seen, np.ones(1), MIN_JOINTS)


def track_keypoint_moves(tracks: list[Track], predicted: FloatArray, people: list[Person]) -> FloatArray:
    """[T,P] :func:`keypoint_moves` of the tracks' last people to ``people``, each track's
    keypoints moved with its box to its ``predicted`` box [T,4]."""
    boxes = np.array([track.box for track in tracks], dtype=np.float64).reshape(-1, 4)
    shifts = (np.asarray(predicted)[:, :2] + np.asarray(predicted)[:, 2:] - boxes[:, :2] - boxes[:, 2:]) / 2.0
    return keypoint_moves(
        np.array([track.person.pixels for track in tracks], dtype=np.float64).reshape(len(tracks), NUM_JOINTS, 2),
        np.array([track.person.scores for track in tracks], dtype=np.float64).reshape(len(tracks), NUM_JOINTS),
        shifts,
        boxes[:, 3] - boxes[:, 1],
        np.array([person.pixels for person in people], dtype=np.float64).reshape(len(people), NUM_JOINTS, 2),
        np.array([person.scores for person in people], dtype=np.float64).reshape(len(people), NUM_JOINTS),
    )


def same_skeletons(moves: FloatArray) -> BoolArray:
    """[T,P] the pairs of ``moves`` (:func:`keypoint_moves`) whose move is at most SAME_MOVE
    while every other move of their row and column exceeds RIVAL_MOVE (:func:`~.boxes.clear_pairs`
    on the moves' negatives: a smaller move is a closer pair)."""
    return clear_pairs(-np.asarray(moves, dtype=np.float64), -SAME_MOVE, -RIVAL_MOVE)
