"""main's ``complete_from_skeleton`` (stages/depth/complete.py at bd03366), the numpy
reference of the compiled completion."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
from hdnet_ros.joints import DERIVED_JOINTS, NUM_JOINTS
from hdnet_ros.people import DepthSource
from hdnet_ros.skeleton import path_lengths
from hdnet_ros.stages.depth.arrays import Lifted, Observed

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_DERIVED = np.zeros(NUM_JOINTS, dtype=bool)
_DERIVED[list(DERIVED_JOINTS)] = True
_MIN_RANGE_M = 0.05


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
