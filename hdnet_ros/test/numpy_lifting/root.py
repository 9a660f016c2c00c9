"""main's numpy pelvis_pixels (stages/depth/root.py at c028168), the reference of the
compiled one (stages/depth/pelvis.py)."""

from __future__ import annotations

import numpy as np
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER, ROOT
from hdnet_ros.stages.depth.arrays import Observed
from hdnet_ros.stages.depth.root import _NECK_TO_NOSE, _TORSO_LENGTH, BoolArray, FloatArray


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
