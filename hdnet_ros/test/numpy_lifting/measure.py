"""Step 2 of the depth stage: measure every seen joint's centre depth in its window.

Three things make a joint's depth robust (the windows come from :mod:`.sample`):

1. **Person-consistent pixels.** Only depths inside the joint's *feasible interval* count:
   for shoulders and hips an interval around the torso's depth, for every other joint the
   depths where it can be given its already-measured parent joint and the bone between
   them (the viewing ray meets a sphere of the bone's length around the parent).
2. **Occluders.** Well-supported depths *in front of* the feasible interval are something
   between the camera and the joint (another person, an object, the person's own hand):
   they are counted as an occluder and never taken as the joint's depth. If nothing of the
   joint's own surface is left in the window, the joint stays unmeasured and is completed
   from the skeleton later (``DepthSource.INFERRED``).
3. **Surface to centre.** The camera sees the skin, not the joint: the depth of the
   nearest surface cluster is moved along the viewing ray by the body part's
   surface-to-centre offset (``lifting.surface_offset_*``: the part's radius around the
   joint centre as seen from the front, times ~0.9 because a window's median lies
   slightly off the part's crest; docs/evaluation.md).

Joints are measured level by level from the torso outwards (torso; elbows, knees and
nose; wrists, ankles and eyes; ears), all people and all joints of a level at once, so
each joint's parent is measured before it. Between the torso and the limbs the torso's
facing is estimated and the far shoulder / hip of a turned person is put behind the near
one; the face keypoints on the far side of the head are placed on a head sphere last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_EAR,
    LEFT_ELBOW,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NECK,
    NOSE,
    NUM_JOINTS,
    PELVIS,
    RIGHT_ANKLE,
    RIGHT_EAR,
    RIGHT_ELBOW,
    RIGHT_EYE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    TORSO_JOINTS,
)
from hdnet_ros.skeleton import ANCESTOR_STEPS, ANCESTORS
from hdnet_ros.stages.depth.arrays import Facing, Measured, Observed
from hdnet_ros.stages.depth.config import BONE_SPREAD, TORSO_BEHIND_M, TORSO_FRONT_M, LiftingConfig, surface_offsets

from numpy_lifting.geometry import bone_interval, bone_shells, inside_torso
from numpy_lifting.occlusion import estimate_facing, place_hidden, resolve_face, resolve_torso_pairs
from numpy_lifting.sample import Sampled
from numpy_lifting.windows import select_surface

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
DepthImage = npt.NDArray[np.float32]

# Each level's joints have their skeleton parents in the levels before it (the nose hangs
# from the neck, the eyes from the nose, the ears from the eyes), so a level is measured
# at once; no joint's anchor is another joint of its own level.
LEVELS: tuple[tuple[int, ...], ...] = (
    (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP),
    (LEFT_ELBOW, RIGHT_ELBOW, LEFT_KNEE, RIGHT_KNEE, NOSE),
    (LEFT_WRIST, RIGHT_WRIST, LEFT_ANKLE, RIGHT_ANKLE, LEFT_EYE, RIGHT_EYE),
    (LEFT_EAR, RIGHT_EAR),
)

LIMB_JOINTS = (LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST, LEFT_KNEE, RIGHT_KNEE)

_TORSO = np.zeros(NUM_JOINTS, dtype=bool)
_TORSO[list(TORSO_JOINTS)] = True

_LIMB = np.zeros(NUM_JOINTS, dtype=bool)
_LIMB[list(LIMB_JOINTS)] = True


def _chain_steps() -> FloatArray:
    """The bones from each joint down to (and into) the torso [J,D], as fractions of
    stature, zero-padded: their cumulative sum is the chain's length."""
    steps = np.zeros_like(ANCESTOR_STEPS)
    for joint in range(NUM_JOINTS):
        child = joint
        for column, parent in enumerate(ANCESTORS[joint]):
            if parent < 0 or _TORSO[child]:
                break
            steps[joint, column] = ANCESTOR_STEPS[joint, column]
            child = parent
    return steps


_CHAIN_STEPS = _chain_steps()


@dataclass(frozen=True)
class _Rows:
    """The person-joint pairs of one level that are measured."""

    person: IntArray
    joint: IntArray
    ray: FloatArray  # [R,3]


def measure_joints(observed: Observed, sampled: Sampled, camera: CameraModel, config: LiftingConfig) -> Measured:
    """Measure every seen joint of every person with a torso surface (module doc)."""
    count = len(observed)
    points = np.full((count, NUM_JOINTS, 3), np.nan)
    sigma = np.full((count, NUM_JOINTS), np.nan)
    occluded = np.zeros((count, NUM_JOINTS), dtype=bool)
    inferred = np.zeros((count, NUM_JOINTS), dtype=bool)
    result = Measured(
        points, sigma, occluded, inferred, Facing(np.zeros(count), np.zeros(count), np.zeros(count, dtype=bool))
    )
    measurable = np.isfinite(sampled.reference)
    reference = sampled.reference
    margin = 0.05 + 2.0 * config.noise_coefficient * reference**2
    offsets = surface_offsets(config)
    for level_index, level in enumerate(LEVELS):
        if level_index == 1:  # the torso is done: find the facing, fix the far side
            result.facing = estimate_facing(observed, points, reference, sampled.stature, camera, measurable)
            resolve_torso_pairs(result, observed, sampled.stature, result.facing.known)
        rows = _level_rows(observed, level, measurable)
        if len(rows.person):
            _measure_level(result, rows, sampled, margin, offsets, result.facing, observed, config)
    resolve_face(result, observed, sampled, config)
    return result


def _level_rows(observed: Observed, level: tuple[int, ...], measurable: BoolArray) -> _Rows:
    joints = np.array(level)
    mask = observed.seen[:, joints] & measurable[:, None]
    person, column = np.nonzero(mask)
    joint = joints[column]
    return _Rows(person, joint, observed.rays[person, joint])


def _with_midpoints(points: FloatArray) -> FloatArray:
    """Points with the pelvis and neck filled where both of their joints are measured."""
    out = points.copy()
    out[:, PELVIS] = (points[:, LEFT_HIP] + points[:, RIGHT_HIP]) / 2.0
    out[:, NECK] = (points[:, LEFT_SHOULDER] + points[:, RIGHT_SHOULDER]) / 2.0
    return out


def _measure_level(
    result: Measured,
    rows: _Rows,
    sampled: Sampled,
    margin_of: FloatArray,
    offsets: FloatArray,
    facing: Facing,
    observed: Observed,
    config: LiftingConfig,
) -> None:
    person, joint, ray = rows.person, rows.joint, rows.ray
    reference = sampled.reference[person]
    margin = margin_of[person]
    known = _with_midpoints(result.points)
    anchor, anchor_length, direct = _anchors(known, person, joint, sampled.stature[person])
    parent = known[person, np.maximum(anchor, 0)]
    lo, hi = _intervals(
        joint,
        ray,
        parent,
        anchor,
        anchor_length,
        direct,
        reference,
        margin,
        sampled.stature[person],
        config.person_depth_band_m,
    )
    offset_z = offsets[joint] * ray[:, 2]
    reject = _LIMB[joint] & facing.known[person] & (facing.cos[person] < -0.3)
    if np.any(reject):
        limbs = np.flatnonzero(reject)
        reject[limbs] = inside_torso(observed.pixels[person[limbs]], observed.pixels[person[limbs], joint[limbs]])
    # Seen from behind, a limb over the torso is in front of the body, i.e. behind the back
    # the camera sees: a surface at the torso's depth is the back.
    tolerance = 0.08 + 2.0 * config.noise_coefficient * reference**2
    reject_lo = np.where(reject, reference - tolerance, np.nan)
    reject_hi = np.where(reject, reference + tolerance, np.nan)
    windows = sampled.joints.rows(person * NUM_JOINTS + joint)
    z, spread, occluded = select_surface(windows, lo, hi, offset_z, reject_lo, reject_hi, config)
    result.occluded[person, joint] = occluded
    found = np.isfinite(z)
    if np.any(found):
        p, j, r = person[found], joint[found], ray[found]
        zf = z[found]
        result.points[p, j] = r * (zf / r[:, 2])[:, None]
        # The median's error: the sensor noise (spatially correlated, so it does not
        # average away), the surface's own spread in the window, and 2 cm of offset doubt.
        noise = config.noise_coefficient * zf**2
        result.sigma[p, j] = np.sqrt(noise**2 + (0.5 * spread[found]) ** 2 + 0.02**2)
    hidden = ~found & occluded & direct
    if np.any(hidden):
        place_hidden(
            result,
            person[hidden],
            joint[hidden],
            ray[hidden],
            known,
            anchor[hidden],
            anchor_length[hidden],
            margin[hidden],
            reference[hidden],
            config,
        )


def _anchors(
    known: FloatArray, person: IntArray, joint: IntArray, stature: FloatArray
) -> tuple[IntArray, FloatArray, BoolArray]:
    """The nearest positioned ancestor of each row's joint (-1: none), the chain length to
    it and whether it is the direct parent."""
    ancestors = ANCESTORS[joint]  # [R,D]
    lengths = np.cumsum(ANCESTOR_STEPS[joint] * stature[:, None], axis=1)
    positioned = (ancestors >= 0) & np.all(np.isfinite(known[person[:, None], np.maximum(ancestors, 0)]), axis=-1)
    first = np.argmax(positioned, axis=1)
    has = positioned[np.arange(len(joint)), first]
    anchor = np.where(has, ancestors[np.arange(len(joint)), first], -1)
    length = np.where(has, lengths[np.arange(len(joint)), first], np.nan)
    return anchor, length, has & (first == 0) & ~_TORSO[joint]


def _intervals(
    joint: IntArray,
    ray: FloatArray,
    parent: FloatArray,
    anchor: IntArray,
    length: FloatArray,
    direct: BoolArray,
    reference: FloatArray,
    margin: FloatArray,
    stature: FloatArray,
    band_m: float,
) -> tuple[FloatArray, FloatArray]:
    """Where each row's joint centre depth can be, as up to two intervals [R,2] (lo, hi;
    NaN: no interval): around the torso for shoulders and hips, one bone from its measured
    parent (the shell), within the chain's length from a measured ancestor, else within
    the chain from the torso; never beyond the person band."""
    torso = _TORSO[joint]
    count = len(joint)
    lo = np.full((count, 2), np.nan)
    hi = np.full((count, 2), np.nan)
    lo[torso, 0] = reference[torso] - TORSO_FRONT_M - margin[torso]
    hi[torso, 0] = reference[torso] + TORSO_BEHIND_M + margin[torso]
    free = ~torso & (anchor < 0)
    if np.any(free):
        chain = np.cumsum(_CHAIN_STEPS[joint[free]] * stature[free, None], axis=1)[:, -1]
        lo[free, 0] = reference[free] - chain - margin[free]
        hi[free, 0] = reference[free] + TORSO_BEHIND_M + chain + margin[free]
    shell = ~torso & (anchor >= 0) & direct
    if np.any(shell):
        lo[shell], hi[shell] = bone_shells(ray[shell], parent[shell], length[shell], BONE_SPREAD, margin[shell])
    ancestor = ~torso & (anchor >= 0) & ~direct
    if np.any(ancestor):
        a, b = bone_interval(ray[ancestor], parent[ancestor], length[ancestor] * (1 + BONE_SPREAD), margin[ancestor])
        lo[ancestor, 0], hi[ancestor, 0] = a, b
    band_lo, band_hi = (reference - band_m)[:, None], (reference + band_m)[:, None]
    with np.errstate(invalid="ignore"):
        keep = (hi > band_lo) & (lo < band_hi)
    return np.where(keep, np.maximum(lo, band_lo), np.nan), np.where(keep, np.minimum(hi, band_hi), np.nan)
