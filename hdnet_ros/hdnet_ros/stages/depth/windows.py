"""Depths sampled around image points, and the surface a joint's window shows (compiled).

Shared by the depth stage's steps: :func:`window_depths` and :func:`point_depths` read the
valid depths (finite, within the configured range, on the person's own pixels when a mask
is given) of a square window or of sample points; :func:`sort_depths` sorts them,
:func:`cluster_end` splits sorted depths into surfaces; :func:`select_surface` picks the
one a joint lies on. Sorting is most of the stage's work, so only what is needed is
sorted: a window's depths in front of where its joint can be.

The arithmetic is numpy's, operation for operation (float32 depths compared in float32,
medians in float64), so the compiled stage gives the numpy stage's results.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from hdnet_ros.stages.depth.jit import compiled

FloatArray = npt.NDArray[np.float64]
DepthValues = npt.NDArray[np.float32]

_NO_INDEX = np.iinfo(np.int64).min  # what numpy's float -> intp cast gives for NaN and inf on x86-64


class DepthView(NamedTuple):
    """The depth image as the kernel reads it, with every person's mask."""

    depth: npt.NDArray[np.float32]  # [H,W] metres
    mask_inside: npt.NDArray[np.bool_]  # [P,h,w]: person p's rectangle starts at (mask_x0[p], mask_y0[p])
    mask_x0: npt.NDArray[np.int64]  # [P]
    mask_y0: npt.NDArray[np.int64]  # [P]
    mask_present: npt.NDArray[np.bool_]  # [P] False: no mask (all pixels count)
    min_depth: np.float32  # valid depths lie in min_depth..max_depth (compared in float32, as numpy)
    max_depth: np.float32


@compiled
def to_index(value: float) -> int:
    """numpy's cast of a float to intp: truncation, and (x86-64) the lowest integer for NaN,
    infinities and values out of range."""
    if not (-9.2e18 < value < 9.2e18):
        return _NO_INDEX
    return int(value)


@compiled
def round_half_even(value: float) -> int:
    """Round half to even, as numpy's rint and Python's round."""
    return to_index(np.rint(value))


INSERTION_SORT_MAX = 32  # shorter runs are insertion-sorted; longer ones radix-sorted
RADIX_BITS = 8  # at most, per pass
RADIX_BUCKETS = 1 << RADIX_BITS
SORT_SCRATCH = (32 // RADIX_BITS) * RADIX_BUCKETS  # every pass's buckets; sort_depths' scratch holds count more


@compiled
def sort_depths(values: DepthValues, count: int, scratch: npt.NDArray[np.uint32]) -> None:
    """Sort ``values[:count]`` (no NaN) in place; ``scratch`` holds at least
    ``SORT_SCRATCH + count`` entries.

    Sorting is most of the stage's work, and a comparison sort mispredicts a branch at
    almost every step on depths (numba's quicksort: 4.5 us for a window of 190). A radix
    sort on the float bits needs no branch per value, and a window's depths share their
    leading bits (they lie within a metre of each other): only the bits below the highest
    one in which they differ are sorted, in the fewest passes of at most 8 bits (two or
    three for a window; a pass that finds one digit for all is skipped). Every pass's
    digits are counted in one read of the depths (the passes' counters are independent,
    so a sensor's repeated depths, which add to one counter after another, wait less).
    """
    if count <= INSERTION_SORT_MAX:
        _insertion_sort(values, count)
        return
    keys = values[:count].view(np.uint32)
    # The float bits as integers in the floats' order: positive floats with the sign bit
    # set, negative ones (-0.0 at most, as depths are >= 0) with all bits flipped.
    lowest, highest = np.uint32(0xFFFFFFFF), np.uint32(0)
    for k in range(count):
        key = np.uint32(keys[k] ^ (np.uint32(0xFFFFFFFF) if keys[k] >> 31 else np.uint32(0x80000000)))
        keys[k] = key
        lowest, highest = min(lowest, key), max(highest, key)
    span_bits = 0
    while span_bits < 32 and (np.uint32(highest - lowest) >> span_bits) > 0:
        span_bits += 1
    passes = -(-span_bits // RADIX_BITS)
    digit_bits = -(-span_bits // passes) if passes else 1
    digits = 1 << digit_bits
    counts = scratch[: passes * RADIX_BUCKETS]
    counts[:] = 0
    for k in range(count):
        offset = keys[k] - lowest
        for step in range(passes):
            counts[step * RADIX_BUCKETS + ((offset >> (step * digit_bits)) & (digits - 1))] += 1
    source, target = keys, scratch[SORT_SCRATCH : SORT_SCRATCH + count]
    swapped = False
    for step in range(passes):
        shift = step * digit_bits
        buckets = counts[step * RADIX_BUCKETS : step * RADIX_BUCKETS + digits]
        if buckets[((source[0] - lowest) >> shift) & (digits - 1)] == count:
            continue  # one digit for all: already in order
        total = np.uint32(0)
        for bucket in range(digits):
            size = buckets[bucket]
            buckets[bucket] = total
            total += size
        for k in range(count):
            bucket = ((source[k] - lowest) >> shift) & (digits - 1)
            target[buckets[bucket]] = source[k]
            buckets[bucket] += 1
        source, target = target, source
        swapped = not swapped
    for k in range(count):
        if swapped:
            keys[k] = source[k]
        keys[k] = keys[k] ^ (np.uint32(0x80000000) if keys[k] >> 31 else np.uint32(0xFFFFFFFF))


@compiled
def _insertion_sort(values: DepthValues, count: int) -> None:
    """Sort ``values[:count]`` in place (a short run)."""
    for i in range(1, count):
        x = values[i]
        j = i - 1
        while j >= 0 and values[j] > x:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = x


@compiled
def window_depths(
    view: DepthView, person: int, centre_u: float, centre_v: float, half: int, out: DepthValues
) -> tuple[int, bool]:
    """The valid depths of the square window of half-size ``half`` around the pixel nearest
    to (centre_u, centre_v) (clipped to the image), unsorted into ``out``: (their count,
    whether the centre lies in the image)."""
    if not (math.isfinite(centre_u) and math.isfinite(centre_v)):
        return 0, False
    u0, v0 = round_half_even(centre_u), round_half_even(centre_v)
    depth = view.depth
    height, width = depth.shape
    if u0 < 0 or u0 >= width or v0 < 0 or v0 >= height:
        return 0, False
    if half <= 0:
        return 0, True
    # The pixel loop reads local arrays only: a helper call per pixel (with the reference
    # counting of its array arguments) would cost ten times the work.
    inside = view.mask_inside
    masked, x0, y0 = view.mask_present[person], view.mask_x0[person], view.mask_y0[person]
    rows, cols = inside.shape[1], inside.shape[2]
    low, high = view.min_depth, view.max_depth
    count = 0
    for v in range(max(v0 - half, 0), min(v0 + half + 1, height)):
        for u in range(max(u0 - half, 0), min(u0 + half + 1, width)):
            if masked and not (0 <= v - y0 < rows and 0 <= u - x0 < cols and inside[person, v - y0, u - x0]):
                continue
            value = depth[v, u]
            if value >= low and value <= high:
                out[count] = value
                count += 1
    return count, True


@compiled
def point_depths(
    view: DepthView, person: int, u: FloatArray, v: FloatArray, usable: npt.NDArray[np.bool_], out: DepthValues
) -> int:
    """The valid depths at the ``usable`` sample points (rounded to pixels), unsorted into
    ``out``; their count."""
    cols, rows = np.empty(len(u), dtype=np.int64), np.empty(len(u), dtype=np.int64)
    pixels = 0
    for k in range(len(u)):
        if usable[k] and math.isfinite(u[k]) and math.isfinite(v[k]):
            cols[pixels], rows[pixels] = round_half_even(u[k]), round_half_even(v[k])
            pixels += 1
    return pixel_depths(view, person, cols, rows, pixels, out)


@compiled
def pixel_depths(
    view: DepthView,
    person: int,
    cols: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64],
    pixels: int,
    out: DepthValues,
) -> int:
    """The valid depths at the first ``pixels`` pixels (cols, rows), unsorted into ``out``;
    their count."""
    depth, inside = view.depth, view.mask_inside
    height, width = depth.shape
    masked, x0, y0 = view.mask_present[person], view.mask_x0[person], view.mask_y0[person]
    mask_rows, mask_cols = inside.shape[1], inside.shape[2]
    low, high = view.min_depth, view.max_depth
    count = 0
    for k in range(pixels):
        col, row = cols[k], rows[k]
        if col < 0 or col >= width or row < 0 or row >= height:
            continue
        at_row, at_col = row - y0, col - x0
        if masked and not (0 <= at_row < mask_rows and 0 <= at_col < mask_cols and inside[person, at_row, at_col]):
            continue
        value = depth[row, col]
        if value >= low and value <= high:
            out[count] = value
            count += 1
    return count


@compiled
def run_median(values: DepthValues, start: int, size: int) -> float:
    """The median of the sorted run ``values[start : start + size]`` (size > 0): the mean of
    the two middle values for an even size."""
    low = np.float64(values[start + (size - 1) // 2])
    high = np.float64(values[start + size // 2])
    return 0.5 * (low + high)


@compiled
def count_at_most(values: DepthValues, count: int, limit: float) -> int:
    """How many of the sorted ``values[:count]`` are <= ``limit`` (compared in float64)."""
    below = 0
    while below < count and np.float64(values[below]) <= limit:
        below += 1
    return below


@compiled
def count_below(values: DepthValues, count: int, limit: float) -> int:
    """How many of the sorted ``values[:count]`` are < ``limit`` (compared in float64)."""
    below = 0
    while below < count and np.float64(values[below]) < limit:
        below += 1
    return below


@compiled
def _front_first(values: DepthValues, count: int, limit: float) -> int:
    """Move the depths <= ``limit`` (compared in float64) of ``values[:count]`` to the
    front; their number."""
    front = 0
    for k in range(count):
        if np.float64(values[k]) <= limit:
            values[front], values[k] = values[k], values[front]
            front += 1
    return front


@compiled
def cluster_end(values: DepthValues, start: int, considered: int, gap_m: float, noise_coefficient: float) -> int:
    """The end of the cluster of sorted depths that starts at ``start``: the next place
    among the first ``considered`` where consecutive depths jump by more than the cluster
    gap at the farther of the two (:func:`cluster_gap`; a float32 difference, as numpy's
    diff of float32 depths).

    The gap follows each jump's depth because the sensor's noise and its depth steps grow
    with the square of the depth: one gap for all the depths, taken at their median, split
    a far surface behind a nearer one into its depth steps (a seated person behind chair
    backs: an Xtion's 0.12 m steps at 6.5 m against the 0.11 m gap of the chairs' 5 m), and
    no piece was big enough to be their surface."""
    end = start + 1
    while end < considered:
        gap = cluster_gap(gap_m, noise_coefficient, np.float64(values[end]))
        if np.float32(values[end] - values[end - 1]) > gap:
            break
        end += 1
    return end


@compiled
def cluster_gap(gap_m: float, noise_coefficient: float, z: float) -> np.float32:
    """The depth jump that separates two surfaces near depth ``z``: the configured gap, or
    three times the sensor's noise there."""
    return np.float32(max(gap_m, (3.0 * noise_coefficient) * (z * z)))


@compiled
def select_surface(
    values: DepthValues,
    count: int,
    inside: bool,
    lo: tuple[float, float],
    hi: tuple[float, float],
    offset_z: float,
    reject_lo: float,
    reject_hi: float,
    min_support_px: int,
    gap_m: float,
    noise_coefficient: float,
    scratch: npt.NDArray[np.uint32],
) -> tuple[float, float, bool]:
    """The joint centre depth of one window (its ``count`` valid depths in ``values``, which
    are reordered; ``inside``: its centre lies in the image), NaN when unsupported, the
    spread of its surface and whether an occluder was seen (``scratch``: see
    :func:`sort_depths`).

    The window's sorted depths are split into clusters at jumps of more than the cluster
    gap, nearest first; the first well-supported cluster whose centre depth (surface +
    ``offset_z``, the z-part of the surface-to-centre offset along this pixel's ray) falls
    in one of the intervals ``lo[k]..hi[k]`` (NaN: none) is the joint. Supported clusters
    before it are surfaces in front of where the joint can be: ``occluded`` reports them.
    Clusters whose surface depth lies in ``reject_lo..reject_hi`` are known occluders (the
    torso seen from behind). Depths behind every interval (the wall past a thin wrist) are
    not this joint's; support is counted among the rest.
    """
    limit = -np.inf
    for k in range(2):
        if not math.isnan(hi[k]) and hi[k] > limit:
            limit = hi[k]
    considered = _front_first(values, count, limit - offset_z)
    has_interval = math.isfinite(lo[0]) or math.isfinite(lo[1])
    if not (inside and has_interval and count >= min_support_px and considered >= min_support_px):
        return np.nan, np.nan, False
    sort_depths(values, considered, scratch)
    min_support = max(min_support_px, int(0.1 * considered))
    occluded = False
    start = 0
    while start < considered:
        end = cluster_end(values, start, considered, gap_m, noise_coefficient)
        size = end - start
        median = run_median(values, start, size)
        centre = median + offset_z
        within = (lo[0] <= centre <= hi[0]) or (lo[1] <= centre <= hi[1])
        known_occluder = reject_lo <= median <= reject_hi
        if size >= min_support:
            if within and not known_occluder:
                upper = np.float64(values[start + min((3 * size) // 4, size - 1)])
                lower = np.float64(values[start + size // 4])
                return centre, (upper - lower) / 1.349, occluded
            occluded = True
        start = end
    return np.nan, np.nan, occluded
