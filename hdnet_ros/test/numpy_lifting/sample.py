"""Step 1 of the depth stage: sample each person's depth.

* **The torso surface** (each person's reference depth): see :mod:`.torso`.
* **The person's scale** at that depth (their stature from how long their limbs look).
* **Windows** around every seen joint and the face: their valid depths, sorted, for the
  measurement step. A window covers a fixed metric radius at the torso's depth (4 cm by
  default, about a forearm's radius), so it spans the same piece of body at 1 m and 5 m.

With a person mask (a segmentation network's), only the person's own pixels are sampled:
a wrist in front of a far wall, or a person behind another, never takes someone else's
depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
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
from hdnet_ros.stages.depth.arrays import Observed, PersonMasks
from hdnet_ros.stages.depth.config import LiftingConfig

from numpy_lifting.torso import torso_surfaces
from numpy_lifting.windows import DepthSampler, Windows, round_half_even

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
DepthImage = npt.NDArray[np.float32]

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

_LIMB_A = np.array([a for a, _ in LIMB_BONES])

_LIMB_B = np.array([b for _, b in LIMB_BONES])

_LIMB_FRACTION = np.array([BONE_FRACTIONS[bone] for bone in LIMB_BONES])


@dataclass(frozen=True)
class Sampled:
    """What the measurement step needs of each person's depth."""

    reference: FloatArray  # [P] torso surface depth [m], NaN where none was found
    stature: FloatArray  # [P] the person's stature [m] as their limbs show it
    half: IntArray  # [P] joint window half-size [px]
    joints: Windows  # rows [P*J]: person p, joint j at row p*J + j
    face: Windows  # rows [P]: a window at the centre of the seen face keypoints
    face_seen: BoolArray  # [P] some face keypoint was seen


def sample_depth(
    observed: Observed,
    depth: DepthImage,
    camera: CameraModel,
    size_z: FloatArray,
    config: LiftingConfig,
    masks: PersonMasks | None = None,
    sure: npt.NDArray[np.bool_] | None = None,
) -> Sampled:
    """The torso surface, scale and windows of every person (module doc); ``sure`` [P,J]:
    the joints the 2D network is sure of (None: every seen joint)."""
    sampler = DepthSampler(depth, config, masks)
    reference = torso_surfaces(observed, sampler, camera, size_z, config, sure)
    stature = personal_stature(observed, camera, reference, config.prior_stature_m)
    half = window_half_px(config, camera, reference, observed.boxes[:, 3] - observed.boxes[:, 1])
    count, joints = observed.seen.shape
    owner = np.repeat(np.arange(count), joints)
    joint_windows = sampler.windows(observed.pixels.reshape(-1, 2), np.repeat(half, joints), owner)
    centre, any_face = observed.face_centres()
    with np.errstate(invalid="ignore"):
        radius_px = 0.5 * (HEAD_RADIUS_FRACTION * stature) * camera.fx / reference
    face_half = np.maximum(round_half_even(np.where(np.isfinite(radius_px), radius_px, 0.0)), config.min_window_px)
    face_half = np.minimum(face_half, 2 * config.max_window_px)
    face_windows = sampler.windows(centre, face_half, np.arange(count))
    return Sampled(reference, stature, half, joint_windows, face_windows, any_face)


def window_half_px(
    config: LiftingConfig, camera: CameraModel, reference: FloatArray, box_height: FloatArray
) -> IntArray:
    """Half-size of each person's joint windows: the metric radius at the torso's depth,
    or (radius 0, or no torso depth) a fraction of the box height; clipped to the
    configured pixel range."""
    metric = config.window_radius_m > 0 and np.isfinite(reference) & (reference > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.where(metric, config.window_radius_m * camera.fx / reference, config.window_fraction * box_height)
    return np.clip(round_half_even(half), config.min_window_px, config.max_window_px)


def personal_stature(observed: Observed, camera: CameraModel, reference: FloatArray, stature: float) -> FloatArray:
    """Each person's stature from how long their limbs look at the torso's depth:
    foreshortening only shortens a bone, so the longest-looking bones (the second
    longest, for robustness to keypoint noise) tell the scale. Clipped to adult sizes;
    ``stature`` with fewer than three limbs seen or no torso depth."""
    pixels = observed.pixels
    both = observed.seen[:, _LIMB_A] & observed.seen[:, _LIMB_B]
    lengths_px = np.linalg.norm(pixels[:, _LIMB_A] - pixels[:, _LIMB_B], axis=-1)
    ratios = np.where(both, lengths_px * reference[:, None] / camera.fx / (_LIMB_FRACTION * stature), -np.inf)
    second = np.sort(ratios, axis=1)[:, -2]
    scaled = stature * np.clip(second, 0.88, 1.18)
    return np.where((both.sum(axis=1) >= 3) & np.isfinite(reference), scaled, stature)
