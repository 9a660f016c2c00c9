"""Each person's reference depth: the surface of their torso (compiled).

A person's torso region (the hourglass of the shoulder and the hip line to the torso's
centre) may show someone in front of them, or a wall behind them through the gaps; the
region then holds two surfaces. The expected depth (the size prior of
:mod:`hdnet_ros.size_prior`, accurate to some 10-20 %, or a network's root) rules out
surfaces at a depth where this person would look much bigger or smaller than they do, and
depths seen around the person's own keypoints vote for their surface. When the torso is
hidden, the depths around the seen keypoints stand in for it; when nothing of the person
shows at the prior's depth, their face, nearer (a seated person hidden up to the head by a
chair back looks smaller than they are: HEAD_NEAREST). The torso is sampled on a fixed grid
of points spread over the shoulders-hips hourglass (a fixed cost per person, however near).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import FACE_JOINTS, LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER
from hdnet_ros.stages.depth.geometry import CORNER_TRIANGLES, TORSO_CORNERS, cross_2d
from hdnet_ros.stages.depth.jit import compiled
from hdnet_ros.stages.depth.kernel_settings import KernelSettings
from hdnet_ros.stages.depth.windows import (
    DepthView,
    cluster_end,
    cluster_gap,
    count_at_most,
    count_below,
    pixel_depths,
    point_depths,
    round_half_even,
    run_median,
    sort_depths,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
DepthValues = npt.NDArray[np.float32]

# A torso surface agrees with the person's 2D size when its depth is within these factors of
# the bone-length depth (stature spread, foreshortening and keypoint noise fit inside).
PRIOR_AGREEMENT = (0.75, 1.35)

PRIOR_LOG_SD = 0.08  # spread of the size prior's depth (log), measured on the benchmark

# A person of whom nothing shows at the size prior's depth looks smaller than the prior's
# standing adult: seated, bent, or hidden up to the head behind a chair or a table, so that
# the 2D network sees their bones foreshortened or guesses them onto what hides them
# (foreshortening only ever makes a person look farther, never nearer). Their face, where
# the 2D network is sure of it (SURE_FACE_SCORE), is their own surface, and stands for the
# torso down to HEAD_NEAREST of the prior's depth. On the sample frames: people seated behind
# chair backs whose faces the sensor measures at 0.63-0.75 of the prior's depth. The face
# surface must fill MIN_FACE_COVERAGE of the face windows' samples (on the synthetic
# benchmark 0.35 let occluders' edges through: MRPE 61.4 -> 63.3 mm).
HEAD_NEAREST = 0.5
MIN_FACE_KEYPOINTS = 2
MIN_FACE_COVERAGE = 0.5
# Face keypoints the 2D network is this sure of (at PP-TinyPose's calibrated 0.25 a joint is
# right as often as wrong; the synthetic oracle scores faces hidden by others 0.3-0.5):
# the placement fit's feet take the same bound (placement.fit_constants.FEET_MIN_SCORE).
SURE_FACE_SCORE = 0.5
# A face may be another person's body: one nearer, whose head or shoulders cover this
# person's face, fills the face windows (the synthetic walkers: a man 1.1 m behind another
# measured at the front man's 2.4 m, which split his track in two). A face surface within a
# body's depth (COVERING_BODY_M, plus the cluster gap) of the torso surface of a person whose
# head and trunk hold the face is that person's, and is refused (:func:`covered_face`).
COVERING_BODY_M = 0.3
_UPPER_BODY = (*FACE_JOINTS, LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP)

# The torso's surface must cover at least this share of the torso's samples.
MIN_TORSO_COVERAGE = 0.2

# Samples of the torso quadrilateral per side, and of each keypoint's vote window per side.
TORSO_GRID = 16

VOTE_GRID = 7


def _torso_grid() -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """The unit square's sample grid folded onto the triangle s + t <= 1 (a, b), and the
    box fallback's fractions of the box width and height."""
    grid = (np.arange(TORSO_GRID) + 0.5) / TORSO_GRID
    s, t = (a.ravel() for a in np.meshgrid(grid, grid))
    fold = (s + t) > 1.0
    a, b = np.where(fold, 1.0 - s, s), np.where(fold, 1.0 - t, t)
    return a, b, 0.3 + 0.4 * s, 0.2 + 0.35 * t


_GRID_A, _GRID_B, _BOX_U, _BOX_V = _torso_grid()
TORSO_SAMPLES = len(_GRID_A)
_ALL_SAMPLES = np.ones(TORSO_SAMPLES, dtype=np.bool_)
_VOTE_OFFSETS = np.linspace(-1.0, 1.0, VOTE_GRID)
VOTE_SAMPLES = VOTE_GRID * VOTE_GRID


@compiled
def torso_surface(
    view: DepthView,
    person: int,
    pixels: FloatArray,
    seen: BoolArray,
    sure: BoolArray,
    box: FloatArray,
    size_z: float,
    settings: KernelSettings,
    region: DepthValues,
    votes: DepthValues,
    scratch: npt.NDArray[np.uint32],
) -> tuple[float, bool]:
    """The person's torso surface depth (module doc), NaN when nothing fits, and whether their
    face stands for it; ``sure`` [J]: the joints the 2D network is sure of (SURE_FACE_SCORE);
    ``region`` [TORSO_SAMPLES], ``votes`` [J*VOTE_SAMPLES] and ``scratch``
    (:func:`.windows.sort_depths`) are scratch space."""
    u, v = _torso_samples(pixels, seen, box)
    region_count = point_depths(view, person, u, v, _ALL_SAMPLES, region)
    sort_depths(region, region_count, scratch)
    vote_count, vote_samples = _vote_depths(view, person, pixels, seen, size_z, settings, votes)
    centre = surface_in_region(
        region, region_count, float(TORSO_SAMPLES), size_z, votes, vote_count, True, settings, False
    )
    if not math.isfinite(centre) and math.isfinite(size_z):
        # The torso hidden: the depths around the seen keypoints stand in for it (no votes).
        sort_depths(votes, vote_count, scratch)
        centre = surface_in_region(votes, vote_count, float(vote_samples), size_z, votes, 0, False, settings, False)
    if math.isfinite(centre) or not math.isfinite(size_z):
        return centre, False
    # Nothing of the person at the size prior's depth: their face, nearer (HEAD_NEAREST).
    face = np.zeros(len(seen), dtype=np.bool_)
    for joint in FACE_JOINTS:
        face[joint] = seen[joint] and sure[joint]
    if np.count_nonzero(face) >= MIN_FACE_KEYPOINTS:
        # Without the person's mask: one kept from an earlier run (moved with the box) may
        # have slipped off the face, which the 2D network is sure is this person's.
        unmasked = DepthView(
            view.depth,
            view.mask_inside,
            view.mask_x0,
            view.mask_y0,
            np.zeros(len(view.mask_present), dtype=np.bool_),
            view.min_depth,
            view.max_depth,
        )
        face_count, face_samples = _vote_depths(unmasked, person, pixels, face, size_z, settings, votes)
        sort_depths(votes, face_count, scratch)
        centre = surface_in_region(votes, face_count, float(face_samples), size_z, votes, 0, False, settings, True)
    return centre, math.isfinite(centre)


@compiled
def covered_face(
    person: int,
    face_z: float,
    pixels: FloatArray,
    seen: BoolArray,
    sure: BoolArray,
    torso_z: FloatArray,
    settings: KernelSettings,
) -> bool:
    """Whether ``person``'s face surface at ``face_z`` is the body of another person: the face
    (the mean of its sure keypoints; ``pixels`` [P,J,2], ``seen``, ``sure`` [P,J]) lies on
    their head and trunk (:func:`_on_upper_body`) and their torso surface (``torso_z`` [P],
    NaN: none, or a face) within COVERING_BODY_M and the cluster gap of it."""
    u, v, count = 0.0, 0.0, 0
    for joint in FACE_JOINTS:
        if sure[person, joint]:
            u, v, count = u + pixels[person, joint, 0], v + pixels[person, joint, 1], count + 1
    if count == 0:
        return False
    u, v = u / count, v / count
    for other in range(len(torso_z)):
        z = torso_z[other]
        if other == person or not math.isfinite(z) or not _on_upper_body(pixels[other], seen[other], u, v):
            continue
        gap = float(cluster_gap(settings.cluster_gap_m, settings.noise_coefficient, z))
        if abs(face_z - z) <= COVERING_BODY_M + gap:
            return True
    return False


@compiled
def _on_upper_body(pixels: FloatArray, seen: BoolArray, u: float, v: float) -> bool:
    """Whether pixel (u, v) lies within the extent of a person's seen face, shoulder and hip
    keypoints (at least two of them): on their head and trunk, not merely in their box, which
    also holds their neighbours' faces in a row of people side by side."""
    low_u, low_v, high_u, high_v, count = np.inf, np.inf, -np.inf, -np.inf, 0
    for joint in _UPPER_BODY:
        if seen[joint]:
            x, y = pixels[joint, 0], pixels[joint, 1]
            low_u, low_v, high_u, high_v = min(low_u, x), min(low_v, y), max(high_u, x), max(high_v, y)
            count += 1
    return count >= 2 and low_u <= u <= high_u and low_v <= v <= high_v


@compiled
def _torso_samples(pixels: FloatArray, seen: BoolArray, box: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Sample points [G*G] spread over the torso: the hourglass of the shoulder line and
    the hip line to the torso's centre (the spine, without the sides where the arms hang),
    the triangle of three seen corners, or (fewer seen, or a degenerate outline) the
    central part of the box."""
    corners = np.empty((4, 2))
    visible = np.empty(4, dtype=np.bool_)
    order = np.empty(4, dtype=np.int64)  # the seen corners first, in index order
    shown = 0
    for k in range(4):
        corners[k, 0], corners[k, 1] = pixels[TORSO_CORNERS[k], 0], pixels[TORSO_CORNERS[k], 1]
        visible[k] = seen[TORSO_CORNERS[k]]
        if visible[k]:
            order[shown] = k
            shown += 1
    u = np.empty(TORSO_SAMPLES)
    v = np.empty(TORSO_SAMPLES)
    if shown < 3 or not (_hull_area(corners, visible, shown == 4) >= 12.0):
        x0, y0, x1, y1 = box[0], box[1], box[2], box[3]
        w, h = x1 - x0, y1 - y0
        for k in range(TORSO_SAMPLES):
            u[k] = x0 + _BOX_U[k] * w
            v[k] = y0 + _BOX_V[k] * h
        return u, v
    # Triangles (first, second, apex) per half of the samples: with four corners the
    # shoulder line, then the hip line, each to the centre; with three seen, the triangle of
    # those in index order.
    if shown == 3:
        first_upper, second_upper, first_lower, second_lower = order[0], order[1], order[0], order[1]
        apex_u, apex_v = corners[order[2], 0], corners[order[2], 1]
    else:
        first_upper, second_upper, first_lower, second_lower = 0, 1, 3, 2
        apex_u = (((corners[0, 0] + corners[1, 0]) + corners[2, 0]) + corners[3, 0]) / 4.0
        apex_v = (((corners[0, 1] + corners[1, 1]) + corners[2, 1]) + corners[3, 1]) / 4.0
    for k in range(TORSO_SAMPLES):
        first, second = (first_upper, second_upper) if k < TORSO_SAMPLES // 2 else (first_lower, second_lower)
        a, b = _GRID_A[k], _GRID_B[k]
        u[k] = (apex_u + a * (corners[first, 0] - apex_u)) + b * (corners[second, 0] - apex_u)
        v[k] = (apex_v + a * (corners[first, 1] - apex_v)) + b * (corners[second, 1] - apex_v)
    return u, v


# The three simple quadrilaterals through four points (corner orders).
_QUADRILATERALS = np.array([[0, 1, 2, 3], [0, 1, 3, 2], [0, 2, 1, 3]], dtype=np.int64)


@compiled
def _hull_area(corners: FloatArray, visible: BoolArray, all_four: bool) -> float:
    """Area [px^2] of the convex hull of the seen torso corners [4,2]: the largest triangle
    of three of them or (all four seen) the largest simple quadrilateral."""
    area = 0.0
    for triangle in range(len(CORNER_TRIANGLES)):
        a, b, c = CORNER_TRIANGLES[triangle, 0], CORNER_TRIANGLES[triangle, 1], CORNER_TRIANGLES[triangle, 2]
        if visible[a] and visible[b] and visible[c]:
            area = max(area, abs(cross_2d(corners[a], corners[b], corners[c])) / 2)
    if all_four:
        for quadrilateral in range(len(_QUADRILATERALS)):
            total = 0.0  # the shoelace formula
            for k in range(4):
                this, after = _QUADRILATERALS[quadrilateral, k], _QUADRILATERALS[quadrilateral, (k + 1) % 4]
                term = corners[this, 0] * corners[after, 1] - corners[after, 0] * corners[this, 1]
                total = term if k == 0 else total + term
            area = max(area, 0.5 * abs(total))
    return area


@compiled
def _vote_depths(
    view: DepthView,
    person: int,
    pixels: FloatArray,
    seen: BoolArray,
    size_z: float,
    settings: KernelSettings,
    out: DepthValues,
) -> tuple[int, int]:
    """The depths around every seen keypoint, on a V x V grid over a window of the metric
    radius at the size prior's depth (where the person's own surface shows), unsorted into
    ``out``: their count and the number of samples (none without a size prior)."""
    if not math.isfinite(size_z):
        return 0, 0
    half = float(max(round_half_even((settings.window_radius_m * settings.fx) / size_z), settings.min_window_px))
    cols = np.empty(len(seen) * VOTE_SAMPLES, dtype=np.int64)
    rows = np.empty(len(seen) * VOTE_SAMPLES, dtype=np.int64)
    grid_cols, grid_rows = np.empty(VOTE_GRID, dtype=np.int64), np.empty(VOTE_GRID, dtype=np.int64)
    samples = 0
    for joint in range(len(seen)):
        if not seen[joint]:
            continue
        centre_u, centre_v = float(round_half_even(pixels[joint, 0])), float(round_half_even(pixels[joint, 1]))
        for k in range(VOTE_GRID):
            grid_cols[k] = round_half_even(centre_u + _VOTE_OFFSETS[k] * half)
            grid_rows[k] = round_half_even(centre_v + _VOTE_OFFSETS[k] * half)
        for row in grid_rows:
            for col in grid_cols:
                cols[samples], rows[samples] = col, row
                samples += 1
    return pixel_depths(view, person, cols, rows, samples, out), samples


@compiled
def surface_in_region(
    values: DepthValues,
    count: int,
    region_size: float,
    size_prior_z: float,
    votes: DepthValues,
    vote_count: int,
    with_votes: bool,
    settings: KernelSettings,
    face: bool,
) -> float:
    """The best-supported depth cluster of a region's sorted valid depths that agrees with
    the size prior and covers at least MIN_TORSO_COVERAGE of the region's samples; NaN
    otherwise. ``face``: the region is the face's windows standing for a hidden torso,
    whose surface may lie nearer, down to HEAD_NEAREST of the prior's depth (without the
    prior's penalty there), and must cover MIN_FACE_COVERAGE.

    ``votes[:vote_count]`` (``with_votes``; in any order) are depths seen around the person's own keypoints: a cluster
    they also support is this person's surface rather than something in front of or behind
    them.
    """
    min_support = settings.min_support_px
    if count < min_support:
        return np.nan
    has_prior = math.isfinite(size_prior_z)
    best, pick_size, pick_median = -np.inf, 0, np.nan
    start = 0
    while start < count:
        end = cluster_end(values, start, count, settings.cluster_gap_m, settings.noise_coefficient)
        size = end - start
        median = run_median(values, start, size)
        gap = float(cluster_gap(settings.cluster_gap_m, settings.noise_coefficient, median))
        score = float(size)
        keep = size >= min_support
        if with_votes:
            share = 0.9
            if vote_count > 0:
                near = 0
                for k in range(vote_count):
                    if abs(np.float64(votes[k]) - median) <= 2.0 * gap:
                        near += 1
                share = near / max(vote_count, 1)
            score = score * (0.1 + share)
        if has_prior:
            nearest = HEAD_NEAREST if face else PRIOR_AGREEMENT[0]
            agrees = nearest * size_prior_z <= median <= PRIOR_AGREEMENT[1] * size_prior_z
            # Support times the size prior's likelihood: a bigger surface a little off the
            # prior (another person in front) does not beat this person's own torso.
            deviation = math.log(median / size_prior_z) / PRIOR_LOG_SD
            if face and median < size_prior_z:
                deviation = 0.0
            keep = keep and agrees
            score = score * math.exp(-0.5 * (deviation * deviation))
        if keep and score > best:
            best, pick_size, pick_median = score, size, median
        start = end
    coverage = MIN_FACE_COVERAGE if face else MIN_TORSO_COVERAGE
    if not (best > -np.inf) or not (pick_size >= coverage * region_size):
        return np.nan  # nothing fits, or a sliver of something
    centre = pick_median
    # Re-centre on the depths near it: a turned torso spans more than one cluster gap.
    band = settings.person_depth_band_m
    for _ in range(2):
        near_lo = count_at_most(values, count, centre - band / 2)
        near_hi = count_below(values, count, centre + band / 2)
        if near_hi - near_lo >= min_support:
            centre = run_median(values, near_lo, near_hi - near_lo)
    return centre
