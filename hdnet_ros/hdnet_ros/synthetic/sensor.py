"""Depth sensor models: what a real RGB-D camera does to the exact rendered depth.

The Kinect-like preset follows the structured-light error model of Khoshelham & Elberink
(2012): random error growing with the square of the range (sigma = k z^2, k = 1.5e-3 /m,
i.e. 1.5 mm at 1 m, 24 mm at 4 m), depth quantised in disparity (a step that also grows
with z^2), a projector shadow beside foreground edges (invalid pixels), mixed "flying"
pixels on silhouettes, random dropouts and blob-shaped holes (dark or specular surfaces),
and no depth beyond the maximum range. Output: float32 metres, NaN where invalid, rounded to
the millimetre like a 16UC1 image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel

DepthImage = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SensorModel:
    noise_coefficient: float = 0.0015  # sigma = k z^2 [1/m]
    correlated_fraction: float = 0.5  # share of the noise variance that is spatially smooth
    correlation_px: float = 2.0  # Gaussian blur sigma of the smooth part [px at 640 wide]
    disparity_step: float = 0.001  # quantisation of 1/z [1/m]; depth step = step * z^2
    unit_m: float = 0.001  # output resolution (16UC1 millimetres)
    min_range_m: float = 0.5
    max_range_m: float = 5.0
    random_hole_fraction: float = 0.005  # isolated invalid pixels
    hole_blobs_mean: float = 2.0  # blob holes per frame (Poisson mean)
    hole_blob_radius_px: tuple[float, float] = (2.0, 10.0)  # at 640 wide
    shadow_baseline_m: float = 0.075  # projector-camera baseline; 0 = no shadow
    edge_jump_m: float = 0.05  # a depth step that makes a silhouette edge
    flying_pixel_prob: float = 0.3  # chance that an edge pixel mixes both surfaces
    edge_hole_prob: float = 0.2  # chance that an edge pixel is invalid

    def scaled(self, factor: float) -> SensorModel:
        """The same sensor with ``factor`` times the noise and the artefact rates."""
        return replace(
            self,
            noise_coefficient=self.noise_coefficient * factor,
            random_hole_fraction=min(self.random_hole_fraction * factor, 0.5),
            hole_blobs_mean=self.hole_blobs_mean * factor,
            flying_pixel_prob=min(self.flying_pixel_prob * factor, 1.0),
            edge_hole_prob=min(self.edge_hole_prob * factor, 1.0),
        )


IDEAL = SensorModel(
    noise_coefficient=0.0,
    disparity_step=0.0,
    unit_m=0.0,
    random_hole_fraction=0.0,
    hole_blobs_mean=0.0,
    shadow_baseline_m=0.0,
    flying_pixel_prob=0.0,
    edge_hole_prob=0.0,
)
KINECT = SensorModel()
SENSOR_PRESETS: dict[str, SensorModel] = {"ideal": IDEAL, "kinect": KINECT, "kinect_x2": KINECT.scaled(2.0)}


def _shift(image: npt.NDArray[np.float64], dy: int, dx: int, fill: float) -> npt.NDArray[np.float64]:
    """image shifted so that out[r, c] = image[r + dy, c + dx] (``fill`` outside)."""
    out = np.full_like(image, fill)
    h, w = image.shape
    out[max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)] = image[
        max(dy, 0) : h - max(-dy, 0), max(dx, 0) : w - max(-dx, 0)
    ]
    return out


def _neighbour_extremes(z: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per pixel, the nearest and farthest depth among itself and its 4-neighbours."""
    near, far = z.copy(), z.copy()
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        near = np.minimum(near, _shift(z, dy, dx, np.inf))
        far = np.maximum(far, _shift(z, dy, dx, -np.inf))
    return near, far


def _shadow(z: npt.NDArray[np.float64], fx: float, baseline: float) -> npt.NDArray[np.bool_]:
    """Pixels the projector cannot light: a background pixel is hidden when a nearer
    surface up to ``fx * baseline * (1/z_near - 1/z)`` pixels to its right occludes it."""
    inv = np.where(np.isfinite(z), 1.0 / np.maximum(z, 1e-3), 0.0)
    max_px = int(np.ceil(fx * baseline * float(inv.max(initial=0.0))))
    shadowed = np.zeros(z.shape, dtype=bool)
    for k in range(1, min(max_px, 64) + 1):
        right = _shift(inv, 0, k, 0.0)
        shadowed |= fx * baseline * (right - inv) >= k
    return shadowed


def _blob_holes(
    shape: tuple[int, int], rng: np.random.Generator, model: SensorModel, scale: float
) -> npt.NDArray[np.bool_]:
    mask = np.zeros(shape, dtype=np.uint8)
    for _ in range(int(rng.poisson(model.hole_blobs_mean))):
        centre = (int(rng.integers(shape[1])), int(rng.integers(shape[0])))
        axes = tuple(max(int(round(rng.uniform(*model.hole_blob_radius_px) * scale)), 1) for _ in range(2))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, thickness=-1)
    return mask.astype(bool)


def _smooth_noise(shape: tuple[int, int], rng: np.random.Generator, sigma_px: float) -> npt.NDArray[np.float64]:
    """Unit-variance Gaussian noise correlated over about ``sigma_px`` pixels."""
    white = rng.standard_normal(shape)
    if sigma_px <= 0:
        return white
    smooth = cv2.GaussianBlur(white, (0, 0), sigma_px)
    # Variance of blurred white noise is 1 / (4 pi sigma^2) for a 2D Gaussian kernel.
    return smooth * np.sqrt(4.0 * np.pi * sigma_px**2)


def apply_sensor(
    true_depth: npt.ArrayLike, camera: CameraModel, model: SensorModel, rng: np.random.Generator
) -> DepthImage:
    """The sensor's view of an exact depth image (inf = nothing hit)."""
    z = np.asarray(true_depth, dtype=np.float64)
    scale = camera.width / 640.0
    near, far = _neighbour_extremes(z)
    with np.errstate(invalid="ignore"):  # inf - inf where nothing is hit
        edge = np.isfinite(near) & ((far - near) > model.edge_jump_m)
        out = z.copy()
        # Flying pixels: a silhouette pixel integrates both surfaces.
        fly = edge & np.isfinite(far) & (rng.random(z.shape) < model.flying_pixel_prob)
        alpha = rng.uniform(0.1, 0.9, size=z.shape)
        out = np.where(fly, near + alpha * (far - near), out)
    if model.noise_coefficient > 0:
        c = model.correlated_fraction
        noise = np.sqrt(1.0 - c) * rng.standard_normal(z.shape) + np.sqrt(c) * _smooth_noise(
            z.shape, rng, model.correlation_px * scale
        )
        with np.errstate(invalid="ignore"):
            out = out + model.noise_coefficient * out**2 * noise
    if model.disparity_step > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            steps = np.round(1.0 / (out * model.disparity_step))
            out = np.where(steps > 0, 1.0 / (steps * model.disparity_step), np.inf)
    if model.unit_m > 0:
        with np.errstate(invalid="ignore"):
            out = np.round(out / model.unit_m) * model.unit_m
    invalid = ~np.isfinite(out) | (out < model.min_range_m) | (out > model.max_range_m)
    invalid |= edge & (rng.random(z.shape) < model.edge_hole_prob)
    if model.shadow_baseline_m > 0:
        invalid |= _shadow(z, camera.fx, model.shadow_baseline_m)
    if model.random_hole_fraction > 0:
        invalid |= rng.random(z.shape) < model.random_hole_fraction
    if model.hole_blobs_mean > 0:
        invalid |= _blob_holes(z.shape, rng, model, scale)
    out[invalid] = np.nan
    return out.astype(np.float32)
