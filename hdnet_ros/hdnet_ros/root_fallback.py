"""Root depth where the depth sensor has nothing: geometric priors from the 2D skeleton.

Two independent cues, fused by their uncertainties:

1. **Bone lengths.** A bone of typical 3D length L whose 2D image spans l in normalised
   image coordinates (pixels / focal length) lies at z ~ L / l. Foreshortening only ever
   shortens l, so each bone gives an upper bound-like estimate; the bones whose ratio
   l / L is within ``min_ratio`` of the largest ratio of the person are "not foreshortened
   too much", and the median of their depths is the estimate. Its uncertainty combines the
   spread of adult stature (5.5 %, see :mod:`hdnet_ros.completion`) with the spread of the
   kept bones.
2. **The floor.** When the depth image still sees the floor nearby, a RANSAC plane fit
   gives it; the ray through the lower (standing) ankle meets the plane raised by the
   ankle height at the person's feet. Its error grows as z^2 / camera height times the
   angular keypoint noise. Without a floor in view only the bone cue is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.completion import (
    BONE_FRACTIONS,
    STANDING_TEMPLATE,
    STATURE_RELATIVE_SD,
    TYPICAL_STATURE_M,
    unit_rays,
)
from hdnet_ros.depth_fusion import fuse_depths
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

FloatArray = npt.NDArray[np.float64]

# Ankle joint centre height above the floor: 0.039 x stature (Drillis & Contini).
ANKLE_HEIGHT_FRACTION = 0.039
# Joint pairs for the size prior, with their typical distance as a fraction of stature: the
# limb bones, and every pair of head, shoulder, hip, knee and ankle joints at least 0.09 H
# apart in the standing template (arms are left out of the cross pairs: a raised arm is
# farther from the feet than a hanging one, the one case where the template is no bound).
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
PRIOR_PAIRS: dict[tuple[int, int], float] = {
    bone: fraction
    for bone, fraction in BONE_FRACTIONS.items()
    if bone[0] not in DERIVED_JOINTS and bone[1] not in DERIVED_JOINTS and fraction > 0.09
}
for _i, _a in enumerate(_CROSS_JOINTS):
    for _b in _CROSS_JOINTS[_i + 1 :]:
        _distance = float(np.linalg.norm(STANDING_TEMPLATE[_a] - STANDING_TEMPLATE[_b]))
        if _distance >= 0.09 and (_a, _b) not in PRIOR_PAIRS:
            PRIOR_PAIRS[(_a, _b)] = _distance


@dataclass(frozen=True)
class DepthEstimate:
    z: float
    sigma: float
    cue: str


def bone_prior_depth(
    pixels: npt.ArrayLike,
    camera: CameraModel,
    stature: float = TYPICAL_STATURE_M,
    min_ratio: float = 0.75,
    keypoint_sigma_px: float = 3.0,
) -> DepthEstimate | None:
    """Depth of a person from 2D bone lengths against typical 3D ones (see module doc)."""
    uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    rays = camera.normalized_rays(np.where(np.isfinite(uv), uv, 0.0))
    seen = np.all(np.isfinite(uv), axis=1)
    pairs = [(a, b, f) for (a, b), f in PRIOR_PAIRS.items() if seen[a] and seen[b]]
    if not pairs:
        return None
    lengths_2d = np.array([np.linalg.norm(rays[a] - rays[b]) for a, b, _ in pairs])
    lengths_3d = np.array([f * stature for _, _, f in pairs])
    ratio = lengths_2d / lengths_3d  # = 1/z for an unforeshortened pair
    if not np.any(ratio > 0):
        return None
    # The reference is a high quantile rather than the maximum: one pair made too long by
    # keypoint noise must not exclude all the others.
    reference = float(np.percentile(ratio, 85)) if ratio.size >= 3 else float(ratio.max())
    keep = ratio >= min_ratio * reference
    depths = 1.0 / ratio[keep]
    z = float(np.median(depths))
    # Spread of the kept bones (MAD), else the keypoint noise on a single bone.
    f = 0.5 * (camera.fx + camera.fy)
    noise_rel = keypoint_sigma_px * np.sqrt(2.0) / max(float(np.median(lengths_2d[keep])) * f, 1e-6)
    mad_rel = 1.4826 * float(np.median(np.abs(depths - z))) / z if depths.size >= 3 else noise_rel
    sigma_rel = float(np.hypot(STATURE_RELATIVE_SD, max(mad_rel, noise_rel) / np.sqrt(depths.size)))
    return DepthEstimate(z=z, sigma=sigma_rel * z, cue="bones")


@dataclass(frozen=True)
class GroundPlane:
    """The floor: points p with normal . p = offset; ``normal`` is a unit vector pointing up
    (towards the camera's side), so the camera is ``-offset`` metres above the floor."""

    normal: FloatArray
    offset: float
    inliers: int

    @property
    def camera_height(self) -> float:
        return -self.offset


@dataclass(frozen=True)
class GroundConfig:
    max_tilt_deg: float = 40.0  # the floor's normal is within this angle of image-up
    min_camera_height_m: float = 0.2
    max_camera_height_m: float = 3.0
    samples: int = 3000
    hypotheses: int = 200
    min_inliers: int = 300
    noise_coefficient: float = 0.0015


def estimate_ground_plane(
    depth: npt.NDArray[np.float32], camera: CameraModel, config: GroundConfig, rng: np.random.Generator | None = None
) -> GroundPlane | None:
    """The floor seen in the lower part of a depth image (RANSAC, then least squares on the
    inliers), or None when no plausible floor is visible."""
    rng = rng or np.random.default_rng(0)
    height = depth.shape[0]
    rows = slice(height // 3, height)
    sub = depth[rows]
    v, u = np.nonzero(np.isfinite(sub) & (sub > 0))
    if v.size < config.min_inliers:
        return None
    pick = rng.choice(v.size, size=min(config.samples, v.size), replace=False)
    uv = np.stack((u[pick], v[pick] + height // 3), axis=1).astype(np.float64)
    points = camera.back_project(uv, depth[uv[:, 1].astype(int), uv[:, 0].astype(int)])
    tolerance = 0.02 + 3.0 * config.noise_coefficient * points[:, 2] ** 2
    triples = rng.integers(0, len(points), size=(config.hypotheses, 3))
    p0, p1, p2 = points[triples[:, 0]], points[triples[:, 1]], points[triples[:, 2]]
    normals = np.cross(p1 - p0, p2 - p0)
    norms = np.linalg.norm(normals, axis=1)
    ok = norms > 1e-9
    normals[ok] /= norms[ok, None]
    normals[normals[:, 1] > 0] *= -1.0  # point up: image-up is -y
    offsets = np.einsum("ij,ij->i", normals, p0)
    up_cos = -normals[:, 1]
    ok &= up_cos >= np.cos(np.deg2rad(config.max_tilt_deg))
    ok &= (-offsets >= config.min_camera_height_m) & (-offsets <= config.max_camera_height_m)
    if not np.any(ok):
        return None
    residuals = np.abs(points @ normals[ok].T - offsets[ok])  # [N, hypotheses]
    counts = np.count_nonzero(residuals < tolerance[:, None], axis=0)
    best = int(np.argmax(counts))
    if counts[best] < config.min_inliers:
        return None
    inliers = points[residuals[:, best] < tolerance]
    centroid = inliers.mean(axis=0)
    _, _, vt = np.linalg.svd(inliers - centroid, full_matrices=False)
    normal = vt[2] if vt[2][1] < 0 else -vt[2]
    offset = float(normal @ centroid)
    if -normal[1] < np.cos(np.deg2rad(config.max_tilt_deg)) or not (
        config.min_camera_height_m <= -offset <= config.max_camera_height_m
    ):
        return None
    return GroundPlane(normal=normal, offset=offset, inliers=len(inliers))


def ground_depth(
    pixels: npt.ArrayLike,
    camera: CameraModel,
    plane: GroundPlane,
    stature: float = TYPICAL_STATURE_M,
    keypoint_sigma_px: float = 3.0,
) -> DepthEstimate | None:
    """Depth of a person's feet: the lower ankle's ray meets the floor raised by the ankle
    height (the other foot may be lifted mid-step, which only ever pushes its hit away)."""
    uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    ankles = [j for j in (LEFT_ANKLE, RIGHT_ANKLE) if np.all(np.isfinite(uv[j]))]
    if not ankles:
        return None
    rays = unit_rays(camera, uv[ankles])
    level = plane.offset + ANKLE_HEIGHT_FRACTION * stature
    denom = rays @ plane.normal
    with np.errstate(divide="ignore", invalid="ignore"):
        t = level / denom
    hits = [(float(t[i] * rays[i, 2]), float(t[i])) for i in range(len(ankles)) if np.isfinite(t[i]) and t[i] > 0]
    hits = sorted(h for h in hits if 0.3 < h[0] < 30.0)
    if not hits:
        return None
    # dz/dangle = t^2 / h for a ray grazing a plane h below the camera: the angular noise of
    # one keypoint plus 0.2 deg of floor-fit error, and 0.15 m for where the pelvis stands
    # relative to the feet.
    h = max(-level, 0.1)
    angle = float(np.hypot(keypoint_sigma_px / camera.fy, np.deg2rad(0.2)))
    z, t_hit = hits[0]
    one = t_hit**2 / h * angle
    if len(hits) == 2 and hits[1][0] - z < 1.0 * one:
        # Both feet on the floor (their hits agree within the noise): the pelvis stands
        # between them, and averaging halves the keypoint noise.
        z, t_hit = (hits[0][0] + hits[1][0]) / 2.0, (hits[0][1] + hits[1][1]) / 2.0
        one /= np.sqrt(2.0)
    sigma = float(np.hypot(one, 0.15))
    return DepthEstimate(z=z, sigma=sigma, cue="ground")


def prior_root_depth(
    pixels: npt.ArrayLike,
    camera: CameraModel,
    plane: GroundPlane | None,
    stature: float = TYPICAL_STATURE_M,
    keypoint_sigma_px: float = 3.0,
) -> DepthEstimate | None:
    """The root depth from the bone and floor cues, fused by their sigmas."""
    bones = bone_prior_depth(pixels, camera, stature, keypoint_sigma_px=keypoint_sigma_px)
    ground = ground_depth(pixels, camera, plane, stature, keypoint_sigma_px) if plane is not None else None
    if bones is None:
        return ground
    if ground is None:
        return bones
    # Both are priors of similar quality and independent errors: weight them, never gate
    # one out (picking either when they disagree is worse than their weighted mean).
    z, sigma = fuse_depths(bones.z, bones.sigma, ground.z, ground.sigma, gate_sigmas=0.0)
    return DepthEstimate(z=z, sigma=sigma, cue="bones+ground")
