"""``refine_with_heatmaps`` of ``stages/blazepose/decode.py`` as main had it at aa51899 (numpy
fancy indexing and einsum), kept only as the reference ``test_blazepose_glue`` holds the
compiled form to (the same decisions; the means within 1e-12 px, summed in another order)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hdnet_ros.stages.blazepose.crops import CROP_SIZE
from hdnet_ros.stages.blazepose.decode import HEATMAP_KERNEL, HEATMAP_MIN_CONFIDENCE, sigmoid

FloatArray = npt.NDArray[np.float64]


def refine_with_heatmaps(xy: FloatArray, heatmaps: npt.NDArray[np.floating]) -> FloatArray:
    count, size, _, landmarks = heatmaps.shape
    stride = CROP_SIZE / size
    cells = np.floor(np.nan_to_num(xy / stride, nan=-1.0, posinf=-1.0, neginf=-1.0)).astype(np.int64)  # (col, row)
    on_map = np.all((cells >= 0) & (cells < size), axis=2)
    offsets = np.arange(HEATMAP_KERNEL) - (HEATMAP_KERNEL - 1) // 2
    cols = cells[:, :, 0, None] + offsets  # [N,L,K]
    rows = cells[:, :, 1, None] + offsets
    col_in = (cols >= 0) & (cols < size)
    row_in = (rows >= 0) & (rows < size)
    n = np.arange(count)[:, None, None, None]
    j = np.arange(landmarks)[None, :, None, None]
    window = heatmaps[n, np.clip(rows, 0, size - 1)[:, :, :, None], np.clip(cols, 0, size - 1)[:, :, None, :], j]
    confidence = sigmoid(window) * (row_in[:, :, :, None] & col_in[:, :, None, :])  # [N,L,K,K]
    total = confidence.sum(axis=(2, 3))
    mean_col = np.einsum("nlrc,nlc->nl", confidence, cols.astype(np.float64))
    mean_row = np.einsum("nlrc,nlr->nl", confidence, rows.astype(np.float64))
    refine = on_map & (confidence.max(axis=(2, 3)) >= HEATMAP_MIN_CONFIDENCE) & (total > 0)
    safe_total = np.where(total > 0, total, 1.0)
    refined = np.stack((mean_col, mean_row), axis=2) / safe_total[:, :, None] * stride
    return np.asarray(np.where(refine[:, :, None], refined, xy))
