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
from typing import NamedTuple

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


class Solution(NamedTuple):
    """One robust solve: the parameters (tilt, tilt, log height), its cost, whether it converged."""

    x: FloatArray
    cost: float
    success: bool


def solve(
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
) -> Solution:
    """:func:`solve_floor` as a :class:`Solution`."""
    x, cost, _, converged = solve_floor(
        np.asarray(start, dtype=np.float64), up, basis, ankles, pelvis, hips, trunks, mean_up, constants, f_scale
    )
    return Solution(x, float(cost), bool(converged))


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
    gradient, hessian = _model(residuals, jacobian, f_scale)
    radius = math.sqrt(np.sum(x * x))
    if radius == 0.0:
        radius = 1.0
    for evaluations in range(2, MAX_EVALUATIONS + 1):
        if np.max(np.abs(gradient)) < GTOL:
            return x, cost, evaluations - 1, True
        step = _trust_step(gradient, hessian, radius)
        step_norm = math.sqrt(np.sum(step * step))
        predicted = -(np.sum(gradient * step) + 0.5 * np.sum(step * (hessian @ step)))
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
        small_step = step_norm < XTOL * (XTOL + math.sqrt(np.sum(x * x)))
        if reduction > 0.0:
            flat = reduction < FTOL * cost and ratio > 0.25
            x, cost = moved, moved_cost
            gradient, hessian = _model(residuals, jacobian, f_scale)
            if flat or small_step:
                return x, cost, evaluations, True
        elif small_step:
            return x, cost, evaluations, True
    return x, cost, MAX_EVALUATIONS, False


@compiled
def _cost(residuals: FloatArray, f_scale: float) -> float:
    z = (residuals / f_scale) ** 2
    return float(f_scale * f_scale * np.sum(np.sqrt(1.0 + z) - 1.0))


@compiled
def _model(residuals: FloatArray, jacobian: FloatArray, f_scale: float) -> tuple[FloatArray, FloatArray]:
    """The robust cost's gradient [3] and Gauss-Newton Hessian [3,3] (module doc)."""
    z = (residuals / f_scale) ** 2
    slope = 1.0 / np.sqrt(1.0 + z)  # rho'(z)
    curvature = -0.5 / (1.0 + z) ** 1.5  # rho''(z)
    weights = np.maximum(slope + 2.0 * curvature * z, MIN_WEIGHT)
    gradient = jacobian.T @ (slope * residuals)
    hessian = jacobian.T @ (jacobian * weights[:, None])
    return gradient, hessian


@compiled
def _trust_step(gradient: FloatArray, hessian: FloatArray, radius: float) -> FloatArray:
    """The step minimising ``g p + p H p / 2`` with ``|p| <= radius`` (H positive
    semi-definite): the Newton step where it is inside, else ``-(H + lam I)^-1 g`` with
    ``|p| = radius``, ``lam`` by Newton's method on ``1 / radius - 1 / |p(lam)|`` (concave
    and falling in ``lam``: the first iterate lands at or beyond the root, the next ones
    fall back to it monotonically)."""
    values, vectors = np.linalg.eigh(hessian)
    along = vectors.T @ gradient
    values = np.maximum(values, 0.0)
    # directions of zero curvature and zero slope add nothing: left out of |p|
    used = (values > 0.0) | (along != 0.0)
    lam = 0.0 if np.all(values[used] > 0.0) else 1e-12 * (values[-1] + 1.0)
    q = np.zeros(3)
    for _ in range(100):
        shifted = values + lam
        q = np.where(used, along / shifted, 0.0)
        length = math.sqrt(np.sum(q * q))
        if (lam == 0.0 and length <= radius) or abs(length - radius) <= RADIUS_RTOL * radius:
            break
        slope = np.sum(np.where(used, q * q / shifted, 0.0))  # -d|p|/d lam times |p|
        lam = max(lam + (length - radius) / radius * length * length / slope, 0.0)
    return -(vectors @ q)


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Compile :func:`solve_floor` (or load it from numba's cache) with the types
    people_floor passes, before the first frame with people."""
    up = np.array([0.0, -1.0, 0.0])
    basis = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    ankles = np.array([[[0.0, 0.6, 0.8], [np.nan, np.nan, np.nan]]])
    pelvis, trunks = np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]])
    solve_floor(np.zeros(3), up, basis, ankles, pelvis, np.ones(1), trunks, up, np.ones(6), 2.0)
