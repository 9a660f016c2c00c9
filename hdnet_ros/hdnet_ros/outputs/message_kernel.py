"""The numbers of a frame's Skeleton3DArray and MarkerArray in one compiled pass each.

The builders made them with some forty numpy calls on [P,J] arrays (validity, NaN for the
invalid, the people without feet, the markers' shown points, the labels' places), a few
microseconds each at any number of people: at 20 people about as much as the messages'
own objects. These kernels do the same arithmetic in the same order (the labels' mean in
numpy's order of summation, its square root, the same NaN everywhere an invalid value was
replaced) and return arrays that one ``tolist`` each turns into the builders' lists
(``test_outputs_reference.py`` holds the messages to main's bytes).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import BONES, FOOT_ANKLE, NUM_FEET, NUM_JOINTS, ROOT
from hdnet_ros.outputs.jit import compiled

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SLOTS_PER_PERSON = NUM_JOINTS + NUM_FEET  # a person's Points in the frame's shared list: joints, then feet
_BONES = np.array(BONES, dtype=np.int64)  # [B,2]
_FOOT_ANKLE = np.array(FOOT_ANKLE, dtype=np.int64)
_NAN_BITS = np.uint64(np.array(np.nan).view(np.uint64))  # numpy's (and Python's) NaN, as the bytes see it
NONE_SOURCE = 0  # DepthSource.NONE


def _floats(array: npt.ArrayLike) -> FloatArray:
    return np.ascontiguousarray(array, dtype=np.float64)


def _integers(array: npt.ArrayLike) -> IntArray:
    return np.ascontiguousarray(array, dtype=np.int64)


class KeypointFields(NamedTuple):
    """Keypoint3D fields of joints [K] as Python lists (module doc)."""

    valid: list[bool]
    points: list[list[float]]  # [3]: the x, the y and the z of the valid joints, in order
    slots: list[int]  # each joint's Point: its index among the valid ones, or their count (invalid)
    sigma: list[float]  # NaN where invalid
    confidence: list[float]
    u: list[float]
    v: list[float]
    source: list[int]  # DEPTH_SOURCE_NONE where invalid


def keypoint_fields(
    positions: npt.ArrayLike,
    stddev: npt.ArrayLike,
    sources: npt.ArrayLike,
    pixels: npt.ArrayLike,
    scores: npt.ArrayLike,
) -> KeypointFields:
    """The fields of joints given as positions [K,3], stddev [K], sources [K], pixels
    [K,2], scores [K] (any leading shape, any real types)."""
    xyz = _floats(np.reshape(positions, (-1, 3)))
    count = len(xyz)
    floats = np.empty((4, count))  # sigma, confidence, u, v
    source = np.empty(count, dtype=np.int64)
    valid = np.empty(count, dtype=np.bool_)
    slots = np.empty(count, dtype=np.int64)
    shown = _keypoint_fields(
        xyz,
        _floats(np.reshape(stddev, -1)),
        _integers(np.reshape(sources, -1)),
        _floats(np.reshape(pixels, (-1, 2))),
        _floats(np.reshape(scores, -1)),
        floats,
        source,
        valid,
        slots,
    )
    sigma, confidence, u, v = floats.tolist()
    points = (xyz[valid] if shown < count else xyz).T.tolist()
    return KeypointFields(valid.tolist(), points, slots.tolist(), sigma, confidence, u, v, source.tolist())


@compiled
def _keypoint_fields(
    xyz: FloatArray,
    stddev: FloatArray,
    sources: IntArray,
    pixels: FloatArray,
    scores: FloatArray,
    floats: FloatArray,
    source: IntArray,
    valid: BoolArray,
    slots: IntArray,
) -> int:
    """Fill the fields of every joint; return how many are valid."""
    count = len(xyz)
    shown = 0
    for k in range(count):
        ok = math.isfinite(xyz[k, 0]) and math.isfinite(xyz[k, 1]) and math.isfinite(xyz[k, 2])
        valid[k] = ok
        floats[0, k] = stddev[k] if ok else np.nan
        floats[1, k] = scores[k]
        floats[2, k] = pixels[k, 0]
        floats[3, k] = pixels[k, 1]
        source[k] = sources[k] if ok else NONE_SOURCE
        slots[k] = shown
        shown += ok
    for k in range(count):
        if not valid[k]:
            slots[k] = shown
    return shown


class PersonFields(NamedTuple):
    """A Skeleton3D's own fields of people [P], as Python lists."""

    roots: list[list[float]]  # NaN where the root is invalid
    root_valid: list[bool]
    velocities: list[list[float]]  # NaN where the velocity is invalid
    velocity_valid: list[bool]
    without_feet: list[bool]  # all feet unknown, unseen (numpy's NaN pixels) and scored 0.0: no 3D network ran


def person_fields(
    positions: FloatArray,
    velocity: npt.ArrayLike,
    feet: npt.ArrayLike,
    feet_pixels: npt.ArrayLike,
    feet_scores: npt.ArrayLike,
) -> PersonFields:
    """The fields of people with joints ``positions`` [P,J,3] (float64), ``velocity``
    [P,3], ``feet`` [P,F,3], ``feet_pixels`` [P,F,2] and ``feet_scores`` [P,F]."""
    count = len(positions)
    vectors = np.empty((count, 2, 3))  # root, velocity
    flags = np.empty((3, count), dtype=np.bool_)
    _person_fields(
        _floats(positions),
        _floats(velocity),
        _floats(feet),
        _floats(feet_pixels).view(np.uint64),
        _floats(feet_scores).view(np.uint64),
        vectors,
        flags,
    )
    root_valid, velocity_valid, without = flags.tolist()
    roots, velocities = vectors.transpose(1, 0, 2).tolist()
    return PersonFields(roots, root_valid, velocities, velocity_valid, without)


@compiled
def _finite_row(values: FloatArray) -> bool:
    return math.isfinite(values[0]) and math.isfinite(values[1]) and math.isfinite(values[2])


@compiled
def _masked_row(values: FloatArray, out: FloatArray, flags: BoolArray, flag: int) -> None:
    """``values`` [3] into ``out``, or NaN where one of them is not finite (``flags[flag]``)."""
    ok = _finite_row(values)
    flags[flag] = ok
    for axis in range(3):
        out[axis] = values[axis] if ok else np.nan


@compiled
def _person_fields(
    positions: FloatArray,
    velocity: FloatArray,
    feet: FloatArray,
    feet_pixel_bits: npt.NDArray[np.uint64],
    feet_score_bits: npt.NDArray[np.uint64],
    vectors: FloatArray,
    flags: BoolArray,
) -> None:
    for p in range(len(positions)):
        _masked_row(positions[p, ROOT], vectors[p, 0], flags[:, p], 0)
        _masked_row(velocity[p], vectors[p, 1], flags[:, p], 1)
        bare = True
        for foot in range(feet.shape[1]):
            unknown = not _finite_row(feet[p, foot])
            unseen = feet_pixel_bits[p, foot, 0] == _NAN_BITS and feet_pixel_bits[p, foot, 1] == _NAN_BITS
            bare = bare and unknown and unseen and feet_score_bits[p, foot] == 0
        flags[2, p] = bare


class MarkerPlaces(NamedTuple):
    """What the markers of people [P] show (:func:`marker_places`), as Python lists."""

    rows: list[int]  # the people with a valid joint [S]
    slots: list[int]  # their markers' Points, as slots of the frame's shared Points
    counts: list[int]  # [2S]: person 0's sphere points, person 0's line points, person 1's ...
    anchors: list[list[float]]  # [S] where each label hangs: the root, else the valid joints' mean
    tops: list[float]  # [S] the least y of the valid joints (optical y points down)
    distances: list[float]  # [S] the anchor's distance from the camera


def marker_places(positions: FloatArray, feet: FloatArray) -> MarkerPlaces:
    """For people with joints [P,J,3] and feet [P,F,3] (float64): which have a valid joint,
    and for each of them the slots (``person * SLOTS_PER_PERSON + slot``, joints then feet)
    of their spheres' points (valid joints, then valid feet) and their bones' line-list
    points (bones with both ends valid, then each valid foot hung from its valid ankle: the
    ankle and the foot), the counts of both, and where the label goes."""
    count = len(positions)
    slots = np.empty(count * (SLOTS_PER_PERSON + 2 * (len(_BONES) + NUM_FEET)), dtype=np.int64)
    rows, counts = np.empty(count, dtype=np.int64), np.empty(2 * count, dtype=np.int64)
    places = np.empty((count, 5))  # anchor x, y, z, top, distance
    shown, used = _marker_places(
        _floats(positions), _floats(feet), _BONES, _FOOT_ANKLE, slots, rows, counts,
        places,
    )  # fmt: skip
    table = places[:shown]
    return MarkerPlaces(
        rows[:shown].tolist(),
        slots[:used].tolist(),
        counts[: 2 * shown].tolist(),
        table[:, :3].tolist(),
        table[:, 3].tolist(),
        table[:, 4].tolist(),
    )


@compiled
def _marker_places(
    positions: FloatArray,
    feet: FloatArray,
    bones: IntArray,
    foot_ankle: IntArray,
    slots: IntArray,
    rows: IntArray,
    counts: IntArray,
    places: FloatArray,
) -> tuple[int, int]:
    """Fill the shown people's rows, slots, counts and places; return their number and
    the slots used."""
    joints, feet_count = positions.shape[1], feet.shape[1]
    valid = np.empty(joints, dtype=np.bool_)
    foot_valid = np.empty(feet_count, dtype=np.bool_)
    shown, used = 0, 0
    for p in range(len(positions)):
        any_valid = False
        for j in range(joints):
            valid[j] = _finite_row(positions[p, j])
            any_valid = any_valid or valid[j]
        if not any_valid:
            continue
        base = p * (joints + feet_count)
        start = used
        for j in range(joints):
            if valid[j]:
                slots[used] = base + j
                used += 1
        for f in range(feet_count):
            foot_valid[f] = _finite_row(feet[p, f])
            if foot_valid[f]:
                slots[used] = base + joints + f
                used += 1
        counts[2 * shown] = used - start
        start = used
        for b in range(len(bones)):
            if valid[bones[b, 0]] and valid[bones[b, 1]]:
                slots[used], slots[used + 1] = base + bones[b, 0], base + bones[b, 1]
                used += 2
        for f in range(feet_count):
            if foot_valid[f] and valid[foot_ankle[f]]:
                slots[used], slots[used + 1] = base + foot_ankle[f], base + joints + f
                used += 2
        counts[2 * shown + 1] = used - start
        rows[shown] = p
        _label_place(positions[p], valid, places[shown])
        shown += 1
    return shown, used


@compiled
def _label_place(positions: FloatArray, valid: BoolArray, out: FloatArray) -> None:
    """markers._label_places of one person: the valid joints' mean summed in joint order
    from the first joint's term (numpy's reduction over the joints), the least valid y, the
    anchor's distance (a sum of three, then the square root)."""
    joints = len(positions)
    seen = 0
    for j in range(joints):
        seen += valid[j]
    for axis in range(3):
        total = positions[0, axis] if valid[0] else 0.0
        for j in range(1, joints):
            total += positions[j, axis] if valid[j] else 0.0
        mean = total / seen
        out[axis] = positions[ROOT, axis] if valid[ROOT] else mean
    top = np.inf
    for j in range(joints):
        if valid[j] and positions[j, 1] < top:
            top = positions[j, 1]
    out[3] = top
    out[4] = math.sqrt((out[0] * out[0] + out[1] * out[1]) + out[2] * out[2])


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Compile (or load) the kernels, once per process (before the first frame)."""
    positions = np.zeros((1, NUM_JOINTS, 3))
    feet = np.zeros((1, NUM_FEET, 3))
    keypoint_fields(
        positions, np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS, np.uint8), np.zeros((NUM_JOINTS, 2)), np.zeros(NUM_JOINTS)
    )
    person_fields(positions, np.zeros((1, 3)), feet, np.zeros((1, NUM_FEET, 2)), np.zeros((1, NUM_FEET)))
    marker_places(positions, feet)
