"""The top-down heatmap codec (PP-TinyPose, HRNet-style networks): crops in, keypoints out.

Kept apart from the network, as mmpose keeps its codecs: the network maps a normalised
crop [N,3,H,W] to one heatmap per joint [N,J,H/4,W/4]; this module is everything around
it, numpy and OpenCV only, batched over all crops of a frame.

Encoding (PaddleDetection's ``TopDownEvalAffine``, mmpose's top-down affine): the box
centre goes to the crop centre; the box's width and height, times the padding (1.25),
are widened or heightened to the input's aspect (3:4) and scaled isotropically into the
input; bilinear sampling, black outside the image. Then RGB / 255 and ImageNet mean/std.

Decoding (PaddleDetection's ``HRNetPostProcess`` with DARK, Zhang et al. 2020): per joint
the heatmap's arg-max cell and its value (the score); DARK refines the cell with one
Newton step on the log of the heatmap smoothed by a 3x3 Gaussian, using the 2x2 Hessian,
except within two cells of the border or where the Hessian is singular. Only the 5x5
cells around each arg-max are smoothed (all the step reads). A cell maps to crop pixels
times the stride (4: the training targets live on the crop's quarter-resolution grid),
then through the inverse affine to the image. Every step works on all crops and joints at once.

Flip test (mmpose's and PaddleDetection's test-time augmentation): each crop also runs
mirrored, its heatmaps are mirrored back with every left joint's map swapped with its right
one's, and the two are averaged before decoding. PP-TinyPose's targets put a joint at crop
pixel x on heatmap cell x / stride (PaddleDetection's ``ToHeatmapsTopDown_DARK``:
``feat_stride = input / heatmap`` in pixel-index coordinates), so mirroring the cells
(j -> w - 1 - j) mirrors crop pixels about x -> W - stride - x, not the pixel array's
x -> W - 1 - x: mirrored by the array, the heatmaps come back (stride - 1) / stride of a
cell (3/4) to the left; PaddleDetection shifts them one whole cell (``shift_heatmap``),
mmpose's UDP codec needs no shift. Here the mirrored crop is warped from the image about the
heatmaps' own axis (:func:`mirrored_affines`), so the cells align exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.nets.preprocessing import IMAGENET_MEAN, IMAGENET_STD, apply_affine, invert_affine

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

# The 3x3 Gaussian of DARK's smoothing: OpenCV's fixed kernel for ksize 3 and sigma 0.
GAUSSIAN_3 = np.array([0.25, 0.5, 0.25])
LOG_FLOOR = 1e-10  # DARK takes the log of max(heatmap, this)
# (x / 255 - mean) / std = x * IMAGENET_SCALE + IMAGENET_SHIFT, per channel [1,3,1,1].
IMAGENET_SCALE = (1.0 / (255.0 * np.asarray(IMAGENET_STD))).astype(np.float32).reshape(1, 3, 1, 1)
IMAGENET_SHIFT = (-np.asarray(IMAGENET_MEAN) / np.asarray(IMAGENET_STD)).astype(np.float32).reshape(1, 3, 1, 1)


@dataclass(frozen=True)
class TopDownCrop:
    """The crop geometry of a top-down network: its input (width, height) and the padding
    of the box (1.25: a quarter of the box's size of context)."""

    width: int
    height: int
    padding: float = 1.25


def topdown_affines(boxes_xyxy: npt.ArrayLike, crop: TopDownCrop) -> FloatArray:
    """Image -> crop affines [N,2,3] for boxes [N,4] (x0, y0, x1, y1): centre to centre,
    the padded box fitted to the crop's aspect with one scale (no distortion)."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    width = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    height = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    aspect = crop.width / crop.height
    # Widen a tall box or heighten a wide one to the crop's aspect, then pad.
    height = np.maximum(height, width / aspect) * crop.padding
    scale = crop.height / height  # crop px per image px, the same on both axes
    affines = np.zeros((len(boxes), 2, 3))
    affines[:, 0, 0] = affines[:, 1, 1] = scale
    affines[:, 0, 2] = crop.width / 2.0 - scale * centre[:, 0]
    affines[:, 1, 2] = crop.height / 2.0 - scale * centre[:, 1]
    return affines


def warp_crops(rgb: npt.NDArray[np.uint8], affines: FloatArray, crop: TopDownCrop) -> npt.NDArray[np.uint8]:
    """One crop per affine: uint8 [N,H,W,3], bilinear, black outside the image."""
    crops = np.empty((len(affines), crop.height, crop.width, 3), dtype=np.uint8)
    for affine, out in zip(affines, crops, strict=True):  # OpenCV has no batched warp
        cv2.warpAffine(  # into its place in the batch (dst): no crop-sized copy
            rgb,
            affine,
            (crop.width, crop.height),
            dst=out,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
    return crops


def encode_crops(crops_rgb: npt.NDArray[np.uint8]) -> Float32Array:
    """The network input [N,3,H,W]: RGB / 255, ImageNet mean/std (one multiply-add per
    value, after moving the channels first on the uint8 crops)."""
    planes = np.ascontiguousarray(np.asarray(crops_rgb, dtype=np.uint8).transpose(0, 3, 1, 2))
    encoded = planes.astype(np.float32)
    encoded *= IMAGENET_SCALE
    encoded += IMAGENET_SHIFT
    return encoded


def mirrored_affines(affines: FloatArray, crop: TopDownCrop, stride: float) -> FloatArray:
    """The affines [N,2,3] of the crops mirrored left to right about the axis that mirrors
    their heatmaps cell for cell (module doc): crop x -> ``crop.width - stride - x``, where
    ``stride`` is crop pixels per heatmap cell along x."""
    mirrored = np.array(affines, dtype=np.float64, copy=True)
    mirrored[:, 0, :] *= -1.0
    mirrored[:, 0, 2] += crop.width - stride
    return mirrored


def unmirrored_heatmaps(heatmaps: npt.ArrayLike, pairs: Sequence[tuple[int, int]]) -> Float32Array:
    """Heatmaps [N,J,h,w] of mirrored crops mirrored back: columns reversed and the maps of
    each (left, right) pair of ``pairs`` swapped."""
    maps = np.asarray(heatmaps, dtype=np.float32)
    order = np.arange(maps.shape[1])
    for left, right in pairs:
        order[left], order[right] = right, left
    return np.ascontiguousarray(maps[:, order, :, ::-1])


def argmax_cells(heatmaps: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Each heatmap's first maximum as (x, y) cells [N,J,2] and its value [N,J]; a map
    whose maximum is not positive gives cell (0, 0), as PaddleDetection's ``get_max_preds``."""
    maps = np.asarray(heatmaps)
    count, joints, _, width = maps.shape
    flat = maps.reshape(count, joints, -1)
    index = np.argmax(flat, axis=2)
    values = np.take_along_axis(flat, index[..., None], axis=2)[..., 0].astype(np.float64)
    cells = np.stack((index % width, index // width), axis=-1).astype(np.float64)
    cells[values <= 0.0] = 0.0
    return cells, values


def _patches(heatmaps: npt.ArrayLike, cells: npt.NDArray[np.intp], radius: int) -> FloatArray:
    """The (2 radius + 1)^2 values around each cell [N,J,2] -> [N,J,2r+1,2r+1], zero outside
    the map (the zero border of DARK's smoothing): gathered from the maps as they are, in
    one indexing of all crops' and joints' windows (no padded copy of every map)."""
    maps = np.asarray(heatmaps)
    count, joints, height, width = maps.shape
    offsets = np.arange(-radius, radius + 1)
    rows = cells[..., 1, None, None] + offsets[:, None]  # [N,J,k,1]
    cols = cells[..., 0, None, None] + offsets[None, :]  # [N,J,1,k]
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)  # [N,J,k,k]
    flat = maps.reshape(count * joints, height * width)
    which = np.arange(count * joints).reshape(count, joints, 1, 1)
    values = flat[which, np.clip(rows, 0, height - 1) * width + np.clip(cols, 0, width - 1)]
    return np.where(inside, values, 0.0).astype(np.float64)


def smoothed_log_patches(heatmaps: npt.ArrayLike, cells: npt.NDArray[np.intp]) -> FloatArray:
    """DARK's log of the 3x3-Gaussian-smoothed heatmap on the 5x5 cells around each cell
    [N,J,5,5]: what its Newton step reads.

    PaddleDetection smooths the whole map and rescales it to the original maximum before
    the log; a constant factor only adds a constant to the log, which every derivative of
    the step cancels, so neither the whole map nor the rescale is computed (the floor of
    the log could tell them apart only for smoothed values within a factor of the rescale
    of 1e-10).
    """
    patch = _patches(heatmaps, cells, 3)  # 7x7: the smoothing of the 5x5 needs a ring more
    rows = GAUSSIAN_3[0] * patch[..., :-2, :] + GAUSSIAN_3[1] * patch[..., 1:-1, :] + GAUSSIAN_3[2] * patch[..., 2:, :]
    blurred = GAUSSIAN_3[0] * rows[..., :-2] + GAUSSIAN_3[1] * rows[..., 1:-1] + GAUSSIAN_3[2] * rows[..., 2:]
    return np.log(np.maximum(blurred, LOG_FLOOR))


def dark_refine(heatmaps: npt.ArrayLike, cells: FloatArray) -> FloatArray:
    """Cells [N,J,2] moved by one Newton step on the smoothed log-heatmap (module doc)."""
    height, width = np.shape(heatmaps)[2:]
    x = cells[..., 0].astype(np.intp)
    y = cells[..., 1].astype(np.intp)
    inside = (x > 1) & (x < width - 2) & (y > 1) & (y < height - 2)
    logs = smoothed_log_patches(heatmaps, np.stack((x, y), axis=-1))
    return newton_step(cells, logs, inside)


def newton_step(cells: FloatArray, logs: FloatArray, inside: npt.NDArray[np.bool_]) -> FloatArray:
    """Cells [N,J,2] moved by DARK's Newton step on the log patches [N,J,5,5] around them
    (:func:`smoothed_log_patches`), where ``inside`` [N,J] (not within two cells of the
    border) and the Hessian is not singular."""

    def at(dx: int, dy: int) -> FloatArray:
        return logs[..., 2 + dy, 2 + dx]

    centre = at(0, 0)
    dx = 0.5 * (at(1, 0) - at(-1, 0))
    dy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = 0.25 * (at(2, 0) - 2 * centre + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    dyy = 0.25 * (at(0, 2) - 2 * centre + at(0, -2))
    det = dxx * dyy - dxy**2
    step = inside & (det != 0)
    safe = np.where(step, det, 1.0)
    # offset = -H^-1 d with H^-1 = [[dyy, -dxy], [-dxy, dxx]] / det
    offset_x = -(dyy * dx - dxy * dy) / safe
    offset_y = -(dxx * dy - dxy * dx) / safe
    refined = cells.astype(np.float64).copy()
    refined[..., 0] += np.where(step, offset_x, 0.0)
    refined[..., 1] += np.where(step, offset_y, 0.0)
    return refined


def decode_heatmaps(heatmaps: npt.ArrayLike, dark: bool = True) -> tuple[FloatArray, FloatArray]:
    """Keypoints in heatmap cells (x, y) [N,J,2] and scores [N,J] (the heatmap maxima)."""
    cells, scores = argmax_cells(heatmaps)
    return (dark_refine(heatmaps, cells) if dark else cells), scores


def cells_to_image(cells: FloatArray, affines: FloatArray, stride: tuple[float, float]) -> FloatArray:
    """Heatmap cells [N,J,2] -> image pixels through the crop's inverse affine [N,2,3];
    ``stride``: crop pixels per cell (x, y)."""
    crop_xy = cells * np.asarray(stride, dtype=np.float64)
    return apply_affine(crop_xy, invert_affine(affines))
