"""The 3D stage's compiled kernels compiled (or loaded from their cache) before the first
frame, with a real frame's argument types: otherwise the first frame with BlazePose crops
would compile them (seconds on a fresh cache)."""

from __future__ import annotations

import functools

import numpy as np

from hdnet_ros.stages.blazepose.crop_kernels import scale_to_floats
from hdnet_ros.stages.blazepose.decode import HEATMAP_KERNEL, HEATMAP_MIN_CONFIDENCE, NUM_BODY_LANDMARKS, crops_to_image
from hdnet_ros.stages.blazepose.decode_kernels import heatmap_windows, refined_landmarks
from hdnet_ros.stages.blazepose.root_fit import GAUSS_NEWTON_STEPS, MIN_DEPTH_M, RIDGE
from hdnet_ros.stages.blazepose.root_kernel import fit_batch


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Compile (or load) every kernel of the stage once per process."""
    points = np.zeros((1, 4, 3))
    fit_batch(
        np.zeros((1, 4, 2)),
        np.zeros((1, 4, 2)),
        np.ones((1, 4)),
        points,
        np.ones(3),
        MIN_DEPTH_M,
        GAUSS_NEWTON_STEPS,
        RIDGE,
    )
    xy = np.zeros((1, NUM_BODY_LANDMARKS, 2))
    windows, cells = heatmap_windows(
        xy, np.zeros((1, 8, 8, 39), dtype=np.float32), NUM_BODY_LANDMARKS, 32.0, HEATMAP_KERNEL
    )
    refined_landmarks(xy, np.zeros(windows.shape), cells, 8, 32.0, HEATMAP_MIN_CONFIDENCE)
    crops_to_image(xy, np.zeros((1, 2, 3)))
    scale_to_floats(
        np.zeros((1, 2, 2, 3), dtype=np.uint8), np.float32(1.0 / 255.0), np.zeros((1, 2, 2, 3), dtype=np.float32)
    )
