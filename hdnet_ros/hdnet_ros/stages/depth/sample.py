"""Step 1 of the depth stage: sample each person's depth.

* **The torso surface** (each person's reference depth): the best-supported depth cluster
  of the torso region that agrees with the person's 2D size. A plain median fails when a
  pole, a railing or another person covers half the torso: the region then holds two
  surfaces. The size prior (:mod:`hdnet_ros.size_prior`, accurate to some 10-20 %) rules out
  surfaces at a depth where this person would look much bigger or smaller than they do,
  and depths seen around the person's own keypoints vote for their surface. When the torso
  is hidden, the windows around the seen keypoints stand in for it.
* **The person's scale** at that depth (their stature from how long their limbs look).
* **Windows** around every seen joint and the face: their valid depths, sorted, for the
  measurement step. A window covers a fixed metric radius at the torso's depth (4 cm by
  default, about a forearm's radius), so it spans the same piece of body at 1 m and 5 m.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_EAR,
    LEFT_ELBOW,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NOSE,
    RIGHT_ANKLE,
    RIGHT_EAR,
    RIGHT_ELBOW,
    RIGHT_EYE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    TORSO_JOINTS,
)
from hdnet_ros.skeleton import BONE_FRACTIONS
from hdnet_ros.stages.depth.arrays import Observed
from hdnet_ros.stages.depth.config import LiftingConfig

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
DepthImage = npt.NDArray[np.float32]

# A torso surface agrees with the person's 2D size when its depth is within these factors of
# the bone-length depth (stature spread, foreshortening and keypoint noise fit inside).
PRIOR_AGREEMENT = (0.75, 1.35)
PRIOR_LOG_SD = 0.08  # spread of the size prior's depth (log), measured on the benchmark
# The torso's surface must cover at least this share of the torso region's pixels.
MIN_TORSO_COVERAGE = 0.2
HEAD_RADIUS_FRACTION = 0.055  # of stature (head breadth ~0.15-0.19 m)
FACE_JOINTS = (NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR)
LIMB_BONES: tuple[tuple[int, int], ...] = (
    (LEFT_SHOULDER, LEFT_ELBOW),
    (RIGHT_SHOULDER, RIGHT_ELBOW),
    (LEFT_ELBOW, LEFT_WRIST),
    (RIGHT_ELBOW, RIGHT_WRIST),
    (LEFT_HIP, LEFT_KNEE),
    (RIGHT_HIP, RIGHT_KNEE),
    (LEFT_KNEE, LEFT_ANKLE),
    (RIGHT_KNEE, RIGHT_ANKLE),
)
_LIMB_A = np.array([a for a, _ in LIMB_BONES])
_LIMB_B = np.array([b for _, b in LIMB_BONES])
_LIMB_FRACTION = np.array([BONE_FRACTIONS[bone] for bone in LIMB_BONES])


@dataclass(frozen=True)
class Windows:
    """The valid depths of square windows, sorted ascending per row (NaN after them)."""

    values: npt.NDArray[np.float32]  # [N,W]
    counts: IntArray  # [N] valid depths per row
    inside: BoolArray  # [N] the window's centre pixel lies in the image


@dataclass(frozen=True)
class Sampled:
    """What the measurement step needs of each person's depth."""

    reference: FloatArray  # [P] torso surface depth [m], NaN where none was found
    stature: FloatArray  # [P] the person's stature [m] as their limbs show it
    half: IntArray  # [P] joint window half-size [px]
    joints: Windows  # rows [P*J]: person p, joint j at row p*J + j
    face: Windows  # rows [P]: a window at the centre of the seen face keypoints
    face_seen: BoolArray  # [P] some face keypoint was seen


def sample_depth(
    observed: Observed, depth: DepthImage, camera: CameraModel, size_z: FloatArray, config: LiftingConfig
) -> Sampled:
    """The torso surface, scale and windows of every person (module doc)."""
    reference = torso_surfaces(observed, depth, camera, size_z, config)
    stature = personal_stature(observed, camera, reference, config.prior_stature_m)
    half = window_half_px(config, camera, reference, observed.boxes[:, 3] - observed.boxes[:, 1])
    joints = observed.seen.shape[1]
    joint_windows = gather_windows(
        depth, observed.pixels.reshape(-1, 2), np.repeat(half, joints), config, config.max_window_px
    )
    face = np.array(FACE_JOINTS)
    face_seen = observed.seen[:, face]
    any_face: BoolArray = np.any(face_seen, axis=1)
    with np.errstate(invalid="ignore"):
        centre = (
            np.nansum(np.where(face_seen[..., None], observed.pixels[:, face], 0.0), axis=1)
            / np.maximum(face_seen.sum(axis=1), 1)[:, None]
        )
    with np.errstate(invalid="ignore"):
        radius_px = 0.5 * (HEAD_RADIUS_FRACTION * stature) * camera.fx / reference
    face_half = np.maximum(_round_half_even(np.where(np.isfinite(radius_px), radius_px, 0.0)), config.min_window_px)
    face_windows = gather_windows(
        depth, np.where(any_face[:, None], centre, np.nan), face_half, config, int(face_half.max(initial=0))
    )
    return Sampled(reference, stature, half, joint_windows, face_windows, any_face)


def _round_half_even(values: FloatArray) -> IntArray:
    """int(round(x)) per element (Python's round: half to even, as np.rint)."""
    return np.rint(values).astype(np.intp)


def window_half_px(
    config: LiftingConfig, camera: CameraModel, reference: FloatArray, box_height: FloatArray
) -> IntArray:
    """Half-size of each person's joint windows: the metric radius at the torso's depth,
    or (radius 0, or no torso depth) a fraction of the box height; clipped to the
    configured pixel range."""
    metric = config.window_radius_m > 0 and np.isfinite(reference) & (reference > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.where(metric, config.window_radius_m * camera.fx / reference, config.window_fraction * box_height)
    return np.clip(_round_half_even(half), config.min_window_px, config.max_window_px)


def gather_windows(
    depth: DepthImage, centres: FloatArray, half: IntArray, config: LiftingConfig, max_half: int
) -> Windows:
    """The valid depths (finite, within the configured range) of the square windows of
    half-size ``half[i]`` around the pixels ``centres[i]`` (clipped to the image), sorted."""
    height, width = depth.shape
    finite = np.all(np.isfinite(centres), axis=1)
    uv = _round_half_even(np.where(finite[:, None], centres, -1.0))
    inside = finite & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
    offsets = np.arange(-max_half, max_half + 1)
    rows = uv[:, 1, None, None] + offsets[None, :, None]  # [N,S,1]
    cols = uv[:, 0, None, None] + offsets[None, None, :]  # [N,1,S]
    within = (np.abs(offsets)[None, :, None] <= half[:, None, None]) & (
        np.abs(offsets)[None, None, :] <= half[:, None, None]
    )
    within &= (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width) & inside[:, None, None]
    values = depth[np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)]
    with np.errstate(invalid="ignore"):
        valid = within & (values >= config.min_depth_m) & (values <= config.max_depth_m)
    values = np.where(valid, values, np.float32(np.nan)).reshape(len(centres), -1)
    values.sort(axis=1)
    return Windows(values, valid.reshape(len(centres), -1).sum(axis=1), inside)


def personal_stature(observed: Observed, camera: CameraModel, reference: FloatArray, stature: float) -> FloatArray:
    """Each person's stature from how long their limbs look at the torso's depth:
    foreshortening only shortens a bone, so the longest-looking bones (the second
    longest, for robustness to keypoint noise) tell the scale. Clipped to adult sizes;
    ``stature`` with fewer than three limbs seen or no torso depth."""
    pixels = observed.pixels
    both = observed.seen[:, _LIMB_A] & observed.seen[:, _LIMB_B]
    lengths_px = np.linalg.norm(pixels[:, _LIMB_A] - pixels[:, _LIMB_B], axis=-1)
    ratios = np.where(both, lengths_px * reference[:, None] / camera.fx / (_LIMB_FRACTION * stature), -np.inf)
    second = np.sort(ratios, axis=1)[:, -2]
    scaled = stature * np.clip(second, 0.88, 1.18)
    return np.where((both.sum(axis=1) >= 3) & np.isfinite(reference), scaled, stature)


# --- the torso surface ---------------------------------------------------------------


def torso_surfaces(
    observed: Observed, depth: DepthImage, camera: CameraModel, size_z: FloatArray, config: LiftingConfig
) -> FloatArray:
    """Each person's torso surface depth (module doc), NaN when nothing fits."""
    result = np.full(len(observed), np.nan)
    for index in range(len(observed)):
        result[index] = _torso_surface(observed, index, depth, camera, float(size_z[index]), config)
    return result


def _torso_surface(
    observed: Observed, index: int, depth: DepthImage, camera: CameraModel, size_z: float, config: LiftingConfig
) -> float:
    region = _torso_region(observed.pixels[index], observed.boxes[index], depth.shape, 4 * config.min_support_px)
    windows = None
    votes = None
    if np.isfinite(size_z):
        half = max(int(round(config.window_radius_m * camera.fx / size_z)), config.min_window_px)
        windows = _joint_windows(observed.pixels[index], depth.shape, half)
        votes = _valid(depth[windows], config)
    centre = _surface_in_region(depth[region], int(np.count_nonzero(region)), config, size_z, votes)
    if np.isfinite(centre) or windows is None:
        return centre
    return _surface_in_region(depth[windows], int(np.count_nonzero(windows)), config, size_z, None)


def _torso_region(pixels: FloatArray, box: FloatArray, shape: tuple[int, int], min_pixels: int) -> BoolArray:
    """The torso polygon (shoulders and hips), or the central part of the box when too few
    torso joints are seen."""
    polygon = pixels[list(TORSO_JOINTS)]
    polygon = polygon[np.all(np.isfinite(polygon), axis=1)]
    mask = np.zeros(shape, dtype=np.uint8)
    if len(polygon) >= 3:
        cv2.fillConvexPoly(mask, np.round(polygon).astype(np.int32), 1)
    if np.count_nonzero(mask) < min_pixels:
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        mask[:] = 0
        r0, r1 = int(y0 + 0.2 * h), int(y0 + 0.55 * h) + 1
        c0, c1 = int(x0 + 0.3 * w), int(x1 - 0.3 * w) + 1
        mask[max(r0, 0) : max(r1, 0), max(c0, 0) : max(c1, 0)] = 1
    return mask.astype(bool)


def _joint_windows(pixels: FloatArray, shape: tuple[int, int], half: int) -> BoolArray:
    """The union of windows around every seen joint."""
    mask = np.zeros(shape, dtype=bool)
    for u, v in pixels[np.all(np.isfinite(pixels), axis=1)]:
        r, c = int(round(float(v))), int(round(float(u)))
        mask[max(r - half, 0) : max(r + half + 1, 0), max(c - half, 0) : max(c + half + 1, 0)] = True
    return mask


def _valid(values: npt.NDArray[np.floating], config: LiftingConfig) -> npt.NDArray[np.floating]:
    values = values[np.isfinite(values)]
    return values[(values >= config.min_depth_m) & (values <= config.max_depth_m)]


def _clusters(values: npt.NDArray[np.floating], gap: float) -> list[npt.NDArray[np.floating]]:
    """Sorted depths split where consecutive values jump by more than ``gap``, nearest first."""
    ordered = np.sort(values)
    return list(np.split(ordered, np.flatnonzero(np.diff(ordered) > gap) + 1))


def _surface_in_region(
    values: npt.NDArray[np.floating],
    region_pixels: int,
    config: LiftingConfig,
    size_prior_z: float,
    votes: npt.NDArray[np.floating] | None,
) -> float:
    """The best-supported depth cluster of a region's valid depths that agrees with the size
    prior and covers at least MIN_TORSO_COVERAGE of the region; NaN otherwise.

    ``votes`` are depths seen around the person's own keypoints: a cluster they also support
    is this person's surface rather than something in front of or behind them.
    """
    values = _valid(values, config)
    if values.size < config.min_support_px:
        return float("nan")
    z_mid = float(np.median(values))
    gap = max(config.cluster_gap_m, 3.0 * config.noise_coefficient * z_mid**2)
    clusters = [c for c in _clusters(values, gap) if c.size >= config.min_support_px]
    medians = [float(np.median(c)) for c in clusters]
    score = [float(c.size) for c in clusters]
    if votes is not None and votes.size:
        share = [float(np.count_nonzero(np.abs(votes - m) <= 2 * gap)) / votes.size for m in medians]
        score = [s * (0.1 + v) for s, v in zip(score, share, strict=True)]
    if np.isfinite(size_prior_z):
        lo, hi = PRIOR_AGREEMENT[0] * size_prior_z, PRIOR_AGREEMENT[1] * size_prior_z
        kept = [i for i, m in enumerate(medians) if lo <= m <= hi]
        # Support times the size prior's likelihood: a bigger surface a little off the
        # prior (another person in front) does not beat this person's own torso.
        score = [score[i] * float(np.exp(-0.5 * (np.log(medians[i] / size_prior_z) / PRIOR_LOG_SD) ** 2)) for i in kept]
        clusters = [clusters[i] for i in kept]
        medians = [medians[i] for i in kept]
    if not clusters:
        return float("nan")
    best = int(np.argmax(score))
    if clusters[best].size < MIN_TORSO_COVERAGE * region_pixels:
        return float("nan")  # a sliver of something, not this person
    centre = medians[best]
    # Re-centre on the pixels near it: a turned torso spans more than one cluster gap.
    for _ in range(2):
        near = values[np.abs(values - centre) < config.person_depth_band_m / 2]
        if near.size < config.min_support_px:
            break
        centre = float(np.median(near))
    return centre
