"""The monocular root fits of a batch of people as one compiled pass (:mod:`.root_fit`'s
least squares, person by person): the usable landmarks, the linear solution, the
Gauss-Newton steps on the reprojection error and the figures the results are made of.

numpy took some sixty calls on [N,2L,3] arrays a fit (0.3-0.4 ms a call, up to five calls
a frame); here each person's 3x3 normal matrices are summed in place and inverted by their
cofactors. The arithmetic is the numpy form's, but for the order of the sums and the
inverse (LAPACK's LU there): the roots agree within 1e-12 m on the tests' crowds
(``test_blazepose_glue``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hdnet_ros.stages.blazepose.jit import compiled

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@compiled
def _inverse3(a: FloatArray, out: FloatArray) -> None:  # pragma: no cover - compiled
    """The inverse of a 3x3 matrix ``a`` by its cofactors, into ``out``."""
    c00 = a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]
    c01 = a[1, 2] * a[2, 0] - a[1, 0] * a[2, 2]
    c02 = a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]
    det = a[0, 0] * c00 + a[0, 1] * c01 + a[0, 2] * c02
    out[0, 0] = c00 / det
    out[1, 0] = c01 / det
    out[2, 0] = c02 / det
    out[0, 1] = (a[0, 2] * a[2, 1] - a[0, 1] * a[2, 2]) / det
    out[1, 1] = (a[0, 0] * a[2, 2] - a[0, 2] * a[2, 0]) / det
    out[2, 1] = (a[0, 1] * a[2, 0] - a[0, 0] * a[2, 1]) / det
    out[0, 2] = (a[0, 1] * a[1, 2] - a[0, 2] * a[1, 1]) / det
    out[1, 2] = (a[0, 2] * a[1, 0] - a[0, 0] * a[1, 2]) / det
    out[2, 2] = (a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]) / det


@compiled
def _gauss_newton(  # pragma: no cover - compiled
    rays: FloatArray,
    points: FloatArray,
    weights: FloatArray,
    t: FloatArray,
    ridge: float,
    step: FloatArray,
    inverse: FloatArray,
    residuals: FloatArray,
) -> float:
    """One person's weighted Gauss-Newton step at ``t`` [3] (into ``step``), the inverse of
    its normal matrix (``inverse``), the residuals [2L] (x then y); returns the weighted
    sum of squared residuals."""
    count = len(weights)
    normal = np.zeros((3, 3))
    gradient = np.zeros(3)
    squares = 0.0
    for k in range(count):
        w = weights[k]
        depth = points[k, 2] + t[2] if w > 0.0 else 1.0
        x = (points[k, 0] + t[0]) / depth
        y = (points[k, 1] + t[1]) / depth
        rx = x - rays[k, 0]
        ry = y - rays[k, 1]
        residuals[k] = rx
        residuals[count + k] = ry
        inv = 1.0 / depth
        jx = -x / depth
        jy = -y / depth
        # Rows (inv, 0, jx) with residual rx and (0, inv, jy) with ry, both of weight w.
        normal[0, 0] += w * inv * inv
        normal[0, 2] += w * inv * jx
        normal[1, 1] += w * inv * inv
        normal[1, 2] += w * inv * jy
        normal[2, 2] += w * jx * jx + w * jy * jy
        gradient[0] += w * inv * rx
        gradient[1] += w * inv * ry
        gradient[2] += w * jx * rx + w * jy * ry
        squares += w * rx * rx + w * ry * ry
    normal[2, 0] = normal[0, 2]
    normal[2, 1] = normal[1, 2]
    for i in range(3):
        normal[i, i] += ridge
    _inverse3(normal, inverse)
    for i in range(3):
        step[i] = -(inverse[i, 0] * gradient[0] + inverse[i, 1] * gradient[1] + inverse[i, 2] * gradient[2])
    return squares


@compiled
def _usable(  # pragma: no cover - compiled
    uv: FloatArray,
    rays: FloatArray,
    visibility: FloatArray,
    points: FloatArray,
    bounds: FloatArray,
    usable: BoolArray,
    weights: FloatArray,
    ray: FloatArray,
    point: FloatArray,
) -> tuple[int, int]:
    """One person's usable landmarks (visible above ``bounds[2]``, inside the image of
    ``bounds[:2]`` = (width, height), a finite skeleton point): ``usable``, their weights,
    rays and points (0 elsewhere). Returns (usable landmarks, landmarks of weight > 0)."""
    used = weighing = 0
    for k in range(len(visibility)):
        u, v = uv[k, 0], uv[k, 1]
        inside = u >= 0 and u <= bounds[0] - 1 and v >= 0 and v <= bounds[1] - 1
        finite = np.isfinite(points[k, 0]) and np.isfinite(points[k, 1]) and np.isfinite(points[k, 2])
        usable[k] = visibility[k] > bounds[2] and inside and finite
        weights[k] = visibility[k] if usable[k] else 0.0
        for i in range(2):
            ray[k, i] = rays[k, i] if usable[k] else 0.0
        for i in range(3):
            point[k, i] = points[k, i] if usable[k] else 0.0
        used += usable[k]
        weighing += weights[k] > 0.0
    return used, weighing


@compiled
def _linear_root(  # pragma: no cover - compiled
    ray: FloatArray, point: FloatArray, weights: FloatArray, ridge: float, inverse: FloatArray, t: FloatArray
) -> None:
    """The linear least-squares root (into ``t``) of the multiplied-out projection
    equations: rows (-1, 0, rx) -> px - rx pz and (0, -1, ry) -> py - ry pz."""
    normal = np.zeros((3, 3))
    rhs = np.zeros(3)
    for k in range(len(weights)):
        w = weights[k]
        rx, ry = ray[k, 0], ray[k, 1]
        bx = point[k, 0] - rx * point[k, 2]
        by = point[k, 1] - ry * point[k, 2]
        normal[0, 0] += w
        normal[1, 1] += w
        normal[0, 2] -= w * rx
        normal[1, 2] -= w * ry
        normal[2, 2] += w * rx * rx + w * ry * ry
        rhs[0] -= w * bx
        rhs[1] -= w * by
        rhs[2] += w * rx * bx + w * ry * by
    normal[2, 0] = normal[0, 2]
    normal[2, 1] = normal[1, 2]
    for i in range(3):
        normal[i, i] += ridge
    _inverse3(normal, inverse)
    for i in range(3):
        t[i] = inverse[i, 0] * rhs[0] + inverse[i, 1] * rhs[1] + inverse[i, 2] * rhs[2]


@compiled
def _in_front(point: FloatArray, usable: BoolArray, t: FloatArray, min_depth: float) -> bool:  # pragma: no cover
    """Whether every usable landmark lies at least ``min_depth`` in front of the camera."""
    for k in range(len(usable)):  # noqa: SIM110 - a loop numba compiles without a generator
        if usable[k] and not point[k, 2] + t[2] > min_depth:
            return False
    return True


@compiled
def _spread(  # pragma: no cover - compiled
    point: FloatArray, usable: BoolArray, residuals: FloatArray
) -> tuple[float, float]:
    """The usable landmarks' squared residuals summed, and their span (the larger x or y
    extent of their points; -inf without any)."""
    landmarks = len(usable)
    total = 0.0
    high_x = high_y = -np.inf
    low_x = low_y = np.inf
    for k in range(landmarks):
        if usable[k]:
            total += residuals[k] * residuals[k] + residuals[landmarks + k] * residuals[landmarks + k]
            high_x, low_x = max(high_x, point[k, 0]), min(low_x, point[k, 0])
            high_y, low_y = max(high_y, point[k, 1]), min(low_y, point[k, 1])
    return total, max(high_x - low_x, high_y - low_y)


@compiled
def fit_batch(  # pragma: no cover - compiled
    uv: FloatArray,
    rays: FloatArray,
    visibility: FloatArray,
    points: FloatArray,
    bounds: FloatArray,
    min_depth: float,
    steps: int,
    ridge: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.int64], BoolArray]:
    """The root fits of N people: pixels ``uv`` [N,L,2], their normalised ``rays`` [N,L,2]
    (read where usable only), ``visibility`` [N,L], skeleton ``points`` [N,L,3]; ``bounds``:
    the image's width and height and the least visibility (exclusive).

    Returns the roots [N,3], the depth variances of the fits [N] (the last step's covariance,
    scaled by the residuals), the sums of the used landmarks' squared normalised residuals
    [N], the spans [N] (-inf with no landmark used), the used landmarks [N] and whether the
    fitted skeleton lies in front of the camera [N]: root_fit.fit_roots's steps."""
    count, landmarks = visibility.shape
    roots = np.empty((count, 3))
    variances, squares, spans = np.empty(count), np.empty(count), np.empty(count)
    used = np.zeros(count, dtype=np.int64)
    in_front = np.ones(count, dtype=np.bool_)
    usable = np.zeros(landmarks, dtype=np.bool_)
    weights, ray, point = np.zeros(landmarks), np.zeros((landmarks, 2)), np.zeros((landmarks, 3))
    step, inverse, residuals, start = np.zeros(3), np.zeros((3, 3)), np.zeros(2 * landmarks), np.zeros(3)
    for n in range(count):
        used[n], weighing = _usable(uv[n], rays[n], visibility[n], points[n], bounds, usable, weights, ray, point)
        t = roots[n]
        _linear_root(ray, point, weights, ridge, inverse, t)
        front = True
        weighted = 0.0
        for iteration in range(steps + 1):  # the steps, then the covariance at the result
            front = front and _in_front(point, usable, t, min_depth)
            for i in range(3):
                start[i] = t[i] if front else (0.0, 0.0, 1.0)[i]
            weighted = _gauss_newton(ray, point, weights, start, ridge, step, inverse, residuals)
            if iteration < steps and front:
                t += step
        in_front[n] = front
        variances[n] = inverse[2, 2] * (weighted / max(2 * weighing - 3, 1))
        squares[n], spans[n] = _spread(point, usable, residuals)
    return roots, variances, squares, spans, used, in_front
