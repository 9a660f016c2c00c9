"""Step 1 of the depth stage: sample each person's depth (compiled, per person).

* **The torso surface** (each person's reference depth): see :mod:`.torso`.
* **The person's scale** at that depth (their stature from how long their limbs look).
* **Windows** around every seen joint and the face, whose valid depths the measurement
  step reads (:func:`.windows.window_depths`). A window covers a fixed metric radius at the
  torso's depth (4 cm by default, about a forearm's radius), so it spans the same piece of
  body at 1 m and 5 m.

With a person mask (a segmentation network's), only the person's own pixels are sampled:
a wrist in front of a far wall, or a person behind another, never takes someone else's
depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import (
    FACE_JOINTS,
    LEFT_ANKLE,
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    RIGHT_ANKLE,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
)
from hdnet_ros.skeleton import BONE_FRACTIONS
from hdnet_ros.stages.depth.jit import compiled
from hdnet_ros.stages.depth.kernel_settings import KernelSettings
from hdnet_ros.stages.depth.windows import round_half_even

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

HEAD_RADIUS_FRACTION = 0.055  # of stature (head breadth ~0.15-0.19 m)


LIMB_BONES: tuple[tuple[int, int], ...] = (
    (LEFT_SHOULDER, LEFT_ELBOW),
    (RIGHT_SHOULDER, RIGHT_ELBOW),
    (LEFT_ELBOW, LEFT_WRIST),
    (RIGHT_ELBOW, RIGHT_WRIST),
    (LEFT_HIP, LEFT_KNEE),
    (RIGHT_HIP, RIGHT_KNEE),
    (LEFT_KNEE, LEFT_ANKLE),
    (RIGHT_KNEE, RIGHT_ANKLE),
)

_LIMB_A = np.array([a for a, _ in LIMB_BONES], dtype=np.int64)

_LIMB_B = np.array([b for _, b in LIMB_BONES], dtype=np.int64)

_LIMB_FRACTION = np.array([BONE_FRACTIONS[bone] for bone in LIMB_BONES])

_FACE = np.array(FACE_JOINTS, dtype=np.int64)


@dataclass(frozen=True)
class Sampled:
    """What the later steps need of each person's depth."""

    reference: FloatArray  # [P] torso surface depth [m], NaN where none was found
    stature: FloatArray  # [P] the person's stature [m] as their limbs show it


@compiled
def window_half_px(settings: KernelSettings, reference: float, box_height: float) -> int:
    """Half-size of a person's joint windows: the metric radius at the torso's depth, or
    (radius 0, or no torso depth) a fraction of the box height; clipped to the configured
    pixel range."""
    metric = settings.window_radius_m > 0 and math.isfinite(reference) and reference > 0
    half = (settings.window_radius_m * settings.fx) / reference if metric else settings.window_fraction * box_height
    return min(max(round_half_even(half), settings.min_window_px), settings.max_window_px)


@compiled
def personal_stature(pixels: FloatArray, seen: BoolArray, fx: float, reference: float, stature: float) -> float:
    """The person's stature from how long their limbs look at the torso's depth:
    foreshortening only shortens a bone, so the longest-looking bones (the second longest,
    for robustness to keypoint noise) tell the scale. Clipped to adult sizes; ``stature``
    with fewer than three limbs seen or no torso depth."""
    largest, second = -np.inf, -np.inf  # of the limbs' ratios to their typical length
    both_seen = 0
    for k in range(len(_LIMB_A)):
        a, b = _LIMB_A[k], _LIMB_B[k]
        if not (seen[a] and seen[b]):
            continue
        both_seen += 1
        du, dv = pixels[a, 0] - pixels[b, 0], pixels[a, 1] - pixels[b, 1]
        ratio = ((math.sqrt(du * du + dv * dv) * reference) / fx) / (_LIMB_FRACTION[k] * stature)
        if ratio > largest:
            largest, second = ratio, largest
        elif ratio > second:
            second = ratio
    if both_seen < 3 or not math.isfinite(reference):
        return stature
    return stature * min(max(second, 0.88), 1.18)


@compiled
def face_window(
    pixels: FloatArray, seen: BoolArray, stature: float, reference: float, settings: KernelSettings
) -> tuple[float, float, int, bool]:
    """The window at the centre of the seen face keypoints: its centre pixel (NaN when no
    face keypoint was seen), half-size (a head's radius at the torso's depth) and whether
    any face keypoint was seen."""
    total_u, total_v, shown = 0.0, 0.0, 0
    for joint in _FACE:
        if seen[joint]:
            total_u += pixels[joint, 0]
            total_v += pixels[joint, 1]
            shown += 1
    radius_px = ((0.5 * (HEAD_RADIUS_FRACTION * stature)) * settings.fx) / reference
    half = max(round_half_even(radius_px if math.isfinite(radius_px) else 0.0), settings.min_window_px)
    half = min(half, 2 * settings.max_window_px)
    if shown == 0:
        return np.nan, np.nan, half, False
    return total_u / shown, total_v / shown, half, True
