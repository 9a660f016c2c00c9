"""The placement fit as numpy code (main's ``stages/placement/fit.py`` before the compiled
kernel, ``fit_kernel.py``): the reference ``test_placement_kernel.py`` compares the kernel
with. The model, the constants and the result types are the live module's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import LEFT_ANKLE, RIGHT_ANKLE
from hdnet_ros.stages.placement.fit import (
    ANKLE_HEIGHT_M,
    ANKLE_HEIGHT_SIGMA_M,
    CHI2_BOUND,
    FEET_MIN_SCORE,
    FIT_POINTS,
    FREE_OFFSET_SIGMA_M,
    HIP_HEIGHT_SIGMA_M,
    ITERATIONS,
    LIMBS,
    MAX_DEPTH_M,
    MIN_DEPTH_M,
    MIN_OFFSET_SIGMA_M,
    MIN_POINTS,
    MIN_SPAN_M,
    OVER_FEET_SIGMA_M,
    OVER_ONE_FOOT_SIGMA_M,
    SHAPE_SIGMA_LIMB_M,
    SHAPE_SIGMA_TORSO_M,
    STANDING_LIMB_SIGMA_M,
    TORSO,
    BoolArray,
    Cues,
    FloatArray,
    Placement,
    PlacementFailure,
    PlacementResult,
)
from hdnet_ros.stages.placement.floor import Floor, tangent_basis
from hdnet_ros.stages.placement.posture import UPRIGHTING_FLOORS, leg_length, standing, uprighting


@dataclass
class _Problem:
    """The residual model of one person (module doc); theta = (t [3], s, d): the pelvis,
    the scale and the floor's offset (its prior: the floor's offset and sigma)."""

    points: FloatArray  # [K,3] skeleton points used
    rays: FloatArray  # [K,2] normalised image coordinates
    shape: FloatArray  # [K] shape sigma [m]
    limb: BoolArray  # [K] which points are the legs' and feet's
    noise: float  # keypoint sigma in normalised units
    scale: float
    scale_sigma: float
    floor: Floor | None = None
    leg: float = 0.0  # hip height over the floor at scale 1 [m]
    feet: FloatArray | None = None  # [A,3] unit rays of the seen ankles
    over_sigma: float = 0.0
    offset_sigma: float = FREE_OFFSET_SIGMA_M  # the floor's height uncertainty where the person stands
    _feet_cache: tuple[FloatArray, FloatArray] | None = None

    @property
    def offset_prior(self) -> tuple[float, float]:
        """The floor offset's prior (value, sigma); a floor known only by its up direction
        leaves it free (a wide sigma keeps the normal equations regular)."""
        if self.floor is None:
            return 0.0, 1.0
        sigma = self.offset_sigma
        return self.floor.offset, max(sigma, MIN_OFFSET_SIGMA_M) if np.isfinite(sigma) else FREE_OFFSET_SIGMA_M

    def residuals(self, theta: FloatArray, standing: bool, scale_prior: bool = True) -> tuple[FloatArray, FloatArray]:
        """Normalised residuals [R] and their Jacobian [R,5] at theta (written into one
        array: the fit runs a few dozen times per person and frame)."""
        t, s = theta[:3], theta[3]
        count = len(self.points)
        floor_rows = (1 + (2 if self.feet is not None else 0)) if standing and self.floor is not None else 0
        total = 2 * count + int(scale_prior) + 1 + floor_rows
        r = np.empty(total)
        j = np.zeros((total, 5))
        x = t + s * self.points
        z = np.maximum(x[:, 2], MIN_DEPTH_M)
        shape = np.where(self.limb, STANDING_LIMB_SIGMA_M, self.shape) if standing else self.shape
        weight = 1.0 / np.sqrt(self.noise**2 + (shape * s / z) ** 2)
        inverse = weight / z
        u, v = x[:, 0] / z, x[:, 1] / z
        r[:count] = (u - self.rays[:, 0]) * weight
        r[count : 2 * count] = (v - self.rays[:, 1]) * weight
        # d(u)/d(t) = (1, 0, -u) / z, d(u)/d(s) = that . P; the same for v
        j[:count, 0] = inverse
        j[:count, 2] = -u * inverse
        j[:count, 3] = (self.points[:, 0] - u * self.points[:, 2]) * inverse
        j[count : 2 * count, 1] = inverse
        j[count : 2 * count, 2] = -v * inverse
        j[count : 2 * count, 3] = (self.points[:, 1] - v * self.points[:, 2]) * inverse
        row = 2 * count
        if scale_prior:
            r[row] = (s - self.scale) / self.scale_sigma
            j[row, 3] = 1.0 / self.scale_sigma
            row += 1
        offset, offset_sigma = self.offset_prior
        r[row] = (theta[4] - offset) / offset_sigma
        j[row, 4] = 1.0 / offset_sigma
        if floor_rows:
            r[row + 1 :], j[row + 1 :] = self.standing_residuals(theta)
        return r, j

    def standing_residuals(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The floor's residuals: hip height over the floor, and (feet seen) over the feet."""
        assert self.floor is not None
        floor, t, s, d = self.floor, theta[:3], theta[3], theta[4]
        n = floor.normal
        height_sigma = float(np.hypot(HIP_HEIGHT_SIGMA_M, ANKLE_HEIGHT_SIGMA_M))
        count = 1 + (2 if self.feet is not None else 0)
        r = np.empty(count)
        j = np.zeros((count, 5))
        r[0] = (n @ t - d - s * self.leg) / height_sigma
        j[0, :3] = n / height_sigma
        j[0, 3] = -self.leg / height_sigma
        j[0, 4] = -1.0 / height_sigma
        if self.feet is not None:
            basis, per_offset = self._feet_geometry()
            feet = per_offset * (d + ANKLE_HEIGHT_M)
            r[1:] = basis @ (t - feet) / self.over_sigma
            j[1:, :3] = basis / self.over_sigma
            j[1:, 4] = -(basis @ per_offset) / self.over_sigma
        return r, j

    def _feet_geometry(self) -> tuple[FloatArray, FloatArray]:
        """The floor's horizontal basis [2,3] and d(feet point)/d(offset) [3], made once."""
        if self._feet_cache is None:
            assert self.floor is not None and self.feet is not None
            n = self.floor.normal
            self._feet_cache = (tangent_basis(n), (self.feet / (self.feet @ n)[:, None]).mean(axis=0))
        return self._feet_cache

    def solve(self, theta: FloatArray, standing: bool) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Gauss-Newton from theta: (theta, its covariance [5,5], the final residuals). The
        offset's and the scale's priors keep the normal equations regular."""
        for _ in range(ITERATIONS):
            r, j = self.residuals(theta, standing)
            step = _least_squares_step(j, r)
            theta = theta + step
            if np.max(np.abs(step[:3])) < 1e-6:
                break
        r, j = self.residuals(theta, standing)
        covariance = _inverse(j.T @ j)
        dof = max(len(r) - len(theta), 1)
        return theta, covariance * max(1.0, float(r @ r) / dof), r


def _inverse(normal: FloatArray) -> FloatArray:
    """The inverse of the normal matrix (the pseudo-inverse where it is singular)."""
    try:
        return np.asarray(np.linalg.inv(normal))
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.pinv(normal))


def _least_squares_step(jacobian: FloatArray, residuals: FloatArray) -> FloatArray:
    """The Gauss-Newton step: the normal equations (5 unknowns), least squares where they
    are singular."""
    normal = jacobian.T @ jacobian
    try:
        return np.asarray(np.linalg.solve(normal, -(jacobian.T @ residuals)))
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.lstsq(jacobian, -residuals, rcond=None)[0])


def place_person(cues: Cues, camera: CameraModel, floor: Floor | None, keypoint_sigma_px: float) -> PlacementResult:
    """The pelvis of one person (module doc), or why it cannot be fitted."""
    index = np.asarray(FIT_POINTS)
    pixels, points = cues.pixels[index], cues.skeleton[index]
    seen = _inside(pixels, camera) & np.all(np.isfinite(points), axis=1) & (cues.weights[index] > 0)
    if np.count_nonzero(seen) < MIN_POINTS:
        return PlacementFailure(f"{np.count_nonzero(seen)} torso, leg and foot points seen; the fit needs {MIN_POINTS}")
    span = float(np.ptp(points[seen, :2], axis=0).max())
    if span < MIN_SPAN_M:
        return PlacementFailure(f"the seen points span {span:.2f} m; at least {MIN_SPAN_M} m fixes a scale")
    shape = np.where(np.isin(index, TORSO), SHAPE_SIGMA_TORSO_M, SHAPE_SIGMA_LIMB_M)[seen]
    problem = _Problem(
        points[seen],
        camera.normalized_rays(pixels[seen]),
        shape,
        np.isin(index, LIMBS)[seen],
        keypoint_sigma_px / float(np.sqrt(camera.fx * camera.fy)),
        cues.scale,
        cues.scale_sigma,
    )
    start = np.concatenate((_linear_translation(problem.rays, problem.points * cues.scale), [cues.scale, 0.0]))
    theta, covariance, _ = problem.solve(start, standing=False)
    if (why := _unplaced(problem, theta)) is not None:
        return PlacementFailure(why)
    unit_depth, unit_sigma = _unit_depth(problem, theta)
    stands = False
    if floor is not None and _prepare_floor(problem, cues, camera, floor, theta):
        theta = np.concatenate((theta[:4], [_start_offset(problem, floor, theta)]))
        theta, covariance, _ = problem.solve(theta, standing=False)  # the same fit with the offset's prior
        stands = _agrees(problem, theta, covariance)
        if stands:
            theta, covariance, _ = problem.solve(theta, standing=True)
        if (why := _unplaced(problem, theta)) is not None:
            return PlacementFailure(why)
    count = len(problem.points)
    rms = float(np.sqrt(np.mean(_pixel_errors(problem, theta) ** 2))) * float(np.sqrt(camera.fx * camera.fy))
    return Placement(
        position=theta[:3].copy(),
        covariance=covariance[:3, :3].copy(),
        scale=float(theta[3]),
        scale_sigma=float(np.sqrt(max(covariance[3, 3], 0.0))),
        unit_depth=unit_depth,
        unit_depth_sigma=unit_sigma,
        standing=stands,
        points=count,
        rms_px=rms,
    )


def _unplaced(problem: _Problem, theta: FloatArray) -> str | None:
    """Why a solution places no one (None: it does): not finite, (partly) behind the
    camera, or beyond any depth a person is fitted at (a fit that diverged: a trunk seen
    end-on from above projects its four points onto one spot)."""
    if not np.all(np.isfinite(theta)):
        return "the fit did not converge"
    if theta[2] + np.min(theta[3] * problem.points[:, 2]) < MIN_DEPTH_M:
        return "the fitted skeleton lies (partly) behind the camera"
    if theta[2] > MAX_DEPTH_M:
        return f"the fit diverged ({theta[2]:.3g} m away)"
    return None


def _prepare_floor(problem: _Problem, cues: Cues, camera: CameraModel, floor: Floor, free: FloatArray) -> bool:
    """Set the floor's terms of a standing skeleton (``free``: the free fit's theta); False
    where it does not stand."""
    if not standing(cues.skeleton, floor.normal):
        return False
    problem.floor = floor
    problem.leg = leg_length(cues.skeleton) + ANKLE_HEIGHT_M
    problem.offset_sigma = floor.height_sigma(free[:3] - free[3] * problem.leg * floor.normal)
    if floor.source in UPRIGHTING_FLOORS:
        problem.points = problem.points @ uprighting(cues.skeleton, floor).T
    ankles = cues.pixels[[LEFT_ANKLE, RIGHT_ANKLE]]
    seen = _inside(ankles, camera) & (cues.weights[[LEFT_ANKLE, RIGHT_ANKLE]] >= FEET_MIN_SCORE)
    if not np.any(seen):
        return True  # the hip height alone
    rays = camera.unit_rays(ankles[seen])
    if np.any(rays @ floor.normal > -0.02):  # a ray (nearly) level or up never meets the floor
        return True
    problem.feet = rays
    stance = OVER_FEET_SIGMA_M if len(rays) == 2 else OVER_ONE_FOOT_SIGMA_M
    problem.over_sigma = float(np.hypot(stance, _hit_sigma(problem, floor)))
    return True


def _start_offset(problem: _Problem, floor: Floor, theta: FloatArray) -> float:
    """The floor offset to start from: the floor's where it is known, else the one under
    the free fit's standing skeleton."""
    if np.isfinite(floor.sigma_offset_m):
        return floor.offset
    return float(floor.normal @ theta[:3] - theta[3] * problem.leg)


def _inside(pixels: FloatArray, camera: CameraModel) -> BoolArray:
    """Which pixels [N,2] are seen (finite) and inside the image."""
    with np.errstate(invalid="ignore"):
        x_in = (pixels[:, 0] >= 0) & (pixels[:, 0] <= camera.width - 1)
        return np.asarray(x_in & (pixels[:, 1] >= 0) & (pixels[:, 1] <= camera.height - 1))


def _hit_sigma(problem: _Problem, floor: Floor) -> float:
    """How far [m] the pelvis's point over the feet moves horizontally with the keypoint
    noise and the floor's tilt: a ray at horizontal distance D meeting a floor h below turns
    its hit by (D^2 + h^2) / h per radian; a tilted up direction moves the pelvis over the
    feet by the leg times the tilt (and a tilted floor of known height moves the hit too)."""
    assert problem.feet is not None
    level = max(floor.camera_height - ANKLE_HEIGHT_M, 0.1) if np.isfinite(floor.camera_height) else 1.0
    down = -(problem.feet @ floor.normal)
    distance = float(np.mean(np.sqrt(np.maximum(1.0 - down**2, 0.0)) / down) * level)
    turn = (distance**2 + level**2) / level
    return float(np.hypot(turn * problem.noise, problem.leg * floor.sigma_tilt_rad))


def _agrees(problem: _Problem, theta: FloatArray, covariance: FloatArray) -> bool:
    """The chi-square test of the floor's residuals at the free fit, with the free fit's
    uncertainty added to theirs."""
    residuals, jacobian = problem.standing_residuals(theta)
    spread = np.eye(len(residuals)) + jacobian @ covariance @ jacobian.T  # both normalised
    chi2 = float(residuals @ np.linalg.solve(spread, residuals))
    return chi2 <= CHI2_BOUND[len(residuals)]


def _unit_depth(problem: _Problem, theta: FloatArray) -> tuple[float, float]:
    """The reprojection-only pelvis depth per unit of scale and its keypoint-only sigma: the
    depth a skeleton of scale 1 gets (depth scales with the skeleton exactly)."""
    r, j = problem.residuals(theta, standing=False, scale_prior=False)
    r, j = r[:-1], j[:-1]  # without the floor offset's prior
    translation = np.linalg.pinv(j[:, :3].T @ j[:, :3])
    dof = max(len(r) - 3, 1)
    sigma = float(np.sqrt(max(translation[2, 2], 0.0) * max(1.0, float(r @ r) / dof)))
    return float(theta[2] / theta[3]), sigma / float(theta[3])


def _pixel_errors(problem: _Problem, theta: FloatArray) -> FloatArray:
    x = theta[:3] + theta[3] * problem.points
    return np.asarray((x[:, :2] / x[:, 2:3] - problem.rays).ravel())


def _linear_translation(rays: FloatArray, points: FloatArray) -> FloatArray:
    """The translation that projects ``points`` [K,3] onto ``rays`` [K,2] in the multiplied-out
    linear least squares (the Gauss-Newton start)."""
    count = len(points)
    design = np.zeros((2 * count, 3))
    design[:count, 0] = -1.0
    design[count:, 1] = -1.0
    design[:count, 2] = rays[:, 0]
    design[count:, 2] = rays[:, 1]
    target = np.concatenate((points[:, 0] - rays[:, 0] * points[:, 2], points[:, 1] - rays[:, 1] * points[:, 2]))
    solution = np.linalg.lstsq(design, target, rcond=None)[0]
    if solution[2] <= MIN_DEPTH_M:  # a degenerate start: straight ahead at a few metres
        solution = np.array([0.0, 0.0, 3.0])
    return np.asarray(solution)
