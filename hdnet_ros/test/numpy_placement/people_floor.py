"""The floor from the people as main had it before the analytic Jacobian and the warm start
(``stages/placement/people_floor.py``): every frame a fresh multi-start robust least squares
with scipy's numeric Jacobian, the covariance by central differences, inflated by the
design effect of people seen in several frames (mono6). The reference
``test_people_floor_solver.py`` compares the live estimator with; the model, the constants
and the observation type are the live module's."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hdnet_ros.stages.placement.fit import ANKLE_HEIGHT_M
from hdnet_ros.stages.placement.floor import (
    IMAGE_UP,
    TF_SIGMA_OFFSET_M,
    TF_SIGMA_TILT_RAD,
    Floor,
    tangent_basis,
)
from hdnet_ros.stages.placement.people_floor import (
    CAMERA_HEIGHT_RANGE_M,
    LEG_RELATIVE_SIGMA,
    MAX_OBSERVATIONS,
    MAX_SIGMA_OFFSET_M,
    MAX_SIGMA_TILT_RAD,
    MAX_SKELETON_ANGLE_SIGMAS,
    MAX_TILT_RAD,
    MIN_FOOTED_OBSERVATIONS,
    MIN_OBSERVATIONS,
    MISS_PENALTY,
    MOVED_SIGMAS,
    NO_TRACK,
    OVER_FEET_SIGMA_M,
    ROWS,
    SKELETON_UP_SIGMA_RAD,
    TRUNK_LEAN_SIGMA_RAD,
    FloorObservation,
)
from scipy.optimize import least_squares

FloatArray = npt.NDArray[np.float64]


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
        if self.floor is not None and self.floor.height_known and _disagree(self.floor, observations):
            self.observations.clear()
            self.floor = None
            self.restarts += 1
        self.observations.extend(observations)
        self.floor = estimate(list(self.observations))
        return self.floor


def estimate(observations: list[FloorObservation]) -> Floor | None:
    """The floor the observations agree on (module doc); only its up direction (an infinite
    offset sigma) while its height is not pinned down; None while neither is."""
    if len(observations) < MIN_OBSERVATIONS:
        return None
    stacked = _Stacked.of(observations)
    up = _mean_direction(stacked.ups)
    solution = _solve(stacked, up)
    if solution is None:
        return None
    normal, height = _plane(solution, up, tangent_basis(up))
    if not _plausible(normal, height, up):
        return None
    covariance = _covariance(stacked, normal, height) * _design_effect(observations)
    # Never tighter than a floor from TF: a degenerate covariance says nothing about the error.
    sigma_tilt = max(float(np.sqrt(max(covariance[0, 0], covariance[1, 1], 0.0))), TF_SIGMA_TILT_RAD)
    sigma_offset = max(float(np.sqrt(max(covariance[2, 2], 0.0))), TF_SIGMA_OFFSET_M)
    if sigma_tilt > MAX_SIGMA_TILT_RAD:
        return None
    footed = int(np.count_nonzero(np.isfinite(stacked.ankles[..., 0]).any(axis=1)))
    if footed < MIN_FOOTED_OBSERVATIONS or sigma_offset > MAX_SIGMA_OFFSET_M:
        return Floor(normal, -height, "people_up", float("inf"), sigma_tilt)
    floor_covariance = covariance.copy()
    floor_covariance[:2, :2] = np.maximum(floor_covariance[:2, :2], 0.0) + np.eye(2) * TF_SIGMA_TILT_RAD**2
    floor_covariance[2, 2] += TF_SIGMA_OFFSET_M**2
    return Floor(normal, -height, "people", sigma_offset, sigma_tilt, floor_covariance)


def _design_effect(observations: list[FloorObservation]) -> float:
    """Kish's design effect over the people seen: the sum of each track's observation count
    squared over all observations (an untracked observation is a person of its own)."""
    people = Counter(o.track if o.track != NO_TRACK else -1 - i for i, o in enumerate(observations))
    return sum(n * n for n in people.values()) / len(observations)


def _plausible(normal: FloatArray, height: float, skeletons_up: FloatArray) -> bool:
    """Whether a solution can be the floor the people stand on: not too far from the image's
    up nor from their skeletons' up, the camera neither on the floor nor absurdly high."""
    tilt = float(np.arccos(np.clip(normal @ IMAGE_UP, -1.0, 1.0)))
    off_skeletons = float(np.arccos(np.clip(normal @ skeletons_up, -1.0, 1.0)))
    in_range = CAMERA_HEIGHT_RANGE_M[0] <= height <= CAMERA_HEIGHT_RANGE_M[1]
    return tilt <= MAX_TILT_RAD and off_skeletons <= MAX_SKELETON_ANGLE_SIGMAS * SKELETON_UP_SIGMA_RAD and in_range


def _solve(stacked: _Stacked, up: FloatArray) -> FloatArray | None:
    """The robust least squares from the skeletons' mean up and the camera heights the
    observations' hip heights suggest (the best of a few starts): (tilt, tilt, log height)."""
    basis = tangent_basis(up)
    heights = _start_heights(stacked, up)
    best = None
    for height in heights:
        solution = least_squares(
            _residuals,
            np.array([0.0, 0.0, float(np.log(height))]),
            args=(up, basis, stacked),
            loss="soft_l1",
            f_scale=2.0,
            method="trf",
        )
        if solution.success and (best is None or solution.cost < best.cost):
            best = solution
    return None if best is None else np.asarray(best.x)


def _start_heights(stacked: _Stacked, up: FloatArray) -> list[float]:
    """Camera heights to start from: the one the observations' hip heights give along the
    skeletons' up (where ankles are seen), and a low, a middle and a high camera."""
    pelvis, _ = _pelvis_over_feet(stacked, up, 1.0)
    hip = pelvis @ up + 1.0  # the pelvis's height over a floor 1 m below the camera
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = stacked.hips / hip
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    starts = [float(np.median(ratios))] if len(ratios) else []
    return [*starts, 1.0, 2.0, 3.5]


def _covariance(stacked: _Stacked, normal: FloatArray, height: float) -> FloatArray:
    """[3,3] over (tilt about tangent_basis(normal)[0], [1], the offset) at the solution: the
    inverse of J^T J (central differences) scaled by the residuals' spread where it exceeds
    their sigmas."""
    basis = tangent_basis(normal)

    def rows(params: FloatArray) -> FloatArray:
        return _residuals(np.array([params[0], params[1], np.log(-params[2])]), normal, basis, stacked)

    at = np.array([0.0, 0.0, -height])
    residuals = rows(at)
    step = np.array([1e-4, 1e-4, 1e-4 * height])
    jacobian = np.stack(
        [(rows(at + step * e) - rows(at - step * e)) / (2 * step[k]) for k, e in enumerate(np.eye(3))], 1
    )
    used = np.any(jacobian != 0.0, axis=1)
    dof = max(int(np.count_nonzero(used)) - 3, 1)
    spread = max(1.0, float(np.sum(np.minimum(residuals[used] ** 2, MISS_PENALTY**2))) / dof)
    return np.asarray(np.linalg.pinv(jacobian.T @ jacobian) * spread)


def _disagree(floor: Floor, observations: list[FloorObservation]) -> bool:
    params = np.array([0.0, 0.0, np.log(floor.camera_height)])
    residuals = _residuals(params, floor.normal, tangent_basis(floor.normal), _Stacked.of(observations))
    per_observation = np.abs(residuals[:-1]).reshape(ROWS, len(observations)).max(axis=0)
    return bool(np.median(per_observation) > MOVED_SIGMAS)


def _mean_direction(directions: FloatArray) -> FloatArray:
    mean = directions.mean(axis=0)
    return np.asarray(mean / np.linalg.norm(mean))


def _plane(params: FloatArray, up: FloatArray, basis: FloatArray) -> tuple[FloatArray, float]:
    """(unit normal, camera height) of parameters (two tilt angles about ``up``, log height)."""
    normal = up + params[0] * basis[0] + params[1] * basis[1]
    return normal / np.linalg.norm(normal), float(np.exp(params[2]))


@dataclass(frozen=True)
class _Stacked:
    """The observations as arrays: ankle rays [N,2,3] (NaN rows unseen), pelvis rays [N,3],
    hip heights [N], skeleton ups [N,3], the unit normals of the planes through the camera
    and each trunk [N,3] (NaN: unseen)."""

    ankles: FloatArray
    pelvis: FloatArray
    hips: FloatArray
    ups: FloatArray
    trunks: FloatArray

    @classmethod
    def of(cls, observations: list[FloorObservation]) -> _Stacked:
        ankles = np.full((len(observations), 2, 3), np.nan)
        for i, o in enumerate(observations):
            ankles[i, : len(o.ankle_rays)] = o.ankle_rays
        pelvis = np.array([o.pelvis_ray for o in observations])
        necks = np.array([o.neck_ray if o.neck_ray is not None else np.full(3, np.nan) for o in observations])
        trunks = np.cross(pelvis, necks)
        with np.errstate(invalid="ignore", divide="ignore"):
            trunks /= np.linalg.norm(trunks, axis=1, keepdims=True)
        return cls(
            ankles,
            pelvis,
            np.array([o.hip_height for o in observations]),
            np.array([o.skeleton_up for o in observations]),
            trunks,
        )


def _pelvis_over_feet(stacked: _Stacked, normal: FloatArray, height: float) -> tuple[FloatArray, FloatArray]:
    """Per observation: the pelvis ray's point closest to the vertical over the feet [N,3],
    and how far it misses that vertical [N] (NaN without a seen ankle; inf where an ankle
    ray misses the floor)."""
    level = -height + ANKLE_HEIGHT_M
    down = stacked.ankles @ normal  # [N,2], NaN for an unseen ankle
    with np.errstate(invalid="ignore", divide="ignore"):
        hits = stacked.ankles * (level / np.where(down < -1e-6, down, np.nan))[..., None]
    misses = np.any(np.isfinite(stacked.ankles[..., 0]) & ~(down < -1e-6), axis=1)
    finite = np.isfinite(hits[..., 0])
    feet = np.where(finite[..., None], hits, 0.0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)[:, None]
    feet[~finite.any(axis=1)] = np.nan
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
    miss[misses] = np.inf
    return pelvis, miss


def _residuals(params: FloatArray, up: FloatArray, basis: FloatArray, stacked: _Stacked) -> FloatArray:
    """[ROWS x N] normalised residuals (module doc); an observation without a seen ankle has
    zeros for the hip height and the pelvis over the feet."""
    normal, height = _plane(params, up, basis)
    pelvis, miss = _pelvis_over_feet(stacked, normal, height)
    hip = pelvis @ normal + height
    trunk = np.nan_to_num(stacked.trunks @ normal / np.sin(TRUNK_LEAN_SIGMA_RAD), nan=0.0)
    rows = np.stack(((hip - stacked.hips) / (LEG_RELATIVE_SIGMA * stacked.hips), miss / OVER_FEET_SIGMA_M, trunk))
    feetless = np.isnan(miss)
    rows[:2, feetless] = 0.0
    bad = ~feetless & (~np.isfinite(rows[0]) | ~np.isfinite(rows[1]))
    rows[:2, bad] = MISS_PENALTY
    # The skeletons' up as one prior on the mean: the network's lean seen from above is
    # largely common to everyone in view, so it does not average out over people.
    angle = np.arccos(np.clip(_mean_direction(stacked.ups) @ normal, -1.0, 1.0)) / SKELETON_UP_SIGMA_RAD
    return np.concatenate((rows.ravel(), [angle]))
