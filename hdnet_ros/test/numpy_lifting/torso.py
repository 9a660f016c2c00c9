"""Each person's torso surface: the depth every other joint is measured against.

The best-supported depth cluster of the torso that agrees with the person's 2D size. A
plain median fails when a pole, a railing or another person covers half the torso: the
region then holds two surfaces. The expected depth (the size prior of
:mod:`hdnet_ros.size_prior`, accurate to some 10-20 %, or a network's root) rules out
surfaces at a depth where this person would look much bigger or smaller than they do, and
depths seen around the person's own keypoints vote for their surface. When the torso is
hidden, the depths around the seen keypoints stand in for it. The torso is sampled on a
fixed grid of points spread over the shoulders-hips hourglass (a fixed cost per person,
however near), all people at once.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    FACE_JOINTS,
    LEFT_HIP,
    LEFT_SHOULDER,
    RIGHT_HIP,
    RIGHT_SHOULDER,
)
from hdnet_ros.stages.depth.arrays import Observed
from hdnet_ros.stages.depth.config import LiftingConfig

from numpy_lifting.geometry import cross_2d
from numpy_lifting.windows import DepthSampler, Windows, cluster_gaps, clusters, round_half_even, run_medians

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
DepthImage = npt.NDArray[np.float32]

# A torso surface agrees with the person's 2D size when its depth is within these factors of
# the bone-length depth (stature spread, foreshortening and keypoint noise fit inside).
PRIOR_AGREEMENT = (0.75, 1.35)

PRIOR_LOG_SD = 0.08  # spread of the size prior's depth (log), measured on the benchmark

# A person of whom nothing shows at the size prior's depth: their face, where the 2D
# network is sure of it, stands for the torso down to HEAD_NEAREST of the prior's depth and
# must fill MIN_FACE_COVERAGE of the face windows' samples.
HEAD_NEAREST = 0.5
MIN_FACE_KEYPOINTS = 2
MIN_FACE_COVERAGE = 0.5
COVERING_BODY_M = 0.3  # a nearer body that covers the face (torso.py)

# The torso's surface must cover at least this share of the torso's samples.
MIN_TORSO_COVERAGE = 0.2

# Samples of the torso quadrilateral per side, and of each keypoint's vote window per side.
TORSO_GRID = 16

VOTE_GRID = 7

# The torso quadrilateral in order around it.
_QUAD = np.array([LEFT_SHOULDER, RIGHT_SHOULDER, RIGHT_HIP, LEFT_HIP])


def torso_surfaces(
    observed: Observed,
    sampler: DepthSampler,
    camera: CameraModel,
    size_z: FloatArray,
    config: LiftingConfig,
    sure: BoolArray | None = None,
) -> FloatArray:
    """Each person's torso surface depth (module doc), NaN when nothing fits; ``sure``
    [P,J]: the joints the 2D network is sure of (None: every seen joint)."""
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
        alone = votes.rows(np.flatnonzero(retry))
        centre[retry] = surfaces_in_regions(alone, vote_usable[retry].sum(axis=1), size_z[retry], None, config)
    # Nothing of the person at the size prior's depth: their face, nearer (HEAD_NEAREST).
    face = np.zeros_like(observed.seen)
    face[:, list(FACE_JOINTS)] = observed.seen[:, list(FACE_JOINTS)]
    if sure is not None:
        face &= sure
    retry = ~np.isfinite(centre) & has_prior & (face.sum(axis=1) >= MIN_FACE_KEYPOINTS)
    if np.any(retry):
        rows = np.flatnonzero(retry)
        face_seen = dataclasses.replace(observed, seen=face)
        face_u, face_v, face_usable = _vote_samples(face_seen, camera, size_z, config)
        unmasked = DepthSampler(sampler.depth, sampler.config, None)  # a kept mask may have slipped off the face
        faces = unmasked.points(face_u[rows], face_v[rows], rows, face_usable[rows])
        centre[retry] = surfaces_in_regions(faces, face_usable[rows].sum(axis=1), size_z[retry], None, config, True)
        by_face = np.zeros(count, dtype=bool)
        by_face[rows] = np.isfinite(centre[rows])
        torso_z = np.where(by_face, np.nan, centre)
        for person in np.flatnonzero(by_face):
            if _covered_face(person, centre[person], observed.pixels, face, observed.seen, torso_z, config):
                centre[person] = np.nan
    return centre


def _covered_face(
    person: int,
    face_z: float,
    pixels: FloatArray,
    face: BoolArray,
    seen: BoolArray,
    torso_z: FloatArray,
    config: LiftingConfig,
) -> bool:
    """A face surface that is the body of another person: the face (its sure keypoints' mean)
    within the extent of their seen face, shoulder and hip keypoints (two at least), their
    torso surface within COVERING_BODY_M and the cluster gap of it."""
    u, v = pixels[person, face[person]].mean(axis=0)
    upper = np.zeros(seen.shape[1], dtype=bool)
    upper[[*FACE_JOINTS, LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP]] = True
    for other in range(len(torso_z)):
        points = pixels[other, seen[other] & upper]
        if other == person or not np.isfinite(torso_z[other]) or len(points) < 2:
            continue
        low, high = points.min(axis=0), points.max(axis=0)
        if not (low[0] <= u <= high[0] and low[1] <= v <= high[1]):
            continue
        gap = cluster_gaps(torso_z[other : other + 1], config.cluster_gap_m, config.noise_coefficient)[0]
        if abs(face_z - torso_z[other]) <= COVERING_BODY_M + float(gap):
            return True
    return False


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
        area = np.where(both, np.maximum(area, np.abs(cross_2d(corners[:, a], corners[:, b], corners[:, c])) / 2), area)
    four = seen.all(axis=1)
    for order in ((0, 1, 2, 3), (0, 1, 3, 2), (0, 2, 1, 3)):
        quad = corners[:, order]
        x, y = quad[..., 0], quad[..., 1]
        shoelace = 0.5 * np.abs(np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1))
        area = np.where(four, np.maximum(area, shoelace), area)
    return area


def _vote_samples(
    observed: Observed, camera: CameraModel, size_z: FloatArray, config: LiftingConfig
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Sample points [P,J*V*V] around every seen keypoint, over a window of the metric
    radius at the size prior's depth: where the person's own surface shows."""
    with np.errstate(divide="ignore", invalid="ignore"):
        radius_px = np.where(np.isfinite(size_z), config.window_radius_m * camera.fx / size_z, 0.0)
    half = np.maximum(round_half_even(radius_px), config.min_window_px)
    offsets = np.linspace(-1.0, 1.0, VOTE_GRID)
    du, dv = (a.ravel() for a in np.meshgrid(offsets, offsets))
    centre = round_half_even(np.where(observed.seen[..., None], observed.pixels, -1.0)).astype(np.float64)  # [P,J,2]
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
    face: bool = False,
) -> FloatArray:
    """Per row, the best-supported depth cluster of the region's valid depths that agrees
    with the size prior and covers at least MIN_TORSO_COVERAGE of the region's samples;
    NaN otherwise. ``face``: the regions are faces standing for hidden torsos (nearer down
    to HEAD_NEAREST of the prior without its penalty, MIN_FACE_COVERAGE).

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
    row, start, size = clusters(values, counts, config.cluster_gap_m, config.noise_coefficient)
    median = run_medians(values, row, start, size)
    gap = np.maximum(config.cluster_gap_m, 3.0 * config.noise_coefficient * median**2).astype(np.float32)
    score = size.astype(np.float64)
    keep = usable[row] & (size >= config.min_support_px)
    if votes is not None:
        share = _share_near(votes, row, median, 2.0 * gap.astype(np.float64))
        score *= 0.1 + np.where(votes.counts[row] > 0, share, 0.9)
    prior = size_prior_z[row]
    has_prior = np.isfinite(prior)
    with np.errstate(invalid="ignore", divide="ignore"):
        nearest = HEAD_NEAREST if face else PRIOR_AGREEMENT[0]
        agrees = (nearest * prior <= median) & (median <= PRIOR_AGREEMENT[1] * prior)
        # Support times the size prior's likelihood: a bigger surface a little off the
        # prior (another person in front) does not beat this person's own torso.
        deviation = np.log(median / prior) / PRIOR_LOG_SD
        if face:
            deviation = np.where(median < prior, 0.0, deviation)
        likelihood = np.exp(-0.5 * deviation**2)
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
    coverage = MIN_FACE_COVERAGE if face else MIN_TORSO_COVERAGE
    covered = size[pick] >= coverage * region_size[found]  # else a sliver of something
    target = local[found][covered]
    centre = median[pick][covered]
    # Re-centre on the depths near it: a turned torso spans more than one cluster gap.
    for _ in range(2):
        near_lo = np.sum(values[target] <= (centre - config.person_depth_band_m / 2)[:, None], axis=1)
        near_hi = np.sum(values[target] < (centre + config.person_depth_band_m / 2)[:, None], axis=1)
        n = near_hi - near_lo
        centre = np.where(n >= config.min_support_px, run_medians(values, target, near_lo, n), centre)
    result[target] = centre
    return result


def _share_near(votes: Windows, row: IntArray, centre: FloatArray, radius: FloatArray) -> FloatArray:
    """For each (row, centre): the share of the row's votes within ``radius`` of ``centre``."""
    values = votes.values[row].astype(np.float64)
    with np.errstate(invalid="ignore"):
        near = np.count_nonzero(np.abs(values - centre[:, None]) <= radius[:, None], axis=1)
    return near / np.maximum(votes.counts[row], 1)
