"""The floor from the people: standing people in one frame, and a static camera's many steps
over time, all on one plane.

Each standing person is an observation of the floor that needs no depth:

- their trunk (pelvis to mid-shoulders) stands vertical within a lean, so its line in the
  image passes through the floor's vertical vanishing point: one constraint on the up
  direction per person, and people in different places fix it (the plane through the camera
  and the trunk contains the up within the lean);
- their skeleton's own up direction (the 3D network's trunk) is a weak prior on it;
- where their ankles are seen, the ankles' rays meet the floor (raised by the ankle
  height), the pelvis stands over them at the person's hip height and the pelvis's own ray
  must pass through that point: the floor's height, in the skeleton's metric scale.

With the floor's up ``n`` and the camera's height unknown, a robust least squares (soft-L1,
compiled: people_floor_kernel.py, people_floor_solver.py) over the observations kept gives
the plane and, from its Jacobian (scaled by the residuals' spread and by how often each
person was seen: :func:`repeats`), its full uncertainty: tilt and height together, so that
the floor is known best where the people stand (:meth:`Floor.height_sigma`). The floor is
offered from the first frame whose people pin it down (two standing people at different
places, one of them with an ankle seen), with that uncertainty, which every person's fit
then weighs; the leg lengths come from the network's metric skeletons, so the floor's
height carries their common scale error averaged over people, not any one person's.

A camera that moves relative to the floor (a head that tilts) makes new observations
disagree with the kept ones: the estimate then starts again from the new ones.

Solving over up to 300 observations every frame cost milliseconds, so the floor is solved
again on a cadence (:data:`REESTIMATE_FRAMES`) while every frame's observations are kept and
checked against the floor offered (the moved camera's test: one residual evaluation over
that frame's few people). That is safe: a static camera's floor does not change between
frames (a few new observations among many move its estimate by a fraction of its sigma),
and a camera that moves is still caught on the first frame whose people disagree.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import NamedTuple

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
from hdnet_ros.stages.placement.people_floor_kernel import floor_rows, warm_up
from hdnet_ros.stages.placement.people_floor_solver import solve_floor
from hdnet_ros.stages.placement.people_floor_solver import warm_up as warm_up_solver

FloatArray = npt.NDArray[np.float64]
# Observations kept (a few minutes of a few people at the pipeline's rate are plenty).
MAX_OBSERVATIONS = 300
# At least this many observations (three people, or fewer people over frames), two of them
# with an ankle seen for the height: with fewer, one wrong keypoint cannot be told from the
# floor.
MIN_OBSERVATIONS = 3
MIN_FOOTED_OBSERVATIONS = 2
# The floor is offered with its height while that is known to this at the camera (a floor
# seen from people is known better where they stand); with only its up direction while
# that is known to MAX_SIGMA_TILT_RAD (the pelvis over the feet then moves by the leg times
# the tilt: 0.9 m x 10 deg = 16 cm, 1 sigma); not at all beyond.
MAX_SIGMA_OFFSET_M = 0.5
MAX_SIGMA_TILT_RAD = float(np.deg2rad(10.0))
# A plane this far from the image's up, or a camera outside these heights, is not a floor
# the people stand on (a wrong solution of few observations).
MAX_TILT_RAD = float(np.deg2rad(80.0))
CAMERA_HEIGHT_RANGE_M = (0.2, 10.0)
# Residual sigmas: the leg length (adult stature and the network's scale: ~7 %), the
# pelvis's horizontal offset from the middle of the feet (stance and lean), the skeletons'
# mean up direction (BlazePose's trunk leans 3-30 deg off the truth, median 7 deg, on the
# Panoptic frames, much of it common to the people in view), the trunk's lean (standing
# people's trunks lean 1-10 deg, median 3 deg, in the Panoptic reference; a 200 px trunk
# with 3 px keypoint noise adds ~1 deg).
LEG_RELATIVE_SIGMA = 0.07
OVER_FEET_SIGMA_M = 0.10
SKELETON_UP_SIGMA_RAD = float(np.deg2rad(15.0))
TRUNK_LEAN_SIGMA_RAD = float(np.deg2rad(4.0))
# A floor further than this many sigmas from the skeletons' mean up is a wrong solution.
MAX_SKELETON_ANGLE_SIGMAS = 2.0
# An ankle ray that never meets the floor gets this residual (least squares needs finite values).
MISS_PENALTY = 10.0
# Observations whose residuals exceed this many sigmas (median over a frame) against the
# kept estimate mean the camera moved: start again.
MOVED_SIGMAS = 4.0
# The distinct minima kept to start the next frame from: the lowest (a search has 4 starts).
MAX_MINIMA = 4
# The cadence (module doc): solved again once REESTIMATE_FRAMES frames with observations have
# come since the last solve, or sooner once the observations added since then reach
# REESTIMATE_SHARE of those kept at it. The share solves often while few are kept (the
# estimate still moves, each solve is cheap) and keeps the floor offered near the one a solve
# would give (a tenth more observations move it by ~0.3 of its sigma; measured at most 0.22
# on the sample frames); the frame count bounds its age (a third of a second at 30 Hz). A
# frame that disagrees with the floor (a moved camera) starts again and solves at once.
REESTIMATE_FRAMES = 10
REESTIMATE_SHARE = 0.1
NO_TRACK = -1  # FloorObservation.track of a person not yet tracked: counts as a person of its own
ROWS = 3  # residuals per observation: hip height, pelvis over the feet, trunk line (then the skeletons' up)
# The kernel's constants (people_floor_kernel's order).
_CONSTANTS = np.array(
    [
        LEG_RELATIVE_SIGMA,
        OVER_FEET_SIGMA_M,
        np.sin(TRUNK_LEAN_SIGMA_RAD),
        SKELETON_UP_SIGMA_RAD,
        MISS_PENALTY,
        ANKLE_HEIGHT_M,
    ]
)


@dataclass(frozen=True)
class FloorObservation:
    """One standing person in one frame: unit rays of the seen ankles [A,3] (A may be 0) and
    of the pelvis [3], the hip height at the person's scale [m], the skeleton's up [3], and
    the unit ray of the mid-shoulder point (None: unseen); ``track``: the person's track
    (NO_TRACK: none yet), whose observations share that person's errors (:func:`repeats`)."""

    ankle_rays: FloatArray
    pelvis_ray: FloatArray
    hip_height: float
    skeleton_up: FloatArray
    frame: int
    neck_ray: FloatArray | None = None
    track: int = NO_TRACK


class PeopleFloor:
    """Accumulates observations (:meth:`add`) and offers the floor they agree on (:attr:`floor`),
    solved again on a cadence (:data:`REESTIMATE_FRAMES`; ``reestimate_frames=1``: every frame).

    The kept observations change little between solves, so their minima move little: each
    solve starts from the distinct minima the last solve found (a few steps each) and from
    the observations' own height (a frame's people can lead the minima into a local one:
    the sample RGB-D frames in a row, 17 deg and 1.5 m off), and takes the lowest where it
    is a floor. A search from every start
    (:func:`estimate`, what main did every frame) runs, and decides, where there are no such
    minima, none of them converges or their best is no floor (another minimum may be), and
    once as many observations have come as were kept at the last search (so that a minimum
    the new observations open is found within that)."""

    def __init__(self, reestimate_frames: int = REESTIMATE_FRAMES, reestimate_share: float = REESTIMATE_SHARE) -> None:
        if reestimate_frames < 1 or not reestimate_share >= 0.0:
            raise ValueError(f"reestimate_frames {reestimate_frames} < 1 or reestimate_share {reestimate_share} < 0")
        warm_up()  # the compiled residuals and solver, before the first frame
        warm_up_solver()
        self.reestimate_frames = reestimate_frames
        self.reestimate_share = reestimate_share
        self.observations: deque[FloorObservation] = deque(maxlen=MAX_OBSERVATIONS)
        self.floor: Floor | None = None
        self.restarts = 0  # times the camera seemed to move and the estimate started again
        self.estimates = 0  # solves (the frames between keep the floor)
        self.searches = 0  # solves from every start (the other solves start from the last minima)
        self._minima: list[Plane] = []  # the last solve's distinct solutions
        self._since_search = 0  # observations added since the last search
        self._kept_at_search = 0  # observations kept at the last search
        self._frames_since_estimate = 0  # frames with observations added since the last solve
        self._added_since_estimate = 0  # observations added since the last solve
        self._kept_at_estimate = 0  # observations kept at the last solve (0: solve at the next frame)

    def reset(self) -> None:
        self.observations.clear()
        self._start_again()

    def add(self, observations: list[FloorObservation]) -> Floor | None:
        """Add one frame's observations; the floor (or None, not yet): solved again where the
        cadence says (class doc), or at once where they disagree with the floor offered."""
        if not observations:
            return self.floor
        if self.floor is not None and self.floor.height_known and _disagree(self.floor, observations):
            self.observations.clear()
            self._start_again()
            self.restarts += 1
        self.observations.extend(observations)
        self._since_search += len(observations)
        self._frames_since_estimate += 1
        self._added_since_estimate += len(observations)
        due = self._added_since_estimate >= self.reestimate_share * self._kept_at_estimate  # REESTIMATE_FRAMES
        if due or self._frames_since_estimate >= self.reestimate_frames:
            self._solve()
        return self.floor

    def _solve(self) -> None:
        starts = self._minima if self._since_search < self._kept_at_search else []
        self.floor, self._minima, searched = _estimate(list(self.observations), starts)
        self.estimates += 1
        self._frames_since_estimate = self._added_since_estimate = 0
        self._kept_at_estimate = len(self.observations)
        if searched:
            self.searches += 1
            self._since_search, self._kept_at_search = 0, len(self.observations)

    def _start_again(self) -> None:
        """Forget the floor and its minima: the next frame solves (a search: no minima)."""
        self.floor = None
        self._minima = []
        self._kept_at_estimate = 0


Plane = tuple[FloatArray, float]  # (unit normal, camera height)
# The robust loss's scale, in the residuals' sigmas: soft-L1 is quadratic within ~2 sigmas.
LOSS_SCALE = 2.0


class Solution(NamedTuple):
    """A converged robust solve: the parameters (tilt, tilt, log height) and its cost."""

    x: FloatArray
    cost: float


def estimate(observations: list[FloorObservation]) -> Floor | None:
    """The floor the observations agree on (module doc), the best solution of a search from
    every start; only its up direction (an infinite offset sigma) while its height is not
    pinned down; None while neither is."""
    return _estimate(observations, [])[0]


def _estimate(observations: list[FloorObservation], starts: list[Plane]) -> tuple[Floor | None, list[Plane], bool]:
    """(the floor or None, the distinct solutions found, whether a search ran): the solves
    start from ``starts``; where none converges, or their best is no floor, the best of a
    search's decides (as a search every frame would), and the minima found are kept."""
    if len(observations) < MIN_OBSERVATIONS:
        return None, [], False
    stacked = _Stacked.of(observations)
    up = stacked.mean_up
    basis = tangent_basis(up)
    params = [p for p in (_start_params(start, up, basis) for start in starts) if p is not None]
    own = _height_start(stacked, up)
    if params and own is not None:  # beside the last minima (class doc)
        params.append(own)
    solutions = _solutions(stacked, up, basis, params)
    searched = not solutions or not _plausible(*_best(solutions, up, basis), up)
    known = solutions
    if searched:  # where the best known minimum is no floor, the search's starts decide
        solutions = _solutions(stacked, up, basis, _search_starts(own))
    lowest = sorted(known + solutions, key=lambda solution: solution.cost)
    minima = _distinct([_plane(np.asarray(solution.x), up, basis) for solution in lowest])[:MAX_MINIMA]
    if not solutions:
        return None, minima, searched
    normal, height = _best(solutions, up, basis)
    if not _plausible(normal, height, up):
        return None, minima, searched
    return _floor(stacked, normal, height, repeats(observations)), minima, searched


def _best(solutions: list[Solution], up: FloatArray, basis: FloatArray) -> Plane:
    """The plane of the lowest-cost solution (the first of equals)."""
    return _plane(np.asarray(min(solutions, key=lambda solution: solution.cost).x), up, basis)


def _solutions(stacked: _Stacked, up: FloatArray, basis: FloatArray, starts: list[FloatArray]) -> list[Solution]:
    """The converged robust least squares from each start (tilt, tilt, log height; people_floor_solver)."""
    found = [solve_floor(x, up, basis, *stacked.arrays, _CONSTANTS, LOSS_SCALE) for x in starts]
    return [Solution(x, float(cost)) for x, cost, _, converged in found if converged]


def _start_params(start: Plane, up: FloatArray, basis: FloatArray) -> FloatArray | None:
    """``start`` as parameters about ``up`` (:func:`_plane`'s inverse); None where it is not
    within a right angle of ``up``."""
    normal, height = start
    along = float(normal @ up)
    if along <= 1e-6:
        return None
    return np.array([float(normal @ basis[0]) / along, float(normal @ basis[1]) / along, float(np.log(height))])


def _distinct(planes: list[Plane]) -> list[Plane]:
    """``planes`` without repeats (normals within 0.05 deg, heights within 1 mm): starts
    that converged to the same minimum."""
    kept: list[Plane] = []
    for normal, height in planes:
        if not any(float(normal @ other) > np.cos(8.7e-4) and abs(height - h) < 1e-3 for other, h in kept):
            kept.append((normal, height))
    return kept


def _floor(stacked: _Stacked, normal: FloatArray, height: float, repeated: float) -> Floor | None:
    """The floor of a plausible solution with its uncertainty (:func:`estimate`)."""
    covariance = _covariance(stacked, normal, height) * repeated
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


def repeats(observations: list[FloorObservation]) -> float:
    """How much a person seen in many frames inflates the floor's variance (Kish's design
    effect, sum of n_p^2 / N over the people p seen n_p times, N in all; 1 where every
    observation is another person): the residuals are dominated by each person's own errors
    (their stature against the network's skeleton, their lean), which their observations
    share from frame to frame, so a person seen again adds keypoint noise, not a new floor
    measurement. Without this the floor's sigma fell as one over the root of the frames
    while a still scene's few people kept saying the same thing (the sample RGB-D frames:
    0.22 -> 0.05 m in 15 frames, pulling a standing man's scale from 1.02 to 1.11)."""
    counts = Counter((o.track, -1) if o.track != NO_TRACK else (NO_TRACK, i) for i, o in enumerate(observations))
    return float(sum(n * n for n in counts.values())) / len(observations)


def _plausible(normal: FloatArray, height: float, skeletons_up: FloatArray) -> bool:
    """Whether a solution can be the floor the people stand on: not too far from the image's
    up nor from their skeletons' up, the camera neither on the floor nor absurdly high."""
    tilt = float(np.arccos(np.clip(normal @ IMAGE_UP, -1.0, 1.0)))
    off_skeletons = float(np.arccos(np.clip(normal @ skeletons_up, -1.0, 1.0)))
    in_range = CAMERA_HEIGHT_RANGE_M[0] <= height <= CAMERA_HEIGHT_RANGE_M[1]
    return tilt <= MAX_TILT_RAD and off_skeletons <= MAX_SKELETON_ANGLE_SIGMAS * SKELETON_UP_SIGMA_RAD and in_range


def _search_starts(own: FloatArray | None) -> list[FloatArray]:
    """A search's starts: the observations' own height (``own``: :func:`_height_start`, None
    where no ankle gives it), and a low, a middle and a high camera, along the skeletons' mean up."""
    return ([] if own is None else [own]) + [np.array([0.0, 0.0, float(np.log(h))]) for h in (1.0, 2.0, 3.5)]


def _height_start(stacked: _Stacked, up: FloatArray) -> FloatArray | None:
    """The skeletons' mean up with the camera height the observations' hip heights give
    along it (their median); None where no ankle meets a floor along it."""
    hip = _rows(np.zeros(3), up, tangent_basis(up), stacked, False)[2]  # over a floor 1 m below the camera
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = stacked.hips / hip
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    return np.array([0.0, 0.0, float(np.log(np.median(ratios)))]) if len(ratios) else None


def _covariance(stacked: _Stacked, normal: FloatArray, height: float) -> FloatArray:
    """[3,3] over (tilt about tangent_basis(normal)[0], [1], the offset) at the solution: the
    inverse of J^T J scaled by the residuals' spread where it exceeds their sigmas."""
    basis = tangent_basis(normal)
    params = np.array([0.0, 0.0, np.log(height)])
    residuals, jacobian, _ = _rows(params, normal, basis, stacked, True)
    jacobian[:, 2] /= -height  # over the offset (-height), not the log height
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
    and each trunk [N,3] (NaN: unseen), the skeletons' mean up [3]."""

    ankles: FloatArray
    pelvis: FloatArray
    hips: FloatArray
    ups: FloatArray
    trunks: FloatArray
    mean_up: FloatArray

    @property
    def arrays(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """The observations' arrays in floor_rows' (and solve_floor's) order."""
        return self.ankles, self.pelvis, self.hips, self.trunks, self.mean_up

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
        ups = np.array([o.skeleton_up for o in observations])
        return cls(ankles, pelvis, np.array([o.hip_height for o in observations]), ups, trunks, _mean_direction(ups))


def _residuals(params: FloatArray, up: FloatArray, basis: FloatArray, stacked: _Stacked) -> FloatArray:
    """[ROWS x N + 1] normalised residuals (module doc; people_floor_kernel.floor_rows); an
    observation without a seen ankle has zeros for the hip height and the pelvis over the feet."""
    return _rows(params, up, basis, stacked, False)[0]


def _jacobian(params: FloatArray, up: FloatArray, basis: FloatArray, stacked: _Stacked) -> FloatArray:
    """[ROWS x N + 1, 3] the residuals' analytic derivatives over the parameters (zero where
    a row is constant: no ankle seen, an ankle ray that misses the floor, no trunk seen)."""
    return _rows(params, up, basis, stacked, True)[1]


def _rows(
    params: FloatArray, up: FloatArray, basis: FloatArray, stacked: _Stacked, derive: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(residuals, Jacobian or [0,3], hip heights over the floor [N]): floor_rows."""
    return floor_rows(params, up, basis, *stacked.arrays, _CONSTANTS, derive)
