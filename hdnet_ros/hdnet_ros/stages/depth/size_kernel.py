"""The bone-length depth of every person (:func:`hdnet_ros.size_prior.bone_prior_depths`)
as one compiled loop over people and pairs.

The numpy function is about 30 array calls for any number of people; at 20 people their
fixed costs made it a tenth of the depth stage. This kernel does the same arithmetic in
the same order (the same order statistics, found by selection where numpy sorts, medians,
numpy's percentile interpolation, libm's hypot) and gives bit-identical results
(``test_size_kernel.py`` compares them); the numpy function stays the shared layer's (the
network stages and single people use it). It lives in the depth stage because the stage's
kernels share its numba cache (:mod:`.jit`).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.size_prior import (
    _PAIR_A,
    _PAIR_B,
    _PAIR_FRACTION,
    MAX_BODY_EXTENT_M,
    REFERENCE_PERCENTILE,
    DepthEstimates,
)
from hdnet_ros.skeleton import STATURE_RELATIVE_SD, TYPICAL_STATURE_M
from hdnet_ros.stages.depth.jit import compiled_ieee

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_NO_BOXES = np.zeros((0, 4))


def bone_prior_depths(
    normalized: FloatArray,
    seen: BoolArray,
    camera: CameraModel,
    stature: float = TYPICAL_STATURE_M,
    min_ratio: float = 0.75,
    keypoint_sigma_px: float = 3.0,
    boxes: FloatArray | None = None,
) -> DepthEstimates:
    """:func:`hdnet_ros.size_prior.bone_prior_depths`, compiled (module doc)."""
    count = len(seen)
    z, sigma = np.full(count, np.nan), np.full(count, np.nan)
    _bone_depths(
        np.ascontiguousarray(normalized, dtype=np.float64),
        np.ascontiguousarray(seen, dtype=np.bool_),
        _PAIR_A,
        _PAIR_B,
        _PAIR_FRACTION * stature,
        float(min_ratio),
        float(keypoint_sigma_px),
        0.5 * (camera.fx + camera.fy),
        float(camera.fy),
        _NO_BOXES if boxes is None else np.ascontiguousarray(boxes, dtype=np.float64),
        boxes is not None,
        z,
        sigma,
    )
    return DepthEstimates(z=z, sigma=sigma)


@compiled_ieee
def _maximum(a: float, b: float) -> float:
    """np.maximum: NaN if either is NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return a if a >= b else b


@compiled_ieee
def _minimum(a: float, b: float) -> float:
    """np.minimum: NaN if either is NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return a if a <= b else b


@compiled_ieee
def _sorted(values: FloatArray, chosen: BoolArray, buffer: FloatArray) -> FloatArray:
    """The chosen values, sorted (NaN last), in the front of ``buffer``: the same first
    ``count(chosen)`` values as sorting the row with NaN for the others (size_prior)."""
    count = 0
    for k in range(len(values)):
        if chosen[k]:
            buffer[count] = values[k]
            count += 1
    head = buffer[:count]
    head.sort()
    return head


@compiled_ieee
def _median(ordered: FloatArray, count: int) -> float:
    """size_prior._row_median of one sorted row (NaN last) with ``count`` finite values."""
    if count <= 0:
        return math.nan
    low = max((count - 1) // 2, 0)
    high = min(count // 2, len(ordered) - 1)  # size_prior's clip to the row
    return 0.5 * (ordered[low] + ordered[high])


@compiled_ieee
def _chosen_median(values: FloatArray, chosen: BoolArray, buffer: FloatArray, count: int) -> float:
    """_median(_sorted(values, chosen, buffer), count) by selection: the same two middle
    values (the k-th smallest is the same number however it is found), in about a third
    of a sort's compares, each a branch a sort of noisy lengths mispredicts; sorted after
    all where a chosen value is NaN (sorted last, as size_prior's rows)."""
    taken = 0
    for k in range(len(values)):
        if chosen[k]:
            if math.isnan(values[k]):
                return _median(_sorted(values, chosen, buffer), count)
            buffer[taken] = values[k]
            taken += 1
    if count <= 0:
        return math.nan
    head = buffer[:taken]
    low_index = (count - 1) // 2
    _select(head, low_index)
    low = head[low_index]
    high = low
    if count // 2 != low_index:  # the next larger value: the least of those after the k-th
        high = head[low_index + 1]
        for k in range(low_index + 2, taken):
            if head[k] < high:  # noqa: PLR1730 - min() of two NaN-free floats, written out
                high = head[k]
    return 0.5 * (low + high)


@compiled_ieee
def _select(values: FloatArray, k: int) -> None:
    """Reorder ``values`` (no NaN) so that ``values[k]`` is their k-th smallest, those
    before it no larger and those after it no smaller (Hoare's partitions)."""
    lo, hi = 0, len(values) - 1
    while lo < hi:
        pivot = values[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


@compiled_ieee
def _gathered(values: FloatArray, chosen: BoolArray, buffer: FloatArray) -> bool:
    """The chosen values in the front of ``buffer``, in their order; whether none is NaN."""
    count, nan_free = 0, True
    for k in range(len(values)):
        if chosen[k]:
            buffer[count] = values[k]
            nan_free = nan_free and not math.isnan(values[k])
            count += 1
    return nan_free


@compiled_ieee
def _order_pair(values: FloatArray, k: int) -> tuple[float, float]:
    """The k-th and (k+1)-th smallest of ``values`` (no NaN; the k-th twice where k is the
    last), reordering them: the k-th by selection, the next as the least of those after it."""
    _select(values, k)
    low = values[k]
    high = low
    if k + 1 < len(values):
        high = values[k + 1]
        for index in range(k + 2, len(values)):
            if values[index] < high:  # noqa: PLR1730 - min() of two NaN-free floats, written out
                high = values[index]
    return low, high


@compiled_ieee
def _selected_percentile(values: FloatArray, q: float) -> float:
    """_percentile of the sorted ``values`` (no NaN, at least one), from two order statistics."""
    count = len(values)
    virtual = q / 100.0 * (max(count, 1) - 1)
    low = int(math.floor(virtual))
    a, b = _order_pair(values, low)
    if low + 1 > max(count - 1, 0):  # _percentile's clip: the same value twice
        b = a
    t = virtual - low
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


@compiled_ieee
def _selected_median_of_inverses(values: FloatArray, kept: int) -> float:
    """_median of the depths 1 / ratio of the kept pairs from the ratios ``values`` (no NaN):
    the kept ratios (those >= a threshold) are the ``kept`` largest, and 1 / x reverses
    their order (the same quotients, so the same median): two order statistics from the top."""
    count = len(values)
    low, high = (kept - 1) // 2, kept // 2
    smaller, larger = _order_pair(values, count - 1 - high)
    at_low = larger if high != low else smaller  # ordered[count - 1 - low]
    return 0.5 * (1.0 / at_low + 1.0 / smaller)


@compiled_ieee
def _percentile(ordered: FloatArray, count: int, q: float) -> float:
    """size_prior._row_percentile of one sorted row (numpy's linear interpolation)."""
    if count <= 0:
        return math.nan
    virtual = q / 100.0 * (max(count, 1) - 1)
    low = int(math.floor(virtual))
    high = min(low + 1, max(count - 1, 0))
    a, b = ordered[low], ordered[high]
    t = virtual - low
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


@compiled_ieee
def _pair_ratios(
    normalized: FloatArray,
    seen: BoolArray,
    person: int,
    pair_a: npt.NDArray[np.intp],
    pair_b: npt.NDArray[np.intp],
    pair_length: FloatArray,
    lengths: FloatArray,
    ratio: FloatArray,
    available: BoolArray,
) -> tuple[int, bool, float]:
    """Fill one person's 2D pair lengths, their ratios to the pairs' lengths (NaN where a
    pair is not seen) and which are seen; return the seen pairs, whether any ratio is
    positive and the largest ratio (np.nanmax; -inf without any)."""
    pairs, usable, top = 0, False, -math.inf
    for k in range(len(pair_a)):
        a, b = pair_a[k], pair_b[k]
        available[k] = seen[person, a] and seen[person, b]
        dx = normalized[person, a, 0] - normalized[person, b, 0]
        dy = normalized[person, a, 1] - normalized[person, b, 1]
        lengths[k] = math.sqrt(dx * dx + dy * dy)
        ratio[k] = lengths[k] / pair_length[k] if available[k] else math.nan
        if available[k]:
            pairs += 1
            usable = usable or ratio[k] > 0
            if ratio[k] > top:  # noqa: PLR1730 - nanmax skips a NaN ratio: max() need not
                top = ratio[k]
    return pairs, usable, top


@compiled_ieee
def _bone_depths(
    normalized: FloatArray,
    seen: BoolArray,
    pair_a: npt.NDArray[np.intp],
    pair_b: npt.NDArray[np.intp],
    pair_length: FloatArray,
    min_ratio: float,
    keypoint_sigma_px: float,
    f: float,
    fy: float,
    boxes: FloatArray,
    use_boxes: bool,
    z_out: FloatArray,
    sigma_out: FloatArray,
) -> None:
    """Fill z_out, sigma_out [P] (left NaN where a person has no usable pair)."""
    pairs_count = len(pair_a)
    ratio, lengths, work = np.empty(pairs_count), np.empty(pairs_count), np.empty(pairs_count)
    depths, spread = np.empty(pairs_count), np.empty(pairs_count)
    available, keep = np.empty(pairs_count, dtype=np.bool_), np.empty(pairs_count, dtype=np.bool_)
    for person in range(seen.shape[0]):
        pairs, usable, top = _pair_ratios(
            normalized, seen, person, pair_a, pair_b, pair_length, lengths, ratio, available
        )
        nan_free = pairs >= 3 and _gathered(ratio, available, work)
        if nan_free:  # the order statistics by selection, the same numbers as from the sorted ratios
            reference = _selected_percentile(work[:pairs], REFERENCE_PERCENTILE)
        elif pairs >= 3:
            reference = _percentile(_sorted(ratio, available, work), pairs, REFERENCE_PERCENTILE)
        else:
            reference = top
        kept = 0
        for k in range(pairs_count):
            keep[k] = available[k] and ratio[k] >= min_ratio * reference
            depths[k] = 1.0 / ratio[k] if keep[k] else math.nan
            kept += keep[k]
        if not usable or kept == 0:
            continue
        # A NaN ratio sorts last: the sorted ratios' top is NaN, and the depths' median is taken.
        z = _selected_median_of_inverses(work[:pairs], kept) if nan_free else _median(_sorted(depths, keep, work), kept)
        kept_length = _chosen_median(lengths, keep, work, kept)
        noise_rel = keypoint_sigma_px * math.sqrt(2.0) / _maximum(kept_length * f, 1e-6)
        for k in range(pairs_count):
            spread[k] = abs(depths[k] - z)
        mad_rel = 1.4826 * _chosen_median(spread, keep, work, kept) / z if kept >= 3 else noise_rel
        sigma_rel = math.hypot(STATURE_RELATIVE_SD, _maximum(mad_rel, noise_rel) / math.sqrt(kept))
        if use_boxes:
            extent = _maximum(boxes[person, 2] - boxes[person, 0], boxes[person, 3] - boxes[person, 1])
            z = _minimum(z, MAX_BODY_EXTENT_M * fy / _maximum(extent, 1.0))
        z_out[person] = z
        sigma_out[person] = sigma_rel * z
