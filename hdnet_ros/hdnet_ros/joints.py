"""The output joint set (COCO-17 plus pelvis and neck) and its skeleton.

The order here is the order of ``Skeleton3D.keypoints`` in hdnet_ros_msgs; a test keeps the
two in step.
"""

from __future__ import annotations

from typing import Final

JOINT_SET_NAME: Final = "coco19"

JOINT_NAMES: Final[tuple[str, ...]] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "pelvis",
    "neck",
)
NUM_JOINTS: Final = len(JOINT_NAMES)
NUM_COCO_JOINTS: Final = 17
JOINT_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(JOINT_NAMES)}

NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR = 0, 1, 2, 3, 4
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_ELBOW, RIGHT_ELBOW = 5, 6, 7, 8
LEFT_WRIST, RIGHT_WRIST, LEFT_HIP, RIGHT_HIP = 9, 10, 11, 12
LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE = 13, 14, 15, 16
PELVIS, NECK = 17, 18
ROOT: Final = PELVIS

# The feet, published beside the joint set (Skeleton3D.feet) so that the fixed 19-entry
# keypoint order never changes: heels and toes (BlazePose's "foot index"), each hanging
# from its ankle.
FOOT_NAMES: Final[tuple[str, ...]] = ("left_heel", "right_heel", "left_toes", "right_toes")
NUM_FEET: Final = len(FOOT_NAMES)
FOOT_LEFT_HEEL, FOOT_RIGHT_HEEL, FOOT_LEFT_TOES, FOOT_RIGHT_TOES = 0, 1, 2, 3
FOOT_ANKLE: Final[tuple[int, ...]] = (15, 16, 15, 16)  # the ankle each foot point hangs from

# Derived joints: each is the midpoint of two COCO joints.
DERIVED_JOINTS: Final[dict[int, tuple[int, int]]] = {
    PELVIS: (LEFT_HIP, RIGHT_HIP),
    NECK: (LEFT_SHOULDER, RIGHT_SHOULDER),
}

# Bones drawn in overlays and markers (parent, child).
BONES: Final[tuple[tuple[int, int], ...]] = (
    (PELVIS, LEFT_HIP),
    (PELVIS, RIGHT_HIP),
    (LEFT_HIP, LEFT_KNEE),
    (LEFT_KNEE, LEFT_ANKLE),
    (RIGHT_HIP, RIGHT_KNEE),
    (RIGHT_KNEE, RIGHT_ANKLE),
    (PELVIS, NECK),
    (NECK, LEFT_SHOULDER),
    (NECK, RIGHT_SHOULDER),
    (LEFT_SHOULDER, LEFT_ELBOW),
    (LEFT_ELBOW, LEFT_WRIST),
    (RIGHT_SHOULDER, RIGHT_ELBOW),
    (RIGHT_ELBOW, RIGHT_WRIST),
    (NECK, NOSE),
    (NOSE, LEFT_EYE),
    (NOSE, RIGHT_EYE),
    (LEFT_EYE, LEFT_EAR),
    (RIGHT_EYE, RIGHT_EAR),
)

# Joints whose depth describes the torso, the most reliable part of a person in depth.
TORSO_JOINTS: Final = (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP)
# The face keypoints (a head's position, not its depth: they lie on its surface).
FACE_JOINTS: Final = (NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR)

# Left/right pairs, for mirrored crops and symmetry checks.
FLIP_PAIRS: Final[tuple[tuple[int, int], ...]] = (
    (LEFT_EYE, RIGHT_EYE),
    (LEFT_EAR, RIGHT_EAR),
    (LEFT_SHOULDER, RIGHT_SHOULDER),
    (LEFT_ELBOW, RIGHT_ELBOW),
    (LEFT_WRIST, RIGHT_WRIST),
    (LEFT_HIP, RIGHT_HIP),
    (LEFT_KNEE, RIGHT_KNEE),
    (LEFT_ANKLE, RIGHT_ANKLE),
)

# REP-155 link names for per-joint TF frames (``<link>_<body id>``).
REP155_LINK_NAMES: Final[dict[int, str]] = {
    NOSE: "nose",
    LEFT_EYE: "l_eye",
    RIGHT_EYE: "r_eye",
    LEFT_EAR: "l_ear",
    RIGHT_EAR: "r_ear",
    LEFT_SHOULDER: "l_shoulder",
    RIGHT_SHOULDER: "r_shoulder",
    LEFT_ELBOW: "l_elbow",
    RIGHT_ELBOW: "r_elbow",
    LEFT_WRIST: "l_wrist",
    RIGHT_WRIST: "r_wrist",
    LEFT_HIP: "l_hip",
    RIGHT_HIP: "r_hip",
    LEFT_KNEE: "l_knee",
    RIGHT_KNEE: "r_knee",
    LEFT_ANKLE: "l_ankle",
    RIGHT_ANKLE: "r_ankle",
    PELVIS: "waist",
    NECK: "neck",
}
