"""Step 4 of the depth stage: fuse the sensor's root with the networks' and choose.

Where the sensor placed a root, a network's root depth is fused with it by inverse
variance (``DepthSource.FUSED``), unless the two disagree by more than three combined
sigmas: then the tighter one (for a depth camera, the sensor) stands alone. Where the
sensor has nothing, the network's root is used (``NETWORK``), else the priors'
(``INFERRED``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import ROOT
from hdnet_ros.people import DepthSource
from hdnet_ros.stages.depth.arrays import Lifted, RootCandidates
from hdnet_ros.stages.depth.jit import compiled_ieee

FloatArray = npt.NDArray[np.float64]
_ROOT = ROOT
_NONE = np.uint8(DepthSource.NONE)
_FUSED = np.uint8(DepthSource.FUSED)


def fuse_depths(
    first_z: npt.ArrayLike,
    first_sigma: npt.ArrayLike,
    second_z: npt.ArrayLike,
    second_sigma: npt.ArrayLike,
    gate_sigmas: float = 3.0,
) -> tuple[FloatArray, FloatArray]:
    """Inverse-variance weighted depths (z, sigma) of two estimates of the same points [m],
    elementwise.

    - Either estimate may be missing (NaN z, non-positive z or a negative/NaN sigma): the
      other one is returned unchanged; both missing gives (NaN, NaN).
    - When the two disagree by more than ``gate_sigmas`` combined standard deviations they
      cannot both be right, and a weighted mean would be a depth neither supports: the
      estimate with the smaller sigma is returned on its own.
    - Otherwise z = (z_1 / s_1^2 + z_2 / s_2^2) / (1 / s_1^2 + 1 / s_2^2) and
      sigma = (1 / s_1^2 + 1 / s_2^2) ** -0.5, which is never larger than either input.
    """
    z1, s1, z2, s2 = (np.asarray(v, dtype=np.float64) for v in (first_z, first_sigma, second_z, second_sigma))
    with np.errstate(invalid="ignore", divide="ignore"):
        ok1 = np.isfinite(z1) & np.isfinite(s1) & (s1 >= 0.0) & (z1 > 0.0)
        ok2 = np.isfinite(z2) & np.isfinite(s2) & (s2 >= 0.0) & (z2 > 0.0)
    if not np.any(ok2):  # nothing to fuse (no network estimates): the first where it exists
        return np.where(ok1, z1, np.nan), np.where(ok1, s1, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        first_tighter = s1 <= s2
        tight_z = np.where(first_tighter, z1, z2)
        tight_s = np.where(first_tighter, s1, s2)
        # An exact estimate wins outright; so does the tighter one when the two disagree.
        disagree = np.abs(z1 - z2) > gate_sigmas * np.hypot(s1, s2) if gate_sigmas > 0 else np.zeros_like(ok1)
        alone = (np.minimum(s1, s2) == 0.0) | disagree
        w1, w2 = 1.0 / s1**2, 1.0 / s2**2
        mean_z = (w1 * z1 + w2 * z2) / (w1 + w2)
        mean_s = 1.0 / np.sqrt(w1 + w2)
    both = ok1 & ok2
    z = np.where(both, np.where(alone, tight_z, mean_z), np.where(ok1, z1, np.where(ok2, z2, np.nan)))
    sigma = np.where(both, np.where(alone, tight_s, mean_s), np.where(ok1, s1, np.where(ok2, s2, np.nan)))
    return z, sigma


def fused_depths(
    first_z: FloatArray, first_sigma: FloatArray, second_z: FloatArray, second_sigma: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """:func:`fuse_depths` with its default gate of 3 sigmas, in one compiled loop over the
    elements (:func:`_fuse`, the same numbers) instead of some twenty array calls."""
    z, sigma = np.empty(len(first_z)), np.empty(len(first_z))
    _fuse_all(
        np.ascontiguousarray(first_z, dtype=np.float64),
        np.ascontiguousarray(first_sigma, dtype=np.float64),
        np.ascontiguousarray(second_z, dtype=np.float64),
        np.ascontiguousarray(second_sigma, dtype=np.float64),
        z,
        sigma,
    )
    return z, sigma


@compiled_ieee
def _fuse_all(
    z1: FloatArray, s1: FloatArray, z2: FloatArray, s2: FloatArray, z_out: FloatArray, sigma_out: FloatArray
) -> None:
    for k in range(len(z1)):
        z_out[k], sigma_out[k] = _fuse(z1[k], s1[k], z2[k], s2[k])


def choose_roots(lifted: Lifted, candidates: RootCandidates) -> None:
    """Set every person's root in ``lifted`` from its candidates (module doc): one compiled
    loop over people, with :func:`fuse_depths`' arithmetic."""
    sensor, network, prior = candidates.sensor, candidates.network, candidates.prior
    _choose_people(
        sensor.point, sensor.sigma, sensor.source,
        np.ascontiguousarray(candidates.network_z, dtype=np.float64),
        np.ascontiguousarray(candidates.network_sigma, dtype=np.float64),
        network.point, network.sigma, network.source,
        prior.point, prior.sigma, prior.source,
        lifted.positions, lifted.sigma, lifted.sources,
    )  # fmt: skip


@compiled_ieee
def _fuse(z1: float, s1: float, z2: float, s2: float) -> tuple[float, float]:
    """fuse_depths of one pair (gate 3 sigmas)."""
    ok1 = math.isfinite(z1) and math.isfinite(s1) and s1 >= 0.0 and z1 > 0.0
    ok2 = math.isfinite(z2) and math.isfinite(s2) and s2 >= 0.0 and z2 > 0.0
    if not ok1:
        return (z2, s2) if ok2 else (math.nan, math.nan)
    if not ok2:
        return z1, s1
    lowest = s1 if s1 <= s2 else s2  # both finite: np.minimum's
    if lowest == 0.0 or abs(z1 - z2) > 3.0 * math.hypot(s1, s2):
        return (z1, s1) if s1 <= s2 else (z2, s2)
    w1, w2 = 1.0 / s1**2, 1.0 / s2**2
    return (w1 * z1 + w2 * z2) / (w1 + w2), 1.0 / math.sqrt(w1 + w2)


@compiled_ieee
def _choose_people(
    sensor_point: FloatArray,
    sensor_sigma: FloatArray,
    sensor_source: npt.NDArray[np.uint8],
    network_z: FloatArray,
    network_sigma: FloatArray,
    network_point: FloatArray,
    network_sigma_of_point: FloatArray,
    network_source: npt.NDArray[np.uint8],
    prior_point: FloatArray,
    prior_sigma: FloatArray,
    prior_source: npt.NDArray[np.uint8],
    positions: FloatArray,
    sigma: FloatArray,
    sources: npt.NDArray[np.uint8],
) -> None:
    """The sensor's root, fused along its ray with a network's depth; else the network's
    root; else the priors'."""
    for p in range(len(sensor_source)):
        if sensor_source[p] != _NONE:
            z = sensor_point[p, 2]
            fused_z, fused_sigma = _fuse(z, sensor_sigma[p], network_z[p], network_sigma[p])
            root_sigma, root_source = sensor_sigma[p], sensor_source[p]
            if math.isfinite(fused_z) and fused_z != z:  # along the root's ray: its depth, not its direction
                ratio = fused_z / z
                for axis in range(3):
                    positions[p, _ROOT, axis] = sensor_point[p, axis] * ratio
                root_sigma, root_source = fused_sigma, _FUSED
            else:
                for axis in range(3):
                    positions[p, _ROOT, axis] = sensor_point[p, axis]
            sigma[p, _ROOT], sources[p, _ROOT] = root_sigma, root_source
        elif network_source[p] != _NONE:
            for axis in range(3):
                positions[p, _ROOT, axis] = network_point[p, axis]
            sigma[p, _ROOT], sources[p, _ROOT] = network_sigma_of_point[p], network_source[p]
        elif prior_source[p] != _NONE:
            for axis in range(3):
                positions[p, _ROOT, axis] = prior_point[p, axis]
            sigma[p, _ROOT], sources[p, _ROOT] = prior_sigma[p], prior_source[p]
