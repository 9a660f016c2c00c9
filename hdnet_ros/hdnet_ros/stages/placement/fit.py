"""Where a person stands without depth: one least-squares problem per person over the
translation ``t`` of their metric skeleton and its scale ``s``, combining every cue by its
uncertainty.

Unknowns: t (the pelvis, camera frame) and s (the person's size relative to the network's
skeleton P_j, pelvis-relative, camera axes). Residuals, each divided by its 1-sigma:

- reprojection of every seen torso, leg and foot point: ``(X_j / Z_j - x_j)`` with
  ``X_j = t + s P_j``; its sigma combines the keypoint noise and the skeleton's own shape
  error at that depth (the torso is rigid, the limbs less certain);
- the scale prior ``s - s0`` (``s0`` 1 for a stranger, the track's learned scale while it
  lasts; sigma: adult stature and the network's own scale error, or the track's);
- with a floor, for a person who stands (see :func:`standing`): the pelvis is at hip
  height over the floor (``n . t - d = s (leg + ankle height)``), and over the middle of
  the seen ankles (their rays meet the floor raised by the ankle height), up to the stance
  and lean. This replaces the network's leg orientation, its least certain part when the
  camera looks down (BlazePose's legs lean 10-20 degrees less than the truth seen from
  3.4 m, which puts people 0.5 m too far). The floor's offset enters with the floor's
  height uncertainty where the person stands (:meth:`Floor.height_sigma`: a floor seen
  from people is known best where they stood), its tilt with the leg's lever;
- a floor the people did not make (TF, the depth image) also turns a standing skeleton's
  trunk upright by the share the two uncertainties leave it (``posture.uprighting``): the
  network's trunk leans off the truth seen from above as its legs do, less.

Whether the floor applies is decided per person: the skeleton must stand (hips over the
ankles by most of a leg, as far as the network's lean seen from above allows: a seated or
lying person does not), and the floor fit must agree with the free fit within its
uncertainty (a chi-square test), so a person on a chair, a step or a table is never
pulled onto the floor.

The constants of the model live in fit_constants.py (re-exported here); the fit itself runs
as one compiled call per person (fit_kernel.place, numba, cached like the depth stage's
kernels): about 0.02 ms a person where the numpy version took 0.6 ms (docs/benchmarks.md,
"The placement compiled"), with the same results (test_placement_kernel.py keeps the numpy
version as the reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.stages.placement.fit_constants import (  # noqa: F401 (re-exported: callers import them from here)
    ANKLE_HEIGHT_M,
    ANKLE_HEIGHT_SIGMA_M,
    CHI2_BOUND,
    FEET_MIN_SCORE,
    FIT_POINTS,
    FREE_OFFSET_SIGMA_M,
    HIP_HEIGHT_SIGMA_M,
    ITERATIONS,
    LIMBS,
    MAX_DEPTH_M,
    MIN_DEPTH_M,
    MIN_OFFSET_SIGMA_M,
    MIN_POINTS,
    MIN_SPAN_M,
    NUM_POINTS,
    OVER_FEET_SIGMA_M,
    OVER_ONE_FOOT_SIGMA_M,
    SHAPE_SIGMA_LIMB_M,
    SHAPE_SIGMA_TORSO_M,
    STANDING_LIMB_SIGMA_M,
    TORSO,
)
from hdnet_ros.stages.placement.fit_kernel import (
    BEHIND_CAMERA,
    NOT_CONVERGED,
    PLACED,
    TOO_FEW_POINTS,
    TOO_SMALL_SPAN,
    place,
)
from hdnet_ros.stages.placement.floor import Floor, tangent_basis
from hdnet_ros.stages.placement.posture import UPRIGHTING_FLOORS, standing  # noqa: F401 (standing: callers import it from here)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Cues:
    """One person's inputs: skeleton [21,3] (pelvis-relative, camera axes, NaN unknown),
    pixels [21,2] (NaN unseen) and their weights [21] (scores), the scale prior."""

    skeleton: FloatArray
    pixels: FloatArray
    weights: FloatArray
    scale: float = 1.0
    scale_sigma: float = 0.07


@dataclass(frozen=True)
class Placement:
    """A person's fitted pelvis and what placed it."""

    position: FloatArray  # [3] camera frame
    covariance: FloatArray  # [3,3]
    scale: float
    scale_sigma: float
    unit_depth: float  # the pelvis depth of the reprojection-only fit at scale 1 (depth / scale)
    unit_depth_sigma: float  # its 1-sigma from the keypoints alone
    standing: bool  # the floor constraint applied
    points: int
    rms_px: float

    @property
    def depth_sigma(self) -> float:
        return float(np.sqrt(max(self.covariance[2, 2], 0.0)))


@dataclass(frozen=True)
class PlacementFailure:
    reason: str


PlacementResult = Placement | PlacementFailure


def place_person(cues: Cues, camera: CameraModel, floor: Floor | None, keypoint_sigma_px: float) -> PlacementResult:
    """The pelvis of one person (module doc), or why it cannot be fitted: the fit runs as one
    compiled call (fit_kernel.place, which says which equation each of its blocks is)."""
    return _place(cues, _CameraTerms.of(camera, keypoint_sigma_px), _floor_terms(floor))


def place_people(
    cues: Sequence[Cues | None], camera: CameraModel, floor: Floor | None, keypoint_sigma_px: float
) -> list[PlacementResult | None]:
    """:func:`place_person` of every person of a frame (None where their cues are), the
    camera's and the floor's terms made once."""
    if not any(c is not None for c in cues):
        return [None] * len(cues)
    terms, floor_terms = _CameraTerms.of(camera, keypoint_sigma_px), _floor_terms(floor)
    return [None if c is None else _place(c, terms, floor_terms) for c in cues]


@dataclass(frozen=True)
class _CameraTerms:
    """What fit_kernel.place takes of the camera, made once a frame."""

    camera: CameraModel
    distorted: bool
    width: float
    height: float
    intrinsics: FloatArray  # fx, fy, cx, cy
    keypoint_sigma: float  # the keypoints' sigma in normalised image units

    @classmethod
    def of(cls, camera: CameraModel, keypoint_sigma_px: float) -> _CameraTerms:
        return cls(
            camera,
            camera.has_distortion,
            float(camera.width),
            float(camera.height),
            np.array([camera.fx, camera.fy, camera.cx, camera.cy], dtype=np.float64),
            keypoint_sigma_px / float(np.sqrt(camera.fx * camera.fy)),
        )


def _place(cues: Cues, camera: _CameraTerms, floor_terms: FloorTerms) -> PlacementResult:
    pixels = np.ascontiguousarray(cues.pixels, dtype=np.float64)
    code, value, theta, covariance, unit_depth, unit_sigma, stands, count, rms = place(
        np.ascontiguousarray(cues.skeleton, dtype=np.float64),
        pixels,
        camera.camera.normalized_rays(pixels) if camera.distorted else _UNDISTORTED,  # the kernel divides by K
        np.ascontiguousarray(cues.weights, dtype=np.float64),
        float(cues.scale),
        float(cues.scale_sigma),
        camera.width,
        camera.height,
        camera.intrinsics,
        camera.keypoint_sigma,
        *floor_terms,
    )
    if code != PLACED:
        return PlacementFailure(_failure(code, value))
    return Placement(
        position=theta[:3].copy(),
        covariance=covariance[:3, :3].copy(),
        scale=float(theta[3]),
        scale_sigma=float(np.sqrt(max(covariance[3, 3], 0.0))),
        unit_depth=float(unit_depth),
        unit_depth_sigma=float(unit_sigma),
        standing=bool(stands),
        points=int(count),
        rms_px=float(rms),
    )


def _failure(code: int, value: float) -> str:
    """Why the kernel placed no one, in words."""
    if code == TOO_FEW_POINTS:
        return f"{int(value)} torso, leg and foot points seen; the fit needs {MIN_POINTS}"
    if code == TOO_SMALL_SPAN:
        return f"the seen points span {value:.2f} m; at least {MIN_SPAN_M} m fixes a scale"
    if code == NOT_CONVERGED:
        return "the fit did not converge"
    if code == BEHIND_CAMERA:
        return "the fitted skeleton lies (partly) behind the camera"
    return f"the fit diverged ({value:.3g} m away)"  # a trunk seen end-on from above: its points on one spot


_UNDISTORTED = np.empty((0, 2))
# fit_kernel.place's floor arguments: known, normal, offset, its sigma, the tilt sigma, the
# parameter covariance, the tangent basis, whether it turns trunks upright
FloorTerms = tuple[bool, FloatArray, float, float, float, FloatArray, FloatArray, bool]
_NO_FLOOR: FloorTerms = (False, np.zeros(3), 0.0, 0.0, 0.0, np.zeros((3, 3)), np.zeros((2, 3)), False)
_last_floor: list[tuple[Floor, FloorTerms]] = []  # the floor of the frame and its terms


def _floor_terms(floor: Floor | None) -> FloorTerms:
    """The floor as the kernel takes it (fit_kernel.place), made once per floor: a frame's
    people share one."""
    if floor is None:
        return _NO_FLOOR
    if _last_floor and _last_floor[0][0] is floor:
        return _last_floor[0][1]
    terms: FloorTerms = (
        True,
        np.ascontiguousarray(floor.normal, dtype=np.float64),
        float(floor.offset),
        float(floor.sigma_offset_m),
        float(floor.sigma_tilt_rad),
        np.ascontiguousarray(floor.parameter_covariance(), dtype=np.float64),
        tangent_basis(floor.normal),
        floor.source in UPRIGHTING_FLOORS,
    )
    _last_floor[:] = [(floor, terms)]
    return terms
