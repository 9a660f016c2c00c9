"""The heatmap codec's encoding and decoding as the 2D stage runs them, compiled where numpy
makes many passes or gathers value by value (numba).

**Encoding** (:func:`~hdnet_ros.inference.heatmap_codec.encode_crops`): the uint8 crops
[N,H,W,3] become the float32 planes [N,3,H,W]: OpenCV splits the channels of all crops in
one call, then one compiled pass scales each plane (x * scale + shift per channel, the same
two float32 operations, never fused), instead of numpy's transposed copy, float32 copy,
multiply and add over 20 crops' 0.7 million values (0.3 -> 0.15 ms in one pass reading the
interleaved pixels, which the compiler could not vectorise; 0.37 -> 0.10 ms split first).

**Decoding** (:func:`~hdnet_ros.inference.heatmap_codec.decode_heatmaps`), its per-joint
gathering compiled: numpy's arg-max of every map, then the smoothed
5x5 cells around each in one pass over all crops' and joints' maps (numba), then numpy's
log and the codec's own Newton step (:func:`~hdnet_ros.inference.heatmap_codec.newton_step`).
The 2D stage takes the keypoints to the image in the same pass as the Newton step
(:func:`decode_image_points`: the codec's ``cells_to_image``, whose inverse affines and
einsum cost 0.1 ms a frame in numpy calls, however few the crops).

In numpy the 7x7 windows around 20 crops x 17 joints are gathered by fancy indexing (index
arrays, the border mask, a float64 copy) and smoothed in a dozen array operations, about
0.2 ms a frame; the loop reads the 49 values where they lie. Its arithmetic is the codec's
(numpy's arg-max itself; the same products and sums of the 3x3 Gaussian in the
same order, in float64 of the float32 maps); the log stays numpy's (numba's libm log may
round another way), so the keypoints are the codec's to the bit (``test_heatmap_codec``), as are the planes.
Maps of another dtype than float32 go through the codec's numpy path.

The kernels are cached like the depth stage's, in a directory named after a hash of this
file and the codec's (their only sources): ``$NUMBA_CACHE_DIR/hdnet_ros-heatmap-<hash>`` or
``$XDG_CACHE_HOME/hdnet_ros/kernels/heatmap-<hash>``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import cv2
import numba
import numpy as np
import numpy.typing as npt

from hdnet_ros.inference import heatmap_codec
from hdnet_ros.inference.heatmap_codec import (
    GAUSSIAN_3,
    IMAGENET_SCALE,
    IMAGENET_SHIFT,
    LOG_FLOOR,
    cells_to_image,
    decode_heatmaps,
    encode_crops,
    newton_step,
)
from hdnet_ros.stages.depth.jit import named_cache_dir, njit_cached, writable

FloatArray = npt.NDArray[np.float64]
FunctionT = TypeVar("FunctionT", bound=Callable[..., Any])
Float32Array = npt.NDArray[np.float32]


@functools.lru_cache(maxsize=1)
def _cache_dir() -> str | None:
    """The kernels read the codec's constants (the Gaussian) as compile-time values: its
    source is hashed with this one's, so that a change to either starts a fresh cache."""
    digest = hashlib.sha256(numba.__version__.encode())
    for source in (Path(__file__), Path(heatmap_codec.__file__)):
        digest.update(source.read_bytes())
    digest_text = digest.hexdigest()[:16]
    directory = named_cache_dir(f"heatmap-{digest_text}")
    return str(directory) if directory is not None and writable(directory) else None


_G0, _G1, _G2 = (float(g) for g in GAUSSIAN_3)


def _compiled(function: FunctionT) -> FunctionT:
    return njit_cached(function, {}, _cache_dir())


@_compiled
def _peaks(
    maps: npt.NDArray[np.float32],
    peaks: npt.NDArray[np.int64],
    cells: FloatArray,
    scores: FloatArray,
    blurred: FloatArray,
) -> npt.NDArray[np.bool_]:
    """Per map [N,J,H,W] with its arg-max's flat index ``peaks`` [N,J]: the cell (x, y) into
    ``cells`` [N,J,2] ((0, 0) where the maximum is not positive) and value into ``scores``
    [N,J], the 3x3-Gaussian smoothed 5x5 cells around it into ``blurred`` [N,J,5,5] (zero
    outside the map); returns whether each cell lies two cells or more inside the border."""
    count, joints, height, width = maps.shape
    inside = np.zeros((count, joints), dtype=np.bool_)
    patch = np.empty((7, 7))
    rows = np.empty((5, 7))
    for n in range(count):
        for j in range(joints):
            x, y = peaks[n, j] % width, peaks[n, j] // width
            score = np.float64(maps[n, j, y, x])
            if score <= 0.0:
                x, y = 0, 0
            cells[n, j, 0], cells[n, j, 1], scores[n, j] = x, y, score
            inside[n, j] = x > 1 and x < width - 2 and y > 1 and y < height - 2
            for r in range(7):
                for c in range(7):
                    row, col = y - 3 + r, x - 3 + c
                    inner = 0 <= row < height and 0 <= col < width
                    patch[r, c] = np.float64(maps[n, j, row, col]) if inner else 0.0
            for r in range(5):
                for c in range(7):
                    rows[r, c] = (_G0 * patch[r, c] + _G1 * patch[r + 1, c]) + _G2 * patch[r + 2, c]
            for r in range(5):
                for c in range(5):
                    blurred[n, j, r, c] = (_G0 * rows[r, c] + _G1 * rows[r, c + 1]) + _G2 * rows[r, c + 2]
    return inside


def decode_peaks(heatmaps: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """:func:`~hdnet_ros.inference.heatmap_codec.decode_heatmaps` (with DARK): keypoints in
    heatmap cells (x, y) [N,J,2] and scores [N,J] (module doc)."""
    maps = np.asarray(heatmaps)
    if maps.dtype != np.float32 or maps.ndim != 4 or maps.size == 0:
        return decode_heatmaps(maps)
    cells, scores, logs, inside = _peak_logs(maps)
    return newton_step(cells, logs, inside), scores


def decode_image_points(
    heatmaps: npt.ArrayLike, affines: FloatArray, stride: tuple[float, float]
) -> tuple[FloatArray, FloatArray]:
    """:func:`decode_peaks` then :func:`~hdnet_ros.inference.heatmap_codec.cells_to_image`:
    the keypoints in image pixels [N,J,2] through each crop's inverse affine [N,2,3]
    (``stride``: crop pixels per cell, x and y) and their scores [N,J]. DARK's Newton step and
    the affine run in one compiled pass (module doc)."""
    maps = np.asarray(heatmaps)
    frames = np.ascontiguousarray(affines, dtype=np.float64)
    if maps.dtype != np.float32 or maps.ndim != 4 or maps.size == 0 or frames.shape != (len(maps), 2, 3):
        cells, scores = decode_heatmaps(maps)
        return cells_to_image(cells, affines, stride), scores
    cells, scores, logs, inside = _peak_logs(maps)
    pixels = np.empty_like(cells)
    _image_points(cells, logs, inside, frames, float(stride[0]), float(stride[1]), pixels)
    return pixels, scores


def _peak_logs(
    maps: npt.NDArray[np.float32],
) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Per map [N,J,H,W]: the arg-max cell [N,J,2], its value [N,J], the log of the smoothed
    5x5 cells around it [N,J,5,5] (numpy's log) and whether it lies inside (:func:`_peaks`)."""
    count, joints = maps.shape[:2]
    cells, scores = np.empty((count, joints, 2)), np.empty((count, joints))
    blurred = np.empty((count, joints, 5, 5))
    maps = np.ascontiguousarray(maps)
    peaks = np.argmax(maps.reshape(count, joints, -1), axis=2).astype(np.int64)  # numpy's first maximum
    inside = _peaks(maps, peaks, cells, scores, blurred)
    return cells, scores, np.log(np.maximum(blurred, LOG_FLOOR)), inside


@_compiled
def _image_points(
    cells: FloatArray,
    logs: FloatArray,
    inside: npt.NDArray[np.bool_],
    affines: FloatArray,
    stride_x: float,
    stride_y: float,
    pixels: FloatArray,
) -> None:
    """heatmap_codec.newton_step, then cells_to_image (the crop pixels ``cell * stride``
    through invert_affine's inverse, applied as apply_affine does), operation for operation,
    into ``pixels`` [N,J,2]."""
    count, joints = cells.shape[:2]
    for n in range(count):
        a, b, c = affines[n, 0, 0], affines[n, 0, 1], affines[n, 0, 2]
        d, e, f = affines[n, 1, 0], affines[n, 1, 1], affines[n, 1, 2]
        det = a * e - b * d
        scale = 1.0 / det if det != 0 else 0.0
        a11, a22, a12, a21 = e * scale, a * scale, -b * scale, -d * scale
        b1 = -a11 * c - a12 * f
        b2 = -a21 * c - a22 * f
        for j in range(joints):
            log = logs[n, j]
            centre = log[2, 2]
            dx = 0.5 * (log[2, 3] - log[2, 1])
            dy = 0.5 * (log[3, 2] - log[1, 2])
            dxx = 0.25 * (log[2, 4] - 2.0 * centre + log[2, 0])
            dxy = 0.25 * (log[3, 3] - log[1, 3] - log[3, 1] + log[1, 1])
            dyy = 0.25 * (log[4, 2] - 2.0 * centre + log[0, 2])
            hessian = dxx * dyy - dxy * dxy
            step_x = step_y = 0.0
            if inside[n, j] and hessian != 0:
                step_x = -(dyy * dx - dxy * dy) / hessian
                step_y = -(dxx * dy - dxy * dx) / hessian
            x = (cells[n, j, 0] + step_x) * stride_x
            y = (cells[n, j, 1] + step_y) * stride_y
            pixels[n, j, 0] = (a11 * x + a12 * y) + b1
            pixels[n, j, 1] = (a21 * x + a22 * y) + b2


_SCALE = np.ascontiguousarray(IMAGENET_SCALE.reshape(3), dtype=np.float32)
_SHIFT = np.ascontiguousarray(IMAGENET_SHIFT.reshape(3), dtype=np.float32)


@_compiled
def _planes(
    red: npt.NDArray[np.uint8],
    green: npt.NDArray[np.uint8],
    blue: npt.NDArray[np.uint8],
    scale: npt.NDArray[np.float32],
    shift: npt.NDArray[np.float32],
    out: Float32Array,
) -> None:
    """``out[n, k] = float32(plane_k[n]) * scale[k] + shift[k]``: each channel's plane [N*H,W]
    (OpenCV's split of the crops) into its place in the planes [N,3,H,W], contiguous reads
    and writes the compiler vectorises."""
    count = out.shape[0]
    size = out.shape[2] * out.shape[3]
    target = out.reshape(count, 3, size)
    for channel, plane in ((0, red), (1, green), (2, blue)):
        source = plane.reshape(count, size)
        gain, offset = scale[channel], shift[channel]
        for n in range(count):
            row, values = target[n, channel], source[n]
            for index in range(size):
                row[index] = np.float32(values[index]) * gain + offset


def encode_planes(crops_rgb: npt.NDArray[np.uint8]) -> Float32Array:
    """:func:`~hdnet_ros.inference.heatmap_codec.encode_crops` (the network input [N,3,H,W]
    of uint8 crops [N,H,W,3]) in two passes: OpenCV splits all crops' channels at once (the
    crops stacked as one [N*H,W,3] image), the kernel scales each plane (module doc)."""
    crops = np.ascontiguousarray(crops_rgb, dtype=np.uint8)
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.size == 0:
        return encode_crops(crops)
    count, height, width = crops.shape[:3]
    out = np.empty((count, 3, height, width), dtype=np.float32)
    red, green, blue = cast("list[npt.NDArray[np.uint8]]", cv2.split(crops.reshape(count * height, width, 3)))
    _planes(red, green, blue, _SCALE, _SHIFT, out)
    return out


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Compile (or load) the kernels before the first frame, once per process."""
    decode_peaks(np.zeros((1, 1, 8, 8), dtype=np.float32))
    decode_image_points(np.zeros((1, 1, 8, 8), dtype=np.float32), np.eye(2, 3)[None], (4.0, 4.0))
    encode_planes(np.zeros((1, 2, 2, 3), dtype=np.uint8))
