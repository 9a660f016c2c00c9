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

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import DERIVED_JOINTS, NUM_FEET, NUM_JOINTS, PELVIS
from hdnet_ros.people import DepthSource
from hdnet_ros.skeleton import path_lengths
from hdnet_ros.stages.depth.arrays import Lifted, Observed

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

_DERIVED = np.zeros(NUM_JOINTS, dtype=bool)
_DERIVED[list(DERIVED_JOINTS)] = True
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
    joints are filled, as in Prim's algorithm."""
    paths = _paths(stature)
    lifted.complete_derived()
    count = len(observed)
    known = lifted.valid
    nearest = np.where(known[:, :, None], paths[None], np.inf)  # [P,known,J]
    anchor = np.argmin(nearest, axis=1)  # [P,J]: first minimum = lowest index
    distance = np.take_along_axis(nearest, anchor[:, None], axis=1)[:, 0]
    people = np.arange(count)
    todo = observed.seen & ~known & ~_DERIVED
    while True:
        active = todo.any(axis=1) & known.any(axis=1)
        if not np.any(active):
            break
        p = people[active]
        candidate = np.where(todo[p], distance[p], np.inf)
        joint = np.argmin(candidate, axis=1)
        source = anchor[p, joint]
        length = candidate[np.arange(len(p)), joint]
        anchor_sigma = lifted.sigma[p, source]
        anchor_sigma = np.where(np.isfinite(anchor_sigma), anchor_sigma, 0.0)
        ray = observed.rays[p, joint]
        t = np.maximum(np.sum(ray * lifted.positions[p, source], axis=1), _MIN_RANGE_M)
        lifted.positions[p, joint] = ray * t[:, None]
        lifted.sigma[p, joint] = np.hypot(anchor_sigma, 0.5 * length)
        lifted.sources[p, joint] = DepthSource.INFERRED
        todo[p, joint] = False
        _positioned(distance, anchor, paths, p, joint)
        before = lifted.valid
        lifted.complete_derived()
        for derived in DERIVED_JOINTS:
            q = np.flatnonzero(lifted.valid[:, derived] & ~before[:, derived])
            _positioned(distance, anchor, paths, q, np.full(len(q), derived))
        known = lifted.valid


def _positioned(
    distance: FloatArray, anchor: npt.NDArray[np.intp], paths: FloatArray, people: IntArray, joints: IntArray
) -> None:
    """Joint ``joints[i]`` of ``people[i]`` (each person once) got a position: it may now be
    the nearest anchor of the others (on a tie, the lower joint index)."""
    through = paths[joints]
    current, owner = distance[people], anchor[people]
    better = (through < current) | ((through == current) & (joints[:, None] < owner))
    distance[people] = np.where(better, through, current)
    anchor[people] = np.where(better, joints[:, None], owner)


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
    """The stage's guarantee: no joint farther than the person band from the torso."""
    with np.errstate(invalid="ignore"):
        far = lifted.valid & (np.abs(lifted.positions[..., 2] - reference[:, None]) > band_m)
    lifted.positions[far] = np.nan
    lifted.sigma[far] = np.nan
    lifted.sources[far] = DepthSource.NONE
