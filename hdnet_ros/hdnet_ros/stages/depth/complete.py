"""Step 5 of the depth stage: complete the joints the depth image could not measure.

A completed joint is placed on its own viewing ray at the point closest to the nearest
joint of the same skeleton that has a position: the depth error of that guess is bounded by
the bone length, whatever the pose. Joints are filled nearest-first (a wrist next to a
measured elbow on that elbow, else on the shoulder, ...), so that a chain grows outwards
from what was measured. With a root-relative 3D pose from a network, joints that were not
seen at all are placed from it first (``DepthSource.NETWORK``: seen joints on their own rays at the pose's depth).
Joints completed from the skeleton are marked ``DepthSource.INFERRED`` and get a standard
deviation of at least half the path to their anchor, so nobody mistakes them for
measurements. Last, no joint may lie farther than the person band from the torso.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import DERIVED_JOINTS, NUM_FEET, NUM_JOINTS, PELVIS
from hdnet_ros.people import DepthSource
from hdnet_ros.skeleton import path_lengths
from hdnet_ros.stages.depth.arrays import Lifted, Observed
from hdnet_ros.stages.depth.jit import compiled

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

_DERIVED = np.zeros(NUM_JOINTS, dtype=bool)
_DERIVED[list(DERIVED_JOINTS)] = True
# The midpoint joints and their two joints, in DERIVED_JOINTS' order.
_DERIVED_JOINT = np.array(list(DERIVED_JOINTS), dtype=np.int64)
_DERIVED_A = np.array([a for a, _ in DERIVED_JOINTS.values()], dtype=np.int64)
_DERIVED_B = np.array([b for _, b in DERIVED_JOINTS.values()], dtype=np.int64)
_INFERRED = np.uint8(DepthSource.INFERRED)
_NONE = np.uint8(DepthSource.NONE)
_SENSOR = np.uint8(DepthSource.SENSOR)
# A completed joint is never placed closer to the camera than this along its ray [m].
_MIN_RANGE_M = 0.05
# 1-sigma of a joint of a network's root-relative pose (BlazePose GHUM: 104-282 mm mean
# per-joint error on real frames, SOURCE.md; most of it along the depth).
NETWORK_JOINT_SIGMA_M = 0.15


@lru_cache(maxsize=4)
def _paths(stature: float) -> FloatArray:
    return path_lengths(stature)


def complete_from_skeleton(lifted: Lifted, observed: Observed, stature: float) -> None:
    """Fill the seen joints without a 3D position from the nearest positioned joint of the
    same skeleton (module doc): one joint per person per round, nearest first (ties: the
    lower joint index), each anchored on the nearest joint positioned before it (ties: the
    lower index). The distance of every joint to the positioned set is kept up to date as
    joints are filled, as in Prim's algorithm. Compiled (:mod:`.jit`), person by person."""
    complete_derived(lifted)
    seen = np.ascontiguousarray(observed.seen, dtype=np.bool_)
    _complete_people(lifted.positions, lifted.sigma, lifted.sources, seen, observed.rays, _paths(stature))


@compiled
def _complete_people(
    positions: FloatArray,
    sigma: FloatArray,
    sources: npt.NDArray[np.uint8],
    seen: BoolArray,
    rays: FloatArray,
    paths: FloatArray,
) -> None:
    """complete_from_skeleton on the stage's arrays [P,J,...], in place: the seen joints
    without a position and not a midpoint are to do."""
    count, joints = seen.shape
    distance = np.empty(joints)  # to the nearest positioned joint
    anchor = np.empty(joints, dtype=np.int64)  # which one (the lowest index on ties)
    valid = np.empty(joints, dtype=np.bool_)
    todo = np.empty(joints, dtype=np.bool_)
    for p in range(count):
        for joint in range(joints):
            valid[joint] = _finite(positions[p, joint])
            todo[joint] = seen[p, joint] and not valid[joint] and not _DERIVED[joint]
            distance[joint], anchor[joint] = np.inf, 0
        for known in range(joints):  # in index order: a tie keeps the lower index
            if valid[known]:
                _positioned(distance, anchor, paths, known)
        if not np.any(valid):
            continue
        joint, length = _nearest(todo, distance)
        while joint >= 0:
            source = anchor[joint]
            anchor_sigma = sigma[p, source] if math.isfinite(sigma[p, source]) else 0.0
            ray, base = rays[p, joint], positions[p, source]
            t = max((ray[0] * base[0] + ray[1] * base[1]) + ray[2] * base[2], _MIN_RANGE_M)
            for axis in range(3):
                positions[p, joint, axis] = ray[axis] * t
            sigma[p, joint] = math.hypot(anchor_sigma, 0.5 * length)
            sources[p, joint] = _INFERRED
            todo[joint] = False
            valid[joint] = True
            _positioned(distance, anchor, paths, joint)
            for index in range(len(_DERIVED_JOINT)):  # midpoints whose two joints are now positioned
                derived, a, b = _DERIVED_JOINT[index], _DERIVED_A[index], _DERIVED_B[index]
                if not valid[derived] and valid[a] and valid[b]:
                    _midpoint(positions[p], sigma[p], sources[p], derived, a, b)
                    valid[derived] = True
                    _positioned(distance, anchor, paths, derived)
            joint, length = _nearest(todo, distance)


@compiled
def _nearest(todo: BoolArray, distance: FloatArray) -> tuple[int, float]:
    """The joint still to do nearest to the positioned ones (the lowest index on ties; -1:
    none) and its distance."""
    joint, length = -1, np.inf
    for candidate in range(len(todo)):
        if todo[candidate] and distance[candidate] < length:
            joint, length = candidate, distance[candidate]
    return joint, length


@compiled
def _finite(point: FloatArray) -> bool:
    return math.isfinite(point[0]) and math.isfinite(point[1]) and math.isfinite(point[2])


@compiled
def _positioned(distance: FloatArray, anchor: npt.NDArray[np.int64], paths: FloatArray, joint: int) -> None:
    """``joint`` got a position: it may now be the nearest anchor of the others (on a tie,
    the lower joint index)."""
    for other in range(len(distance)):
        through = paths[joint, other]
        if through < distance[other] or (through == distance[other] and joint < anchor[other]):
            distance[other], anchor[other] = through, joint


@compiled
def _midpoint(
    positions: FloatArray, sigma: FloatArray, sources: npt.NDArray[np.uint8], joint: int, a: int, b: int
) -> None:
    """Lifted.complete_derived for one person's midpoint joint."""
    for axis in range(3):
        positions[joint, axis] = (positions[a, axis] + positions[b, axis]) / 2.0
    sigma[joint] = math.hypot(sigma[a], sigma[b]) / 2.0
    inferred = sources[a] == _INFERRED or sources[b] == _INFERRED
    sources[joint] = _INFERRED if inferred else max(sources[a], sources[b])


def take_measured(lifted: Lifted, points: FloatArray, sigma: FloatArray, inferred: BoolArray) -> None:
    """Put the sensor's measurement (points [P,J,3] NaN where unmeasured, their sigmas, and
    which the self-occlusion reasoning placed: ``INFERRED``, else ``SENSOR``) into an empty
    ``lifted``, then its midpoint joints (:func:`complete_derived`): one compiled loop."""
    _take_people(points, sigma, np.ascontiguousarray(inferred, dtype=np.bool_), lifted.positions, lifted.sigma,
                 lifted.sources)  # fmt: skip


@compiled
def _take_people(
    points: FloatArray,
    sigma: FloatArray,
    inferred: BoolArray,
    positions: FloatArray,
    sigma_out: FloatArray,
    sources: npt.NDArray[np.uint8],
) -> None:
    for p in range(points.shape[0]):
        for joint in range(points.shape[1]):
            if _finite(points[p, joint]):
                for axis in range(3):
                    positions[p, joint, axis] = points[p, joint, axis]
                sigma_out[p, joint] = sigma[p, joint]
                sources[p, joint] = _INFERRED if inferred[p, joint] else _SENSOR
    _derived_people(positions, sigma_out, sources)


def complete_derived(lifted: Lifted) -> None:
    """:meth:`Lifted.complete_derived` as one compiled loop over people (the same values)."""
    _derived_people(lifted.positions, lifted.sigma, lifted.sources)


@compiled
def _derived_people(positions: FloatArray, sigma: FloatArray, sources: npt.NDArray[np.uint8]) -> None:
    """Every person's midpoint joints from their two joints, where those have positions
    and it has none (decided on the positions as they were before any is filled)."""
    fill = np.empty(len(_DERIVED_JOINT), dtype=np.bool_)
    for p in range(positions.shape[0]):
        for i in range(len(_DERIVED_JOINT)):
            fill[i] = (
                not _finite(positions[p, _DERIVED_JOINT[i]])
                and _finite(positions[p, _DERIVED_A[i]])
                and _finite(positions[p, _DERIVED_B[i]])
            )
        for i in range(len(_DERIVED_JOINT)):
            if fill[i]:
                _midpoint(positions[p], sigma[p], sources[p], _DERIVED_JOINT[i], _DERIVED_A[i], _DERIVED_B[i])


def complete_from_relative_pose(lifted: Lifted, observed: Observed, relative_pose: FloatArray) -> None:
    """Joints without a 3D position, from root-relative 3D poses [P,J,3] (metres, camera
    axes; NaN rows where a network has no joint) placed at each person's root: a joint the
    2D stage saw goes on its own viewing ray at the pose's depth (the pixel is better than
    the network's projection), one it did not see at the pose's point. Needs a root."""
    valid = lifted.valid
    has_root = valid[:, PELVIS]
    rel = relative_pose
    rel_root = rel[:, PELVIS]
    aligned = np.all(np.isfinite(rel_root), axis=1)[:, None]
    root = np.where(aligned, lifted.positions[:, PELVIS] - rel_root, lifted.positions[:, PELVIS])
    placed = root[:, None] + rel
    fill = has_root[:, None] & ~valid & np.all(np.isfinite(rel), axis=-1) & (placed[..., 2] > _MIN_RANGE_M)
    on_ray = fill & observed.seen
    p, j = np.nonzero(on_ray)
    ray = observed.rays[p, j]
    lifted.positions[p, j] = ray * (placed[p, j, 2] / ray[:, 2])[:, None]
    p, j = np.nonzero(fill & ~observed.seen)
    lifted.positions[p, j] = placed[p, j]
    p, j = np.nonzero(fill)
    lifted.sigma[p, j] = np.hypot(lifted.sigma[p, PELVIS], NETWORK_JOINT_SIGMA_M)
    lifted.sources[p, j] = DepthSource.NETWORK


def place_feet(lifted: Lifted, feet: FloatArray, pixels: FloatArray | None, camera: CameraModel) -> Lifted:
    """The feet (heels, toes) [P,4] of a network's pose at each person's root: a foot seen in
    2D on its own ray at the pose's depth, an unseen one at the pose's point (NETWORK)."""
    count = len(feet)
    result = Lifted(
        np.full((count, NUM_FEET, 3), np.nan), np.full((count, NUM_FEET), np.nan), np.zeros((count, NUM_FEET), np.uint8)
    )
    has_root = lifted.valid[:, PELVIS]
    placed = lifted.positions[:, PELVIS, None] + feet
    fill = has_root[:, None] & np.all(np.isfinite(placed), axis=-1) & (placed[..., 2] > _MIN_RANGE_M)
    result.positions[fill] = placed[fill]
    if pixels is not None:
        seen = fill & np.all(np.isfinite(pixels), axis=-1)
        if np.any(seen):
            rays = camera.unit_rays(pixels[seen])
            result.positions[seen] = rays * (placed[seen][:, 2] / rays[:, 2])[:, None]
    p, j = np.nonzero(fill)
    result.sigma[p, j] = np.hypot(lifted.sigma[p, PELVIS], NETWORK_JOINT_SIGMA_M)
    result.sources[p, j] = DepthSource.NETWORK
    return result


def enforce_person_band(lifted: Lifted, reference: FloatArray, band_m: float) -> None:
    """The stage's guarantee: no joint farther than the person band from the torso (one
    compiled loop)."""
    _band_people(
        lifted.positions, lifted.sigma, lifted.sources, np.ascontiguousarray(reference, dtype=np.float64), float(band_m)
    )


@compiled
def _band_people(
    positions: FloatArray, sigma: FloatArray, sources: npt.NDArray[np.uint8], reference: FloatArray, band_m: float
) -> None:
    for p in range(positions.shape[0]):
        for joint in range(positions.shape[1]):
            if _finite(positions[p, joint]) and abs(positions[p, joint, 2] - reference[p]) > band_m:
                positions[p, joint, 0] = positions[p, joint, 1] = positions[p, joint, 2] = math.nan
                sigma[p, joint] = math.nan
                sources[p, joint] = _NONE
