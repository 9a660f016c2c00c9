"""The depth stage's settings (``lifting.*``) and the per-joint constants derived from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_EAR,
    LEFT_ELBOW,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NOSE,
    NUM_JOINTS,
    RIGHT_ANKLE,
    RIGHT_EAR,
    RIGHT_ELBOW,
    RIGHT_EYE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
)
from hdnet_ros.settings_field import setting

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LiftingConfig:
    min_depth_m: float = setting(0.3, "depth below this is treated as invalid [m]", min=0.0)
    max_depth_m: float = setting(10.0, "depth beyond this is treated as invalid [m]", min=0.1)
    window_fraction: float = setting(
        0.025, "joint window half-size as a fraction of the person's box height", min=0.0, max=0.5
    )
    min_window_px: int = setting(2, "smallest joint window half-size [px]", min=1)
    max_window_px: int = setting(12, "largest joint window half-size [px]", min=1)
    # A standing adult spans about +-0.5 m in depth around the torso; anything farther from
    # the torso is background or an occluder, not this person.
    person_depth_band_m: float = setting(
        0.6, "pixels farther than this from the person's torso depth are not the person [m]", min=0.05
    )
    cluster_gap_m: float = setting(0.08, "a depth gap that separates two surfaces in a window [m]", min=0.005)
    min_support_px: int = setting(3, "fewest consistent pixels that make a joint depth", min=1)
    noise_coefficient: float = setting(
        0.0015, "sensor depth noise sigma = coefficient * z^2 [1/m] (Kinect-like 0.0015)", min=0.0
    )
    # Robust joint depth (stages.depth.measure): size-scaled windows, feasible intervals from
    # the skeleton, occluders, surface-to-centre offsets.
    window_radius_m: float = setting(
        0.04, "joint window half-size in metres at the torso's depth (0 = use window_fraction)", min=0.0, max=0.5
    )
    surface_offset_head_m: float = setting(
        0.01, "face keypoints: surface-to-centre offset along the ray [m]", min=0.0, max=0.3
    )
    surface_offset_shoulder_m: float = setting(0.07, "shoulders: surface-to-centre offset [m]", min=0.0, max=0.3)
    surface_offset_hip_m: float = setting(0.09, "hips: surface-to-centre offset [m]", min=0.0, max=0.3)
    surface_offset_elbow_m: float = setting(0.04, "elbows: surface-to-centre offset [m]", min=0.0, max=0.3)
    surface_offset_wrist_m: float = setting(0.03, "wrists: surface-to-centre offset [m]", min=0.0, max=0.3)
    surface_offset_knee_m: float = setting(0.05, "knees: surface-to-centre offset [m]", min=0.0, max=0.3)
    surface_offset_ankle_m: float = setting(0.04, "ankles: surface-to-centre offset [m]", min=0.0, max=0.3)
    torso_centre_offset_m: float = setting(
        0.10, "torso surface to the pelvis centre, for a root from the torso depth alone [m]", min=0.0, max=0.3
    )
    # Root fallback and completion (stages.depth.root, stages.depth.complete).
    complete_joints: bool = setting(
        True, "complete seen joints without depth from their skeleton neighbours (DepthSource.INFERRED)"
    )
    root_prior: bool = setting(
        True, "without sensor depth, estimate the root from bone lengths and the floor (DepthSource.INFERRED)"
    )
    ground_plane: bool = setting(True, "fit the floor in the depth image for the root prior's foot cue")
    prior_stature_m: float = setting(1.70, "typical stature behind the bone-length prior [m]", min=0.5, max=2.5)
    keypoint_sigma_px: float = setting(3.0, "assumed 2D keypoint noise, for the prior's uncertainty [px]", min=0.1)
    # A limb joint the 2D network guessed onto a nearer object (stages.depth.guessed).
    guessed_jump_m: float = setting(
        0.15,
        "a limb joint this much nearer than its parent, past a depth edge on the bone, lies on an occluder [m]; "
        "0 = never checked",
        min=0.0,
    )
    guessed_confidence: float = setting(0.5, "factor on the 2D score of a joint found on an occluder", min=0.0, max=1.0)


# The body part of each measured joint, for its surface-to-centre offset.
JOINT_PART: dict[int, str] = {
    NOSE: "head",
    LEFT_EYE: "head",
    RIGHT_EYE: "head",
    LEFT_EAR: "head",
    RIGHT_EAR: "head",
    LEFT_SHOULDER: "shoulder",
    RIGHT_SHOULDER: "shoulder",
    LEFT_HIP: "hip",
    RIGHT_HIP: "hip",
    LEFT_ELBOW: "elbow",
    RIGHT_ELBOW: "elbow",
    LEFT_WRIST: "wrist",
    RIGHT_WRIST: "wrist",
    LEFT_KNEE: "knee",
    RIGHT_KNEE: "knee",
    LEFT_ANKLE: "ankle",
    RIGHT_ANKLE: "ankle",
}

# Robust measurement constants (not settings: they describe bodies, not sensors).
TORSO_FRONT_M = 0.15  # a torso joint centre may lie this far in front of the torso surface
TORSO_BEHIND_M = 0.40  # ... and this far behind it
BONE_SPREAD = 0.12  # a bone is within this fraction of this person's typical length


def surface_offsets(config: LiftingConfig) -> FloatArray:
    """Per-joint surface-to-centre offset [m] (0 for the midpoint joints)."""
    by_part = {
        "head": config.surface_offset_head_m,
        "shoulder": config.surface_offset_shoulder_m,
        "hip": config.surface_offset_hip_m,
        "elbow": config.surface_offset_elbow_m,
        "wrist": config.surface_offset_wrist_m,
        "knee": config.surface_offset_knee_m,
        "ankle": config.surface_offset_ankle_m,
    }
    return np.array([float(by_part.get(JOINT_PART.get(j, ""), 0.0)) for j in range(NUM_JOINTS)])
