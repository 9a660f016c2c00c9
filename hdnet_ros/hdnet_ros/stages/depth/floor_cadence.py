"""The depth floor kept across the frames of a static camera, checked every frame.

Fitting the floor (:mod:`.floor`: 500 candidate pixels and a least-squares refit when an
earlier floor is kept, a RANSAC over 3000 when not) costs about 0.2 ms (0.5 ms when the
image shows no floor) of every frame whose people need it. A fixed camera sees the same
floor frame after frame, so the fit is kept and only checked: each frame reads the depth
at CHECK_PIXELS of the last fit's inlier pixels (spread over the floor: the fit's random
candidates in their drawn order) and keeps the floor when

* at least CHECK_ON_FRACTION of them still lie on it within the fit's own tolerance (the
  rest may be covered by people walking over them, or have lost their depth), and
* the plane through them (least squares, weighted by the sensor's noise) lies within
  CHECK_SHIFT_M of the kept floor at their centre and is tilted from it by at most
  CHECK_TILT_DEGREES (or three standard errors of either, when that is larger): a camera
  raised or lowered by FLOOR_KEPT_M, or pitched or rolled by FLOOR_KEPT_DEGREES (the moves
  after which the per-frame refit itself starts anew) moves that plane by twice the
  bounds, whatever the people do.

Otherwise (the camera moved, the floor left the view, people stand on the pixels, the
image or the camera changed size or intrinsics) and at least every REFIT_FRAMES frames
the floor is fitted as before, by the very functions and from the kept floor as the
per-frame fit did. An image that showed no floor is fitted again after REFIT_FRAMES
frames (there are no pixels to check), so a floor coming into view is found that late;
an image with too little depth to look for one in (a dropped frame) is not kept. Frames
are counted as the floor is asked for (the depth images whose people need it), and a
frame without depth leaves the kept floor as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.stages.depth.floor import (
    FLOOR_KEPT_DEGREES,
    FLOOR_KEPT_M,
    FloorSamples,
    GroundConfig,
    GroundPlane,
    estimated_fit,
    floor_depth_seen,
    inlier_tolerance,
    refreshed_fit,
)
from hdnet_ros.stages.depth.jit import compiled

FloatArray = npt.NDArray[np.float64]

REFIT_FRAMES = 10  # the floor used is at most this many frames minus one old
CHECK_PIXELS = 32
CHECK_ON_FRACTION = 0.75
CHECK_SHIFT_M = FLOOR_KEPT_M / 2.0
CHECK_TILT_DEGREES = FLOOR_KEPT_DEGREES / 2.0
_CHECK_TILT = math.tan(math.radians(CHECK_TILT_DEGREES))
_MIN_SIGMA_M = 0.002  # a depth pixel's noise at least (quantisation, calibration)


@dataclass(frozen=True)
class FloorCheck:
    """Where a kept floor is checked: CHECK_PIXELS inlier pixels of its fit (rows, columns)
    and each pixel's normalized viewing ray (z = 1) along the floor's normal, so that the
    point at depth z lies ``z * slopes - offset`` above the floor."""

    rows: npt.NDArray[np.intp]
    cols: npt.NDArray[np.intp]
    slopes: FloatArray
    rays_x: FloatArray  # the rays' x (z = 1)
    shape: tuple[int, ...]
    camera: CameraModel


def floor_check(
    plane: GroundPlane, samples: FloorSamples, shape: tuple[int, ...], camera: CameraModel, config: GroundConfig
) -> FloorCheck:
    """The check of a fitted floor: the first CHECK_PIXELS of the fit's samples (a random
    draw over the lower image) that lie on it."""
    points = samples.points
    on = np.flatnonzero(np.abs(points @ plane.normal - plane.offset) < inlier_tolerance(points, config))
    chosen = on[:CHECK_PIXELS]
    rays = points[chosen] / points[chosen, 2:3]
    pixels = samples.pixels[chosen].astype(np.intp)
    return FloorCheck(pixels[:, 1], pixels[:, 0], rays @ plane.normal, rays[:, 0].copy(), shape, camera)


def _same_camera(a: CameraModel, b: CameraModel) -> bool:
    return a is b or (
        (a.width, a.height, a.distortion_model) == (b.width, b.height, b.distortion_model)
        and np.array_equal(a.K, b.K)
        and np.array_equal(a.D, b.D)
    )


def floor_holds(
    check: FloorCheck, plane: GroundPlane, depth: npt.NDArray[np.float32], camera: CameraModel, config: GroundConfig
) -> bool:
    """Whether ``plane`` is still the floor of ``depth`` by its check pixels (module doc)."""
    if depth.shape != check.shape or not _same_camera(camera, check.camera) or not len(check.rows):
        return False
    # The pixels' depths gathered first: one kernel signature whatever the image's type.
    depths = depth[check.rows, check.cols].astype(np.float64)
    count, shift, shift_error, tilt, tilt_error = _check_fit(
        depths, check.slopes, check.rays_x, float(plane.offset), float(config.noise_coefficient)
    )
    if count < CHECK_ON_FRACTION * len(check.rows):
        return False
    return abs(shift) <= max(CHECK_SHIFT_M, 3.0 * shift_error) and tilt <= max(_CHECK_TILT, 3.0 * tilt_error)


@compiled
def _check_fit(
    depths: FloatArray,
    slopes: FloatArray,
    rays_x: FloatArray,
    offset: float,
    noise_coefficient: float,
) -> tuple[int, float, float, float, float]:
    """How many check pixels (their ``depths``) lie on the kept floor (within the fit's tolerance), and the
    plane through those (least squares, weighted by the sensor's inverse variance there:
    the near pixels, a few millimetres noisy, tell the most): its height above the floor
    at their weighted centre, its tilt from it (the slope across the image and ahead) and
    the standard errors of both."""
    n = len(depths)
    above, x, z, weight = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    count = 0
    for k in range(n):
        depth_z = depths[k]
        distance = depth_z * slopes[k] - offset
        if depth_z > 0.0 and abs(distance) < 0.02 + 3.0 * noise_coefficient * depth_z * depth_z:
            sigma = max(noise_coefficient * depth_z * depth_z, _MIN_SIGMA_M)
            above[count], x[count], z[count], weight[count] = (
                distance,
                depth_z * rays_x[k],
                depth_z,
                1.0 / (sigma * sigma),
            )
            count += 1
    if count < 3:
        return count, np.inf, 0.0, np.inf, 0.0
    total, centre_x, centre_z = 0.0, 0.0, 0.0
    for k in range(count):
        total += weight[k]
        centre_x += weight[k] * x[k]
        centre_z += weight[k] * z[k]
    centre_x, centre_z = centre_x / total, centre_z / total
    # The weighted normal equations of above = a + b (x - centre_x) + c (z - centre_z); the
    # centring leaves a apart from b and c, so a 2x2 system remains.
    sxx, sxz, szz, sa, sax, saz = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for k in range(count):
        dx, dz, w = x[k] - centre_x, z[k] - centre_z, weight[k]
        sxx += w * dx * dx
        sxz += w * dx * dz
        szz += w * dz * dz
        sa += w * above[k]
        sax += w * above[k] * dx
        saz += w * above[k] * dz
    determinant = sxx * szz - sxz * sxz
    if not determinant > 0.0:  # the pixels on a line: no tilt to tell
        return count, sa / total, math.sqrt(1.0 / total), 0.0, np.inf
    b = (szz * sax - sxz * saz) / determinant
    c = (sxx * saz - sxz * sax) / determinant
    tilt_error = math.sqrt((szz + sxx) / determinant)  # the two slopes' errors together
    return count, sa / total, math.sqrt(1.0 / total), math.hypot(b, c), tilt_error


class FloorCadence:
    """The depth image's floor, fitted at most every ``refit_frames`` frames of a camera
    that does not move (module doc). ``refits`` counts the fits."""

    def __init__(self, config: GroundConfig, refit_frames: int = REFIT_FRAMES) -> None:
        if refit_frames < 1:
            raise ValueError(f"the floor is refitted every 1 or more frames, not {refit_frames}")
        self.config = config
        self.refit_frames = refit_frames
        self.plane: GroundPlane | None = None
        self.age = 0  # frames since the floor (or the lack of one) was fitted
        self.refits = 0
        self._check: FloorCheck | None = None
        self._fitted_on: tuple[tuple[int, ...], CameraModel] | None = None  # what the last fit saw

    def __call__(self, depth: npt.NDArray[np.float32], camera: CameraModel) -> GroundPlane | None:
        """The floor of ``depth``: the kept one while it holds, else fitted anew."""
        if self._fitted_on is not None and self.age + 1 < self.refit_frames and self._holds(depth, camera):
            self.age += 1
            return self.plane
        self._fit(depth, camera)
        return self.plane

    def _holds(self, depth: npt.NDArray[np.float32], camera: CameraModel) -> bool:
        if self.plane is None:  # no floor: nothing to check, the shapes and camera must match
            assert self._fitted_on is not None
            shape, fitted_camera = self._fitted_on
            return depth.shape == shape and _same_camera(camera, fitted_camera)
        assert self._check is not None
        return floor_holds(self._check, self.plane, depth, camera, self.config)

    def _fit(self, depth: npt.NDArray[np.float32], camera: CameraModel) -> None:
        """The per-frame fit: the kept floor refitted to this image, else a new one."""
        config = self.config
        found = refreshed_fit(self.plane, depth, camera, config) if self.plane is not None else None
        found = found or estimated_fit(depth, camera, config)
        shape = tuple(int(n) for n in depth.shape)
        if found is None:
            self.plane, self._check = None, None
        else:
            self.plane = found[0]
            self._check = floor_check(found[0], found[1], shape, camera, config)
        # No floor in an image with depth: looked for again after refit_frames frames. A
        # blank (dropped) image says nothing of the floor: the next image is fitted.
        seen = found is not None or floor_depth_seen(depth, config)
        self._fitted_on = (shape, camera) if seen else None
        self.age = 0
        self.refits += 1


def warm_check() -> None:
    """Compile (or load) the check's kernel with a real frame's argument types."""
    ones = np.ones(CHECK_PIXELS)
    _check_fit(ones, ones, ones, -1.0, 0.0015)
