"""The monocular root: where a metric skeleton must stand for its joints to project onto
the 2D landmarks.

With the skeleton P_j (metres, camera axes, origin the hip centre) placed at t, landmark j
projects to x_n = (X_j + t_x) / (Z_j + t_z), y_n = (Y_j + t_y) / (Z_j + t_z) in undistorted
normalised coordinates. Multiplied out this is linear in t,

    x_n t_z - t_x = X_j - x_n Z_j,    y_n t_z - t_y = Y_j - y_n Z_j,

solved by weighted least squares (weights: the landmarks' visibility), then refined by
Gauss-Newton steps on the reprojection error itself (the linear form weights each landmark
by its depth). The depth comes from the skeleton's size against its image size, so its
error has two parts: the fit's (2D noise; the covariance of the last step, scaled by the
residuals) and the skeleton's scale: the network cannot know a person's true size, and a
person 5 % taller than it assumes stands 5 % further away. ``relative_sigma`` is that part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.stages.blazepose.root_kernel import fit_batch

FloatArray = npt.NDArray[np.float64]
# BlazePose landmarks the fit uses: shoulders, hips, knees, ankles, heels, toes. The face
# (small, far from the skeleton's scale) and the hands (the least certain 3D points) are left out.
ROOT_FIT_LANDMARKS = (11, 12, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32)
MIN_LANDMARKS = 4
# Landmarks that span less than this (in the image plane of the skeleton) cannot fix a scale.
MIN_SPAN_M = 0.25
# No skeleton joint may be closer to the camera than this: the fit is then meaningless.
MIN_DEPTH_M = 0.1
# The linear solution starts close: two steps converge to 1e-9 m on the synthetic checks; three for margin.
GAUSS_NEWTON_STEPS = 3
# Added to the normal matrices: keeps a person without usable landmarks from making the batch singular.
RIDGE = 1e-12


@dataclass(frozen=True)
class MonocularRoot:
    """The fitted pelvis (camera frame, metres) and its 1-sigma along the depth."""

    position: FloatArray  # [3]
    sigma: float
    landmarks: int  # how many landmarks the fit used
    rms_px: float  # reprojection error of those landmarks

    @property
    def depth(self) -> float:
        return float(self.position[2])


@dataclass(frozen=True)
class RootFitFailure:
    """Why no root could be fitted."""

    reason: str


RootFit = MonocularRoot | RootFitFailure


def fit_root(
    pixels: FloatArray,
    visibility: FloatArray,
    skeleton: FloatArray,
    camera: CameraModel,
    *,
    min_visibility: float = 0.5,
    relative_sigma: float = 0.07,
    landmarks: tuple[int, ...] = ROOT_FIT_LANDMARKS,
) -> RootFit:
    """Fit the translation of ``skeleton`` [L,3] (camera axes, root-relative) so that it
    projects onto ``pixels`` [L,2]; see :func:`fit_roots`."""
    (fit,) = fit_roots(
        pixels[None],
        visibility[None],
        skeleton[None],
        camera,
        min_visibility=min_visibility,
        relative_sigma=relative_sigma,
        landmarks=landmarks,
    )
    return fit


def fit_roots(
    pixels: FloatArray,
    visibility: FloatArray,
    skeletons: FloatArray,
    camera: CameraModel,
    *,
    min_visibility: float = 0.5,
    relative_sigma: float = 0.07,
    landmarks: tuple[int, ...] = ROOT_FIT_LANDMARKS,
    fallback: tuple[int, ...] | None = None,
) -> list[RootFit]:
    """The roots of N people at once: pixels [N,L,2], visibility [N,L], skeletons [N,L,3].

    The landmarks used are those of ``landmarks`` seen with a visibility above
    ``min_visibility`` and lying inside the image; the others get weight 0. All people are
    fitted in one compiled pass (:func:`.root_kernel.fit_batch`). ``fallback``: the
    landmarks of a second fit for the people whose fit fails, whose result replaces theirs.
    """
    fits = _fit_arrays(pixels, visibility, skeletons, camera, min_visibility, landmarks)
    failed = _failed(fits)
    if fallback is not None and failed.any():
        again = _fit_arrays(pixels[failed], visibility[failed], skeletons[failed], camera, min_visibility, fallback)
        for whole, part in zip(fits, again, strict=True):
            whole[failed] = part
    return _results(*fits, camera, min_visibility, relative_sigma)


_Fits = tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.int64], npt.NDArray[np.bool_]]


def _fit_arrays(
    pixels: FloatArray,
    visibility: FloatArray,
    skeletons: FloatArray,
    camera: CameraModel,
    min_visibility: float,
    landmarks: tuple[int, ...],
) -> _Fits:
    """The kernel's arrays of N people's fits on ``landmarks`` (:func:`.root_kernel.fit_batch`)."""
    index = np.asarray(landmarks)
    uv = np.ascontiguousarray(pixels[:, index], dtype=np.float64)
    # The rays of every landmark (each undistorted on its own); the kernel reads the usable ones.
    rays = camera.normalized_rays(uv.reshape(-1, 2)).reshape(uv.shape)
    return fit_batch(
        uv,
        np.ascontiguousarray(rays, dtype=np.float64),
        np.ascontiguousarray(visibility[:, index], dtype=np.float64),
        np.ascontiguousarray(skeletons[:, index], dtype=np.float64),
        np.array([camera.width, camera.height, min_visibility], dtype=np.float64),
        MIN_DEPTH_M,
        GAUSS_NEWTON_STEPS,
        RIDGE,
    )


def _failed(fits: _Fits) -> npt.NDArray[np.bool_]:
    """Which fits fail (:func:`_failure`'s tests on all people at once)."""
    _, _, _, spans, used, in_front = fits
    return np.asarray((used < MIN_LANDMARKS) | (spans < MIN_SPAN_M) | ~in_front)


def _results(
    t: FloatArray,
    variances: FloatArray,
    squares: FloatArray,
    spans: FloatArray,
    used: npt.NDArray[np.int64],
    in_front: npt.NDArray[np.bool_],
    camera: CameraModel,
    min_visibility: float,
    relative_sigma: float,
) -> list[RootFit]:
    """Each person's fit, or why it failed, from the batch's arrays (:func:`.root_kernel.fit_batch`)."""
    sigma = np.hypot(np.sqrt(np.maximum(variances, 0.0)), relative_sigma * t[:, 2]).tolist()
    rms_px = (np.sqrt(squares / np.maximum(2 * used, 1)) * float(np.sqrt(camera.fx * camera.fy))).tolist()
    results: list[RootFit] = []
    for n, (count, reach, front) in enumerate(zip(used.tolist(), spans.tolist(), in_front.tolist(), strict=True)):
        failure = _failure(count, reach, min_visibility, front)
        results.append(
            failure
            if failure is not None
            else MonocularRoot(position=t[n].copy(), sigma=sigma[n], landmarks=count, rms_px=rms_px[n])
        )
    return results


def _failure(used: int, span: float, min_visibility: float, in_front: bool) -> RootFitFailure | None:
    """Why the fit of one person (``used`` landmarks spanning ``span`` m) is unusable, or None."""
    if used < MIN_LANDMARKS:
        return RootFitFailure(
            f"{used} landmarks of the torso and legs are visible (> {min_visibility}) inside "
            f"the image; the fit needs {MIN_LANDMARKS}"
        )
    if span < MIN_SPAN_M:
        return RootFitFailure(f"the visible landmarks span {span:.2f} m; at least {MIN_SPAN_M} m fixes a scale")
    if not in_front:
        return RootFitFailure("the fitted skeleton lies (partly) behind the camera")
    return None
