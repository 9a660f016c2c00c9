"""Encoders/decoders between network outputs and metric quantities (numpy only).

Kept apart from the ``nn.Module`` definitions (as mmpose does with its codecs) so that the
ONNX Runtime pipeline can decode without importing torch, and so the constants of each
published model live in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# 3DMPPE: the real-world extent assumed for every person box (mm); (2, 2) for metre data.
BBOX_REAL_MM: tuple[float, float] = (2000.0, 2000.0)
# 3DMPPE PoseNet: depth extent of the 64-bin relative-depth axis (mm) and its bins.
BBOX_3D_DEPTH_MM = 2000.0
POSENET_DEPTH_DIM = 64
# 3DMPPE output heatmaps are a quarter of the 256x256 input.
OUTPUT_SHAPE_3DMPPE: tuple[int, int] = (64, 64)


@dataclass(frozen=True)
class DepthBinCodec:
    """HDNet's log-spaced depth bins (data/Human36M/Human36M.py).

    A root depth Z (mm) is first made focal-invariant, d = Z / sqrt(fx*fy), then placed on
    ``num_bins`` bins spaced uniformly in ln(d) between ``alpha`` and ``beta``. The network
    predicts a soft bin index (the expectation over its softmax); ``decode`` inverts it.
    """

    num_bins: int = 61
    alpha: float = 2.0
    beta: float = 8.0

    @property
    def _log_span(self) -> float:
        return math.log(self.beta) - math.log(self.alpha)

    def depth_to_index(self, depth_mm: npt.ArrayLike, fx: npt.ArrayLike, fy: npt.ArrayLike) -> FloatArray:
        """Continuous bin index of a root depth (mm) seen by a camera with focal lengths (px)."""
        d = np.asarray(depth_mm, dtype=np.float64) / np.sqrt(np.asarray(fx, np.float64) * np.asarray(fy, np.float64))
        return (np.log(d) - math.log(self.alpha)) / self._log_span * (self.num_bins - 1)

    def index_to_depth(self, bin_index: npt.ArrayLike, fx: npt.ArrayLike, fy: npt.ArrayLike) -> FloatArray:
        """Root depth (mm) from a continuous bin index (the network's ``bin_idx``)."""
        idx = np.asarray(bin_index, dtype=np.float64)
        d = np.exp(idx / (self.num_bins - 1) * self._log_span + math.log(self.alpha))
        return d * np.sqrt(np.asarray(fx, np.float64) * np.asarray(fy, np.float64))

    def soft_target(self, bin_index: npt.ArrayLike) -> FloatArray:
        """The training target: a triangular weight over the two nearest bins, [..., num_bins]."""
        idx = np.asarray(bin_index, dtype=np.float64)[..., None]
        return 1.0 - np.clip(np.abs(np.arange(self.num_bins) - idx), 0.0, 1.0)

    def decode_root(
        self, pose_normalized: npt.ArrayLike, bin_index: npt.ArrayLike, fx: npt.ArrayLike, fy: npt.ArrayLike
    ) -> FloatArray:
        """Camera-frame root [..., 3] (mm) from the root's normalised 2D position [..., 2].

        ``pose_normalized`` is ((u-cx)/fx, (v-cy)/fy) of the root. The official evaluation
        takes it from a 2D detector (CPN), not from the network's own pose output.
        """
        xy = np.asarray(pose_normalized, dtype=np.float64)
        z = self.index_to_depth(bin_index, fx, fy)
        return np.concatenate((xy * z[..., None], z[..., None]), axis=-1)


HDNET_BIN_CODEC = DepthBinCodec()


def rootnet_k_value(
    boxes_xywh: npt.ArrayLike, fx: float, fy: float, bbox_real_mm: tuple[float, float] = BBOX_REAL_MM
) -> FloatArray:
    """RootNet's k = sqrt(A_real * fx * fy / A_img) for each box, shape [P, 1].

    ``boxes_xywh`` must be the *processed* boxes (``preprocessing.process_bbox``: clipped,
    squared and enlarged x1.25), as in the released demo and dataset code: A_img is the
    area of that extended box in original-image pixels. The network's depth is gamma * k.
    """
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    area = boxes[:, 2] * boxes[:, 3]
    return np.sqrt(bbox_real_mm[0] * bbox_real_mm[1] * fx * fy / area)[:, None]


def output_to_image(
    points: npt.ArrayLike, boxes_xywh: npt.ArrayLike, output_shape: tuple[int, int] = OUTPUT_SHAPE_3DMPPE
) -> FloatArray:
    """Map (x, y) in the 64x64 output grid of a crop back to original-image pixels.

    ``x_img = x / 64 * bw + bx`` (MuPoTS/Human36M evaluate); identical to the demo's inverse
    affine because test-time crops have no rotation. ``points`` is [P, J, >=2] or [P, >=2];
    only the first two channels are mapped, others are returned unchanged.
    """
    pts = np.array(points, dtype=np.float64)
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    shape = (-1,) + (1,) * (pts.ndim - 2) + (4,)
    b = boxes.reshape(shape)
    pts[..., 0] = pts[..., 0] / output_shape[1] * b[..., 2] + b[..., 0]
    pts[..., 1] = pts[..., 1] / output_shape[0] * b[..., 3] + b[..., 1]
    return pts


def pixel_to_camera(uvz: npt.ArrayLike, fx: float, fy: float, cx: float, cy: float) -> FloatArray:
    """3DMPPE ``pixel2cam``: X = (u-cx)/fx*Z, Y = (v-cy)/fy*Z, on [..., 3] arrays."""
    p = np.asarray(uvz, dtype=np.float64)
    z = p[..., 2]
    return np.stack(((p[..., 0] - cx) / fx * z, (p[..., 1] - cy) / fy * z, z), axis=-1)


def rootnet_to_camera(
    output: npt.ArrayLike, boxes_xywh: npt.ArrayLike, fx: float, fy: float, cx: float, cy: float
) -> FloatArray:
    """RootNet output [P, 3] (x, y in the 64-grid, Z in mm) -> camera-frame roots [P, 3] (mm)."""
    out = np.asarray(output, dtype=np.float64).reshape(-1, 3)
    uvz = output_to_image(out, boxes_xywh)
    return pixel_to_camera(uvz, fx, fy, cx, cy)


def posenet_to_camera(
    coords: npt.ArrayLike,
    boxes_xywh: npt.ArrayLike,
    root_depth_mm: npt.ArrayLike,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
) -> FloatArray:
    """PoseNet soft-argmax [P, J, 3] (x, y, z in 0..64) -> camera-frame joints [P, J, 3] (mm).

    z is a root-relative depth bin: Z = (z/64*2 - 1) * 1000 + Z_root, with the 2000 mm cube
    of ``bbox_3d_shape``; Z_root comes from RootNet (or ground truth).
    """
    c = np.asarray(coords, dtype=np.float64)
    if c.ndim == 2:
        c = c[None]
    uvz = output_to_image(c, boxes_xywh)
    root = np.asarray(root_depth_mm, dtype=np.float64).reshape(-1, 1)
    uvz[..., 2] = (c[..., 2] / POSENET_DEPTH_DIM * 2.0 - 1.0) * (BBOX_3D_DEPTH_MM / 2.0) + root
    return pixel_to_camera(uvz, fx, fy, cx, cy)
