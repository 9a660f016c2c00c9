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
_RIDGE_EYE = RIDGE * np.eye(3)


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
    system = _System.of(rays, points, weights)
    in_front = np.ones(len(t), dtype=bool)
    for _ in range(GAUSS_NEWTON_STEPS):
        in_front &= _in_front(points, usable, t)
        step, _, _ = _gauss_newton_step(system, np.where(in_front[:, None], t, [0.0, 0.0, 1.0]))
        t = np.where(in_front[:, None], t + step, t)
    in_front &= _in_front(points, usable, t)
    _, covariance, residuals = _gauss_newton_step(system, np.where(in_front[:, None], t, [0.0, 0.0, 1.0]))
    return _results(t, covariance, residuals, points, usable, in_front, camera, min_visibility, relative_sigma)


def _results(
    t: FloatArray,
    covariance: FloatArray,
    residuals: FloatArray,
    points: FloatArray,
    usable: npt.NDArray[np.bool_],
    in_front: npt.NDArray[np.bool_],
    camera: CameraModel,
    min_visibility: float,
    relative_sigma: float,
) -> list[RootFit]:
    """Each person's fit, or why it failed, from the batch's arrays. The figures are taken
    for all people at once (one person at a time was 0.3 ms of a 20-person frame); only the
    root mean square sums in another order than per person (the same within 1e-15)."""
    used = np.count_nonzero(usable, axis=1)
    span = _spans(points, usable)
    fit_sigma = np.sqrt(np.maximum(covariance[:, 2, 2], 0.0))
    sigma = np.hypot(fit_sigma, relative_sigma * t[:, 2])
    used_twice = np.concatenate((usable, usable), axis=1)
    squares = np.where(used_twice, residuals, 0.0) ** 2
    rms_px = np.sqrt(np.sum(squares, axis=1) / np.maximum(2 * used, 1)) * float(np.sqrt(camera.fx * camera.fy))
    results: list[RootFit] = []
    for n, (count, reach, front) in enumerate(zip(used.tolist(), span.tolist(), in_front.tolist(), strict=True)):
        failure = _failure(count, reach, min_visibility, front)
        results.append(
            failure
            if failure is not None
            else MonocularRoot(position=t[n].copy(), sigma=float(sigma[n]), landmarks=count, rms_px=float(rms_px[n]))
        )
    return results


def _spans(points: FloatArray, usable: npt.NDArray[np.bool_]) -> FloatArray:
    """Per person [N]: the larger extent (x or y) of the used landmarks (NaN without any)."""
    with np.errstate(invalid="ignore"):
        high = np.where(usable[..., None], points[..., :2], -np.inf).max(axis=1)
        low = np.where(usable[..., None], points[..., :2], np.inf).min(axis=1)
        return np.asarray((high - low).max(axis=1))


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
    normal = weighted @ design + _RIDGE_EYE
    return np.asarray(np.linalg.inv(normal), dtype=np.float64), (weighted @ target[..., None])[..., 0]


@dataclass(frozen=True)
class _System:
    """What every Gauss-Newton step of one batch shares, taken once: the rays and points
    [N,L,2|3], the weights [N,L], those of both residuals [N,2L], which landmarks weigh
    [N,L], and the residual variance's degrees of freedom [N]."""

    rays: FloatArray
    points: FloatArray
    weights: FloatArray
    both: FloatArray
    weighs: npt.NDArray[np.bool_]
    freedom: npt.NDArray[np.int64]

    @staticmethod
    def of(rays: FloatArray, points: FloatArray, weights: FloatArray) -> _System:
        weighs = weights > 0
        freedom = np.maximum(2 * np.count_nonzero(weighs, axis=1) - 3, 1)
        return _System(rays, points, weights, np.concatenate((weights, weights), axis=1), weighs, freedom)


def _gauss_newton_step(system: _System, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One weighted Gauss-Newton step per person on the normalised reprojection residuals:
    (the steps [N,3], the covariances of t [N,3,3] scaled by the residuals' variance, the
    residuals [N,2L])."""
    rays, points, weights, w = system.rays, system.points, system.weights, system.both
    depth = np.where(system.weighs, points[..., 2] + t[:, None, 2], 1.0)
    x = (points[..., 0] + t[:, None, 0]) / depth
    y = (points[..., 1] + t[:, None, 1]) / depth
    residuals = np.concatenate((x - rays[..., 0], y - rays[..., 1]), axis=1)
    count, landmarks = weights.shape
    jacobian = np.zeros((count, 2 * landmarks, 3))
    jacobian[:, :landmarks, 0] = 1.0 / depth
    jacobian[:, :landmarks, 2] = -x / depth
    jacobian[:, landmarks:, 1] = 1.0 / depth
    jacobian[:, landmarks:, 2] = -y / depth
    inverse, gradient = _normal_equations(jacobian, w, residuals)
    step = -(inverse @ gradient[..., None])[..., 0]
    # Residual k has variance sigma^2 / w_k; sigma^2 estimated from the weighted residuals.
    variance = np.sum(w * residuals**2, axis=1) / system.freedom
    return np.asarray(step), np.asarray(inverse * variance[:, None, None]), residuals
