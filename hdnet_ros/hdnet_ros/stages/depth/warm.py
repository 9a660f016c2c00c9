"""The depth stage's compiled kernels made ready before the first frame.

numba compiles a kernel on its first call (seconds) or loads it from the cache (a fraction
of a second); :func:`warm_up` runs each kernel once on a tiny frame with the argument types
of a real one, so that no frame pays for it.
"""

from __future__ import annotations

import functools

import numpy as np

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import LEFT_HIP, LEFT_SHOULDER, NUM_JOINTS, RIGHT_SHOULDER
from hdnet_ros.people import DepthSource
from hdnet_ros.stages.depth.arrays import Facing, Lifted, Observed, RootCandidate, RootCandidates
from hdnet_ros.stages.depth.complete import complete_from_skeleton, enforce_person_band, take_measured
from hdnet_ros.stages.depth.config import LiftingConfig
from hdnet_ros.stages.depth.floor_cadence import warm_check
from hdnet_ros.stages.depth.fuse import choose_roots, fused_depths
from hdnet_ros.stages.depth.guessed import guessed_joints, hide_guessed
from hdnet_ros.stages.depth.measure import measure_depth
from hdnet_ros.stages.depth.observe import observe
from hdnet_ros.stages.depth.root import on_pelvis_ray, pelvis_pixels, sensor_roots
from hdnet_ros.stages.depth.size_kernel import bone_prior_depths


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Compile (or load) every kernel of the stage, once per process."""
    camera = CameraModel.from_fov(8, 8, 60.0)
    pixels = np.full((1, NUM_JOINTS, 2), 4.0)
    rays = np.zeros((1, NUM_JOINTS, 3))
    rays[..., 2] = 1.0
    observed = Observed(pixels, np.ones((1, NUM_JOINTS), bool), pixels.copy(), rays, np.array([[0.0, 0.0, 8.0, 8.0]]))
    bone_prior_depths(observed.normalized, observed.seen, camera, boxes=observed.boxes)
    observe(pixels, 4.0, 4.0, 8.0, 8.0, observed.seen.copy(), pixels.copy(), rays.copy())  # Observed.of's pass
    fused_depths(np.ones(1), np.ones(1), np.ones(1), np.ones(1))
    bone_prior_depths(observed.normalized, observed.seen, camera)
    pelvis_pixels(observed, np.array([2.0]), camera, 1.7)
    depth = np.full((8, 8), 2.0, np.float32)
    _, measured = measure_depth(observed, depth, camera, np.array([2.0]), LiftingConfig())
    guessed = guessed_joints(observed, np.zeros((1, NUM_JOINTS)), measured, depth, 0.2, 0.3, 10.0)
    hide_guessed(measured, observed.seen, guessed)
    take_measured(Lifted.empty(1), measured.points, measured.sigma, measured.inferred)
    lifted = Lifted.empty(1)
    lifted.positions[0, LEFT_HIP] = (0.0, 0.0, 2.0)
    one = np.ones(1)
    facing = Facing(one, 0.0 * one, np.ones(1, dtype=bool))
    sensor_roots(observed, lifted, facing, 1.7 * one, 2.0 * one, lambda: None, camera, LiftingConfig())  # from a hip
    shoulders = Lifted.empty(1)
    shoulders.positions[0, [LEFT_SHOULDER, RIGHT_SHOULDER]] = (0.0, 0.0, 2.0)
    sensor_roots(observed, shoulders, facing, 1.7 * one, 2.0 * one, lambda: None, camera, LiftingConfig())
    on_pelvis_ray(observed, 2.0 * one, 0.1 * one, DepthSource.SENSOR, np.ones(1, dtype=bool), camera, LiftingConfig())
    complete_from_skeleton(lifted, observed, 1.7)  # with the midpoint joints (complete_derived)
    sensor = RootCandidate(np.array([[0.0, 0.0, 2.0]]), np.array([0.1]), np.array([DepthSource.SENSOR], np.uint8))
    choose_roots(lifted, RootCandidates(sensor, 2.0 * one, one, RootCandidate.none(1), RootCandidate.none(1)))
    enforce_person_band(lifted, 2.0 * one, 1.0)
    warm_check()
