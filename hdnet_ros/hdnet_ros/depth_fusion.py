"""Fusing two depth estimates of the same point by their uncertainties."""

from __future__ import annotations

import math


def fuse_depths(
    sensor_z: float,
    sensor_sigma: float,
    network_z: float,
    network_sigma: float,
    gate_sigmas: float = 3.0,
) -> tuple[float, float]:
    """Inverse-variance weighted depth (z, sigma) of a sensor and a network estimate [m].

    - Either estimate may be missing (NaN z or a non-positive/NaN sigma): the other one is
      returned unchanged; both missing gives (NaN, NaN).
    - When the two disagree by more than ``gate_sigmas`` combined standard deviations they
      cannot both be right, and a weighted mean would be a depth neither supports: the
      estimate with the smaller sigma is returned on its own (for a depth camera that is the
      sensor, whose sigma is centimetres against the network's decimetres).
    - Otherwise z = (z_s / s_s^2 + z_n / s_n^2) / (1 / s_s^2 + 1 / s_n^2) and
      sigma = (1 / s_s^2 + 1 / s_n^2) ** -0.5, which is never larger than either input.
    """
    candidates = [
        (float(z), float(s)) for z, s in ((sensor_z, sensor_sigma), (network_z, network_sigma)) if _usable(z, s)
    ]
    if len(candidates) < 2:
        return candidates[0] if candidates else (float("nan"), float("nan"))
    (z_s, s_s), (z_n, s_n) = candidates
    tighter = candidates[0] if s_s <= s_n else candidates[1]
    # An exact estimate wins outright; so does the tighter one when the two disagree.
    if min(s_s, s_n) == 0.0 or (gate_sigmas > 0 and abs(z_s - z_n) > gate_sigmas * math.hypot(s_s, s_n)):
        return tighter
    w_s, w_n = 1.0 / s_s**2, 1.0 / s_n**2
    return (w_s * z_s + w_n * z_n) / (w_s + w_n), 1.0 / math.sqrt(w_s + w_n)


def _usable(z: float, sigma: float) -> bool:
    return math.isfinite(z) and math.isfinite(sigma) and sigma >= 0.0 and z > 0.0
