"""main's numpy pelvis_pixels, on_pelvis_ray and sensor_roots (stages/depth/root.py at
c028168), the references of the compiled pelvis pixels (stages/depth/pelvis.py), roots from
a hip, from the shoulders and on the pelvis ray (root._roots_from_hips, _sensor_people,
_roots_from_shoulders, _on_rays)."""

from __future__ import annotations

import numpy as np
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER, ROOT
from hdnet_ros.people import DepthSource
from hdnet_ros.stages.depth.arrays import Facing, Lifted, Observed, RootCandidate
from hdnet_ros.stages.depth.config import LiftingConfig
from hdnet_ros.stages.depth.root import (
    _HALF_HIP,
    _IMAGE_UP,
    _NECK_TO_NOSE,
    _TORSO_LENGTH,
    BoolArray,
    FloatArray,
    FloorSource,
)


def pelvis_pixels(
    observed: Observed, z: FloatArray, camera: CameraModel, stature: float
) -> tuple[FloatArray, BoolArray]:
    """Each person's pelvis pixel [P,2] (NaN where it cannot be had) and whether it was
    estimated: the seen pelvis; else one hip (within half a hip width of the pelvis); else
    the shoulders (one torso length below the neck, perpendicular to the shoulder line);
    else one shoulder or the face, straight down the image by the typical distance to the
    pelvis at depth ``z``."""
    pixels, seen = observed.pixels, observed.seen
    result = np.full((len(observed), 2), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        px_per_m = np.where(np.isfinite(z) & (z > 0), camera.fy / z, np.nan)
    torso_px = _TORSO_LENGTH * stature * px_per_m
    open_ = np.ones(len(observed), dtype=bool)

    def take(mask: BoolArray, values: FloatArray) -> None:
        nonlocal open_
        use = mask & open_
        result[use] = values[use]
        open_ &= ~use

    take(seen[:, ROOT], pixels[:, ROOT])
    estimated = open_.copy()
    open_ &= np.isfinite(px_per_m)
    take(seen[:, LEFT_HIP], pixels[:, LEFT_HIP])
    take(seen[:, RIGHT_HIP], pixels[:, RIGHT_HIP])
    left, right = pixels[:, LEFT_SHOULDER], pixels[:, RIGHT_SHOULDER]
    across = right - left
    down = np.stack((-across[:, 1], across[:, 0]), axis=1)
    norm = np.linalg.norm(down, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        down = np.where((norm < 1e-6)[:, None], np.array([0.0, 1.0]), down / norm[:, None])
    down = np.where((down[:, 1] < 0)[:, None], -down, down)
    take(seen[:, LEFT_SHOULDER] & seen[:, RIGHT_SHOULDER], (left + right) / 2.0 + down * torso_px[:, None])
    straight_down = np.stack((np.zeros(len(observed)), torso_px), axis=1)
    take(seen[:, LEFT_SHOULDER], left + straight_down)
    take(seen[:, RIGHT_SHOULDER], right + straight_down)
    face_centre, any_face = observed.face_centres()
    head_px = (_NECK_TO_NOSE * stature * 0.85 + _TORSO_LENGTH * stature) * px_per_m
    take(any_face, face_centre + np.stack((np.zeros(len(observed)), head_px), axis=1))
    return result, estimated


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
    ray of a pelvis pixel estimated from the other keypoints, and then ``INFERRED``."""
    result = RootCandidate.none(len(observed))
    wanted = wanted & np.isfinite(z)
    pixel, estimated = pelvis_pixels(observed, z, camera, config.prior_stature_m)
    wanted &= np.all(np.isfinite(pixel), axis=1)
    if not np.any(wanted):
        return result
    result.point[wanted] = camera.back_project(pixel[wanted], z[wanted])
    result.sigma[wanted] = sigma[wanted]
    result.source[wanted] = np.where(estimated[wanted], DepthSource.INFERRED, source)
    return result


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
    """The root from what the sensor measured (module doc)."""
    count = len(observed)
    result = RootCandidate.none(count)
    valid = lifted.valid
    measured = valid[:, ROOT]
    result.point[measured] = lifted.positions[measured, ROOT]
    result.sigma[measured] = lifted.sigma[measured, ROOT]
    result.source[measured] = lifted.sources[measured, ROOT]
    todo = ~measured & np.isfinite(reference)
    if not np.any(todo):
        return result
    # One measured hip and the facing: the pelvis is half a hip width inwards.
    left = np.stack((facing.cos, np.zeros(count), facing.sin), axis=1)
    for hip, side in ((RIGHT_HIP, -1.0), (LEFT_HIP, 1.0)):  # the left hip wins where both qualify
        use = todo & facing.known & valid[:, hip] & (lifted.sources[:, hip] == DepthSource.SENSOR)
        result.point[use] = lifted.positions[use, hip] - (side * (_HALF_HIP * stature[use]))[:, None] * left[use]
        result.sigma[use] = np.hypot(lifted.sigma[use, hip], 0.04)
        result.source[use] = DepthSource.INFERRED
    todo &= ~result.exists
    # The neck and the floor's up direction: one torso length below the neck.
    shoulders = todo & valid[:, LEFT_SHOULDER] & valid[:, RIGHT_SHOULDER]
    if np.any(shoulders):
        plane = floor()
        up = plane.normal if plane is not None else _IMAGE_UP
        unit_up = np.asarray(up, dtype=np.float64) / float(np.linalg.norm(up))
        neck = (lifted.positions[shoulders, LEFT_SHOULDER] + lifted.positions[shoulders, RIGHT_SHOULDER]) / 2.0
        result.point[shoulders] = neck - unit_up * (_TORSO_LENGTH * stature[shoulders])[:, None]
        result.sigma[shoulders] = np.hypot(lifted.sigma[shoulders, LEFT_SHOULDER], 0.08)
        result.source[shoulders] = DepthSource.INFERRED
    todo &= ~shoulders
    # The torso's depth, moved from its surface to its centre.
    if np.any(todo):
        root_z = reference + config.torso_centre_offset_m
        sigma = np.hypot(config.noise_coefficient * root_z**2, 0.05)
        torso = on_pelvis_ray(observed, root_z, sigma, DepthSource.SENSOR, todo, camera, config)
        placed = todo & torso.exists
        result.point[placed] = torso.point[placed]
        result.sigma[placed] = torso.sigma[placed]
        result.source[placed] = torso.source[placed]
    return result
