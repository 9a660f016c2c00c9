"""The people floor's residuals and their analytic Jacobian, compiled (people_floor.py's
model, its ``_residuals`` as numpy code before: ``test/numpy_placement/people_floor.py``).

The robust least squares evaluates them 10-30 times a frame over up to 300 observations;
as numpy they cost 60-300 us a call, nearly all of it numpy's per-call overhead on small
arrays, which a loop over the observations does not have. The constants come in as
arguments (:data:`people_floor` owns them), so the model stays in one place.

Per observation i of N, the rows i, N + i and 2N + i: the hip height over the floor against
the person's, the pelvis's miss of the vertical over the feet, the trunk's plane's
component along the up; then one row, the angle from the skeletons' mean up. A row that
does not depend on the parameters (no ankle seen, an ankle ray that misses the floor: the
fixed penalty; no trunk seen) has a zero Jacobian row.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
import numpy.typing as npt

from hdnet_ros.stages.placement.jit import compiled

FloatArray = npt.NDArray[np.float64]
# The helpers are inlined into floor_rows (numba's IR, so their array arguments cost no
# reference counting per observation: 3x faster over 300 observations), and cached with it.
_inlined = numba.njit(inline="always", error_model="numpy")
# The order of the constants argument.
LEG_SIGMA, FEET_SIGMA, TRUNK_SINE, UP_SIGMA, PENALTY, ANKLE_HEIGHT = range(6)
# An ankle ray this close to parallel to the floor does not meet it (people_floor's rule).
GRAZING = -1e-6


@_inlined
def _dot(a: FloatArray, b: FloatArray) -> float:
    return float(a[0] * b[0] + a[1] * b[1] + a[2] * b[2])


@compiled
def floor_rows(
    params: FloatArray,
    up: FloatArray,
    basis: FloatArray,
    ankles: FloatArray,
    pelvis: FloatArray,
    hips: FloatArray,
    trunks: FloatArray,
    mean_up: FloatArray,
    constants: FloatArray,
    derive: bool,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(residuals [3N + 1], their Jacobian [3N + 1, 3] over (tilt, tilt, log height) where
    ``derive`` (else [0, 3]), each observation's hip height over the floor [N] (NaN without
    an ankle that meets the floor)) for the plane of ``params`` about ``up`` and ``basis``;
    ankles [N,2,3] (NaN rows unseen), pelvis rays [N,3], hip heights [N], trunk-plane normals
    [N,3] (NaN unseen)."""
    count = len(hips)
    unnormalised = up + params[0] * basis[0] + params[1] * basis[1]
    length = math.sqrt(_dot(unnormalised, unnormalised))
    normal = unnormalised / length
    height = math.exp(params[2])
    residuals = np.zeros(3 * count + 1)
    jacobian = np.zeros((3 * count + 1 if derive else 0, 3))
    hip_heights = np.full(count, np.nan)
    d_normal = np.zeros((3, 3))  # [parameter, xyz]: the tilts move the normal, the log height does not
    for k in range(2):
        d_normal[k] = (basis[k] - _dot(basis[k], normal) * normal) / length
    d_height = np.array([0.0, 0.0, height])
    rows, d_rows = np.zeros(2), np.zeros((2, 3))
    scratch = np.zeros((6, 3))  # the feet, their derivatives, the miss vector and its derivative
    for i in range(count):
        trunk = trunks[i]
        if np.isfinite(trunk[0]):
            residuals[2 * count + i] = _dot(trunk, normal) / constants[TRUNK_SINE]
            for p in range(2 if derive else 0):
                jacobian[2 * count + i, p] = _dot(trunk, d_normal[p]) / constants[TRUNK_SINE]
        hip_heights[i] = _over_feet(
            ankles[i], pelvis[i], hips[i], normal, height, d_normal, d_height, constants, derive, rows, d_rows, scratch
        )
        residuals[i], residuals[count + i] = rows[0], rows[1]
        if derive:
            jacobian[i], jacobian[count + i] = d_rows[0], d_rows[1]
    # the skeletons' mean up as one prior on the normal
    cosine = min(max(_dot(mean_up, normal), -1.0), 1.0)
    residuals[3 * count] = math.acos(cosine) / constants[UP_SIGMA]
    sine = math.sqrt(1.0 - cosine * cosine)
    if derive and sine > 1e-12:  # at the mean up itself the prior's cone has no slope
        for p in range(2):
            jacobian[3 * count, p] = -_dot(d_normal[p], mean_up) / sine / constants[UP_SIGMA]
    return residuals, jacobian, hip_heights


@_inlined
def _feet(
    ankles: FloatArray,
    normal: FloatArray,
    height: float,
    d_normal: FloatArray,
    d_height: FloatArray,
    constants: FloatArray,
    derive: bool,
    feet: FloatArray,
    d_feet: FloatArray,
) -> tuple[int, bool]:
    """Into ``feet`` [3] and ``d_feet`` [parameter, xyz]: the mean of the seen ankles' rays
    [2,3] where they meet the floor raised by the ankle height, and its derivatives; (how
    many meet it, whether a seen one misses it)."""
    level = -height + constants[ANKLE_HEIGHT]
    feet[:] = 0.0
    d_feet[:] = 0.0
    hits, misses = 0, False
    for j in range(2):
        ankle = ankles[j]
        if not np.isfinite(ankle[0]):
            continue
        down = _dot(ankle, normal)
        if not down < GRAZING:
            misses = True
            continue
        hits += 1
        for c in range(3):
            feet[c] += ankle[c] * (level / down)
        for p in range(3 if derive else 0):
            factor = -d_height[p] / down - level * _dot(ankle, d_normal[p]) / (down * down)
            for c in range(3):
                d_feet[p, c] += ankle[c] * factor
    if hits == 2:
        for c in range(3):
            feet[c] /= 2.0
            for p in range(3):
                d_feet[p, c] /= 2.0
    return hits, misses


@_inlined
def _over_feet(
    ankles: FloatArray,
    ray: FloatArray,
    hip: float,
    normal: FloatArray,
    height: float,
    d_normal: FloatArray,
    d_height: FloatArray,
    constants: FloatArray,
    derive: bool,
    rows: FloatArray,
    d_rows: FloatArray,
    scratch: FloatArray,
) -> float:
    """Into ``rows`` [2] and ``d_rows`` [2, 3]: one observation's hip-height and over-the-feet
    rows and their derivatives (zero without a seen ankle, the penalty where one misses the
    floor); its hip height over the floor (NaN without an ankle that meets it). ``scratch``
    [6,3]: room for the intermediate vectors (no allocation per observation)."""
    rows[:] = 0.0
    d_rows[:] = 0.0
    feet, d_feet, offset, d_offset = scratch[0], scratch[1:4], scratch[4], scratch[5]
    hits, misses = _feet(ankles, normal, height, d_normal, d_height, constants, derive, feet, d_feet)
    if hits == 0:
        if misses:
            rows[:] = constants[PENALTY]
        return np.nan
    # the pelvis ray's point a ray closest to the vertical feet + b n
    rn, fr, fn = _dot(ray, normal), _dot(feet, ray), _dot(feet, normal)
    det = 1.0 - rn * rn
    a = (fr - rn * fn) / det
    b = (rn * fr - fn) / det
    for c in range(3):
        offset[c] = a * ray[c] - feet[c] - b * normal[c]
    miss = math.sqrt(_dot(offset, offset))
    over_floor = a * rn + height
    leg_scale = constants[LEG_SIGMA] * hip
    rows[0], rows[1] = (over_floor - hip) / leg_scale, miss / constants[FEET_SIGMA]
    if not misses and math.isnan(miss):
        rows[:] = 0.0  # a pelvis ray along the normal has no closest point: as no ankle seen
        return over_floor
    if misses or not (np.isfinite(rows[0]) and np.isfinite(rows[1])):
        rows[:] = constants[PENALTY]
        return over_floor
    for p in range(3 if derive else 0):
        d_rn = _dot(ray, d_normal[p])
        d_fr = _dot(d_feet[p], ray)
        d_fn = _dot(d_feet[p], normal) + _dot(feet, d_normal[p])
        d_det = -2.0 * rn * d_rn
        d_a = (d_fr - d_rn * fn - rn * d_fn - a * d_det) / det
        d_b = (d_rn * fr + rn * d_fr - d_fn - b * d_det) / det
        d_rows[0, p] = (d_a * rn + a * d_rn + d_height[p]) / leg_scale
        if miss > 0.0:
            for c in range(3):
                d_offset[c] = d_a * ray[c] - d_feet[p, c] - d_b * normal[c] - b * d_normal[p, c]
            d_rows[1, p] = _dot(d_offset, offset) / miss / constants[FEET_SIGMA]
    return over_floor


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Compile :func:`floor_rows` (or load it from numba's cache) before the first frame
    with people, with the types people_floor passes."""
    up = np.array([0.0, -1.0, 0.0])
    basis = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    ankles = np.array([[[0.0, 0.6, 0.8], [np.nan, np.nan, np.nan]]])
    pelvis, trunks = np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]])
    for derive in (False, True):
        floor_rows(np.zeros(3), up, basis, ankles, pelvis, np.ones(1), trunks, up, np.ones(6), derive)
