"""The floor from the people: a static camera sees many steps on one plane.

Each standing person whose hips and ankles are seen is an observation of the floor that
needs no depth: the ankles' rays meet the floor (raised by the ankle height), the pelvis
stands over them at the person's hip height, and the pelvis's own ray must pass through
that point. With the floor's up ``n`` and offset ``d`` unknown, every observation gives
residuals (the pelvis's height over the floor against the skeleton's leg length, and the
pelvis ray's miss of the vertical over the feet); the skeleton's own up direction is a
weak prior on ``n``. A robust least squares (scipy, soft-L1) over the observations kept
gives the plane and, from its Jacobian, its uncertainty: the floor is offered once enough
observations (from more than one frame) pin it down, and its sigmas go with it into every
person's fit. The leg lengths come from the network's metric skeletons, so the floor's
height carries their common scale error averaged over people, not any one person's.

A camera that moves relative to the floor (a head that tilts) makes new observations
disagree with the kept ones: the estimate then starts again from the new ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares

from hdnet_ros.stages.placement.fit import ANKLE_HEIGHT_M
from hdnet_ros.stages.placement.floor import IMAGE_UP, TF_SIGMA_OFFSET_M, TF_SIGMA_TILT_RAD, Floor

FloatArray = npt.NDArray[np.float64]
# Observations kept (a few minutes of a few people at the pipeline's rate are plenty).
MAX_OBSERVATIONS = 300
# The floor is offered from this many observations, from at least two frames, once its
# uncertainty is below these bounds; its sigmas go into every fit that uses it, so a looser
# floor weighs less there. Beyond them it adds next to nothing: a 5 deg tilt sigma moves a
# floor point 3 m from a camera 1.5 m high by 0.5 m.
MIN_OBSERVATIONS = 4
MIN_FRAMES = 2
MAX_SIGMA_TILT_RAD = float(np.deg2rad(5.0))
MAX_SIGMA_OFFSET_M = 0.15
# Before that, from two observations on, its up direction alone (its height left to each
# person's fit) once that is known to this: the pelvis over the feet then moves by at
# most the leg times the tilt (0.9 m x 10 deg = 16 cm, 1 sigma).
MIN_UP_OBSERVATIONS = 2
MAX_UP_SIGMA_TILT_RAD = float(np.deg2rad(10.0))
# Residual sigmas: the leg length (adult stature and the network's scale: ~7 %), the
# pelvis's horizontal offset from the middle of the feet (stance and lean), the skeleton's
# own up direction (BlazePose's legs and torso lean 5-20 deg off the truth seen from above).
LEG_RELATIVE_SIGMA = 0.07
OVER_FEET_SIGMA_M = 0.10
SKELETON_UP_SIGMA_RAD = float(np.deg2rad(20.0))
# Observations whose residuals exceed this many sigmas (median over a frame) against the
# kept estimate mean the camera moved: start again.
MOVED_SIGMAS = 4.0


@dataclass(frozen=True)
class FloorObservation:
    """One standing person in one frame: unit rays of the seen ankles [A,3] and of the
    pelvis [3], the hip height at the person's scale [m], the skeleton's up [3]."""

    ankle_rays: FloatArray
    pelvis_ray: FloatArray
    hip_height: float
    skeleton_up: FloatArray
    frame: int
    neck_ray: FloatArray | None = None  # unit ray of the mid-shoulder point (None: unseen)


class PeopleFloor:
    """Accumulates observations (:meth:`add`) and offers the floor they agree on (:attr:`floor`)."""

    def __init__(self) -> None:
        self.observations: deque[FloorObservation] = deque(maxlen=MAX_OBSERVATIONS)
        self.floor: Floor | None = None
        self.restarts = 0  # times the camera seemed to move and the estimate started again

    def reset(self) -> None:
        self.observations.clear()
        self.floor = None

    def add(self, observations: list[FloorObservation]) -> Floor | None:
        """Add one frame's observations and re-estimate; the floor (or None, not yet)."""
        if not observations:
            return self.floor
        if self.floor is not None and np.isfinite(self.floor.sigma_offset_m) and _disagree(self.floor, observations):
            self.observations.clear()
            self.floor = None
            self.restarts += 1
        self.observations.extend(observations)
        self.floor = estimate(list(self.observations))
        return self.floor


def estimate(observations: list[FloorObservation]) -> Floor | None:
    """The floor the observations agree on; only its up direction (an infinite offset
    sigma) while its height is not pinned down; None while neither is."""
    if len(observations) < MIN_UP_OBSERVATIONS:
        return None
    ups = np.array([o.skeleton_up for o in observations])
    start_up = ups.mean(axis=0)
    start_up /= np.linalg.norm(start_up)
    heights = [o.hip_height / h for o in observations if np.isfinite(h := _unit_hip_height(o, start_up)) and h > 0]
    if not heights:
        return None
    start = np.array([0.0, 0.0, float(np.log(np.median(heights)))])
    basis = _tangent_basis(start_up)
    stacked = _Stacked.of(observations)
    solution = least_squares(
        lambda p: _residuals(p, start_up, basis, stacked), start, loss="soft_l1", f_scale=2.0, method="trf"
    )
    if not solution.success:
        return None
    normal, height = _plane(solution.x, start_up, basis)
    jacobian = solution.jac
    covariance = np.linalg.pinv(jacobian.T @ jacobian)
    # Never tighter than a floor from TF: a degenerate covariance (as many residuals as
    # unknowns) says nothing about the floor's error.
    sigma_tilt = max(float(np.sqrt(max(covariance[0, 0], covariance[1, 1], 0.0))), TF_SIGMA_TILT_RAD)
    sigma_offset = max(float(height * np.sqrt(max(covariance[2, 2], 0.0))), TF_SIGMA_OFFSET_M)
    tilt = float(np.arccos(np.clip(normal @ IMAGE_UP, -1.0, 1.0)))
    if sigma_tilt > MAX_UP_SIGMA_TILT_RAD or tilt > np.deg2rad(80.0):
        return None
    enough = len(observations) >= MIN_OBSERVATIONS and len({o.frame for o in observations}) >= MIN_FRAMES
    if not enough or sigma_tilt > MAX_SIGMA_TILT_RAD or sigma_offset > MAX_SIGMA_OFFSET_M:
        return Floor(normal, -height, "people_up", float("inf"), sigma_tilt)
    return Floor(normal, -height, "people", sigma_offset, sigma_tilt)


def _disagree(floor: Floor, observations: list[FloorObservation]) -> bool:
    params = np.array([0.0, 0.0, np.log(floor.camera_height)])
    residuals = _residuals(params, floor.normal, _tangent_basis(floor.normal), _Stacked.of(observations))
    per_observation = np.abs(residuals).reshape(3, len(observations)).max(axis=0)
    return bool(np.median(per_observation) > MOVED_SIGMAS)


def _tangent_basis(up: FloatArray) -> FloatArray:
    helper = np.array([1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    first = np.cross(up, helper)
    first /= np.linalg.norm(first)
    return np.stack((first, np.cross(up, first)))


def _plane(params: FloatArray, up: FloatArray, basis: FloatArray) -> tuple[FloatArray, float]:
    """(unit normal, camera height) of parameters (two tilt angles about ``up``, log height)."""
    normal = up + params[0] * basis[0] + params[1] * basis[1]
    return normal / np.linalg.norm(normal), float(np.exp(params[2]))


@dataclass(frozen=True)
class _Stacked:
    """The observations as arrays: ankle rays [N,2,3] (NaN rows unseen), pelvis rays [N,3],
    hip heights [N], skeleton ups [N,3]."""

    ankles: FloatArray
    pelvis: FloatArray
    hips: FloatArray
    ups: FloatArray

    @classmethod
    def of(cls, observations: list[FloorObservation]) -> _Stacked:
        ankles = np.full((len(observations), 2, 3), np.nan)
        for i, o in enumerate(observations):
            ankles[i, : len(o.ankle_rays)] = o.ankle_rays
        return cls(
            ankles,
            np.array([o.pelvis_ray for o in observations]),
            np.array([o.hip_height for o in observations]),
            np.array([o.skeleton_up for o in observations]),
        )


def _pelvis_over_feet(stacked: _Stacked, normal: FloatArray, height: float) -> tuple[FloatArray, FloatArray]:
    """Per observation: the pelvis ray's point closest to the vertical over the feet (NaN
    where an ankle ray misses the floor) [N,3], and how far it misses that vertical [N]."""
    level = -height + ANKLE_HEIGHT_M
    down = stacked.ankles @ normal  # [N,2], NaN for an unseen ankle
    with np.errstate(invalid="ignore", divide="ignore"):
        hits = stacked.ankles * (level / np.where(down < -1e-6, down, np.nan))[..., None]
    misses = np.any(np.isfinite(stacked.ankles[..., 0]) & ~(down < -1e-6), axis=1)
    finite = np.isfinite(hits[..., 0])
    feet = np.where(finite[..., None], hits, 0.0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)[:, None]
    feet[misses | ~finite.any(axis=1)] = np.nan
    # min over (a, b) of |a ray - feet - b n|: the 2x2 normal equations of each observation
    ray = stacked.pelvis
    rn = ray @ normal
    fr, fn = np.einsum("ij,ij->i", feet, ray), feet @ normal
    det = 1.0 - rn**2  # |ray| = |n| = 1
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (fr - rn * fn) / det
        b = (rn * fr - fn) / det
    pelvis = a[:, None] * ray
    miss = np.linalg.norm(pelvis - feet - b[:, None] * normal, axis=1)
    return pelvis, miss


def _unit_hip_height(observation: FloorObservation, normal: FloatArray) -> float:
    """The pelvis's height over a floor 1 m below the camera, by the construction; NaN where
    the ankle rays do not reach the floor."""
    pelvis, _ = _pelvis_over_feet(_Stacked.of([observation]), normal, 1.0)
    return float(pelvis[0] @ normal + 1.0)


def _residuals(params: FloatArray, up: FloatArray, basis: FloatArray, stacked: _Stacked) -> FloatArray:
    normal, height = _plane(params, up, basis)
    pelvis, miss = _pelvis_over_feet(stacked, normal, height)
    hip = pelvis @ normal + height
    angle = np.arccos(np.clip(stacked.ups @ normal, -1.0, 1.0))
    rows = np.stack(
        (
            (hip - stacked.hips) / (LEG_RELATIVE_SIGMA * stacked.hips),
            miss / OVER_FEET_SIGMA_M,
            angle / SKELETON_UP_SIGMA_RAD,
        )
    )
    # A ray that misses the floor: a large, finite penalty (least squares needs finite values).
    bad = ~np.isfinite(rows[0]) | ~np.isfinite(rows[1])
    rows[:2, bad] = 10.0
    return np.asarray(rows.ravel())
