"""The people floor's robust least squares, compiled: a trust-region Gauss-Newton on the
soft-L1 cost of people_floor_kernel's residuals over its three parameters.

scipy's ``least_squares`` (``trf``) solved it before. With three parameters and 10-900
residuals, whose values and Jacobian the compiled kernel gives in ~12 us, nine tenths of
each solve was scipy's own per-iteration work in Python (~0.25 ms an iteration, 10-45
iterations): 3.3 ms a solve on the sample RGB-D sequence, where the depth stage finds no
floor, and up to 29 ms in a frame where a search ran from every start
(docs/benchmarks.md, the tenth session). Here the whole solve is one compiled call.

The model is the usual one for a robust loss (Triggs et al., "Bundle adjustment: a modern
synthesis", sec. 4.3; the one scipy uses): with ``z = (r / f_scale)^2`` and soft-L1's
``rho(z) = 2 (sqrt(1 + z) - 1)``, the cost is ``f_scale^2 / 2 sum rho(z)``, its gradient
``J^T (rho'(z) r)`` and its Gauss-Newton Hessian ``J^T diag(max(rho'(z) + 2 rho''(z) z, eps)) J``
(the loss's own curvature kept where it is positive). Each step minimises that quadratic
within a trust region (the exact solution of the 3x3 subproblem: Nocedal & Wright, "Numerical
Optimization", ch. 4.3), whose radius starts at the norm of the start (1 at the origin),
shrinks to a quarter of a step whose reduction is below a quarter of the predicted one and
doubles after a good step that reached it. A solve stops, converged, where the cost falls by
less than ``FTOL`` of itself on a good step, a step is below ``XTOL`` of the parameters or the
gradient below ``GTOL``; it fails after ``MAX_EVALUATIONS`` evaluations. These are scipy's
defaults, so a solve stops where scipy's stopped: the minima agree with scipy's to ~1e-4 of
the parameters (both crawl along the soft-L1 valley at the end) and the floors chosen
between the starts are the same (``test_people_floor.py``).
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
import numpy.typing as npt

from hdnet_ros.stages.placement.jit import compiled
from hdnet_ros.stages.placement.people_floor_kernel import floor_rows

FloatArray = npt.NDArray[np.float64]
FTOL = 1e-8
XTOL = 1e-8
GTOL = 1e-8
MAX_EVALUATIONS = 300  # 100 per parameter
# A loss curvature weight is never below this (the Hessian stays positive semi-definite).
MIN_WEIGHT = float(np.finfo(np.float64).eps)
# The trust-region subproblem's radius is met to this share of it.
RADIUS_RTOL = 1e-6


@compiled
def solve_floor(
    start: FloatArray,
    up: FloatArray,
    basis: FloatArray,
    ankles: FloatArray,
    pelvis: FloatArray,
    hips: FloatArray,
    trunks: FloatArray,
    mean_up: FloatArray,
    constants: FloatArray,
    f_scale: float,
) -> tuple[FloatArray, float, int, bool]:
    """(parameters, cost, evaluations, converged) of the soft-L1 least squares of
    :func:`people_floor_kernel.floor_rows` (its arguments) from ``start``; not converged
    where the start's residuals are not finite or the evaluations ran out."""
    x = start.copy()
    residuals, jacobian, _ = floor_rows(x, up, basis, ankles, pelvis, hips, trunks, mean_up, constants, True)
    if not np.all(np.isfinite(residuals)):
        return x, math.inf, 1, False
    cost = _cost(residuals, f_scale)
    gradient, hessian = np.zeros(3), np.zeros((3, 3))
    _model(residuals, jacobian, f_scale, gradient, hessian)
    radius = _norm(x)
    if radius == 0.0:
        radius = 1.0
    for evaluations in range(2, MAX_EVALUATIONS + 1):
        if np.max(np.abs(gradient)) < GTOL:
            return x, cost, evaluations - 1, True
        step = _trust_step(gradient, hessian, radius)
        step_norm = _norm(step)
        predicted = -(_dot3(gradient, step) + 0.5 * _quadratic_form(hessian, step))
        moved = x + step
        residuals, jacobian, _ = floor_rows(moved, up, basis, ankles, pelvis, hips, trunks, mean_up, constants, True)
        if not np.all(np.isfinite(residuals)):
            radius = 0.25 * step_norm
            continue
        moved_cost = _cost(residuals, f_scale)
        reduction = cost - moved_cost
        ratio = reduction / predicted if predicted > 0.0 else 0.0
        if ratio < 0.25:
            radius = 0.25 * step_norm
        elif ratio > 0.75 and step_norm > 0.95 * radius:
            radius = 2.0 * radius
        small_step = step_norm < XTOL * (XTOL + _norm(x))
        if reduction > 0.0:
            flat = reduction < FTOL * cost and ratio > 0.25
            x, cost = moved, moved_cost
            _model(residuals, jacobian, f_scale, gradient, hessian)
            if flat or small_step:
                return x, cost, evaluations, True
        elif small_step:
            return x, cost, evaluations, True
    return x, cost, MAX_EVALUATIONS, False


# The helpers are inlined into solve_floor: one compiled entry point, plain loops (no LAPACK
# or BLAS bindings), which keeps its first compile short.
_inlined = numba.njit(inline="always", error_model="numpy")


@_inlined
def _dot3(a: FloatArray, b: FloatArray) -> float:
    return float(a[0] * b[0] + a[1] * b[1] + a[2] * b[2])


@_inlined
def _quadratic_form(matrix: FloatArray, v: FloatArray) -> float:
    total = 0.0
    for a in range(3):
        for b in range(3):
            total += v[a] * matrix[a, b] * v[b]
    return total


@_inlined
def _norm(a: FloatArray) -> float:
    return math.sqrt(_dot3(a, a))


@_inlined
def _cost(residuals: FloatArray, f_scale: float) -> float:
    total = 0.0
    for r in residuals:
        total += math.sqrt(1.0 + (r / f_scale) ** 2) - 1.0
    return f_scale * f_scale * total


@_inlined
def _model(
    residuals: FloatArray, jacobian: FloatArray, f_scale: float, gradient: FloatArray, hessian: FloatArray
) -> None:
    """The robust cost's gradient [3] and Gauss-Newton Hessian [3,3] (module doc), in place."""
    gradient[:] = 0.0
    hessian[:] = 0.0
    for i in range(len(residuals)):
        z = (residuals[i] / f_scale) ** 2
        slope = 1.0 / math.sqrt(1.0 + z)  # rho'(z)
        curvature = -0.5 / (1.0 + z) ** 1.5  # rho''(z)
        weight = max(slope + 2.0 * curvature * z, MIN_WEIGHT)
        for a in range(3):
            gradient[a] += jacobian[i, a] * slope * residuals[i]
            for b in range(3):
                hessian[a, b] += jacobian[i, a] * weight * jacobian[i, b]


@_inlined
def _trust_step(gradient: FloatArray, hessian: FloatArray, radius: float) -> FloatArray:
    """The step minimising ``g p + p H p / 2`` with ``|p| <= radius`` (H positive
    semi-definite): the Newton step where it is inside, else ``-(H + lam I)^-1 g`` with
    ``|p| = radius``, ``lam`` by Newton's method on ``1 / radius - 1 / |p(lam)|`` through
    Cholesky factors (Nocedal & Wright, Algorithm 4.3); ``lam`` is kept above a trace of the
    curvature where H is singular (a parameter no row sees)."""
    floor = 1e-12 * max(hessian[0, 0], hessian[1, 1], hessian[2, 2], 1e-300)
    lam = 0.0
    factor, step, q = np.zeros((3, 3)), np.zeros(3), np.zeros(3)
    for _ in range(100):
        if not _cholesky(hessian, lam, factor):
            lam = max(2.0 * lam, floor)
            continue
        _solve_cholesky(factor, gradient, step, q)  # step = -(H + lam I)^-1 g, q = L^-1 step
        length = _norm(step)
        if (lam <= floor and length <= radius) or abs(length - radius) <= RADIUS_RTOL * radius:
            break
        lam = max(lam + (length / _norm(q)) ** 2 * (length - radius) / radius, 0.0)
    return step


@_inlined
def _cholesky(matrix: FloatArray, shift: float, lower: FloatArray) -> bool:
    """``lower`` L with L L^T = matrix + shift I (3x3); False where that is not positive definite."""
    for i in range(3):
        for j in range(i + 1):
            total = matrix[i, j] + (shift if i == j else 0.0)
            for k in range(j):
                total -= lower[i, k] * lower[j, k]
            if i == j:
                if not total > 0.0:
                    return False
                lower[i, i] = math.sqrt(total)
            else:
                lower[i, j] = total / lower[j, j]
        for j in range(i + 1, 3):
            lower[i, j] = 0.0
    return True


@_inlined
def _solve_cholesky(lower: FloatArray, gradient: FloatArray, step: FloatArray, q: FloatArray) -> None:
    """``step`` = -(L L^T)^-1 g and ``q`` = L^-1 step, in place."""
    y = np.zeros(3)
    for i in range(3):  # L y = -g
        total = -gradient[i]
        for k in range(i):
            total -= lower[i, k] * y[k]
        y[i] = total / lower[i, i]
    for i in range(2, -1, -1):  # L^T step = y
        total = y[i]
        for k in range(i + 1, 3):
            total -= lower[k, i] * step[k]
        step[i] = total / lower[i, i]
    for i in range(3):  # L q = step
        total = step[i]
        for k in range(i):
            total -= lower[i, k] * q[k]
        q[i] = total / lower[i, i]


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Compile :func:`solve_floor` (or load it from numba's cache) with the types
    people_floor passes, before the first frame with people."""
    up = np.array([0.0, -1.0, 0.0])
    basis = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    ankles = np.array([[[0.0, 0.6, 0.8], [np.nan, np.nan, np.nan]]])
    pelvis, trunks = np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]])
    solve_floor(np.zeros(3), up, basis, ankles, pelvis, np.ones(1), trunks, up, np.ones(6), 2.0)
