"""The people's body frames (:func:`.tf_frames.body_rotations`) and their quaternions
(:func:`.tf_frames.quaternions_from_matrices`) in one compiled pass over the people.

The numpy functions are some hundred array calls for any number of people, most of the TF
message's cost at 20 people. This kernel does the same arithmetic in the same order (sums
of three as numpy's reduction adds them, the products and differences of ``_cross``,
Shepperd's cases in their order) and gives the same bits (``test_outputs_reference.py``
compares them on random bodies with missing joints); the numpy functions stay the API.
The first call compiles the kernel (about a second) or loads it from the cache;
:func:`warm_up` does that before a first frame.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import LEFT_HIP, LEFT_SHOULDER, NECK, NUM_JOINTS, RIGHT_HIP, RIGHT_SHOULDER, ROOT
from hdnet_ros.outputs.jit import compiled

FloatArray = npt.NDArray[np.float64]


def body_frames(positions: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Each person's body rotation [P,3,3] (columns x, y, z) and its (x, y, z, w) [P,4],
    from joints [P,J,3]."""
    p = np.ascontiguousarray(positions, dtype=np.float64)
    rotations = np.empty((len(p), 3, 3))
    quaternions = np.empty((len(p), 4))
    _body_frames(p, rotations, quaternions)
    return rotations, quaternions


@compiled
def _unit(x: float, y: float, z: float) -> tuple[float, float, float, bool]:
    """tf_frames._units of one row."""
    norm = math.sqrt((x * x + y * y) + z * z)
    usable = math.isfinite(norm) and norm > 1e-6
    scale = norm if usable else 1.0
    return x / scale, y / scale, z / scale, usable


@compiled
def _finite(p: FloatArray, joint: int) -> bool:
    return math.isfinite(p[joint, 0]) and math.isfinite(p[joint, 1]) and math.isfinite(p[joint, 2])


@compiled
def _square_to(vx: float, vy: float, vz: float, zx: float, zy: float, zz: float) -> tuple[float, float, float, bool]:
    """The unit part of v square to the unit z: tf_frames._units(v - _along(v, z))."""
    along = (vx * zx + vy * zy) + vz * zz
    return _unit(vx - zx * along, vy - zy * along, vz - zz * along)


@compiled
def _cross(a0: float, a1: float, a2: float, b0: float, b1: float, b2: float) -> tuple[float, float, float]:
    return a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0


@compiled
def _body_frames(p_all: FloatArray, rotations: FloatArray, quaternions: FloatArray) -> None:
    for person in range(p_all.shape[0]):
        p = p_all[person]
        ux, uy, uz, has_up = _unit(p[NECK, 0] - p[ROOT, 0], p[NECK, 1] - p[ROOT, 1], p[NECK, 2] - p[ROOT, 2])
        zx, zy, zz = (ux, uy, uz) if has_up else (0.0, -1.0, 0.0)
        hips = _finite(p, LEFT_HIP) and _finite(p, RIGHT_HIP)
        shoulders = _finite(p, LEFT_SHOULDER) and _finite(p, RIGHT_SHOULDER)
        a, b = (LEFT_HIP, RIGHT_HIP) if hips else (LEFT_SHOULDER, RIGHT_SHOULDER)
        lx, ly, lz, has_left = _unit(p[a, 0] - p[b, 0], p[a, 1] - p[b, 1], p[a, 2] - p[b, 2])
        has_left = has_left and (hips or shoulders)
        gx, gy, gz, has_guess = _square_to(0.0, 0.0, -1.0, zx, zy, zz)
        px, py, pz = (gx, gy, gz) if has_guess else (1.0, 0.0, 0.0)
        yx, yy, yz, has_perp = _square_to(lx, ly, lz, zx, zy, zz)
        if not has_perp:
            yx, yy, yz = _cross(zx, zy, zz, 0.0, 0.0, -1.0)
        if has_left:
            xx, xy, xz = _cross(yx, yy, yz, zx, zy, zz)
        else:
            xx, xy, xz = px, py, pz
            yx, yy, yz = _cross(zx, zy, zz, px, py, pz)
        m = rotations[person]
        m[0, 0], m[1, 0], m[2, 0] = xx, xy, xz
        m[0, 1], m[1, 1], m[2, 1] = yx, yy, yz
        m[0, 2], m[1, 2], m[2, 2] = zx, zy, zz
        _quaternion(m, quaternions[person])


@compiled
def _quaternion(m: FloatArray, out: FloatArray) -> None:
    """tf_frames.quaternions_from_matrices of one rotation: Shepperd's first case that holds."""
    m00, m11, m22 = m[0, 0], m[1, 1], m[2, 2]
    trace = (m00 + m11) + m22
    d21, d02, d10 = m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]
    s01, s02, s12 = m[0, 1] + m[1, 0], m[0, 2] + m[2, 0], m[1, 2] + m[2, 1]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        out[0], out[1], out[2], out[3] = d21 / s, d02 / s, d10 / s, 0.25 * s
    elif m00 > m11 and m00 > m22:
        s = 2.0 * np.sqrt(((1.0 + m00) - m11) - m22)
        out[0], out[1], out[2], out[3] = 0.25 * s, s01 / s, s02 / s, d21 / s
    elif m11 > m22:
        s = 2.0 * np.sqrt(((1.0 + m11) - m00) - m22)
        out[0], out[1], out[2], out[3] = s01 / s, 0.25 * s, s12 / s, d02 / s
    else:
        s = 2.0 * np.sqrt(((1.0 + m22) - m00) - m11)
        out[0], out[1], out[2], out[3] = s02 / s, s12 / s, 0.25 * s, d10 / s


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Compile (or load) the kernel, once per process (before the first frame)."""
    body_frames(np.zeros((1, NUM_JOINTS, 3)))
