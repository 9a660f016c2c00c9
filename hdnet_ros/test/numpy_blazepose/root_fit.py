"""The monocular root fit with its per-person result loop: ``stages/blazepose/root_fit.py``
as main had it at 9f93135, kept only as the reference ``test_blazepose_glue`` holds the
vectorised results to (equal to the bit; the reprojection rms within 1e-12, its sum taken in
another order). A change of the fit's behaviour changes this copy in the same commit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hdnet_ros.camera import CameraModel

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
) -> list[RootFit]:
    """The roots of N people at once: pixels [N,L,2], visibility [N,L], skeletons [N,L,3].

    The landmarks used are those of ``landmarks`` seen with a visibility above
    ``min_visibility`` and lying inside the image; the others get weight 0, so all people
    share one vectorised fit.
    """
    index = np.asarray(landmarks)
    uv = pixels[:, index]
    points = skeletons[:, index]
    inside = (
        (uv[..., 0] >= 0) & (uv[..., 0] <= camera.width - 1) & (uv[..., 1] >= 0) & (uv[..., 1] <= camera.height - 1)
    )
    usable = (visibility[:, index] > min_visibility) & inside & np.all(np.isfinite(points), axis=2)
    weights = np.where(usable, visibility[:, index], 0.0)
    rays = camera.normalized_rays(np.where(usable[..., None], uv, 0.0).reshape(-1, 2)).reshape(uv.shape)
    rays = np.where(usable[..., None], rays, 0.0)
    points = np.where(usable[..., None], points, 0.0)
    t = _linear_fit(rays, points, weights)
    in_front = np.ones(len(t), dtype=bool)
    for _ in range(GAUSS_NEWTON_STEPS):
        in_front &= _in_front(points, usable, t)
        step, _, _ = _gauss_newton_step(rays, points, weights, np.where(in_front[:, None], t, [0.0, 0.0, 1.0]))
        t = np.where(in_front[:, None], t + step, t)
    in_front &= _in_front(points, usable, t)
    _, covariance, residuals = _gauss_newton_step(
        rays, points, weights, np.where(in_front[:, None], t, [0.0, 0.0, 1.0])
    )
    results: list[RootFit] = []
    for n in range(len(t)):
        failure = _failure(points[n, usable[n]], min_visibility, bool(in_front[n]))
        if failure is not None:
            results.append(failure)
            continue
        fit_sigma = float(np.sqrt(max(covariance[n, 2, 2], 0.0)))
        used = usable[n]
        rms = float(np.sqrt(np.mean(residuals[n][np.concatenate((used, used))] ** 2)))
        results.append(
            MonocularRoot(
                position=t[n].copy(),
                sigma=float(np.hypot(fit_sigma, relative_sigma * t[n, 2])),
                landmarks=int(used.sum()),
                rms_px=rms * float(np.sqrt(camera.fx * camera.fy)),
            )
        )
    return results


def _failure(used_points: FloatArray, min_visibility: float, in_front: bool) -> RootFitFailure | None:
    """Why the fit of one person is unusable, or None."""
    if len(used_points) < MIN_LANDMARKS:
        return RootFitFailure(
            f"{len(used_points)} landmarks of the torso and legs are visible (> {min_visibility}) inside "
            f"the image; the fit needs {MIN_LANDMARKS}"
        )
    span = float(np.ptp(used_points[:, :2], axis=0).max())
    if span < MIN_SPAN_M:
        return RootFitFailure(f"the visible landmarks span {span:.2f} m; at least {MIN_SPAN_M} m fixes a scale")
    if not in_front:
        return RootFitFailure("the fitted skeleton lies (partly) behind the camera")
    return None


def _in_front(points: FloatArray, usable: npt.NDArray[np.bool_], t: FloatArray) -> npt.NDArray[np.bool_]:
    """Per person: do all used landmarks lie at least MIN_DEPTH_M in front of the camera?"""
    return np.asarray(np.all((points[..., 2] + t[:, None, 2] > MIN_DEPTH_M) | ~usable, axis=1))


def _linear_fit(rays: FloatArray, points: FloatArray, weights: FloatArray) -> FloatArray:
    """The linear least-squares t [N,3] of the multiplied-out projection equations."""
    count, landmarks = weights.shape
    design = np.zeros((count, 2 * landmarks, 3))
    design[:, :landmarks, 0] = -1.0
    design[:, landmarks:, 1] = -1.0
    design[:, :landmarks, 2] = rays[..., 0]
    design[:, landmarks:, 2] = rays[..., 1]
    target = np.concatenate(
        (points[..., 0] - rays[..., 0] * points[..., 2], points[..., 1] - rays[..., 1] * points[..., 2]), axis=1
    )
    inverse, rhs = _normal_equations(design, np.concatenate((weights, weights), axis=1), target)
    return np.asarray((inverse @ rhs[..., None])[..., 0])


def _normal_equations(design: FloatArray, weights: FloatArray, target: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(A^T W A)^-1 [N,3,3] and A^T W b [N,3] of each person's weighted system. A person
    without a usable landmark (all weights 0) gets a tiny ridge instead of a singular matrix;
    its fit is reported as a failure anyway."""
    weighted = np.swapaxes(design * weights[..., None], 1, 2)  # [N,3,K]
    normal = weighted @ design + RIDGE * np.eye(3)
    return np.asarray(np.linalg.inv(normal), dtype=np.float64), (weighted @ target[..., None])[..., 0]


def _gauss_newton_step(
    rays: FloatArray, points: FloatArray, weights: FloatArray, t: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One weighted Gauss-Newton step per person on the normalised reprojection residuals:
    (the steps [N,3], the covariances of t [N,3,3] scaled by the residuals' variance, the
    residuals [N,2L])."""
    depth = np.where(weights > 0, points[..., 2] + t[:, None, 2], 1.0)
    x = (points[..., 0] + t[:, None, 0]) / depth
    y = (points[..., 1] + t[:, None, 1]) / depth
    residuals = np.concatenate((x - rays[..., 0], y - rays[..., 1]), axis=1)
    count, landmarks = weights.shape
    jacobian = np.zeros((count, 2 * landmarks, 3))
    jacobian[:, :landmarks, 0] = 1.0 / depth
    jacobian[:, :landmarks, 2] = -x / depth
    jacobian[:, landmarks:, 1] = 1.0 / depth
    jacobian[:, landmarks:, 2] = -y / depth
    w = np.concatenate((weights, weights), axis=1)
    inverse, gradient = _normal_equations(jacobian, w, residuals)
    step = -(inverse @ gradient[..., None])[..., 0]
    # Residual k has variance sigma^2 / w_k; sigma^2 estimated from the weighted residuals.
    used = np.count_nonzero(weights > 0, axis=1)
    variance = np.sum(w * residuals**2, axis=1) / np.maximum(2 * used - 3, 1)
    return np.asarray(step), np.asarray(inverse * variance[:, None, None]), residuals
