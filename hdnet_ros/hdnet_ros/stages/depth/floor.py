"""The floor in the depth image: where a person's feet stand when the sensor cannot see them.

When the depth image still sees the floor nearby, a RANSAC plane fit gives it (once per
depth image, only when some person needs it); the rays through a person's ankles meet the
plane raised by the ankle height at their feet (both feet weighed by how likely the
farther one is lifted mid-step). Its error grows as z^2 / camera height times the angular
keypoint noise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import scipy.special

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import LEFT_ANKLE, RIGHT_ANKLE
from hdnet_ros.size_prior import DepthEstimates

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Ankle joint centre height above the floor: 0.039 x stature (Drillis & Contini).
ANKLE_HEIGHT_FRACTION = 0.039
ANKLES = [LEFT_ANKLE, RIGHT_ANKLE]
# A box whose edge lies within this share of its height (at least a few pixels) of an image
# border is cut by it: detectors clip their boxes to the image, a few pixels short of it.
# The feet's cue takes no ankle of a person the image's bottom cuts: the 2D network guesses
# their feet near the border (3-6 % of the box inside it on Panoptic), and such a ray meets
# the floor metres off (the placement's cut people: stages/placement/cues.py).
TRUNCATION_MARGIN = 0.02
MIN_TRUNCATION_MARGIN_PX = 3.0
# A standing person's pelvis (the hip joints' height) above the floor: 0.530 x stature
# (Drillis & Contini; skeleton.STANDING_TEMPLATE).
PELVIS_HEIGHT_FRACTION = 0.530
# A walker's swing ankle rises up to about this much over the stance ankle's (5-10 cm in
# mid-swing, more on a stair or a step over something); seen from a camera h above the
# feet at a ray length t, its floor hit lies up to FOOT_LIFT_M t / h beyond the other's.
FOOT_LIFT_M = 0.15
# How often one of a person's two feet is off the floor when nothing says whether they
# stand or walk: a walker's swing phase is about 40 % of the gait cycle.
LIFTED_PRIOR = 0.3


@dataclass(frozen=True)
class GroundPlane:
    """The floor: points p with normal . p = offset; ``normal`` is a unit vector pointing up
    (towards the camera's side), so the camera is ``-offset`` metres above the floor."""

    normal: FloatArray
    offset: float
    inliers: int
    inlier_fraction: float = 1.0  # of the fit's samples

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
    # The floor must be a good part of the lower image's valid depth; a table top or a seat
    # found among clutter (about 14 % of the samples on the rgbd_hsr frames) is not it.
    min_inlier_fraction: float = 0.25
    noise_coefficient: float = 0.0015
    # Hypotheses are first scored on this many of the samples; only the best few are
    # scored on all of them (preemptive RANSAC: the same winner at a fraction of the cost).
    preview_samples: int = 500
    finalists: int = 8


# Candidate floor pixels are read on a grid of this stride: the floor is large and smooth,
# and the sample is random anyway.
CANDIDATE_STRIDE = 3


@functools.lru_cache(maxsize=4)
def _fixed_pick(valid: int, samples: int) -> npt.NDArray[np.intp]:
    """The refresh's sample of ``samples`` of ``valid`` candidates: the first draw of
    ``default_rng(1)``, which depends on nothing else (cached: read-only)."""
    pick = np.random.default_rng(1).choice(valid, size=samples, replace=False)
    pick.flags.writeable = False
    return pick


def _floor_candidates(
    depth: npt.NDArray[np.float32], camera: CameraModel, config: GroundConfig, rng: np.random.Generator | None
) -> FloatArray | None:
    """Random 3D points [N,3] of the lower two thirds of the depth image (valid depth);
    ``rng`` None: the first draw of ``default_rng(1)`` (the same sample every frame)."""
    found = _floor_samples(depth, camera, config, rng)
    return None if found is None else found.points


def _candidate_cells(depth: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.intp]]:
    """The candidates' grid over the lower two thirds of ``depth`` and its cells with a
    finite positive depth, by their flat index."""
    # A contiguous copy of the grid, its valid cells by their flat index (row after row, as
    # np.nonzero finds them) and only the picked ones split into rows and columns: the
    # strided 2D test and nonzero cost about four times as much.
    sub = np.ascontiguousarray(depth[depth.shape[0] // 3 :: CANDIDATE_STRIDE, ::CANDIDATE_STRIDE])
    return sub, np.flatnonzero((sub > 0) & (sub < np.inf))


def floor_depth_seen(depth: npt.NDArray[np.float32], config: GroundConfig) -> bool:
    """Whether the lower image has depth enough to look for a floor in (a blank or
    dropped image has not: the fit gives up on it at once)."""
    return _candidate_cells(depth)[1].size * CANDIDATE_STRIDE**2 >= config.min_inliers


@dataclass(frozen=True)
class FloorSamples:
    """Candidate floor pixels [N,2] (u, v: whole numbers) and their 3D points [N,3]."""

    pixels: FloatArray
    points: FloatArray


def _floor_samples(
    depth: npt.NDArray[np.float32], camera: CameraModel, config: GroundConfig, rng: np.random.Generator | None
) -> FloorSamples | None:
    """:func:`_floor_candidates` with the pixels they were read at."""
    top = depth.shape[0] // 3
    sub, valid = _candidate_cells(depth)
    if valid.size * CANDIDATE_STRIDE**2 < config.min_inliers:
        return None
    samples = min(config.samples, valid.size)
    drawn = _fixed_pick(valid.size, samples) if rng is None else rng.choice(valid.size, size=samples, replace=False)
    pick = valid[drawn]
    v, u = np.divmod(pick, sub.shape[1])
    uv = np.stack((u * CANDIDATE_STRIDE, v * CANDIDATE_STRIDE + top), axis=1).astype(np.float64)
    return FloorSamples(uv, camera.back_project(uv, depth[uv[:, 1].astype(int), uv[:, 0].astype(int)]))


# A floor kept from an earlier image may have moved by at most this much (a robot's head
# tilting, the floor seen from a slightly different height) before it is fitted anew.
FLOOR_KEPT_DEGREES = 1.0
FLOOR_KEPT_M = 0.02


def refreshed_plane(
    plane: GroundPlane, depth: npt.NDArray[np.float32], camera: CameraModel, config: GroundConfig
) -> GroundPlane | None:
    """The floor of an earlier depth image, refitted to this image's points near it, when
    it is still this image's floor: about as many of a small random sample lie on it as
    did when it was fitted (less a fifth, for people walking over it), and the refit moved
    it by less than FLOOR_KEPT_DEGREES / FLOOR_KEPT_M. None: fit the floor anew."""
    found = refreshed_fit(plane, depth, camera, config)
    return None if found is None else found[0]


def refreshed_fit(
    plane: GroundPlane, depth: npt.NDArray[np.float32], camera: CameraModel, config: GroundConfig
) -> tuple[GroundPlane, FloorSamples] | None:
    """:func:`refreshed_plane` and the samples it was refitted among."""
    samples = _floor_samples(depth, camera, _preview_config(config), None)
    if samples is None:
        return None
    points = samples.points
    tolerance = inlier_tolerance(points, config)
    near = np.abs(points @ plane.normal - plane.offset) < tolerance
    on_plane = int(np.count_nonzero(near))
    # on_plane / len(points) is np.mean(near) to the bit (an exact count over the size).
    if on_plane / len(points) < 0.8 * plane.inlier_fraction or on_plane < 3:
        return None
    refit = _least_squares_plane(points[near])
    if float(refit.normal @ plane.normal) < _KEPT_COS:
        return None
    if abs(refit.offset - plane.offset) > FLOOR_KEPT_M:
        return None
    return GroundPlane(refit.normal, refit.offset, on_plane, plane.inlier_fraction), samples


_KEPT_COS = float(np.cos(np.deg2rad(FLOOR_KEPT_DEGREES)))


@functools.lru_cache(maxsize=4)
def _preview_config(config: GroundConfig) -> GroundConfig:
    """The refresh's candidate settings: ``config`` with the preview's sample size (made
    once per config: ``replace`` costs as much as a small array step, every frame)."""
    return replace(config, samples=config.preview_samples)


def inlier_tolerance(points: FloatArray, config: GroundConfig) -> FloatArray:
    """How far [m] each point [N,3] may lie off the floor and count as on it: 2 cm plus
    three sigmas of the sensor's depth noise there."""
    return 0.02 + 3.0 * config.noise_coefficient * points[:, 2] ** 2


def _least_squares_plane(points: FloatArray) -> GroundPlane:
    """The plane through points [N,3] (SVD of the centred points), its normal pointing up."""
    centroid = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centroid, full_matrices=False)
    normal = vt[2] if vt[2][1] < 0 else -vt[2]
    return GroundPlane(normal=normal, offset=float(normal @ centroid), inliers=len(points))


def estimate_ground_plane(
    depth: npt.NDArray[np.float32], camera: CameraModel, config: GroundConfig, rng: np.random.Generator | None = None
) -> GroundPlane | None:
    """The floor seen in the lower part of a depth image (RANSAC, then least squares on the
    inliers), or None when no plausible floor is visible."""
    found = estimated_fit(depth, camera, config, rng)
    return None if found is None else found[0]


def estimated_fit(
    depth: npt.NDArray[np.float32], camera: CameraModel, config: GroundConfig, rng: np.random.Generator | None = None
) -> tuple[GroundPlane, FloorSamples] | None:
    """:func:`estimate_ground_plane` and the samples it was fitted among."""
    rng = rng or np.random.default_rng(0)
    samples = _floor_samples(depth, camera, config, rng)
    if samples is None:
        return None
    points = samples.points
    tolerance = inlier_tolerance(points, config)
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
    normals, offsets = normals[ok], offsets[ok]
    preview = slice(0, min(config.preview_samples, len(points)))
    preview_residuals = np.abs(points[preview] @ normals.T - offsets)  # [n, hypotheses]
    preview_counts = np.count_nonzero(preview_residuals < tolerance[preview, None], axis=0)
    finalists = np.argsort(-preview_counts, kind="stable")[: config.finalists]
    residuals = np.abs(points @ normals[finalists].T - offsets[finalists])  # [N, finalists]
    counts = np.count_nonzero(residuals < tolerance[:, None], axis=0)
    best = int(np.argmax(counts))
    if counts[best] < max(config.min_inliers, config.min_inlier_fraction * len(points)):
        return None
    inliers = points[residuals[:, best] < tolerance]
    fitted = _least_squares_plane(inliers)
    normal, offset = fitted.normal, fitted.offset
    if -normal[1] < np.cos(np.deg2rad(config.max_tilt_deg)) or not (
        config.min_camera_height_m <= -offset <= config.max_camera_height_m
    ):
        return None
    plane = GroundPlane(normal=normal, offset=offset, inliers=len(inliers), inlier_fraction=len(inliers) / len(points))
    return plane, samples


def lifted_foot_weight(gap: FloatArray, sigma: FloatArray, lift_reach: FloatArray) -> FloatArray:
    """The probability that the farther of two feet is lifted, given the gap between their
    floor hits (NaN: one foot only, weight 1), each hit's noise ``sigma`` and how far
    beyond a lifted foot's hit can lie (``lift_reach``). Both down, the gap is the
    difference of two noisy hits (folded normal); one lifted, it is spread evenly over
    [0, lift_reach] and blurred by the same noise. Taking the nearer foot whenever the
    gap passes a threshold picks the nearer of two noisy hits and places standing people
    too near; the posterior weighs both readings instead."""
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.sqrt(2.0) * sigma
        gap_z = gap / spread
        both_down = np.sqrt(2.0 / np.pi) / spread * np.exp(-0.5 * gap_z**2)
        lifted = (_normal_cdf((lift_reach - gap) / spread) - _normal_cdf(-gap_z)) / lift_reach
        weight = LIFTED_PRIOR * lifted / (LIFTED_PRIOR * lifted + (1.0 - LIFTED_PRIOR) * both_down)
    return np.where(np.isfinite(weight), weight, 1.0)


def _normal_cdf(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 * scipy.special.erfc(-x / np.sqrt(2.0)))


def floor_depths(
    rays: FloatArray,
    ankles_seen: BoolArray,
    camera: CameraModel,
    plane: GroundPlane,
    stature: float,
    keypoint_sigma_px: float,
) -> DepthEstimates:
    """Depth of every person's pelvis [P] from their feet: each ankle's ray meets the floor
    raised by the ankle height, the two hits weighed by the probability that the farther
    foot is lifted mid-step (:func:`lifted_foot_weight`: a lifted foot only ever pushes its
    hit away), and a standing pelvis is the hip height above that point. From a
    level camera both are at one depth; a camera that looks down sees the pelvis nearer than
    the feet by the hip height times the sine of its pitch (0.64 m at 50 deg for an adult),
    which the feet's depth alone put too far. ``rays`` [P,J,3] unit viewing rays,
    ``ankles_seen`` [P,2] the ankles (left, right) to use."""
    ray = rays[:, ANKLES]  # [P,2,3]
    level = plane.offset + ANKLE_HEIGHT_FRACTION * stature
    denom = ray @ plane.normal
    with np.errstate(divide="ignore", invalid="ignore"):
        t = level / denom
    z = t * ray[..., 2]
    hit = ankles_seen & np.isfinite(t) & (t > 0) & (z > 0.3) & (z < 30.0)
    z = np.where(hit, z, np.inf)
    t = np.where(hit, t, np.inf)
    # Nearest hit first (ties by ray parameter, as sorting (z, t) pairs does).
    swap = (z[:, 1] < z[:, 0]) | ((z[:, 1] == z[:, 0]) & (t[:, 1] < t[:, 0]))
    order = np.stack((swap.astype(np.intp), 1 - swap.astype(np.intp)), axis=1)
    z = np.take_along_axis(z, order, axis=1)
    t = np.take_along_axis(t, order, axis=1)
    # dz/dangle = t^2 / h for a ray grazing a plane h below the camera: the angular noise of
    # one keypoint plus 0.2 deg of floor-fit error, and 0.15 m for where the pelvis stands
    # relative to the feet.
    h = max(-level, 0.1)
    angle = float(np.hypot(keypoint_sigma_px / camera.fy, np.deg2rad(0.2)))
    one = t[:, 0] ** 2 / h * angle
    two = np.isfinite(z[:, 1])  # then the nearer is finite too
    with np.errstate(invalid="ignore"):  # inf - inf where no foot hit: NaN, one foot's weight
        gap = np.where(two, z[:, 1] - z[:, 0], np.nan)
    weight_near = lifted_foot_weight(gap, one, FOOT_LIFT_M * t[:, 0] / h)
    # The pelvis stands between both feet where both are down (their mean halves the
    # keypoint noise), over the nearer where the other is lifted: each by its probability.
    depth = np.where(two, z[:, 0] + (1.0 - weight_near) * np.where(two, gap, 0.0) / 2.0, z[:, 0])
    depth = depth + plane.normal[2] * (PELVIS_HEIGHT_FRACTION - ANKLE_HEIGHT_FRACTION) * stature
    one = np.where(two, one * np.sqrt(1.0 - 0.5 * (1.0 - weight_near)), one)
    found = np.isfinite(depth)
    return DepthEstimates(z=np.where(found, depth, np.nan), sigma=np.where(found, np.hypot(one, 0.15), np.nan))
