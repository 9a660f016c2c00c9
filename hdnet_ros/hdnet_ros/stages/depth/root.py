"""Step 3 of the depth stage: place each person's root (pelvis) candidates.

* **From the sensor**: the hips' midpoint when both were measured; else one measured hip
  and the torso's facing (the pelvis half a hip width inwards), or the neck and the floor's
  up direction (one torso length below the neck); else the torso's depth, moved from its
  surface to its centre, at the (possibly estimated) pelvis pixel.
* **From a network's root depth**, on the pelvis pixel's ray.
* **From the priors** where neither exists: the bone-length depth (:mod:`hdnet_ros.size_prior`)
  fused with where the feet meet the floor (:mod:`.floor`); adult sizes make it accurate
  to some 5-15 %.

Which candidate a person gets is decided in :mod:`.fuse`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_HIP,
    LEFT_SHOULDER,
    NECK,
    NOSE,
    PELVIS,
    RIGHT_HIP,
    RIGHT_SHOULDER,
    ROOT,
)
from hdnet_ros.people import DepthSource
from hdnet_ros.size_prior import DepthEstimates
from hdnet_ros.skeleton import BONE_FRACTIONS
from hdnet_ros.stages.depth.arrays import Facing, Lifted, Observed, RootCandidate, RootCandidates
from hdnet_ros.stages.depth.config import LiftingConfig
from hdnet_ros.stages.depth.floor import ANKLES, GroundPlane, floor_depths
from hdnet_ros.stages.depth.fuse import fuse_depths
from hdnet_ros.stages.depth.jit import compiled, compiled_ieee
from hdnet_ros.stages.depth.pelvis import pelvis_pixels as pelvis_kernel

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
FloorSource = Callable[[], GroundPlane | None]

_HALF_HIP = BONE_FRACTIONS[(PELVIS, LEFT_HIP)]
_TORSO_LENGTH = BONE_FRACTIONS[(PELVIS, NECK)]
_NECK_TO_NOSE = BONE_FRACTIONS[(NECK, NOSE)]
_IMAGE_UP = np.array([0.0, -1.0, 0.0])
_SENSOR = np.uint8(DepthSource.SENSOR)
# The joints the pelvis pixel is found from before the face (pelvis.pelvis_pixels' rules).
_BODY_RULES = np.array([ROOT, LEFT_HIP, RIGHT_HIP, LEFT_SHOULDER, RIGHT_SHOULDER])
_INFERRED = np.uint8(DepthSource.INFERRED)
_NONE = np.uint8(DepthSource.NONE)


def place_roots(
    observed: Observed,
    lifted: Lifted,
    facing: Facing,
    stature: FloatArray,
    reference: FloatArray,
    size: DepthEstimates,
    network: DepthEstimates,
    network_point: FloatArray | None,
    floor: FloorSource,
    camera: CameraModel,
    config: LiftingConfig,
) -> RootCandidates:
    """Every person's root candidates (module doc). ``stature`` [P] is each person's own
    (from their limbs) where the torso was measured; ``network_point`` [P,3] a network's
    root itself where it gives one (else its depth is placed on the pelvis ray); ``floor``
    fits the floor on first use."""
    count = len(observed)
    sensor = sensor_roots(observed, lifted, facing, stature, reference, floor, camera, config)
    missing = ~sensor.exists
    network_root = RootCandidate.none(count)
    usable = missing & np.isfinite(network.z) & (network.z > 0)
    if np.any(usable):
        network_root = on_pelvis_ray(observed, network.z, network.sigma, DepthSource.NETWORK, usable, camera, config)
        if network_point is not None:
            given = usable & np.all(np.isfinite(network_point), axis=1)
            network_root.point[given] = network_point[given]
            network_root.sigma[given] = network.sigma[given]
            network_root.source[given] = DepthSource.NETWORK
    prior = RootCandidate.none(count)
    wanted = missing & ~usable
    if config.root_prior and np.any(wanted):
        estimate = prior_depths(observed, size, floor(), camera, config)
        prior = on_pelvis_ray(observed, estimate.z, estimate.sigma, DepthSource.INFERRED, wanted, camera, config)
    return RootCandidates(sensor, network.z, network.sigma, network_root, prior)


def sensor_roots(
    observed: Observed,
    lifted: Lifted,
    facing: Facing,
    stature: FloatArray,
    reference: FloatArray,
    floor: FloorSource,
    camera: CameraModel,
    config: LiftingConfig,
) -> RootCandidate:
    """The root from what the sensor measured (module doc): the measured roots, the roots
    from a hip and who takes the shoulders' rule in one compiled pass over people; the
    floor is fitted only when someone does."""
    count = len(observed)
    result = RootCandidate.none(count)
    todo, shoulders = np.empty(count, dtype=bool), np.empty(count, dtype=bool)
    positions, sigma = lifted.positions, lifted.sigma
    if _sensor_people(
        positions,
        sigma,
        lifted.sources,
        np.ascontiguousarray(facing.cos, dtype=np.float64),
        np.ascontiguousarray(facing.sin, dtype=np.float64),
        np.ascontiguousarray(facing.known, dtype=np.bool_),
        np.ascontiguousarray(stature, dtype=np.float64),
        np.ascontiguousarray(reference, dtype=np.float64),
        result.point,
        result.sigma,
        result.source,
        todo,
        shoulders,
    ):
        # The neck and the floor's up direction: one torso length below the neck.
        plane = floor()
        up = plane.normal if plane is not None else _IMAGE_UP
        unit_up = np.asarray(up, dtype=np.float64) / float(np.linalg.norm(up))
        _roots_from_shoulders(positions, sigma, np.ascontiguousarray(stature, dtype=np.float64), unit_up, shoulders,
                              result.point, result.sigma, result.source)  # fmt: skip
    # The torso's depth, moved from its surface to its centre.
    if np.any(todo):
        root_z = reference + config.torso_centre_offset_m
        torso_sigma = np.hypot(config.noise_coefficient * root_z**2, 0.05)
        torso = on_pelvis_ray(observed, root_z, torso_sigma, DepthSource.SENSOR, todo, camera, config)
        placed = todo & torso.exists
        result.point[placed] = torso.point[placed]
        result.sigma[placed] = torso.sigma[placed]
        result.source[placed] = torso.source[placed]
    return result


@compiled
def _sensor_people(
    positions: FloatArray,
    sigma: FloatArray,
    sources: npt.NDArray[np.uint8],
    cos: FloatArray,
    sin: FloatArray,
    known: BoolArray,
    stature: FloatArray,
    reference: FloatArray,
    point_out: FloatArray,
    sigma_out: FloatArray,
    source_out: npt.NDArray[np.uint8],
    todo: BoolArray,
    shoulders: BoolArray,
) -> bool:
    """The measured roots, and the roots from a hip of the others with a torso depth; set
    ``shoulders`` for those left with both shoulders positioned and ``todo`` for the rest
    with a torso depth; return whether anyone takes the shoulders."""
    for p in range(len(todo)):
        if _finite_point(positions, p, ROOT):
            for axis in range(3):
                point_out[p, axis] = positions[p, ROOT, axis]
            sigma_out[p], source_out[p] = sigma[p, ROOT], sources[p, ROOT]
            todo[p] = False
        else:
            todo[p] = math.isfinite(reference[p])
    _roots_from_hips(positions, sigma, sources, cos, sin, known, stature, todo, point_out, sigma_out, source_out)
    anyone = False
    for p in range(len(todo)):
        todo[p] = todo[p] and source_out[p] == _NONE
        shoulders[p] = (
            todo[p] and _finite_point(positions, p, LEFT_SHOULDER) and _finite_point(positions, p, RIGHT_SHOULDER)
        )
        todo[p] = todo[p] and not shoulders[p]
        anyone = anyone or shoulders[p]
    return anyone


@compiled
def _finite_point(positions: FloatArray, person: int, joint: int) -> bool:
    return (
        math.isfinite(positions[person, joint, 0])
        and math.isfinite(positions[person, joint, 1])
        and math.isfinite(positions[person, joint, 2])
    )


@compiled
def _roots_from_shoulders(
    positions: FloatArray,
    sigma: FloatArray,
    stature: FloatArray,
    unit_up: FloatArray,
    shoulders: BoolArray,
    point_out: FloatArray,
    sigma_out: FloatArray,
    source_out: npt.NDArray[np.uint8],
) -> None:
    """One torso length below the neck (the shoulders' midpoint), along the floor's up."""
    for p in range(len(shoulders)):
        if not shoulders[p]:
            continue
        below = _TORSO_LENGTH * stature[p]
        for axis in range(3):
            neck = (positions[p, LEFT_SHOULDER, axis] + positions[p, RIGHT_SHOULDER, axis]) / 2.0
            point_out[p, axis] = neck - unit_up[axis] * below
        sigma_out[p] = math.hypot(sigma[p, LEFT_SHOULDER], 0.08)
        source_out[p] = _INFERRED


@compiled
def _roots_from_hips(
    positions: FloatArray,
    sigma: FloatArray,
    sources: npt.NDArray[np.uint8],
    cos: FloatArray,
    sin: FloatArray,
    known: BoolArray,
    stature: FloatArray,
    todo: BoolArray,
    point_out: FloatArray,
    sigma_out: FloatArray,
    source_out: npt.NDArray[np.uint8],
) -> None:
    """The root of each person to do with a known facing from a sensor-measured hip: half
    a hip width inwards along their left (cos, 0, sin); the left hip where both qualify."""
    for person in range(len(todo)):
        if not (todo[person] and known[person]):
            continue
        for hip, side in ((RIGHT_HIP, -1.0), (LEFT_HIP, 1.0)):  # the later one wins
            if sources[person, hip] != _SENSOR or not (
                math.isfinite(positions[person, hip, 0])
                and math.isfinite(positions[person, hip, 1])
                and math.isfinite(positions[person, hip, 2])
            ):
                continue
            inwards = side * (_HALF_HIP * stature[person])
            point_out[person, 0] = positions[person, hip, 0] - inwards * cos[person]
            point_out[person, 1] = positions[person, hip, 1] - inwards * 0.0
            point_out[person, 2] = positions[person, hip, 2] - inwards * sin[person]
            sigma_out[person] = math.hypot(sigma[person, hip], 0.04)
            source_out[person] = _INFERRED


def prior_depths(
    observed: Observed, size: DepthEstimates, plane: GroundPlane | None, camera: CameraModel, config: LiftingConfig
) -> DepthEstimates:
    """The root depth from the bone and floor cues, fused by their sigmas. Both are priors
    of similar quality with independent errors: they are weighted, never gated (picking
    either when they disagree is worse than their weighted mean)."""
    if plane is None:
        return size
    ankles = observed.floor_ankles if observed.floor_ankles is not None else observed.seen[:, ANKLES]
    ground = floor_depths(observed.rays, ankles, camera, plane, config.prior_stature_m, config.keypoint_sigma_px)
    z, sigma = fuse_depths(size.z, size.sigma, ground.z, ground.sigma, gate_sigmas=0.0)
    return DepthEstimates(z, sigma)


def on_pelvis_ray(
    observed: Observed,
    z: FloatArray,
    sigma: FloatArray,
    source: DepthSource,
    wanted: BoolArray,
    camera: CameraModel,
    config: LiftingConfig,
) -> RootCandidate:
    """Roots at depth ``z`` on the pelvis pixel's ray; where the pelvis was not seen, on the
    ray of a pelvis pixel estimated from the other keypoints, and then ``INFERRED``. Placed
    in one compiled loop for a camera without distortion (OpenCV undistorts the others)."""
    result = RootCandidate.none(len(observed))
    pixel, estimated = pelvis_pixels(observed, z, camera, config.prior_stature_m)
    if not camera.has_distortion:
        _on_rays(pixel, estimated, np.ascontiguousarray(z, dtype=np.float64),
                 np.ascontiguousarray(sigma, dtype=np.float64), np.ascontiguousarray(wanted, dtype=np.bool_),
                 np.uint8(source), camera.cx, camera.cy, camera.fx, camera.fy, result.point, result.sigma,
                 result.source)  # fmt: skip
        return result
    wanted = wanted & np.isfinite(z) & np.all(np.isfinite(pixel), axis=1)
    if not np.any(wanted):
        return result
    result.point[wanted] = camera.back_project(pixel[wanted], z[wanted])
    result.sigma[wanted] = sigma[wanted]
    result.source[wanted] = np.where(estimated[wanted], DepthSource.INFERRED, source)
    return result


@compiled_ieee
def _on_rays(
    pixel: FloatArray,
    estimated: BoolArray,
    z: FloatArray,
    sigma: FloatArray,
    wanted: BoolArray,
    source: np.uint8,
    cx: float,
    cy: float,
    fx: float,
    fy: float,
    point_out: FloatArray,
    sigma_out: FloatArray,
    source_out: npt.NDArray[np.uint8],
) -> None:
    """The wanted people's roots with a depth and a pixel, back-projected as
    CameraModel.back_project does without distortion."""
    for p in range(len(wanted)):
        u, v, depth = pixel[p, 0], pixel[p, 1], z[p]
        if not (wanted[p] and math.isfinite(depth) and math.isfinite(u) and math.isfinite(v)):
            continue
        point_out[p, 0] = (u - cx) / fx * depth
        point_out[p, 1] = (v - cy) / fy * depth
        point_out[p, 2] = depth
        sigma_out[p] = sigma[p]
        source_out[p] = _INFERRED if estimated[p] else source


def pelvis_pixels(
    observed: Observed, z: FloatArray, camera: CameraModel, stature: float
) -> tuple[FloatArray, BoolArray]:
    """Each person's pelvis pixel [P,2] (NaN where it cannot be had) and whether it was
    estimated: the seen pelvis; else one hip (within half a hip width of the pelvis); else
    the shoulders (one torso length below the neck, perpendicular to the shoulder line);
    else one shoulder or the face, straight down the image by the typical distance to the
    pelvis at depth ``z`` (one compiled loop: :mod:`.pelvis`)."""
    count = len(observed)
    result, estimated = np.full((count, 2), np.nan), np.zeros(count, dtype=bool)
    if np.any(observed.seen[:, _BODY_RULES], axis=1).all():  # no one's pixel comes from the face: never read
        face_centre, any_face = np.full((count, 2), np.nan), np.zeros(count, dtype=bool)
    else:
        face_centre, any_face = observed.face_centres()
    pelvis_kernel(
        np.ascontiguousarray(observed.pixels, dtype=np.float64),
        np.ascontiguousarray(observed.seen, dtype=np.bool_),
        np.ascontiguousarray(z, dtype=np.float64),
        face_centre,
        any_face,
        float(camera.fy),
        float(stature),
        result,
        estimated,
    )
    return result, estimated
