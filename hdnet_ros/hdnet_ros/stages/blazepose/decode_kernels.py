"""The heatmap refinement of BlazePose's landmarks as two compiled passes around numpy's
sigmoid (:func:`.decode.refine_with_heatmaps`).

numpy gathered the 7x7 windows by fancy indexing and summed them by einsum (0.3-0.4 ms for
four crops); here the windows are copied and summed in loops. The sigmoid stays numpy's
(its tanh may round differently from numba's libm), so the confidences are main's to the
bit and every decision (on the map, confident enough) with them; only the weighted means
are summed in another order (within 1e-12 px of main's, ``test_blazepose_glue``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hdnet_ros.stages.blazepose.jit import compiled

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@compiled
def heatmap_windows(  # pragma: no cover - compiled
    xy: FloatArray, heatmaps: npt.NDArray[np.floating], landmarks: int, stride: float, kernel: int
) -> tuple[npt.NDArray[np.floating], IntArray]:
    """The ``kernel`` x ``kernel`` heatmap values around each landmark [N,L,2] (network
    coordinates; heatmaps [N,S,S,>=L]), rows and columns clipped to the map, [N,L,K,K];
    and each landmark's cell (column, row) [N,L,2], (-1, -1) where the landmark is not
    finite. Landmarks off the map get zeros (they are not refined)."""
    count, size = heatmaps.shape[0], heatmaps.shape[1]
    half = (kernel - 1) // 2
    windows = np.zeros((count, landmarks, kernel, kernel), heatmaps.dtype)
    cells = np.empty((count, landmarks, 2), dtype=np.int64)
    for n in range(count):
        for j in range(landmarks):
            for i in range(2):
                value = xy[n, j, i] / stride
                cells[n, j, i] = int(np.floor(value)) if np.isfinite(value) else -1
            col, row = cells[n, j, 0], cells[n, j, 1]
            if not (0 <= col < size and 0 <= row < size):
                continue
            for r in range(kernel):
                source_row = min(max(row + r - half, 0), size - 1)
                for c in range(kernel):
                    windows[n, j, r, c] = heatmaps[n, source_row, min(max(col + c - half, 0), size - 1), j]
    return windows, cells


@compiled
def refined_landmarks(  # pragma: no cover - compiled
    xy: FloatArray, confidence: FloatArray, cells: IntArray, size: int, stride: float, min_confidence: float
) -> FloatArray:
    """Landmarks [N,L,2] moved to the confidence-weighted mean of their window's cell indices
    (``confidence`` [N,L,K,K], cells outside the map weigh 0) where on the map with a window
    maximum of at least ``min_confidence`` and a positive total; the others as they are."""
    count, landmarks, kernel = confidence.shape[0], confidence.shape[1], confidence.shape[2]
    half = (kernel - 1) // 2
    result = xy.copy()
    for n in range(count):
        for j in range(landmarks):
            col, row = cells[n, j, 0], cells[n, j, 1]
            if not (0 <= col < size and 0 <= row < size):
                continue
            total = mean_col = mean_row = 0.0
            largest = -np.inf
            for r in range(kernel):
                row_index = row + r - half
                for c in range(kernel):
                    col_index = col + c - half
                    inside = 0 <= row_index < size and 0 <= col_index < size
                    weight = confidence[n, j, r, c] * (1.0 if inside else 0.0)
                    total += weight
                    mean_col += weight * col_index
                    mean_row += weight * row_index
                    largest = weight if weight > largest or np.isnan(weight) else largest
            if largest >= min_confidence and total > 0:
                result[n, j, 0] = mean_col / total * stride
                result[n, j, 1] = mean_row / total * stride
    return result


@compiled
def image_landmarks(  # pragma: no cover - compiled
    xy: FloatArray, affines: FloatArray, offset: float, inverses: FloatArray, pixels: FloatArray
) -> None:
    """Each crop's inverse affine [N,2,3] into ``inverses`` (``invert_affine``'s formula:
    zeros for a singular one) and the landmarks ``xy`` [N,L,2] less ``offset`` through it
    into ``pixels`` [N,L,2] (``landmarks_to_image``: ``apply_affine``'s two products and two
    sums, in its order): numpy's bits, one pass instead of some twenty calls on [N] arrays."""
    for n in range(xy.shape[0]):
        a, b, c = affines[n, 0, 0], affines[n, 0, 1], affines[n, 0, 2]
        d, e, f = affines[n, 1, 0], affines[n, 1, 1], affines[n, 1, 2]
        det = a * e - b * d
        scale = 1.0 / det if det != 0 else 0.0
        a11, a22, a12, a21 = e * scale, a * scale, -b * scale, -d * scale
        b1 = -a11 * c - a12 * f
        b2 = -a21 * c - a22 * f
        inverses[n, 0, 0], inverses[n, 0, 1], inverses[n, 0, 2] = a11, a12, b1
        inverses[n, 1, 0], inverses[n, 1, 1], inverses[n, 1, 2] = a21, a22, b2
        for landmark in range(xy.shape[1]):
            x = xy[n, landmark, 0] - offset
            y = xy[n, landmark, 1] - offset
            pixels[n, landmark, 0] = (a11 * x + a12 * y) + b1
            pixels[n, landmark, 1] = (a21 * x + a22 * y) + b2
