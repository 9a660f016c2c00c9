"""Depths sampled around image points, and the surface a joint's window shows.

Shared by the depth stage's steps: :class:`DepthSampler` reads the valid depths (finite,
within the configured range, on the person's own pixels when a mask is given) of square
windows and sample grids of all people at once; :func:`clusters` splits sorted depths
into surfaces; :func:`select_surface` picks the one a joint lies on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hdnet_ros.stages.depth.arrays import PersonMasks
from hdnet_ros.stages.depth.config import LiftingConfig

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
DepthImage = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Windows:
    """Valid depths of sample sets (windows, regions), sorted ascending per row, NaN after."""

    values: npt.NDArray[np.float32]  # [N,W]
    counts: IntArray  # [N] valid depths per row
    inside: BoolArray  # [N] the window's centre pixel lies in the image

    def rows(self, index: IntArray) -> Windows:
        return Windows(self.values[index], self.counts[index], self.inside[index])


def round_half_even(values: FloatArray) -> IntArray:
    """Round half to even, as Python's round."""
    return np.rint(values).astype(np.intp)


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
        uv = round_half_even(np.where(finite[:, None], centres, -1.0))
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
        ui, vi = round_half_even(np.where(finite, u, -1.0)), round_half_even(np.where(finite, v, -1.0))
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


def run_medians(values: npt.NDArray[np.float32], row: IntArray, start: IntArray, size: IntArray) -> FloatArray:
    """The median of each run ``values[row, start : start + size]`` of sorted rows (the
    mean of the two middle values for an even size; indices clipped to the row, so an empty
    run gives a value the caller must not use)."""
    last = max(values.shape[1] - 1, 0)
    low = values[row, np.clip(start + (size - 1) // 2, 0, last)].astype(np.float64)
    high = values[row, np.clip(start + size // 2, 0, last)].astype(np.float64)
    return 0.5 * (low + high)


def cluster_gaps(values: npt.NDArray[np.float32], gap_m: float, noise_coefficient: float) -> npt.NDArray[np.float32]:
    """The gap that separates two surfaces at each depth: the configured gap, or three
    times the sensor's noise there."""
    return np.maximum(gap_m, 3.0 * noise_coefficient * values.astype(np.float64) ** 2).astype(np.float32)


def clusters(
    values: npt.NDArray[np.float32], considered: IntArray, gap_m: float, noise_coefficient: float
) -> tuple[IntArray, IntArray, IntArray]:
    """The clusters of each row's first ``considered`` sorted depths, split where
    consecutive depths jump by more than the gap at the farther of the two
    (:func:`cluster_gaps`): (row, start, size) of every cluster, in row order and nearest
    first within a row; empty rows have none."""
    width = values.shape[1]
    in_prefix = np.arange(width)[None, :] < considered[:, None]
    starts = in_prefix.copy()
    with np.errstate(invalid="ignore"):
        starts[:, 1:] &= np.diff(values, axis=1) > cluster_gaps(values[:, 1:], gap_m, noise_coefficient)
    starts[:, 0] = in_prefix[:, 0]
    row, start = np.nonzero(starts)
    last = np.append(row[1:] != row[:-1], True)
    ends = np.where(last, considered[row], np.append(start[1:], 0))
    return row, start, ends - start


def select_surface(
    windows: Windows,
    lo: FloatArray,
    hi: FloatArray,
    offset_z: FloatArray,
    reject_lo: FloatArray,
    reject_hi: FloatArray,
    config: LiftingConfig,
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """The joint centre depth of each row [R] (NaN when unsupported), the spread of its
    surface and whether an occluder was seen.

    A row's window depths are split into clusters at jumps of more than the cluster gap,
    nearest first; the first well-supported cluster whose centre depth (surface +
    ``offset_z``, the z-part of the surface-to-centre offset along this pixel's ray) falls
    in one of the row's intervals ``lo..hi`` is the joint. Supported clusters before it are
    surfaces in front of where the joint can be: ``occluded`` reports them. Clusters whose
    surface depth lies in ``reject_lo..reject_hi`` are known occluders (the torso seen
    from behind). Depths behind every interval (the wall past a thin wrist) are not this
    joint's; support is counted among the rest.
    """
    values, counts = windows.values, windows.counts
    rows, width = values.shape
    z = np.full(rows, np.nan)
    spread = np.full(rows, np.nan)
    occluded = np.zeros(rows, dtype=bool)
    with np.errstate(invalid="ignore"):
        limit = np.max(np.where(np.isnan(hi), -np.inf, hi), axis=1) - offset_z
        considered = np.count_nonzero(values <= limit[:, None], axis=1)
    usable = windows.inside & np.any(np.isfinite(lo), axis=1) & (counts >= config.min_support_px)
    usable &= considered >= config.min_support_px
    if not np.any(usable):
        return z, spread, occluded
    index = np.flatnonzero(usable)
    values, considered = values[index], considered[index]
    min_support = np.maximum(config.min_support_px, (0.1 * considered).astype(np.intp))
    row, start, size = clusters(values, considered, config.cluster_gap_m, config.noise_coefficient)
    flat = values.reshape(-1)
    base = row * width
    median = run_medians(values, row, start, size)
    candidate = size >= min_support[row]
    centre = median + offset_z[index][row]
    within = np.any((lo[index][row] <= centre[:, None]) & (centre[:, None] <= hi[index][row]), axis=1)
    with np.errstate(invalid="ignore"):
        known_occluder = (reject_lo[index][row] <= median) & (median <= reject_hi[index][row])
    chosen = candidate & within & ~known_occluder
    # The first chosen cluster of each row; candidates before it are occluders.
    rank = np.arange(len(row))
    first = np.full(len(index), len(row))
    np.minimum.at(first, row[chosen], rank[chosen])
    before = candidate & (rank < first[row])
    occluded_local = np.zeros(len(index), dtype=bool)
    occluded_local[row[before]] = True
    found = first < len(row)
    pick = first[found]
    pick_start, pick_size, pick_base = start[pick], size[pick], base[pick]
    upper = flat[pick_base + pick_start + np.minimum((3 * pick_size) // 4, pick_size - 1)].astype(np.float64)
    lower = flat[pick_base + pick_start + pick_size // 4].astype(np.float64)
    target = index[found]
    z[target] = centre[pick]
    spread[target] = (upper - lower) / 1.349
    occluded[index] = occluded_local
    return z, spread, occluded
