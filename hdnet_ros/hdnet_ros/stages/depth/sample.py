"""Step 1 of the depth stage: sample each person's depth.

* **The torso surface** (each person's reference depth): the best-supported depth cluster
  of the torso that agrees with the person's 2D size. A plain median fails when a pole, a
  railing or another person covers half the torso: the region then holds two surfaces.
  The size prior (:mod:`hdnet_ros.size_prior`, accurate to some 10-20 %) rules out
  surfaces at a depth where this person would look much bigger or smaller than they do,
  and depths seen around the person's own keypoints vote for their surface. When the torso
  is hidden, the depths around the seen keypoints stand in for it. The torso is sampled on
  a fixed grid of points spread over the shoulders-hips quadrilateral (a fixed cost per
  person, however near), all people at once.
* **The person's scale** at that depth (their stature from how long their limbs look).
* **Windows** around every seen joint and the face: their valid depths, sorted, for the
  measurement step. A window covers a fixed metric radius at the torso's depth (4 cm by
  default, about a forearm's radius), so it spans the same piece of body at 1 m and 5 m.

With a person mask (a segmentation network's), only the person's own pixels are sampled:
a wrist in front of a far wall, or a person behind another, never takes someone else's
depth.
"""

from __future__ import annotations

from dataclasses import dataclass

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
)
from hdnet_ros.skeleton import BONE_FRACTIONS
from hdnet_ros.stages.depth.arrays import Observed, PersonMasks
from hdnet_ros.stages.depth.config import LiftingConfig

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
DepthImage = npt.NDArray[np.float32]

# A torso surface agrees with the person's 2D size when its depth is within these factors of
# the bone-length depth (stature spread, foreshortening and keypoint noise fit inside).
PRIOR_AGREEMENT = (0.75, 1.35)
PRIOR_LOG_SD = 0.08  # spread of the size prior's depth (log), measured on the benchmark
# The torso's surface must cover at least this share of the torso's samples.
MIN_TORSO_COVERAGE = 0.2
# Samples of the torso quadrilateral per side, and of each keypoint's vote window per side.
TORSO_GRID = 16
VOTE_GRID = 7
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
# The torso quadrilateral in order around it.
_QUAD = np.array([LEFT_SHOULDER, RIGHT_SHOULDER, RIGHT_HIP, LEFT_HIP])


@dataclass(frozen=True)
class Windows:
    """Valid depths of sample sets (windows, regions), sorted ascending per row, NaN after."""

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
    observed: Observed,
    depth: DepthImage,
    camera: CameraModel,
    size_z: FloatArray,
    config: LiftingConfig,
    masks: PersonMasks | None = None,
) -> Sampled:
    """The torso surface, scale and windows of every person (module doc)."""
    sampler = DepthSampler(depth, config, masks)
    reference = torso_surfaces(observed, sampler, camera, size_z, config)
    stature = personal_stature(observed, camera, reference, config.prior_stature_m)
    half = window_half_px(config, camera, reference, observed.boxes[:, 3] - observed.boxes[:, 1])
    count, joints = observed.seen.shape
    owner = np.repeat(np.arange(count), joints)
    joint_windows = sampler.windows(observed.pixels.reshape(-1, 2), np.repeat(half, joints), owner)
    face = np.array(FACE_JOINTS)
    face_seen = observed.seen[:, face]
    any_face: BoolArray = np.any(face_seen, axis=1)
    with np.errstate(invalid="ignore"):
        centre = (
            np.sum(np.where(face_seen[..., None], observed.pixels[:, face], 0.0), axis=1)
            / np.maximum(face_seen.sum(axis=1), 1)[:, None]
        )
        radius_px = 0.5 * (HEAD_RADIUS_FRACTION * stature) * camera.fx / reference
    face_half = np.maximum(_round(np.where(np.isfinite(radius_px), radius_px, 0.0)), config.min_window_px)
    face_half = np.minimum(face_half, 2 * config.max_window_px)
    face_windows = sampler.windows(np.where(any_face[:, None], centre, np.nan), face_half, np.arange(count))
    return Sampled(reference, stature, half, joint_windows, face_windows, any_face)


def _round(values: FloatArray) -> IntArray:
    """Round half to even, as Python's round."""
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
    return np.clip(_round(half), config.min_window_px, config.max_window_px)


class DepthSampler:
    """Reads valid depths at image points, only where they are the person's own pixels."""

    def __init__(self, depth: DepthImage, config: LiftingConfig, masks: PersonMasks | None) -> None:
        self.depth, self.config, self.masks = depth, config, masks

    def at(self, u: IntArray, v: IntArray, owner: IntArray, usable: BoolArray) -> npt.NDArray[np.float32]:
        """Depths at integer pixels [N,K] of people ``owner`` [N] (NaN where invalid, off the
        image, not ``usable`` or outside the owner's mask)."""
        height, width = self.depth.shape
        usable = usable & (u >= 0) & (u < width) & (v >= 0) & (v < height)
        if self.masks is not None:
            usable &= self.masks.contains(owner, u, v)
        values = self.depth[np.clip(v, 0, height - 1), np.clip(u, 0, width - 1)]
        config = self.config
        with np.errstate(invalid="ignore"):
            usable &= (values >= config.min_depth_m) & (values <= config.max_depth_m)
        return np.where(usable, values, np.float32(np.nan))

    def windows(self, centres: FloatArray, half: IntArray, owner: IntArray) -> Windows:
        """The valid depths of the square windows of half-size ``half[i]`` around the pixels
        ``centres[i]`` (clipped to the image), sorted. Rows are grouped by window size so
        that a far person's small window does not pay for a near person's large one."""
        height, width = self.depth.shape
        finite = np.all(np.isfinite(centres), axis=1)
        uv = _round(np.where(finite[:, None], centres, -1.0))
        inside = finite & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
        parts: list[tuple[IntArray, npt.NDArray[np.float32]]] = []
        lower = 0
        for bucket in _window_buckets(int(half.max(initial=0))):
            rows = np.flatnonzero(inside & (half > lower) & (half <= bucket))
            lower = bucket
            if not len(rows):
                continue
            offsets = np.arange(-bucket, bucket + 1)
            u = (uv[rows, 0, None, None] + offsets[None, None, :]).repeat(len(offsets), axis=1)
            v = (uv[rows, 1, None, None] + offsets[None, :, None]).repeat(len(offsets), axis=2)
            reach = half[rows, None, None]
            within = (np.abs(offsets)[None, :, None] <= reach) & (np.abs(offsets)[None, None, :] <= reach)
            values = self.at(u, v, owner[rows, None, None], within).reshape(len(rows), -1)
            parts.append((rows, values))
        return _sorted_rows(len(centres), parts, inside)

    def points(self, u: FloatArray, v: FloatArray, owner: IntArray, usable: BoolArray) -> Windows:
        """The valid depths at sample points [N,K] (rounded to pixels), sorted per row."""
        finite = usable & np.isfinite(u) & np.isfinite(v)
        ui, vi = _round(np.where(finite, u, -1.0)), _round(np.where(finite, v, -1.0))
        values = self.at(ui, vi, np.broadcast_to(owner[:, None], ui.shape), finite)
        return _sorted_rows(len(u), [(np.arange(len(u)), values)], np.ones(len(u), dtype=bool))


def _window_buckets(largest: int) -> list[int]:
    """Window half-sizes gathered together: rows up to each are read with its grid."""
    buckets = [size for size in (2, 4, 8) if size < largest]
    return [*buckets, largest]


def _sorted_rows(count: int, parts: list[tuple[IntArray, npt.NDArray[np.float32]]], inside: BoolArray) -> Windows:
    """Rows of valid depths from ``parts`` (row indices, values), sorted, trimmed to the
    longest row's valid count."""
    width = max([int(np.count_nonzero(np.isfinite(v), axis=1).max(initial=0)) for _, v in parts], default=0)
    values = np.full((count, max(width, 1)), np.nan, dtype=np.float32)
    counts = np.zeros(count, dtype=np.intp)
    for rows, unsorted in parts:
        part = np.sort(unsorted, axis=1)[:, :width]
        values[rows, : part.shape[1]] = part
        counts[rows] = np.count_nonzero(np.isfinite(part), axis=1)
    return Windows(values, counts, inside)


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
    observed: Observed, sampler: DepthSampler, camera: CameraModel, size_z: FloatArray, config: LiftingConfig
) -> FloatArray:
    """Each person's torso surface depth (module doc), NaN when nothing fits."""
    count = len(observed)
    people = np.arange(count)
    u, v = _torso_samples(observed)
    region = sampler.points(u, v, people, np.ones(u.shape, dtype=bool))
    has_prior = np.isfinite(size_z)
    vote_u, vote_v, vote_usable = _vote_samples(observed, camera, size_z, config)
    votes = sampler.points(vote_u, vote_v, people, vote_usable & has_prior[:, None])
    centre = surfaces_in_regions(region, np.full(count, u.shape[1]), size_z, votes, config)
    # The torso hidden: the depths around the seen keypoints stand in for it (no votes).
    retry = ~np.isfinite(centre) & has_prior
    if np.any(retry):
        alone = Windows(votes.values[retry], votes.counts[retry], votes.inside[retry])
        centre[retry] = surfaces_in_regions(alone, vote_usable[retry].sum(axis=1), size_z[retry], None, config)
    return centre


def _torso_samples(observed: Observed) -> tuple[FloatArray, FloatArray]:
    """Sample points [P,G*G] spread over each torso: the hourglass of the shoulder line and
    the hip line to the torso's centre (the spine, without the sides where the arms hang),
    the triangle of three seen corners, or (fewer seen, or a degenerate outline) the
    central part of the box."""
    grid = (np.arange(TORSO_GRID) + 0.5) / TORSO_GRID
    s, t = (a.ravel() for a in np.meshgrid(grid, grid))
    fold = (s + t) > 1.0  # the unit square folded onto the triangle s + t <= 1
    a, b = np.where(fold, 1.0 - s, s), np.where(fold, 1.0 - t, t)
    corners = observed.pixels[:, _QUAD]  # [P,4,2]: left/right shoulder, right/left hip
    seen = observed.seen[:, _QUAD]
    centre = corners.mean(axis=1)
    upper = np.arange(len(s)) < len(s) // 2
    # Triangles (first, second, centre): the shoulders' half of the samples, then the hips'.
    first = np.where(upper[None, :, None], corners[:, 0, None], corners[:, 3, None])
    second = np.where(upper[None, :, None], corners[:, 1, None], corners[:, 2, None])
    apex = np.broadcast_to(centre[:, None], first.shape).copy()
    three = seen.sum(axis=1) == 3
    if np.any(three):
        order = np.argsort(~seen[three], axis=1, kind="stable")[:, :3]
        tri = np.take_along_axis(corners[three], order[..., None], axis=1)
        first[three], second[three], apex[three] = tri[:, 0, None], tri[:, 1, None], tri[:, 2, None]
    points = apex + a[None, :, None] * (first - apex) + b[None, :, None] * (second - apex)
    area = _hull_area(np.where(seen[..., None], corners, 0.0), seen)
    box = (seen.sum(axis=1) < 3) | ~(area >= 12.0)
    if np.any(box):
        x0, y0, x1, y1 = (observed.boxes[box, i, None] for i in range(4))
        w, h = x1 - x0, y1 - y0
        points[box, :, 0] = x0 + (0.3 + 0.4 * s[None]) * w
        points[box, :, 1] = y0 + (0.2 + 0.35 * t[None]) * h
    return points[..., 0], points[..., 1]


def _hull_area(corners: FloatArray, seen: BoolArray) -> FloatArray:
    """Area [px^2] of the convex hull of each person's seen torso corners [P,4,2]: the
    largest triangle of three of them or (all four seen) the largest simple quadrilateral."""
    area = np.zeros(len(corners))
    for a, b, c in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
        both = seen[:, a] & seen[:, b] & seen[:, c]
        area = np.where(both, np.maximum(area, np.abs(_cross(corners[:, a], corners[:, b], corners[:, c])) / 2), area)
    four = seen.all(axis=1)
    for order in ((0, 1, 2, 3), (0, 1, 3, 2), (0, 2, 1, 3)):
        quad = corners[:, order]
        x, y = quad[..., 0], quad[..., 1]
        shoelace = 0.5 * np.abs(np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1))
        area = np.where(four, np.maximum(area, shoelace), area)
    return area


def _cross(a: FloatArray, b: FloatArray, c: FloatArray) -> FloatArray:
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def _vote_samples(
    observed: Observed, camera: CameraModel, size_z: FloatArray, config: LiftingConfig
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Sample points [P,J*V*V] around every seen keypoint, over a window of the metric
    radius at the size prior's depth: where the person's own surface shows."""
    with np.errstate(divide="ignore", invalid="ignore"):
        radius_px = np.where(np.isfinite(size_z), config.window_radius_m * camera.fx / size_z, 0.0)
    half = np.maximum(_round(radius_px), config.min_window_px)
    offsets = np.linspace(-1.0, 1.0, VOTE_GRID)
    du, dv = (a.ravel() for a in np.meshgrid(offsets, offsets))
    centre = _round(np.where(observed.seen[..., None], observed.pixels, -1.0)).astype(np.float64)  # [P,J,2]
    u = centre[..., 0, None] + du[None, None] * half[:, None, None]
    v = centre[..., 1, None] + dv[None, None] * half[:, None, None]
    usable = np.broadcast_to(observed.seen[..., None], u.shape)
    count = len(observed)
    return u.reshape(count, -1), v.reshape(count, -1), usable.reshape(count, -1)


def surfaces_in_regions(
    region: Windows,
    region_size: npt.NDArray[np.integer],
    size_prior_z: FloatArray,
    votes: Windows | None,
    config: LiftingConfig,
) -> FloatArray:
    """Per row, the best-supported depth cluster of the region's valid depths that agrees
    with the size prior and covers at least MIN_TORSO_COVERAGE of the region's samples;
    NaN otherwise.

    ``votes`` are depths seen around the person's own keypoints: a cluster they also support
    is this person's surface rather than something in front of or behind them.
    """
    values, counts = region.values, region.counts
    rows = len(counts)
    result = np.full(rows, np.nan)
    usable = counts >= config.min_support_px
    if not np.any(usable) or values.shape[1] == 0:
        return result
    local = np.arange(rows)
    z_mid = _median_of_prefix(values, counts)
    gap = np.maximum(config.cluster_gap_m, 3.0 * config.noise_coefficient * np.nan_to_num(z_mid) ** 2)
    row, start, size = clusters(values, counts, gap)
    flat = values.reshape(-1).astype(np.float64)
    base = row * values.shape[1]
    median = 0.5 * (flat[base + start + (size - 1) // 2] + flat[base + start + size // 2])
    score = size.astype(np.float64)
    keep = usable[row] & (size >= config.min_support_px)
    if votes is not None:
        share = _share_near(votes, row, median, 2.0 * gap[row])
        score *= 0.1 + np.where(votes.counts[row] > 0, share, 0.9)
    prior = size_prior_z[row]
    has_prior = np.isfinite(prior)
    with np.errstate(invalid="ignore", divide="ignore"):
        agrees = (PRIOR_AGREEMENT[0] * prior <= median) & (median <= PRIOR_AGREEMENT[1] * prior)
        # Support times the size prior's likelihood: a bigger surface a little off the
        # prior (another person in front) does not beat this person's own torso.
        likelihood = np.exp(-0.5 * (np.log(median / prior) / PRIOR_LOG_SD) ** 2)
    keep &= ~has_prior | agrees
    score = np.where(has_prior, score * likelihood, score)
    score = np.where(keep, score, -np.inf)
    best_score = np.full(rows, -np.inf)
    np.maximum.at(best_score, row, score)
    rank = np.arange(len(row))
    first = np.full(rows, len(row))
    winner = keep & (score == best_score[row])
    np.minimum.at(first, row[winner], rank[winner])
    found = first < len(row)
    pick = first[found]
    covered = size[pick] >= MIN_TORSO_COVERAGE * region_size[found]  # else a sliver of something
    target = local[found][covered]
    centre = median[pick][covered]
    # Re-centre on the depths near it: a turned torso spans more than one cluster gap.
    for _ in range(2):
        near_lo = np.sum(values[target] <= (centre - config.person_depth_band_m / 2)[:, None], axis=1)
        near_hi = np.sum(values[target] < (centre + config.person_depth_band_m / 2)[:, None], axis=1)
        n = near_hi - near_lo
        enough = n >= config.min_support_px
        low = values[target, np.clip(near_lo + (n - 1) // 2, 0, values.shape[1] - 1)].astype(np.float64)
        high = values[target, np.clip(near_lo + n // 2, 0, values.shape[1] - 1)].astype(np.float64)
        centre = np.where(enough, 0.5 * (low + high), centre)
    result[target] = centre
    return result


def _median_of_prefix(values: npt.NDArray[np.float32], counts: IntArray) -> FloatArray:
    """The median of each row's first ``counts`` (sorted) values; NaN for empty rows."""
    local = np.arange(len(counts))
    last = max(values.shape[1] - 1, 0)
    low = values[local, np.clip((counts - 1) // 2, 0, last)].astype(np.float64)
    high = values[local, np.clip(counts // 2, 0, last)].astype(np.float64)
    return np.where(counts > 0, 0.5 * (low + high), np.nan)


def clusters(
    values: npt.NDArray[np.float32], considered: IntArray, gap: FloatArray
) -> tuple[IntArray, IntArray, IntArray]:
    """The clusters of each row's first ``considered`` sorted depths, split where
    consecutive depths jump by more than the row's ``gap``: (row, start, size) of every
    cluster, in row order and nearest first within a row; empty rows have none."""
    width = values.shape[1]
    in_prefix = np.arange(width)[None, :] < considered[:, None]
    starts = in_prefix.copy()
    starts[:, 1:] &= np.diff(values, axis=1) > gap[:, None].astype(np.float32)
    starts[:, 0] = in_prefix[:, 0]
    row, start = np.nonzero(starts)
    last = np.append(row[1:] != row[:-1], True)
    ends = np.where(last, considered[row], np.append(start[1:], 0))
    return row, start, ends - start


def _share_near(votes: Windows, row: IntArray, centre: FloatArray, radius: FloatArray) -> FloatArray:
    """For each (row, centre): the share of the row's votes within ``radius`` of ``centre``."""
    values = votes.values[row].astype(np.float64)
    with np.errstate(invalid="ignore"):
        near = np.count_nonzero(np.abs(values - centre[:, None]) <= radius[:, None], axis=1)
    return near / np.maximum(votes.counts[row], 1)
