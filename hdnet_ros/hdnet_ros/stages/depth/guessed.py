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

import math

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
from hdnet_ros.stages.depth.jit import compiled_ieee

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


_LIMB_JOINT = np.array([joint for joint, _ in LIMBS], dtype=np.int64)
_LIMB_PARENT = np.array([parent for _, parent in LIMBS], dtype=np.int64)
# Where along a bone its depth is sampled (the parent at 0, the joint at 1).
_PATH_T = np.linspace(0.0, 1.0, PATH_SAMPLES)
PATCH = 9  # a 3x3 patch's pixels


def path_depths(depth: DepthImage, start: FloatArray, end: FloatArray, min_m: float, max_m: float) -> FloatArray:
    """Depths [R,S] along 2D segments [R,2] -> [R,2]: at PATH_SAMPLES evenly spaced points,
    each the median of the valid depths of its 3x3 patch (NaN: none valid)."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    result = np.empty((len(start), PATH_SAMPLES))
    buffer = np.empty(PATCH)
    for row in range(len(start)):
        _path(depth, start[row, 0], start[row, 1], end[row, 0], end[row, 1], min_m, max_m, result[row], buffer)
    return result


def largest_drop(depths: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The largest step towards the camera [R] between consecutive valid samples [R,S],
    and the depth just beyond it (NaN: no step)."""
    drops, beyond = np.empty(len(depths)), np.empty(len(depths))
    for row, path in enumerate(np.asarray(depths, dtype=np.float64)):
        drops[row], beyond[row] = _largest_drop(path)
    return drops, beyond


@compiled_ieee
def _patch_median(depth: DepthImage, x: float, y: float, min_m: float, max_m: float, buffer: FloatArray) -> float:
    """The median of the valid depths (within [min_m, max_m]) of the 3x3 patch at the
    pixel nearest (x, y) (rows and columns clipped to the image; NaN: none valid): numpy's
    sort of the patch with the invalid ones as NaN, and the mean of its middle values."""
    height, width = depth.shape
    column, row = int(np.rint(x)), int(np.rint(y))
    count = 0
    for dy in range(-1, 2):
        for dx in range(-1, 2):
            value = float(depth[min(max(row + dy, 0), height - 1), min(max(column + dx, 0), width - 1)])
            if min_m <= value <= max_m:  # NaN fails, as in numpy
                # Insertion sort: numpy's order (only 0.0 and -0.0 tie with other bits, and a
                # median is only compared by its distance to a depth, the same for both).
                at = count
                while at > 0 and buffer[at - 1] > value:
                    buffer[at] = buffer[at - 1]
                    at -= 1
                buffer[at] = value
                count += 1
    if count == 0:
        return math.nan
    return (buffer[max((count - 1) // 2, 0)] + buffer[max(count // 2, 0)]) / 2.0


@compiled_ieee
def _path(
    depth: DepthImage,
    start_x: float,
    start_y: float,
    end_x: float,
    end_y: float,
    min_m: float,
    max_m: float,
    out: FloatArray,
    buffer: FloatArray,
) -> None:
    """:func:`path_depths` of one segment into ``out`` [S]."""
    for sample in range(len(_PATH_T)):
        t = _PATH_T[sample]
        x = start_x + t * (end_x - start_x)
        y = start_y + t * (end_y - start_y)
        out[sample] = _patch_median(depth, x, y, min_m, max_m, buffer)


@compiled_ieee
def _largest_drop(path: FloatArray) -> tuple[float, float]:
    """:func:`largest_drop` of one path [S]."""
    drop, beyond, previous = 0.0, math.nan, path[0]
    for sample in range(1, len(path)):
        value = path[sample]
        if previous - value > drop:
            drop, beyond = previous - value, value
        if math.isfinite(value):
            previous = value
    return drop, beyond


@compiled_ieee
def _wider_than_a_limb(
    depth: DepthImage,
    start: FloatArray,
    end: FloatArray,
    width_px: float,
    surface_z: float,
    jump_m: float,
    min_m: float,
    max_m: float,
    buffer: FloatArray,
) -> bool:
    """Whether the surface at the segment's end reaches ``width_px`` to both sides of the
    segment (3x3 medians within ``jump_m`` of ``surface_z``): an object, not a limb."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    length = max(math.sqrt(dx * dx + dy * dy), 1e-9)
    side_x, side_y = -dy / length * width_px, dx / length * width_px
    left = _patch_median(depth, end[0] + side_x, end[1] + side_y, min_m, max_m, buffer)
    right = _patch_median(depth, end[0] - side_x, end[1] - side_y, min_m, max_m, buffer)
    return abs(left - surface_z) <= jump_m and abs(right - surface_z) <= jump_m


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
    (module doc); one compiled loop over people and limbs."""
    guessed = np.zeros((len(observed), NUM_JOINTS), dtype=bool)
    image = np.ascontiguousarray(depth, dtype=np.float32).view()  # as the measurement reads it
    image.flags.writeable = False  # one type for the kernel, whether the frame's depth is writable or not
    _guess_people(
        np.ascontiguousarray(observed.pixels, dtype=np.float64),
        np.ascontiguousarray(observed.seen, dtype=np.bool_),
        np.ascontiguousarray(observed.boxes, dtype=np.float64),
        np.ascontiguousarray(scores, dtype=np.float64),
        np.ascontiguousarray(measured.points[..., 2]),
        np.ascontiguousarray(measured.inferred, dtype=np.bool_),
        np.ascontiguousarray(measured.occluded, dtype=np.bool_),
        image,
        float(jump_m),
        float(min_m),
        float(max_m),
        guessed,
    )
    return guessed


@compiled_ieee
def _guess_people(
    pixels: FloatArray,
    seen: BoolArray,
    boxes: FloatArray,
    scores: FloatArray,
    z: FloatArray,
    inferred: BoolArray,
    occluded: BoolArray,
    depth: DepthImage,
    jump_m: float,
    min_m: float,
    max_m: float,
    guessed: BoolArray,
) -> None:
    """:func:`guessed_joints` person by person, the limbs parents first (module doc)."""
    joints = z.shape[1]
    anchor_z = np.empty(joints)
    sensor = np.empty(joints, dtype=np.bool_)
    hidden = np.empty(joints, dtype=np.bool_)
    path = np.empty(PATH_SAMPLES)
    buffer = np.empty(PATCH)
    for p in range(z.shape[0]):
        for j in range(joints):
            # The measurement's own joints; hidden: it found an occluder and none of the joint.
            sensor[j] = math.isfinite(z[p, j]) and not inferred[p, j] and seen[p, j]
            hidden[j] = seen[p, j] and occluded[p, j] and not sensor[j]
            anchor_z[j] = z[p, j] if sensor[j] else math.nan
        for limb in range(len(_LIMB_JOINT)):
            joint, parent = _LIMB_JOINT[limb], _LIMB_PARENT[limb]
            nearer = sensor[joint] and z[p, joint] <= anchor_z[parent] - jump_m and scores[p, joint] < SEEN_SCORE
            if nearer and guessed[p, parent]:  # under a guessed parent, as near as it: the same object
                guessed[p, joint] = True
            elif nearer and (sensor[parent] or hidden[parent]):
                _path(depth, pixels[p, parent, 0], pixels[p, parent, 1], pixels[p, joint, 0], pixels[p, joint, 1],
                      min_m, max_m, path, buffer)  # fmt: skip
                if hidden[parent]:  # on the surface that hides the parent: the same occluder
                    guessed[p, joint] = abs(path[0] - z[p, joint]) <= jump_m
                else:  # beyond an edge on the bone, on the surface past it (not a pole crossing the bone)
                    drop, beyond = _largest_drop(path)
                    edge = drop >= EDGE_SHARE * (anchor_z[parent] - z[p, joint])
                    if edge and abs(beyond - z[p, joint]) <= jump_m:
                        width = WIDE_FRACTION * (boxes[p, 3] - boxes[p, 1])
                        guessed[p, joint] = _wider_than_a_limb(
                            depth, pixels[p, parent], pixels[p, joint], width, z[p, joint], jump_m, min_m, max_m, buffer
                        )
            if guessed[p, joint] or hidden[joint]:  # a hidden or guessed joint hands its parent's anchor on
                anchor_z[joint] = anchor_z[parent]


def hide_guessed(measured: Measured, seen: BoolArray, guessed: BoolArray) -> BoolArray:
    """Drop the guessed joints' sensor points and mark them occluded (in ``measured``), and
    return the joints [P,J] that are hidden: seen, behind an occluder and without a point
    of their own (unmeasured or inferred). One compiled loop."""
    hidden = np.empty(guessed.shape, dtype=bool)
    _hide_people(
        measured.points,
        measured.occluded,
        np.ascontiguousarray(measured.inferred, dtype=np.bool_),
        np.ascontiguousarray(seen, dtype=np.bool_),
        np.ascontiguousarray(guessed, dtype=np.bool_),
        hidden,
    )
    return hidden


@compiled_ieee
def _hide_people(
    points: FloatArray, occluded: BoolArray, inferred: BoolArray, seen: BoolArray, guessed: BoolArray, hidden: BoolArray
) -> None:
    for p in range(guessed.shape[0]):
        for j in range(guessed.shape[1]):
            if guessed[p, j]:
                points[p, j, 0] = points[p, j, 1] = points[p, j, 2] = math.nan
                occluded[p, j] = True
            unmeasured = not (
                math.isfinite(points[p, j, 0]) and math.isfinite(points[p, j, 1]) and math.isfinite(points[p, j, 2])
            )
            hidden[p, j] = occluded[p, j] and (unmeasured or inferred[p, j]) and seen[p, j]
