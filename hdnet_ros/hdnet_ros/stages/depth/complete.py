"""Step 5 of the depth stage: complete the joints the depth image could not measure.

A completed joint is placed on its own viewing ray at the point closest to the nearest
joint of the same skeleton that has a position: the depth error of that guess is bounded by
the bone length, whatever the pose. Joints are filled nearest-first (a wrist next to a
measured elbow on that elbow, else on the shoulder, ...), so that a chain grows outwards
from what was measured. With a root-relative 3D pose from a network, joints that were not
seen at all are placed from it. Completed joints are marked ``DepthSource.INFERRED`` and
get a standard deviation of at least half the path to their anchor, so nobody mistakes
them for measurements. Last, no joint may lie farther than the person band from the torso.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import DERIVED_JOINTS, NUM_JOINTS, PELVIS
from hdnet_ros.people import DepthSource
from hdnet_ros.skeleton import path_lengths
from hdnet_ros.stages.depth.arrays import Lifted, Observed

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_DERIVED = np.zeros(NUM_JOINTS, dtype=bool)
_DERIVED[list(DERIVED_JOINTS)] = True
# A completed joint is never placed closer to the camera than this along its ray [m].
_MIN_RANGE_M = 0.05


@lru_cache(maxsize=4)
def _paths(stature: float) -> FloatArray:
    return path_lengths(stature)


def complete_from_skeleton(lifted: Lifted, observed: Observed, stature: float) -> None:
    """Fill the seen joints without a 3D position from the nearest positioned joint of the
    same skeleton (module doc); one joint per person per round, nearest first."""
    paths = _paths(stature)
    people = np.arange(len(observed))
    while len(people):
        known = lifted.valid[people]
        todo = observed.seen[people] & ~known & ~_DERIVED
        active = todo.any(axis=1) & known.any(axis=1)
        people, known, todo = people[active], known[active], todo[active]
        if not len(people):
            break
        reach = np.where(todo[:, :, None] & known[:, None, :], paths, np.inf)  # [A,J,J]
        nearest = reach.min(axis=2)
        joint = np.argmin(nearest, axis=1)
        anchor = np.argmin(reach[np.arange(len(people)), joint], axis=1)
        length = nearest[np.arange(len(people)), joint]
        anchor_sigma = lifted.sigma[people, anchor]
        anchor_sigma = np.where(np.isfinite(anchor_sigma), anchor_sigma, 0.0)
        ray = observed.rays[people, joint]
        t = np.maximum(np.sum(ray * lifted.positions[people, anchor], axis=1), _MIN_RANGE_M)
        lifted.positions[people, joint] = ray * t[:, None]
        lifted.sigma[people, joint] = np.hypot(anchor_sigma, 0.5 * length)
        lifted.sources[people, joint] = DepthSource.INFERRED
        lifted.complete_derived()
    lifted.complete_derived()


def complete_from_relative_pose(lifted: Lifted, relative_pose: FloatArray) -> None:
    """Joints with no position at all, taken from root-relative 3D poses [P,J,3] (metres,
    camera axes; NaN rows where a network has no joint) placed at each person's root.
    Needs a valid root."""
    valid = lifted.valid
    has_root = valid[:, PELVIS]
    rel = relative_pose
    rel_root = rel[:, PELVIS]
    root = np.where(
        np.all(np.isfinite(rel_root), axis=1)[:, None],
        lifted.positions[:, PELVIS] - rel_root,
        lifted.positions[:, PELVIS],
    )
    fill = has_root[:, None] & ~valid & np.all(np.isfinite(rel), axis=-1)
    p, j = np.nonzero(fill)
    lifted.positions[p, j] = root[p] + rel[p, j]
    lifted.sigma[p, j] = np.hypot(lifted.sigma[p, PELVIS], 0.1)
    lifted.sources[p, j] = DepthSource.INFERRED


def enforce_person_band(lifted: Lifted, reference: FloatArray, band_m: float) -> None:
    """The stage's guarantee: no joint farther than the person band from the torso."""
    with np.errstate(invalid="ignore"):
        far = lifted.valid & (np.abs(lifted.positions[..., 2] - reference[:, None]) > band_m)
    lifted.positions[far] = np.nan
    lifted.sigma[far] = np.nan
    lifted.sources[far] = DepthSource.NONE
