"""Step 4 of the depth stage: fuse the sensor's root with the networks' and choose.

Where the sensor placed a root, a network's root depth is fused with it by inverse
variance (``DepthSource.FUSED``), unless the two disagree by more than three combined
sigmas: then the tighter one (for a depth camera, the sensor) stands alone. Where the
sensor has nothing, the network's root is used (``NETWORK``), else the priors'
(``INFERRED``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import ROOT
from hdnet_ros.people import DepthSource
from hdnet_ros.stages.depth.arrays import Lifted, RootCandidates

FloatArray = npt.NDArray[np.float64]


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


def choose_roots(lifted: Lifted, candidates: RootCandidates) -> None:
    """Set every person's root in ``lifted`` from its candidates (module doc)."""
    sensor = candidates.sensor
    point, sigma = sensor.point.copy(), sensor.sigma.copy()
    source = sensor.source.copy()
    has = sensor.exists
    fused_z, fused_sigma = fuse_depths(point[:, 2], sigma, candidates.network_z, candidates.network_sigma)
    with np.errstate(invalid="ignore"):
        moved = has & np.isfinite(fused_z) & (fused_z != point[:, 2])
    # Along the root's ray: the fusion changes its depth, not its direction.
    point[moved] *= (fused_z[moved] / point[moved, 2])[:, None]
    sigma[moved] = fused_sigma[moved]
    source[moved] = DepthSource.FUSED
    for fallback in (candidates.network, candidates.prior):
        use = ~has & fallback.exists
        point[use], sigma[use], source[use] = fallback.point[use], fallback.sigma[use], fallback.source[use]
        has |= use
    lifted.positions[has, ROOT] = point[has]
    lifted.sigma[has, ROOT] = sigma[has]
    lifted.sources[has, ROOT] = source[has]
