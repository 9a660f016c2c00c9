"""main's floor candidates and guessed-joint test (stages/depth/{floor,guessed}.py at
2531b93), the references of their cheaper forms (``test_depth_glue``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import NUM_JOINTS
from hdnet_ros.stages.depth.arrays import Measured, Observed
from hdnet_ros.stages.depth.floor import CANDIDATE_STRIDE, GroundConfig
from hdnet_ros.stages.depth.guessed import (
    EDGE_SHARE,
    LIMBS,
    SEEN_SCORE,
    WIDE_FRACTION,
    largest_drop,
    path_depths,
    wider_than_a_limb,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def floor_candidates(
    depth: npt.NDArray[np.float32], camera: CameraModel, config: GroundConfig, rng: np.random.Generator
) -> FloatArray | None:
    top = depth.shape[0] // 3
    sub = depth[top::CANDIDATE_STRIDE, ::CANDIDATE_STRIDE]
    v, u = np.nonzero(np.isfinite(sub) & (sub > 0))
    if v.size * CANDIDATE_STRIDE**2 < config.min_inliers:
        return None
    pick = rng.choice(v.size, size=min(config.samples, v.size), replace=False)
    uv = np.stack((u[pick] * CANDIDATE_STRIDE, v[pick] * CANDIDATE_STRIDE + top), axis=1).astype(np.float64)
    return camera.back_project(uv, depth[uv[:, 1].astype(int), uv[:, 0].astype(int)])


def guessed_joints(
    observed: Observed,
    scores: FloatArray,
    measured: Measured,
    depth: npt.NDArray[np.float32],
    jump_m: float,
    min_m: float,
    max_m: float,
) -> BoolArray:
    count = len(observed)
    guessed = np.zeros((count, NUM_JOINTS), dtype=bool)
    z = measured.points[..., 2]
    seen = observed.seen
    sensor = np.isfinite(z) & ~measured.inferred & seen
    hidden = seen & measured.occluded & ~sensor
    anchor_z = np.where(sensor, z, np.nan)
    for joint, parent in LIMBS:
        with np.errstate(invalid="ignore"):
            nearer = sensor[:, joint] & (z[:, joint] <= anchor_z[:, parent] - jump_m)
        nearer &= scores[:, joint] < SEEN_SCORE
        below = guessed[:, parent]
        guessed[:, joint] = below & nearer
        for rows, covered in (
            (np.flatnonzero(nearer & ~below & sensor[:, parent]), False),
            (np.flatnonzero(nearer & ~below & hidden[:, parent]), True),
        ):
            if not len(rows):
                continue
            path = path_depths(depth, observed.pixels[rows, parent], observed.pixels[rows, joint], min_m, max_m)
            if covered:
                guessed[rows, joint] = np.abs(path[:, 0] - z[rows, joint]) <= jump_m
            else:
                drop, beyond = largest_drop(path)
                edge = drop >= EDGE_SHARE * (anchor_z[rows, parent] - z[rows, joint])
                onto = edge & (np.abs(beyond - z[rows, joint]) <= jump_m)
                width = WIDE_FRACTION * (observed.boxes[rows, 3] - observed.boxes[rows, 1])
                start, end = observed.pixels[rows, parent], observed.pixels[rows, joint]
                wide = wider_than_a_limb(depth, start, end, width, z[rows, joint], jump_m, min_m, max_m)
                guessed[rows, joint] = onto & wide
        handed_on = guessed[:, joint] | hidden[:, joint]
        anchor_z[:, joint] = np.where(handed_on, anchor_z[:, parent], anchor_z[:, joint])
    return guessed
