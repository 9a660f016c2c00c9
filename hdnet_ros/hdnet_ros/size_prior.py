"""How far away a person is from how big they look: depth from 2D bone lengths.

A bone of typical 3D length L whose 2D image spans l in normalised image coordinates
(pixels / focal length) lies at z ~ L / l. Foreshortening only ever shortens l, so each
bone gives an upper-bound-like estimate; the pairs whose ratio l / L is within
``min_ratio`` of a high quantile of the person's ratios are "not foreshortened too much",
and the median of their depths is the estimate. Its uncertainty combines the spread of
adult stature (5.5 %) with the spread of the kept pairs.

The pairs are the limb bones and every pair of head, shoulder, hip, knee and ankle joints
at least 0.09 H apart in the standing template (arms are left out of the cross pairs: a
raised arm is farther from the feet than a hanging one, the one case where the template
is no bound). Used by the depth stage (a size prior for the torso surface, and the root
where the sensor has nothing) and by the network stages (the depth that scales a
root-relative pose).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    DERIVED_JOINTS,
    LEFT_ANKLE,
    LEFT_EAR,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    NOSE,
    RIGHT_ANKLE,
    RIGHT_EAR,
    RIGHT_EYE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
)
from hdnet_ros.skeleton import BONE_FRACTIONS, STANDING_TEMPLATE, STATURE_RELATIVE_SD, TYPICAL_STATURE_M

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_CROSS_JOINTS = (
    NOSE,
    LEFT_EYE,
    RIGHT_EYE,
    LEFT_EAR,
    RIGHT_EAR,
    LEFT_SHOULDER,
    RIGHT_SHOULDER,
    LEFT_HIP,
    RIGHT_HIP,
    LEFT_KNEE,
    RIGHT_KNEE,
    LEFT_ANKLE,
    RIGHT_ANKLE,
)


def _prior_pairs() -> dict[tuple[int, int], float]:
    pairs = {
        bone: fraction
        for bone, fraction in BONE_FRACTIONS.items()
        if bone[0] not in DERIVED_JOINTS and bone[1] not in DERIVED_JOINTS and fraction > 0.09
    }
    for i, a in enumerate(_CROSS_JOINTS):
        for b in _CROSS_JOINTS[i + 1 :]:
            distance = float(np.linalg.norm(STANDING_TEMPLATE[a] - STANDING_TEMPLATE[b]))
            if distance >= 0.09 and (a, b) not in pairs:
                pairs[(a, b)] = distance
    return pairs


PRIOR_PAIRS: dict[tuple[int, int], float] = _prior_pairs()
_PAIR_A = np.array([a for a, _ in PRIOR_PAIRS], dtype=np.intp)
_PAIR_B = np.array([b for _, b in PRIOR_PAIRS], dtype=np.intp)
_PAIR_FRACTION = np.array(list(PRIOR_PAIRS.values()))
# The reference ratio is this percentile of a person's pair ratios (with 3 pairs or more):
# one pair made too long by keypoint noise must not exclude all the others.
REFERENCE_PERCENTILE = 85.0
# No person's box spans more than this in metres (a tall adult with the arms raised).
MAX_BODY_EXTENT_M = 2.5


@dataclass(frozen=True)
class DepthEstimates:
    """Per-person depth estimates [m]: z and its 1-sigma, NaN where there is none."""

    z: FloatArray
    sigma: FloatArray


def bone_prior_depths(
    normalized: FloatArray,
    seen: BoolArray,
    camera: CameraModel,
    stature: float = TYPICAL_STATURE_M,
    min_ratio: float = 0.75,
    keypoint_sigma_px: float = 3.0,
    boxes: FloatArray | None = None,
) -> DepthEstimates:
    """The bone-length depth of every person (module doc).

    ``normalized`` [P,J,2]: undistorted normalised image coordinates of the keypoints;
    ``seen`` [P,J]: which keypoints were seen; ``boxes`` [P,4]: the person boxes, which bound
    the depth from above (no body spans more than MAX_BODY_EXTENT_M, so a box of h pixels is
    at most MAX_BODY_EXTENT_M f / h away: keypoints bunched up by a bad 2D estimate would
    otherwise put a person tens of metres away).
    """
    count = len(seen)
    available = seen[:, _PAIR_A] & seen[:, _PAIR_B]  # [P,K]
    with np.errstate(invalid="ignore"):
        lengths_2d = np.sqrt(np.sum((normalized[:, _PAIR_A] - normalized[:, _PAIR_B]) ** 2, axis=-1))
    ratio = np.where(available, lengths_2d / (_PAIR_FRACTION * stature), np.nan)  # = 1/z unforeshortened
    pairs = available.sum(axis=1)
    usable = np.any(available & (ratio > 0), axis=1)
    reference = np.where(
        pairs >= 3, _row_percentile(ratio, pairs, REFERENCE_PERCENTILE), np.nanmax(_no_warn(ratio), axis=1)
    )
    keep = available & (ratio >= min_ratio * reference[:, None])
    with np.errstate(divide="ignore"):
        depths = np.where(keep, 1.0 / ratio, np.nan)
    kept = keep.sum(axis=1)
    z = _row_median(depths, kept)
    f = 0.5 * (camera.fx + camera.fy)
    kept_lengths = _row_median(np.where(keep, lengths_2d, np.nan), kept)
    noise_rel = keypoint_sigma_px * np.sqrt(2.0) / np.maximum(kept_lengths * f, 1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):  # people without a usable pair: NaN, dropped below
        mad = _row_median(np.abs(depths - z[:, None]), kept)
        mad_rel = np.where(kept >= 3, 1.4826 * mad / z, noise_rel)
        sigma_rel = np.hypot(STATURE_RELATIVE_SD, np.maximum(mad_rel, noise_rel) / np.sqrt(kept))
    ok = usable & (kept > 0) if count else np.zeros(0, dtype=bool)
    if boxes is not None:
        extent_px = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        z = np.minimum(z, MAX_BODY_EXTENT_M * camera.fy / np.maximum(extent_px, 1.0))
    return DepthEstimates(z=np.where(ok, z, np.nan), sigma=np.where(ok, sigma_rel * z, np.nan))


def _no_warn(values: FloatArray) -> FloatArray:
    """All-NaN rows give NaN from nanmax without a RuntimeWarning."""
    return np.where(np.all(np.isnan(values), axis=1, keepdims=True), -np.inf, values)


def _row_sorted(values: FloatArray) -> FloatArray:
    return np.sort(values, axis=1)  # NaN last


def _row_median(values: FloatArray, counts: npt.NDArray[np.integer]) -> FloatArray:
    """The median of the finite values of each row (NaN for a row without any)."""
    ordered = _row_sorted(values)
    if ordered.shape[1] == 0:
        return np.full(len(values), np.nan)
    low = np.clip((counts - 1) // 2, 0, None)
    high = np.clip(counts // 2, 0, ordered.shape[1] - 1)
    rows = np.arange(len(values))
    median = 0.5 * (ordered[rows, low] + ordered[rows, high])
    return np.where(counts > 0, median, np.nan)


def _row_percentile(values: FloatArray, counts: npt.NDArray[np.integer], q: float) -> FloatArray:
    """np.percentile (linear) of the finite values of each row."""
    ordered = _row_sorted(values)
    if ordered.shape[1] == 0:
        return np.full(len(values), np.nan)
    virtual = q / 100.0 * (np.maximum(counts, 1) - 1)
    low = np.floor(virtual).astype(np.intp)
    high = np.minimum(low + 1, np.maximum(counts - 1, 0))
    rows = np.arange(len(values))
    a, b = ordered[rows, low], ordered[rows, high]
    t = virtual - low
    # numpy's _lerp: from the nearer end, so the result is exact at t = 0 and t = 1.
    diff = b - a
    result = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    return np.where(counts > 0, result, np.nan)


def bone_prior_depth(
    pixels: npt.ArrayLike,
    camera: CameraModel,
    stature: float = TYPICAL_STATURE_M,
    min_ratio: float = 0.75,
    keypoint_sigma_px: float = 3.0,
) -> tuple[float, float] | None:
    """One person's bone-length depth (z, sigma) from their pixels [J,2], or None."""
    uv = np.asarray(pixels, dtype=np.float64).reshape(1, -1, 2)
    seen = np.all(np.isfinite(uv), axis=-1)
    normalized = camera.normalized_rays(np.where(seen[..., None], uv, 0.0).reshape(-1, 2)).reshape(uv.shape)
    estimate = bone_prior_depths(normalized, seen, camera, stature, min_ratio, keypoint_sigma_px)
    if not np.isfinite(estimate.z[0]):
        return None
    return float(estimate.z[0]), float(estimate.sigma[0])
