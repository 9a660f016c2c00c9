"""One person's placement fit (fit.py's module doc) as compiled code.

The numpy version made about 14 residual evaluations, 11 small linear solves and some 400
array calls per person (0.6 ms a person, every frame); the arithmetic is a few thousand
flops. :func:`place` does the whole fit of one person in one call, in the order fit.py's
numpy code did it, block by block (each block names the equation it implements):

1. the points the fit uses and the two early refusals (too few, too small a span);
2. the start (the multiplied-out linear least squares of the translation);
3. the free fit (Gauss-Newton over theta = (t, s, d), the floor's offset d held by a unit
   prior), its covariance, the refusals of a solution that places no one;
4. the unit depth (the reprojection-only depth at scale 1) and its keypoint-only sigma;
5. with a floor and a standing skeleton: the floor's terms (hip height, the feet's rays,
   the floor's height sigma under the person, the trunk turned upright), the same fit with
   the offset's prior, the chi-square test, the standing fit;
6. the pixel RMS.

Numerics: the same formulas in the same order; the small dense solves (5x5 normal
equations, the 1-3 row chi-square system) by LU with partial pivoting, falling back where a
pivot is exactly zero as numpy's LinAlgError did (the least-norm least squares step, the
pseudo-inverse for a covariance); the linear start's least squares and the unit depth's
pseudo-inverse through numba's pinv (LAPACK's SVD, as numpy's). Products are loops: at
these sizes a BLAS call costs more than it saves, and each numpy array expression made
numba compile a broadcasting check (the first compile takes ~14 s of CPU, then numba's
cache loads it in 0.3 s). Results equal the numpy version's within rounding
(``test_placement_kernel.py`` keeps that version and compares: 1e-9).

Why this file is long: it is one computation, the fit of fit.py's model, written out as
loops (the residual rows and their Jacobian, Gauss-Newton, the small solves, the floor's
terms, the posture helpers the fit needs inside the kernel); split, its halves would only
be read together.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
)
from hdnet_ros.stages.placement.fit_constants import (
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
)
from hdnet_ros.stages.placement.jit import compiled
from hdnet_ros.stages.placement.posture import NETWORK_TRUNK_SIGMA_RAD, STANDING_FRACTION, TRUNK_LEAN_SIGMA_RAD

FloatArray = npt.NDArray[np.float64]

# What place() returns as its code (fit.place_person words each failure).
PLACED = 0
TOO_FEW_POINTS = 1  # value: the points seen
TOO_SMALL_SPAN = 2  # value: the span [m]
NOT_CONVERGED = 3
BEHIND_CAMERA = 4
DIVERGED = 5  # value: the fitted depth [m]

_FIT_INDEX = np.array(FIT_POINTS, dtype=np.int64)
_IS_LIMB = np.array([index in LIMBS for index in FIT_POINTS])
_SHAPE = np.where(_IS_LIMB, SHAPE_SIGMA_LIMB_M, SHAPE_SIGMA_TORSO_M)
_CHI2 = np.array([0.0, CHI2_BOUND[1], CHI2_BOUND[2], CHI2_BOUND[3]])
_HEIGHT_SIGMA = float(np.hypot(HIP_HEIGHT_SIGMA_M, ANKLE_HEIGHT_SIGMA_M))
_MAX_ROWS = 2 * len(FIT_POINTS) + 5  # reprojection, the two priors, hip height, over the feet


@compiled
def _dot(a: FloatArray, b: FloatArray) -> float:
    """a . b of two vectors (a loop: a BLAS call costs more than it saves at this size)."""
    total = 0.0
    for k in range(len(a)):
        total += a[k] * b[k]
    return total


@compiled
def _norm(a: FloatArray) -> float:
    return math.sqrt(_dot(a, a))


@compiled
def _lu_solve(matrix: FloatArray, rhs: FloatArray, size: int, out: FloatArray) -> bool:
    """out[:size] = matrix[:size,:size]^-1 rhs[:size] (LU, partial pivoting, as LAPACK's
    gesv); False where a pivot is exactly zero (numpy raised LinAlgError there)."""
    a = matrix[:size, :size].copy()
    b = rhs[:size].copy()
    for col in range(size):
        pivot = col
        best = abs(a[col, col])
        for row in range(col + 1, size):
            if abs(a[row, col]) > best:
                best, pivot = abs(a[row, col]), row
        if a[pivot, col] == 0.0:
            return False
        if pivot != col:
            for k in range(size):
                a[col, k], a[pivot, k] = a[pivot, k], a[col, k]
            b[col], b[pivot] = b[pivot], b[col]
        for row in range(col + 1, size):
            factor = a[row, col] / a[col, col]
            for k in range(col + 1, size):
                a[row, k] -= factor * a[col, k]
            b[row] -= factor * b[col]
    for row in range(size - 1, -1, -1):
        total = b[row]
        for k in range(row + 1, size):
            total -= a[row, k] * out[k]
        out[row] = total / a[row, row]
    return True


@compiled
def _pinv_solve(normal: FloatArray, rhs: FloatArray, out: FloatArray) -> None:
    """out = (A^T A)^+ (A^T b) from the normal matrix and A^T b: the least-norm least squares
    solution (numpy's lstsq), also where A has not full rank."""
    inverse = np.linalg.pinv(normal)
    for a in range(len(out)):
        out[a] = _dot(inverse[a], rhs)


@compiled
def _inverse(normal: FloatArray) -> FloatArray:
    """The inverse of a normal matrix (the pseudo-inverse where it is singular)."""
    size = normal.shape[0]
    inverse = np.empty((size, size))
    unit = np.zeros(size)
    column = np.empty(size)
    for k in range(size):
        for a in range(size):
            unit[a] = 0.0
        unit[k] = 1.0
        if not _lu_solve(normal, unit, size, column):
            return np.asarray(np.linalg.pinv(normal), dtype=np.float64)
        inverse[:, k] = column
    return inverse


@compiled
def _normal(jacobian: FloatArray, rows: int, columns: int) -> FloatArray:
    """J^T J of the first ``rows`` rows and ``columns`` columns."""
    normal = np.zeros((columns, columns))
    for a in range(columns):
        for b in range(a, columns):
            total = 0.0
            for row in range(rows):
                total += jacobian[row, a] * jacobian[row, b]
            normal[a, b] = total
            normal[b, a] = total
    return normal


@compiled
def _squares(residuals: FloatArray, rows: int) -> float:
    total = 0.0
    for row in range(rows):
        total += residuals[row] * residuals[row]
    return total


@compiled
def _residuals(
    theta: FloatArray,
    points: FloatArray,
    rays: FloatArray,
    shape: FloatArray,
    limb: npt.NDArray[np.bool_],
    noise: float,
    scale: float,
    scale_sigma: float,
    offset: float,
    offset_sigma: float,
    standing: bool,
    scale_prior: bool,
    floor: FloatArray,
    feet: FloatArray,
    r: FloatArray,
    j: FloatArray,
) -> int:
    """The normalised residuals and their Jacobian (fit.py's module doc) written into the
    first rows of ``r`` [R] and ``j`` [R,5]; returns R. ``floor``: (n [3], leg, over_sigma,
    has_feet) or empty without the floor's rows; ``feet``: (basis [2,3], d(feet)/d(offset) [3])."""
    count = points.shape[0]
    total = 2 * count + (1 if scale_prior else 0) + 1
    if standing and floor.size > 0:
        total += 3 if floor[5] > 0.0 else 1
    j[:total] = 0.0
    t0, t1, t2, s = theta[0], theta[1], theta[2], theta[3]
    for k in range(count):
        # reprojection: (X/Z - x) / sigma, X = t + s P; sigma^2 = noise^2 + (shape s / Z)^2
        x0, x1, x2 = t0 + s * points[k, 0], t1 + s * points[k, 1], t2 + s * points[k, 2]
        z = MIN_DEPTH_M if x2 < MIN_DEPTH_M else x2  # np.maximum: NaN stays NaN
        sigma_shape = STANDING_LIMB_SIGMA_M if standing and limb[k] else shape[k]
        spread = sigma_shape * s / z
        weight = 1.0 / math.sqrt(noise * noise + spread * spread)
        inverse = weight / z
        u, v = x0 / z, x1 / z
        r[k] = (u - rays[k, 0]) * weight
        r[count + k] = (v - rays[k, 1]) * weight
        # d(u)/d(t) = (1, 0, -u) / z, d(u)/d(s) = that . P; the same for v
        j[k, 0] = inverse
        j[k, 2] = -u * inverse
        j[k, 3] = (points[k, 0] - u * points[k, 2]) * inverse
        j[count + k, 1] = inverse
        j[count + k, 2] = -v * inverse
        j[count + k, 3] = (points[k, 1] - v * points[k, 2]) * inverse
    row = 2 * count
    if scale_prior:  # (s - s0) / sigma_s
        r[row] = (s - scale) / scale_sigma
        j[row, 3] = 1.0 / scale_sigma
        row += 1
    # the floor offset's prior (d - d0) / sigma_d
    r[row] = (theta[4] - offset) / offset_sigma
    j[row, 4] = 1.0 / offset_sigma
    if total > row + 1:
        _standing_residuals(theta, floor, feet, r[row + 1 :], j[row + 1 :])
    return total


@compiled
def _standing_residuals(theta: FloatArray, floor: FloatArray, feet: FloatArray, r: FloatArray, j: FloatArray) -> int:
    """The floor's rows: hip height over the floor (n . t - d - s leg) / sigma_h, and with
    feet seen the pelvis over them, basis (t - f (d + ankle height)) / sigma_over; returns
    how many (1 or 3)."""
    n0, n1, n2, leg, over_sigma = floor[0], floor[1], floor[2], floor[3], floor[4]
    t0, t1, t2, s, d = theta[0], theta[1], theta[2], theta[3], theta[4]
    j[0, :] = 0.0
    r[0] = (n0 * t0 + n1 * t1 + n2 * t2 - d - s * leg) / _HEIGHT_SIGMA
    j[0, 0], j[0, 1], j[0, 2] = n0 / _HEIGHT_SIGMA, n1 / _HEIGHT_SIGMA, n2 / _HEIGHT_SIGMA
    j[0, 3] = -leg / _HEIGHT_SIGMA
    j[0, 4] = -1.0 / _HEIGHT_SIGMA
    if floor[5] <= 0.0:
        return 1
    lift = d + ANKLE_HEIGHT_M
    for axis in range(2):
        b0, b1, b2 = feet[axis, 0], feet[axis, 1], feet[axis, 2]
        f0, f1, f2 = feet[2, 0], feet[2, 1], feet[2, 2]
        r[1 + axis] = (b0 * (t0 - f0 * lift) + b1 * (t1 - f1 * lift) + b2 * (t2 - f2 * lift)) / over_sigma
        j[1 + axis, 0], j[1 + axis, 1], j[1 + axis, 2] = b0 / over_sigma, b1 / over_sigma, b2 / over_sigma
        j[1 + axis, 3] = 0.0
        j[1 + axis, 4] = -(b0 * f0 + b1 * f1 + b2 * f2) / over_sigma
    return 3


@compiled
def _solve(
    theta: FloatArray,
    points: FloatArray,
    rays: FloatArray,
    shape: FloatArray,
    limb: npt.NDArray[np.bool_],
    noise: float,
    scale: float,
    scale_sigma: float,
    offset: float,
    offset_sigma: float,
    standing: bool,
    floor: FloatArray,
    feet: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Gauss-Newton from theta (steps from the normal equations J^T J step = -J^T r, least
    squares where they are singular; stop when the translation moves less than 1 um):
    (theta, its covariance [5,5] = (J^T J)^-1 scaled by the residuals' spread beyond 1)."""
    theta = theta.copy()
    r = np.empty(_MAX_ROWS)
    j = np.empty((_MAX_ROWS, 5))
    gradient = np.empty(5)
    step = np.empty(5)
    for _ in range(ITERATIONS):
        rows = _residuals(
            theta, points, rays, shape, limb, noise, scale, scale_sigma, offset, offset_sigma, standing, True,
            floor, feet, r, j,
        )  # fmt: skip
        normal = _normal(j, rows, 5)
        for a in range(5):
            total = 0.0
            for row in range(rows):
                total += j[row, a] * r[row]
            gradient[a] = -total
        if not _lu_solve(normal, gradient, 5, step):  # singular: the least-norm least squares step
            _pinv_solve(normal, gradient, step)
        for a in range(5):
            theta[a] += step[a]
        if abs(step[0]) < 1e-6 and abs(step[1]) < 1e-6 and abs(step[2]) < 1e-6:
            break
    rows = _residuals(
        theta, points, rays, shape, limb, noise, scale, scale_sigma, offset, offset_sigma, standing, True,
        floor, feet, r, j,
    )  # fmt: skip
    covariance = _inverse(_normal(j, rows, 5))
    spread = _squares(r, rows) / max(rows - 5, 1)
    factor = max(1.0, spread)
    for a in range(5):
        for b in range(5):
            covariance[a, b] *= factor
    return theta, covariance


@compiled
def _linear_translation(rays: FloatArray, points: FloatArray) -> FloatArray:
    """The translation projecting ``points`` onto ``rays`` in the multiplied-out linear least
    squares (X - x Z = 0 per point); straight ahead at 3 m where that lands too near."""
    count = points.shape[0]
    design = np.zeros((2 * count, 3))
    target = np.empty(2 * count)
    for k in range(count):
        design[k, 0] = -1.0
        design[count + k, 1] = -1.0
        design[k, 2] = rays[k, 0]
        design[count + k, 2] = rays[k, 1]
        target[k] = points[k, 0] - rays[k, 0] * points[k, 2]
        target[count + k] = points[k, 1] - rays[k, 1] * points[k, 2]
    product = np.empty(3)
    for a in range(3):
        product[a] = _dot(design[:, a], target)
    solution = np.empty(3)
    _pinv_solve(_normal(design, 2 * count, 3), product, solution)
    if solution[2] <= MIN_DEPTH_M:
        return np.array([0.0, 0.0, 3.0])
    return solution


@compiled
def _unplaced(theta: FloatArray, points: FloatArray) -> int:
    """Why a solution places no one (PLACED: it does): not finite, (partly) behind the
    camera, or beyond MAX_DEPTH_M."""
    for k in range(5):
        if not np.isfinite(theta[k]):
            return NOT_CONVERGED
    nearest = np.inf
    for k in range(points.shape[0]):
        nearest = min(nearest, theta[3] * points[k, 2])
    if theta[2] + nearest < MIN_DEPTH_M:
        return BEHIND_CAMERA
    if theta[2] > MAX_DEPTH_M:
        return DIVERGED
    return PLACED


@compiled
def _unit_depth(
    theta: FloatArray, points: FloatArray, rays: FloatArray, shape: FloatArray, limb: npt.NDArray[np.bool_],
    noise: float,
) -> tuple[float, float]:  # fmt: skip
    """The reprojection-only pelvis depth per unit of scale and its keypoint-only sigma:
    sqrt((J_t^T J_t)^+ [2,2] x max(1, |r|^2 / dof)) / s over the reprojection rows."""
    r = np.empty(_MAX_ROWS)
    j = np.empty((_MAX_ROWS, 5))
    rows = _residuals(
        theta, points, rays, shape, limb, noise, 1.0, 1.0, 0.0, 1.0, False, False, np.empty(0), np.empty((0, 3)), r, j
    )
    rows -= 1  # without the floor offset's prior
    translation = np.linalg.pinv(_normal(j, rows, 3))
    dof = max(rows - 3, 1)
    sigma = math.sqrt(max(translation[2, 2], 0.0) * max(1.0, _squares(r, rows) / dof))
    return theta[2] / theta[3], sigma / theta[3]


@compiled
def _leg_length(skeleton: FloatArray) -> float:
    """posture.leg_length: hip to knee to ankle, the mean of both sides."""
    total = 0.0
    for hip, knee, ankle in ((LEFT_HIP, LEFT_KNEE, LEFT_ANKLE), (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE)):
        thigh, shin = 0.0, 0.0
        for k in range(3):
            thigh += (skeleton[hip, k] - skeleton[knee, k]) ** 2
            shin += (skeleton[knee, k] - skeleton[ankle, k]) ** 2
        total += math.sqrt(thigh) + math.sqrt(shin)
    return total / 2.0


@compiled
def _standing(skeleton: FloatArray, up: FloatArray) -> bool:
    """posture.standing: the hips over the lower ankle by STANDING_FRACTION of the leg."""
    leg = _leg_length(skeleton)
    if not np.isfinite(leg):
        return False
    for k in range(3):
        if not (np.isfinite(skeleton[LEFT_ANKLE, k]) and np.isfinite(skeleton[RIGHT_ANKLE, k])):
            return False
    highest = -np.inf
    for ankle in (LEFT_ANKLE, RIGHT_ANKLE):
        height = 0.0
        for k in range(3):
            height += ((skeleton[LEFT_HIP, k] + skeleton[RIGHT_HIP, k]) / 2.0 - skeleton[ankle, k]) * up[k]
        highest = max(highest, height)
    return highest >= STANDING_FRACTION * leg


@compiled
def _uprighting(skeleton: FloatArray, normal: FloatArray, sigma_tilt: float) -> FloatArray:
    """posture.uprighting: the rotation turning the trunk towards the floor's up by the
    share NETWORK_TRUNK^2 / (NETWORK_TRUNK^2 + TRUNK_LEAN^2 + tilt^2) of the angle between
    them (Rodrigues' formula of the rotation vector)."""
    trunk = np.empty(3)
    for k in range(3):
        shoulders = skeleton[LEFT_SHOULDER, k] + skeleton[RIGHT_SHOULDER, k]
        trunk[k] = (shoulders - skeleton[LEFT_HIP, k] - skeleton[RIGHT_HIP, k]) / 2.0
    norm = _norm(trunk)
    if not np.isfinite(norm) or norm < 1e-6:
        return np.eye(3)
    unit = np.array([trunk[0] / norm, trunk[1] / norm, trunk[2] / norm])
    axis = np.array(
        [
            unit[1] * normal[2] - unit[2] * normal[1],
            unit[2] * normal[0] - unit[0] * normal[2],
            unit[0] * normal[1] - unit[1] * normal[0],
        ]
    )
    sine = _norm(axis)
    if sine < 1e-9:
        return np.eye(3)
    angle = math.atan2(sine, (trunk[0] * normal[0] + trunk[1] * normal[1] + trunk[2] * normal[2]) / norm)
    upright = TRUNK_LEAN_SIGMA_RAD**2 + sigma_tilt**2
    share = NETWORK_TRUNK_SIGMA_RAD**2 / (NETWORK_TRUNK_SIGMA_RAD**2 + upright)
    turn = angle * share
    k0, k1, k2 = axis[0] / sine, axis[1] / sine, axis[2] / sine
    cosine, sin_turn = math.cos(turn), math.sin(turn)
    rest = 1.0 - cosine
    return np.array(
        [
            [cosine + k0 * k0 * rest, k0 * k1 * rest - k2 * sin_turn, k0 * k2 * rest + k1 * sin_turn],
            [k1 * k0 * rest + k2 * sin_turn, cosine + k1 * k1 * rest, k1 * k2 * rest - k0 * sin_turn],
            [k2 * k0 * rest - k1 * sin_turn, k2 * k1 * rest + k0 * sin_turn, cosine + k2 * k2 * rest],
        ]
    )


@compiled
def _turned(points: FloatArray, rotation: FloatArray) -> FloatArray:
    """points [K,3] @ rotation.T"""
    turned = np.empty_like(points)
    for k in range(points.shape[0]):
        for a in range(3):
            turned[k, a] = _dot(rotation[a], points[k])
    return turned


@compiled
def _inside(pixel: FloatArray, width: float, height: float) -> bool:
    """A pixel seen (finite) and inside the image."""
    return pixel[0] >= 0 and pixel[0] <= width - 1 and pixel[1] >= 0 and pixel[1] <= height - 1


@compiled
def _fit_points(
    skeleton: FloatArray, pixels: FloatArray, rays_all: FloatArray, weights: FloatArray, width: float, height: float
) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """The torso, leg and foot points seen (inside the image, the skeleton's point known,
    a weight): skeleton points [K,3], rays [K,2], shape sigmas [K], which are limbs [K]."""
    chosen = np.zeros(len(_FIT_INDEX), dtype=np.bool_)
    for k in range(len(_FIT_INDEX)):
        index = _FIT_INDEX[k]
        known = np.isfinite(skeleton[index, 0]) and np.isfinite(skeleton[index, 1]) and np.isfinite(skeleton[index, 2])
        chosen[k] = _inside(pixels[index], width, height) and known and weights[index] > 0
    count = int(np.count_nonzero(chosen))
    points, rays = np.empty((count, 3)), np.empty((count, 2))
    shape, limb = np.empty(count), np.empty(count, dtype=np.bool_)
    used = 0
    for k in range(len(_FIT_INDEX)):
        if chosen[k]:
            for a in range(3):
                points[used, a] = skeleton[_FIT_INDEX[k], a]
            rays[used, 0], rays[used, 1] = rays_all[_FIT_INDEX[k], 0], rays_all[_FIT_INDEX[k], 1]
            shape[used], limb[used] = _SHAPE[k], _IS_LIMB[k]
            used += 1
    return points, rays, shape, limb


@compiled
def _feet_terms(
    pixels: FloatArray,
    rays_all: FloatArray,
    weights: FloatArray,
    width: float,
    height: float,
    noise: float,
    normal: FloatArray,
    offset: float,
    sigma_tilt: float,
    basis: FloatArray,
    terms: FloatArray,
    feet: FloatArray,
) -> None:
    """The pelvis-over-the-feet terms where ankles the 2D network is sure of are seen and
    their rays meet the floor: terms[4:6] = (sigma_over, 1), feet = (basis [2,3], the mean of
    ray / (ray . n) [3]); sigma_over = hypot(stance, hit sigma), the hit sigma (D^2 + h^2) / h
    per radian of keypoint noise, hypot'ed with the leg times the floor's tilt."""
    ankle_rays = np.empty((2, 3))
    seen = 0
    for ankle in (LEFT_ANKLE, RIGHT_ANKLE):
        if _inside(pixels[ankle], width, height) and weights[ankle] >= FEET_MIN_SCORE:
            x, y = rays_all[ankle, 0], rays_all[ankle, 1]
            length = math.sqrt(x * x + y * y + 1.0)  # the unit ray (camera.unit_rays)
            ankle_rays[seen, 0], ankle_rays[seen, 1], ankle_rays[seen, 2] = x / length, y / length, 1.0 / length
            seen += 1
    if seen == 0:
        return
    for a in range(seen):
        if _dot(ankle_rays[a], normal) > -0.02:  # (nearly) level or up: never meets the floor
            return
    level = max(-offset - ANKLE_HEIGHT_M, 0.1) if np.isfinite(-offset) else 1.0
    distance = 0.0
    for a in range(seen):
        down = -_dot(ankle_rays[a], normal)
        distance += math.sqrt(max(1.0 - down * down, 0.0)) / down
    distance = distance / seen * level
    turn = (distance * distance + level * level) / level
    hit_sigma = math.hypot(turn * noise, terms[3] * sigma_tilt)
    stance = OVER_FEET_SIGMA_M if seen == 2 else OVER_ONE_FOOT_SIGMA_M
    terms[4], terms[5] = math.hypot(stance, hit_sigma), 1.0
    for k in range(3):
        feet[0, k], feet[1, k] = basis[0, k], basis[1, k]
    for a in range(seen):
        along = _dot(ankle_rays[a], normal)
        for k in range(3):
            feet[2, k] += ankle_rays[a, k] / along
    for k in range(3):
        feet[2, k] /= seen


@compiled
def _offset_prior_sigma(
    theta: FloatArray, leg: float, normal: FloatArray, sigma_offset: float, covariance: FloatArray, basis: FloatArray
) -> float:
    """The floor offset's prior sigma: the floor's height sigma under the free fit's feet
    (Floor.height_sigma: sqrt(J C J^T), J = (b0 . p, b1 . p, -1)), at least MIN_OFFSET_SIGMA_M;
    FREE_OFFSET_SIGMA_M where the floor's height is unknown."""
    if not np.isfinite(sigma_offset):
        return FREE_OFFSET_SIGMA_M
    lever = theta[3] * leg
    foot = np.array([theta[0] - lever * normal[0], theta[1] - lever * normal[1], theta[2] - lever * normal[2]])
    jacobian = np.array([_dot(basis[0], foot), _dot(basis[1], foot), -1.0])
    variance = 0.0
    for a in range(3):
        variance += jacobian[a] * _dot(covariance[a], jacobian)
    height_sigma = math.sqrt(max(variance, 0.0))
    return max(height_sigma, MIN_OFFSET_SIGMA_M) if np.isfinite(height_sigma) else FREE_OFFSET_SIGMA_M


@compiled
def _agrees(theta: FloatArray, covariance: FloatArray, terms: FloatArray, feet: FloatArray) -> bool:
    """The chi-square test of the floor's rows at the fit with the fit's uncertainty added:
    r^T (I + J C J^T)^-1 r within the 99.7 % bound of its rows."""
    r, j = np.empty(3), np.zeros((3, 5))
    rows = _standing_residuals(theta, terms, feet, r, j)
    spread = np.eye(rows)
    for a in range(rows):
        for b in range(rows):
            for m in range(5):
                spread[a, b] += j[a, m] * _dot(covariance[m], j[b])
    solved = np.empty(rows)
    if not _lu_solve(spread, r, rows, solved):
        return False
    return _dot(r[:rows], solved) <= _CHI2[rows]


@compiled
def _span(points: FloatArray) -> float:
    """The larger of the points' extents along x and y [m] (np.ptp over the points)."""
    span = 0.0
    for a in range(2):
        low, high = points[0, a], points[0, a]
        for k in range(1, points.shape[0]):
            low, high = min(low, points[k, a]), max(high, points[k, a])
        span = max(span, high - low)
    return span


@compiled
def _rms_px(theta: FloatArray, points: FloatArray, rays: FloatArray, focal: float) -> float:
    """The RMS of the pixel errors (projection without the depth's clamp) [px]."""
    total = 0.0
    for k in range(points.shape[0]):
        x0, x1, x2 = (
            theta[0] + theta[3] * points[k, 0],
            theta[1] + theta[3] * points[k, 1],
            theta[2] + theta[3] * points[k, 2],
        )
        du, dv = x0 / x2 - rays[k, 0], x1 / x2 - rays[k, 1]
        total += du * du + dv * dv
    return math.sqrt(total / (2 * points.shape[0])) * focal


@compiled
def place(
    skeleton: FloatArray,
    pixels: FloatArray,
    rays_all: FloatArray,
    weights: FloatArray,
    scale: float,
    scale_sigma: float,
    width: float,
    height: float,
    intrinsics: FloatArray,
    noise: float,
    floor_known: bool,
    normal: FloatArray,
    offset: float,
    sigma_offset: float,
    sigma_tilt: float,
    floor_covariance: FloatArray,
    basis: FloatArray,
    uprights: bool,
) -> tuple[int, float, FloatArray, FloatArray, float, float, bool, int, float]:
    """One person's fit (module doc): (code, the value its failure names, theta [5],
    covariance [5,5], unit depth, its sigma, standing, points, rms [px]).

    skeleton [21,3], pixels [21,2], their normalised rays [21,2] (undistorted by the
    camera; empty for a camera without distortion: (u - cx) / fx, (v - cy) / fy here),
    weights [21]; the camera's width, height, (fx, fy, cx, cy), the keypoint sigma in
    normalised units; the floor (``floor_known`` False: none): unit normal, offset, offset and
    tilt sigmas, its parameter covariance [3,3] over (tilt, tilt, offset), its tangent basis
    [2,3], whether it turns a standing trunk upright (a floor the people did not make)."""
    nothing, no_covariance = np.full(5, np.nan), np.full((5, 5), np.nan)
    fx, fy, cx, cy = intrinsics[0], intrinsics[1], intrinsics[2], intrinsics[3]
    if rays_all.shape[0] == 0:  # camera.normalized_rays without distortion
        rays_all = np.empty((pixels.shape[0], 2))
        for k in range(pixels.shape[0]):
            rays_all[k, 0], rays_all[k, 1] = (pixels[k, 0] - cx) / fx, (pixels[k, 1] - cy) / fy
    # 1. the points, and the refusals of too few or too small a span to fix a scale
    points, rays, shape, limb = _fit_points(skeleton, pixels, rays_all, weights, width, height)
    count = len(points)
    if count < MIN_POINTS:
        return TOO_FEW_POINTS, float(count), nothing, no_covariance, np.nan, np.nan, False, count, np.nan
    span = _span(points)
    if span < MIN_SPAN_M:
        return TOO_SMALL_SPAN, span, nothing, no_covariance, np.nan, np.nan, False, count, np.nan
    # 2. the start: the linear translation of the skeleton at the prior's scale
    start = np.empty(5)
    scaled = np.empty_like(points)
    for k in range(count):
        for a in range(3):
            scaled[k, a] = points[k, a] * scale
    translation = _linear_translation(rays, scaled)
    start[0], start[1], start[2] = translation[0], translation[1], translation[2]
    start[3], start[4] = scale, 0.0
    # 3. the free fit (no floor: the offset's prior 0 +- 1 keeps the normal equations regular)
    no_rows, no_feet = np.empty(0), np.empty((0, 3))
    theta, covariance = _solve(
        start, points, rays, shape, limb, noise, scale, scale_sigma, 0.0, 1.0, False, no_rows, no_feet
    )
    why = _unplaced(theta, points)
    if why != PLACED:
        return why, theta[2], theta, covariance, np.nan, np.nan, False, count, np.nan
    # 4. the unit depth of the free fit
    unit_depth, unit_sigma = _unit_depth(theta, points, rays, shape, limb, noise)
    stands = False
    # 5. the floor, for a standing skeleton: its terms, the fit with the offset's prior, the
    # chi-square test, the standing fit
    if floor_known and _standing(skeleton, normal):
        leg = _leg_length(skeleton) + ANKLE_HEIGHT_M
        prior_sigma = _offset_prior_sigma(theta, leg, normal, sigma_offset, floor_covariance, basis)
        if uprights:
            points = _turned(points, _uprighting(skeleton, normal, sigma_tilt))
        terms, feet = np.zeros(6), np.zeros((3, 3))  # (n, leg, sigma_over, has feet); (basis, d feet / d offset)
        terms[0], terms[1], terms[2], terms[3] = normal[0], normal[1], normal[2], leg
        _feet_terms(pixels, rays_all, weights, width, height, noise, normal, offset, sigma_tilt, basis, terms, feet)
        theta = theta.copy()  # the offset to start from: the floor's where known, else under the free fit
        theta[4] = offset if np.isfinite(sigma_offset) else _dot(normal, theta[:3]) - theta[3] * leg
        theta, covariance = _solve(
            theta, points, rays, shape, limb, noise, scale, scale_sigma, offset, prior_sigma, False, terms, feet
        )
        stands = _agrees(theta, covariance, terms, feet)
        if stands:
            theta, covariance = _solve(
                theta, points, rays, shape, limb, noise, scale, scale_sigma, offset, prior_sigma, True, terms, feet
            )
        why = _unplaced(theta, points)
        if why != PLACED:
            return why, theta[2], theta, covariance, unit_depth, unit_sigma, stands, count, np.nan
    # 6. the pixel RMS
    rms = _rms_px(theta, points, rays, math.sqrt(fx * fy))
    return PLACED, 0.0, theta, covariance, unit_depth, unit_sigma, stands, count, rms


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Compile :func:`place` (or load it from numba's cache) before the first frame: numba
    compiles a function, with everything it calls, on its first call (seconds). The
    arguments have the types fit.place_person passes."""
    skeleton = np.zeros((len(_SHAPE) + 9, 3))
    skeleton[:, 1] = np.linspace(-0.5, 0.9, len(skeleton))
    pixels = np.full((len(skeleton), 2), 20.0)
    normal = np.array([0.0, -1.0, 0.0])
    intrinsics = np.array([50.0, 50.0, 32.0, 24.0])
    floor = (True, normal, -1.0, 0.01, 0.01, np.eye(3), np.zeros((2, 3)), True)
    place(skeleton, pixels, np.empty((0, 2)), np.ones(len(skeleton)), 1.0, 0.07, 64.0, 48.0, intrinsics, 0.06, *floor)
