"""Each person's pelvis pixel, seen or estimated from the other keypoints, as one compiled
loop over people (:func:`.root.pelvis_pixels` wraps it).

The numpy version took about 40 array calls whatever the number of people; this loop does
the same arithmetic in the same order and gives bit-identical pixels
(``test_depth_glue.py`` compares it with main's numpy code).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import LEFT_HIP, LEFT_SHOULDER, NECK, NOSE, PELVIS, RIGHT_HIP, RIGHT_SHOULDER, ROOT
from hdnet_ros.skeleton import BONE_FRACTIONS
from hdnet_ros.stages.depth.jit import compiled_ieee

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

TORSO_LENGTH = BONE_FRACTIONS[(PELVIS, NECK)]
NECK_TO_NOSE = BONE_FRACTIONS[(NECK, NOSE)]


@compiled_ieee
def pelvis_pixels(
    pixels: FloatArray,
    seen: BoolArray,
    z: FloatArray,
    face_centre: FloatArray,
    any_face: BoolArray,
    fy: float,
    stature: float,
    result: FloatArray,
    estimated: BoolArray,
) -> None:
    """Fill ``result`` [P,2] (left NaN where no pixel can be had) and ``estimated`` [P]
    from pixels [P,J,2], seen [P,J], the depths z [P] and the face centres [P,2] (module
    doc; the rules in order: pelvis, left hip, right hip, both shoulders, left shoulder,
    right shoulder, face)."""
    for person in range(len(z)):
        if seen[person, ROOT]:
            result[person, 0], result[person, 1] = pixels[person, ROOT, 0], pixels[person, ROOT, 1]
            continue
        estimated[person] = True
        depth = z[person]
        if not (math.isfinite(depth) and depth > 0):
            continue
        px_per_m = fy / depth
        torso_px = TORSO_LENGTH * stature * px_per_m
        if not math.isfinite(px_per_m):
            continue
        if seen[person, LEFT_HIP] or seen[person, RIGHT_HIP]:
            hip = LEFT_HIP if seen[person, LEFT_HIP] else RIGHT_HIP
            result[person, 0], result[person, 1] = pixels[person, hip, 0], pixels[person, hip, 1]
            continue
        left_x, left_y = pixels[person, LEFT_SHOULDER, 0], pixels[person, LEFT_SHOULDER, 1]
        right_x, right_y = pixels[person, RIGHT_SHOULDER, 0], pixels[person, RIGHT_SHOULDER, 1]
        if seen[person, LEFT_SHOULDER] and seen[person, RIGHT_SHOULDER]:
            down_x, down_y = -(right_y - left_y), right_x - left_x
            norm = math.sqrt(down_x * down_x + down_y * down_y)
            if norm < 1e-6:
                down_x, down_y = 0.0, 1.0
            else:
                down_x, down_y = down_x / norm, down_y / norm
            if down_y < 0:
                down_x, down_y = -down_x, -down_y
            result[person, 0] = (left_x + right_x) / 2.0 + down_x * torso_px
            result[person, 1] = (left_y + right_y) / 2.0 + down_y * torso_px
        elif seen[person, LEFT_SHOULDER]:
            result[person, 0], result[person, 1] = left_x + 0.0, left_y + torso_px
        elif seen[person, RIGHT_SHOULDER]:
            result[person, 0], result[person, 1] = right_x + 0.0, right_y + torso_px
        elif any_face[person]:
            head_px = (NECK_TO_NOSE * stature * 0.85 + TORSO_LENGTH * stature) * px_per_m
            result[person, 0] = face_centre[person, 0] + 0.0
            result[person, 1] = face_centre[person, 1] + head_px
