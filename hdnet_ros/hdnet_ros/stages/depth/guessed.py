"""Limb joints the 2D network guessed onto a nearer object, caught in the depth image.

A top-down network places every joint of its person, hidden or not: the legs of a person
standing behind a robot land on the robot's arm (scores 0.38-0.72 on a group photo, so a
score threshold keeps them). The measurement (:mod:`.measure`) accepts any depth within
a bone's reach of the parent joint, and an arm 0.3 m in front of the hips is within a
thigh's reach: the leg would be lifted onto the arm.

What tells a guess from a limb reaching towards the camera is the path between the joint
and its parent in the depth image. A real limb is one surface from the parent to the
joint: its depth changes along the bone in small steps, however steep the limb. A joint
on an occluder sits beyond an edge: walking from the parent along the 2D bone, the depth
drops in one step by most of the difference, onto the surface the joint was measured on.
So a sensor-measured limb joint is a guess when it is at least ``guessed_jump_m`` nearer
than its parent, the largest single step towards the camera along the bone (depth sampled
at ``PATH_SAMPLES`` points, each the median of a 3x3 patch) is at least ``EDGE_SHARE`` of
that difference, the surface just past that step is the joint's (within
``guessed_jump_m``; a pole crossing the bone in front of a limb is another surface), and
that surface reaches ``WIDE_FRACTION`` of the person's height to both sides of the bone at
the joint: an object, wider than a limb (a forearm in front of the chest has the chest
beside it, farther away; on the synthetic benchmark this test keeps visible hands and
feet in front of the body from being taken for guesses). A joint under a
parent that is a guess or that the measurement found hidden behind an occluder is compared
with the parent's own anchor (the hip, for the ankle under a lost knee), and is a guess
when it is as near as that and lies on the parent's occluder (the surface at the parent's
pixel, within ``guessed_jump_m``) or under a guessed parent. A joint whose parent was not
seen at all is not judged: the straight line from a grandparent is no limb (a forearm
across the chest would look like an edge).

Only joints the network scored below ``SEEN_SCORE`` are judged: a guess is uncertain.

A guessed joint loses its sensor depth (the depth stage completes it from the skeleton or
a network's pose, ``DepthSource.INFERRED``) and its 2D score is multiplied by
``guessed_confidence``: it was hidden.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NUM_JOINTS,
    RIGHT_ANKLE,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
)
from hdnet_ros.stages.depth.arrays import Measured, Observed

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
DepthImage = npt.NDArray[np.float32]

# (joint, parent), parents before children.
LIMBS: tuple[tuple[int, int], ...] = (
    (LEFT_ELBOW, LEFT_SHOULDER),
    (RIGHT_ELBOW, RIGHT_SHOULDER),
    (LEFT_KNEE, LEFT_HIP),
    (RIGHT_KNEE, RIGHT_HIP),
    (LEFT_WRIST, LEFT_ELBOW),
    (RIGHT_WRIST, RIGHT_ELBOW),
    (LEFT_ANKLE, LEFT_KNEE),
    (RIGHT_ANKLE, RIGHT_KNEE),
)
PATH_SAMPLES = 12
EDGE_SHARE = 0.6  # of the parent-to-joint depth difference, in one step: an edge
WIDE_FRACTION = 0.1  # of the person's box height to each side: wider than a limb (~0.17 m)
# A joint the 2D network scores at least this was seen, not guessed (PP-TinyPose scored legs
# it hallucinated on a robot's arm 0.38-0.72; the synthetic oracle scores visible joints
# 0.75-1.0, as detectors do).
SEEN_SCORE = 0.75


def path_depths(depth: DepthImage, start: FloatArray, end: FloatArray, min_m: float, max_m: float) -> FloatArray:
    """Depths [R,S] along 2D segments [R,2] -> [R,2]: at PATH_SAMPLES evenly spaced points,
    each the median of the valid depths of its 3x3 patch (NaN: none valid)."""
    height, width = depth.shape
    t = np.linspace(0.0, 1.0, PATH_SAMPLES)[None, :, None]
    points = start[:, None, :] + t * (end - start)[:, None, :]  # [R,S,2]
    offsets = np.array([(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    cols = np.clip(np.rint(points[..., None, 0]).astype(np.intp) + offsets[:, 0], 0, width - 1)
    rows = np.clip(np.rint(points[..., None, 1]).astype(np.intp) + offsets[:, 1], 0, height - 1)
    values = depth[rows, cols].astype(np.float64)  # [R,S,9]
    with np.errstate(invalid="ignore"):
        values[~((values >= min_m) & (values <= max_m))] = np.nan
    patches = np.sort(values, axis=-1)  # NaN last
    valid = np.sum(np.isfinite(patches), axis=-1)
    low = np.take_along_axis(patches, np.maximum((valid - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(patches, np.maximum(valid // 2, 0)[..., None], axis=-1)[..., 0]
    return np.where(valid > 0, (low + high) / 2.0, np.nan)


def largest_drop(depths: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The largest step towards the camera [R] between consecutive valid samples [R,S],
    and the depth just beyond it (NaN: no step)."""
    drops = np.zeros(len(depths))
    beyond = np.full(len(depths), np.nan)
    previous = depths[:, 0].copy()
    for column in range(1, depths.shape[1]):
        value = depths[:, column]
        with np.errstate(invalid="ignore"):
            larger = previous - value > drops
        drops = np.where(larger, previous - value, drops)
        beyond = np.where(larger, value, beyond)
        previous = np.where(np.isfinite(value), value, previous)
    return drops, beyond


def wider_than_a_limb(
    depth: DepthImage,
    start: FloatArray,
    end: FloatArray,
    width_px: FloatArray,
    surface_z: FloatArray,
    jump_m: float,
    min_m: float,
    max_m: float,
) -> BoolArray:
    """Whether the surface at each segment's end [R] reaches ``width_px`` to both sides of
    the segment (3x3 medians within ``jump_m`` of ``surface_z``): an object, not a limb."""
    direction = end - start
    length = np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-9)
    side = np.stack((-direction[:, 1], direction[:, 0]), axis=1) / length * width_px[:, None]
    left = path_depths(depth, end + side, end + side, min_m, max_m)[:, 0]
    right = path_depths(depth, end - side, end - side, min_m, max_m)[:, 0]
    with np.errstate(invalid="ignore"):
        return (np.abs(left - surface_z) <= jump_m) & (np.abs(right - surface_z) <= jump_m)


def guessed_joints(
    observed: Observed,
    scores: FloatArray,
    measured: Measured,
    depth: DepthImage,
    jump_m: float,
    min_m: float,
    max_m: float,
) -> BoolArray:
    """Sensor-measured limb joints [P,J] (2D ``scores`` [P,J]) that sit on a nearer object
    (module doc)."""
    count = len(observed)
    guessed = np.zeros((count, NUM_JOINTS), dtype=bool)
    z = measured.points[..., 2]
    seen = observed.seen
    sensor = np.isfinite(z) & ~measured.inferred & seen
    hidden = seen & measured.occluded & ~sensor  # the measurement found an occluder and none of the joint
    # The depth a joint is compared with: its parent's where measured; a hidden or guessed
    # parent hands its own anchor on (the hip, for the ankle under a knee lost behind an arm).
    anchor_z = np.where(sensor, z, np.nan)
    # A joint no person has measured with a low score is guessed by nobody: its limb only
    # hands a hidden joint's anchor on (most limbs of most frames, a dozen calls each).
    candidate = np.any(sensor & (scores < SEEN_SCORE), axis=0).tolist()
    any_hidden = np.any(hidden, axis=0).tolist()
    for joint, parent in LIMBS:
        if not candidate[joint]:
            if any_hidden[joint]:
                anchor_z[:, joint] = np.where(hidden[:, joint], anchor_z[:, parent], anchor_z[:, joint])
            continue
        with np.errstate(invalid="ignore"):
            nearer = sensor[:, joint] & (z[:, joint] <= anchor_z[:, parent] - jump_m)
        nearer &= scores[:, joint] < SEEN_SCORE
        below = guessed[:, parent]  # under a guessed parent, as near as it: the same object
        guessed[:, joint] = below & nearer
        for rows, covered in (
            (np.flatnonzero(nearer & ~below & sensor[:, parent]), False),
            (np.flatnonzero(nearer & ~below & hidden[:, parent]), True),
        ):
            if not len(rows):
                continue
            path = path_depths(depth, observed.pixels[rows, parent], observed.pixels[rows, joint], min_m, max_m)
            if covered:  # on the surface that hides the parent: the same occluder
                guessed[rows, joint] = np.abs(path[:, 0] - z[rows, joint]) <= jump_m
            else:  # beyond an edge on the bone, on the surface past it (not a pole crossing the bone)
                drop, beyond = largest_drop(path)
                edge = drop >= EDGE_SHARE * (anchor_z[rows, parent] - z[rows, joint])
                onto = edge & (np.abs(beyond - z[rows, joint]) <= jump_m)
                width = WIDE_FRACTION * (observed.boxes[rows, 3] - observed.boxes[rows, 1])
                wide = wider_than_a_limb(
                    depth,
                    observed.pixels[rows, parent],
                    observed.pixels[rows, joint],
                    width,
                    z[rows, joint],
                    jump_m,
                    min_m,
                    max_m,
                )
                guessed[rows, joint] = onto & wide
        handed_on = guessed[:, joint] | hidden[:, joint]
        anchor_z[:, joint] = np.where(handed_on, anchor_z[:, parent], anchor_z[:, joint])
    return guessed
