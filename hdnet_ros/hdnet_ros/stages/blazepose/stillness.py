"""Whether a person's 2D pose has changed since the 3D network last ran on them.

A person who sits, stands in a queue or waits keeps their skeleton's shape, so BlazePose's
last estimate of them stays good for longer than a walker's (the schedule lengthens their
period: ``blazepose.still_period_factor``). The measure is taken on the 2D keypoints the
frame has anyway: the largest move of a confident joint since the run, the person's own
shift taken out, over their box's height (scale-free).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import NUM_COCO_JOINTS
from hdnet_ros.stages.blazepose.run_memory import LastRun

FloatArray = npt.NDArray[np.float64]

# A person is still when none of their confident joints moved by more than this share of
# their box's height since the network's last run on them, their whole move (the joints'
# median shift) taken out. On the sample frames' pseudo-sequence (each frame shifted 1-2 px a
# frame: the 2D network's own jitter on still people; median 0.03) 84 % of the measurable
# pairs of frames 3 apart lie under it, 78 % of those 9 apart. A walker's limbs move little
# more in 0.1 s (synthetic walkers at 30 Hz: 0.067 in 3 frames, the median), so this keeps
# the walkers of benchmarks/bench_adaptive_period.py at 14-15 mm mean carried joint error
# against 10 mm with the base period (0.08: 18 mm; docs/benchmarks.md, perf21).
STILL_CHANGE = 0.05
# Joints scored at least this count (PP-TinyPose's joints scored 0.3-0.4 jump by tenths of
# the box from frame to frame on still people: with them 62 % of the pairs 3 frames apart
# lie under STILL_CHANGE) ...
STILL_MIN_SCORE = 0.4
# ... and a change is measured on at least this many of them (else: not still).
STILL_MIN_JOINTS = 4


def still_since(last: Sequence[LastRun | None], pixels: FloatArray, scores: FloatArray) -> list[bool]:
    """Whose pose has not changed since the network's last run on them (its crop accepted or
    rejected: a still person's rejected crop would be rejected again): :func:`pose_changes` of
    this frame's keypoints (``pixels`` [P,J,2], ``scores`` [P,J]) up to STILL_CHANGE. False
    for people without such a run."""
    still = [False] * len(last)
    kept = [i for i, r in enumerate(last) if r is not None and r.keypoints is not None]
    if not kept:
        return still
    runs = [r for r in (last[i] for i in kept) if r is not None and r.keypoints is not None]
    then_pixels = np.stack([r.keypoints[0] for r in runs if r.keypoints is not None])
    then_scores = np.stack([r.keypoints[1] for r in runs if r.keypoints is not None])
    heights = np.array([float(r.box[3] - r.box[1]) for r in runs])
    changes = pose_changes(then_pixels, then_scores, heights, pixels[kept], scores[kept])
    for index, change in zip(kept, changes.tolist(), strict=True):
        still[index] = change <= STILL_CHANGE
    return still


def pose_changes(
    then_pixels: FloatArray,
    then_scores: FloatArray,
    heights: FloatArray,
    now_pixels: FloatArray,
    now_scores: FloatArray,
) -> FloatArray:
    """How much each person's 2D pose changed between two frames [N]: the largest move of a
    joint (of the COCO-17, scored STILL_MIN_SCORE or more in both frames) once the joints'
    median move is taken out (the person's, or the camera's, shift), over the person's box
    height then (``heights`` [N]; scale-free). Keypoints: pixels [N,J,2], scores [N,J].
    Infinite where fewer than STILL_MIN_JOINTS such joints are seen (no change can be told)."""
    coco = slice(0, NUM_COCO_JOINTS)
    moves = now_pixels[:, coco] - then_pixels[:, coco]
    confident = (then_scores[:, coco] >= STILL_MIN_SCORE) & (now_scores[:, coco] >= STILL_MIN_SCORE)
    confident &= np.isfinite(moves).all(axis=2)
    counted = np.count_nonzero(confident, axis=1)
    masked = np.where(confident[..., None], moves, np.nan)
    residual = masked - _row_medians(masked, counted)[:, None, :]
    largest = np.max(np.where(confident, np.sqrt(np.sum(residual**2, axis=2)), -np.inf), axis=1)
    return np.where(counted >= STILL_MIN_JOINTS, largest / np.maximum(heights, 1.0), np.inf)


def _row_medians(values: FloatArray, counts: npt.NDArray[np.intp]) -> FloatArray:
    """The median over axis 1 of ``values`` [N,J,C] of each row's ``counts`` [N] finite
    values (NaN elsewhere; sorted last), as np.nanmedian gives them (a tenth of its cost on a
    frame's few people); rows without any give 0."""
    ordered = np.sort(values, axis=1)
    low = np.maximum(counts - 1, 0) // 2
    high = np.maximum(counts, 1) // 2
    middle = (_rows_at(ordered, low) + _rows_at(ordered, high)) / 2.0
    return np.where(counts[:, None] > 0, middle, 0.0)


def _rows_at(values: FloatArray, index: npt.NDArray[np.intp]) -> FloatArray:
    """``values`` [N,J,C] at ``index`` [N] along axis 1: [N,C]."""
    return np.take_along_axis(values, index[:, None, None], axis=1)[:, 0]
