"""Joint sets of the published networks and their mapping to our COCO19 output set.

A source joint is mapped to a COCO19 joint only where both name the same landmark; the
comments say why the less obvious ones are (or are not) mapped. Pelvis and neck, when a set
has no exact equivalent, are derived afterwards from the hips/shoulders
(``joints.DERIVED_JOINTS``), which is how COCO19 defines them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hdnet_ros import joints as coco19

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class JointSet:
    """A network's joint order, skeleton and left/right pairs, with its COCO19 mapping."""

    name: str
    joint_names: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    root: int
    flip_pairs: tuple[tuple[int, int], ...]
    # Source joint name -> COCO19 joint name, for the joints that correspond.
    coco19_names: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        for a, b in self.edges + self.flip_pairs:
            if not (0 <= a < n and 0 <= b < n):
                raise ValueError(f"{self.name}: pair ({a}, {b}) is outside {n} joints")
        unknown = set(self.coco19_names) - set(self.joint_names)
        if unknown:
            raise ValueError(f"{self.name}: mapping names unknown joints {sorted(unknown)}")
        targets = list(self.coco19_names.values())
        if len(set(targets)) != len(targets) or not set(targets) <= set(coco19.JOINT_NAMES):
            raise ValueError(f"{self.name}: mapping targets must be distinct COCO19 names")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint_name: str) -> int:
        return self.joint_names.index(joint_name)

    def coco19_pairs(self) -> tuple[tuple[int, int], ...]:
        """(source index, COCO19 index) of every mapped joint, in source order."""
        return tuple(
            (i, coco19.JOINT_INDEX[self.coco19_names[name]])
            for i, name in enumerate(self.joint_names)
            if name in self.coco19_names
        )

    def to_coco19(self, values: npt.ArrayLike, derive: bool = True) -> FloatArray:
        """Reorder [..., J, C] values into COCO19 [..., 19, C]; unmapped joints are NaN.

        With ``derive``, pelvis and neck that have no source joint become the midpoint of
        their two COCO19 parents (NaN if a parent is missing).
        """
        v = np.asarray(values, dtype=np.float64)
        if v.shape[-2] != self.num_joints:
            raise ValueError(f"{self.name}: expected {self.num_joints} joints, got shape {v.shape}")
        out = np.full((*v.shape[:-2], coco19.NUM_JOINTS, v.shape[-1]), np.nan)
        pairs = self.coco19_pairs()
        src = [s for s, _ in pairs]
        dst = [d for _, d in pairs]
        out[..., dst, :] = v[..., src, :]
        if derive:
            for joint, (a, b) in coco19.DERIVED_JOINTS.items():
                if joint not in dst:
                    out[..., joint, :] = 0.5 * (out[..., a, :] + out[..., b, :])
        return out


_LIMBS: dict[str, str] = {
    # Shared spelling variants of the limb joints -> COCO19.
    "LShoulder": "left_shoulder", "RShoulder": "right_shoulder",
    "LElbow": "left_elbow", "RElbow": "right_elbow",
    "LWrist": "left_wrist", "RWrist": "right_wrist",
    "LHip": "left_hip", "RHip": "right_hip",
    "LKnee": "left_knee", "RKnee": "right_knee",
}  # fmt: skip
_LIMBS_3DMPPE: dict[str, str] = {
    f"{side}_{part}": f"{'left' if side == 'L' else 'right'}_{part.lower()}"
    for side in ("L", "R")
    for part in ("Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")
}

# HDNet (HumanDepth data/Human36M/Human36M.py). "Foot" is H36M's ankle joint (3DMPPE calls
# the same joint R_Ankle). "Neck/Nose" is the joint 3DMPPE calls Nose and maps to COCO's
# nose by name. "Thorax" is the neck base between the shoulders, COCO19's "neck".
H36M_17 = JointSet(
    name="h36m17",
    joint_names=(
        "Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
        "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
    ),
    edges=(
        (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
        (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
    ),
    root=0,
    flip_pairs=((1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)),
    coco19_names={
        **_LIMBS, "Hip": "pelvis", "RFoot": "right_ankle", "LFoot": "left_ankle",
        "Thorax": "neck", "Neck/Nose": "nose",
    },
)  # fmt: skip

# 3DMPPE PoseNet trained on Human3.6M (18 joints; RootNet uses the first 17). "Thorax" is
# defined there as the mean of the shoulders, exactly COCO19's neck; "Neck" (the H36M joint
# HDNet calls Thorax) is therefore left unmapped.
H36M_18 = JointSet(
    name="h36m18",
    joint_names=(
        "Pelvis", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Torso", "Neck",
        "Nose", "Head", "L_Shoulder", "L_Elbow", "L_Wrist", "R_Shoulder", "R_Elbow", "R_Wrist",
        "Thorax",
    ),
    edges=(
        (0, 7), (7, 8), (8, 9), (9, 10), (8, 11), (11, 12), (12, 13), (8, 14), (14, 15),
        (15, 16), (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6),
    ),
    root=0,
    flip_pairs=((1, 4), (2, 5), (3, 6), (14, 11), (15, 12), (16, 13)),
    coco19_names={**_LIMBS_3DMPPE, "Pelvis": "pelvis", "Nose": "nose", "Thorax": "neck"},
)  # fmt: skip

# 3DMPPE PoseNet trained on MuCo-3DHP (21 joints; MuPoTS evaluates the first 17). "Thorax"
# is MPI-INF-3DHP's neck joint (parent of head and shoulders). No nose or eyes; Hand and
# Toe are not wrist/ankle landmarks.
MUCO_21 = JointSet(
    name="muco21",
    joint_names=(
        "Head_top", "Thorax", "R_Shoulder", "R_Elbow", "R_Wrist", "L_Shoulder", "L_Elbow",
        "L_Wrist", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Pelvis",
        "Spine", "Head", "R_Hand", "L_Hand", "R_Toe", "L_Toe",
    ),
    edges=(
        (0, 16), (16, 1), (1, 15), (15, 14), (14, 8), (14, 11), (8, 9), (9, 10), (10, 19),
        (11, 12), (12, 13), (13, 20), (1, 2), (2, 3), (3, 4), (4, 17), (1, 5), (5, 6), (6, 7),
        (7, 18),
    ),
    root=14,
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (17, 18), (19, 20)),
    coco19_names={**_LIMBS_3DMPPE, "Pelvis": "pelvis", "Thorax": "neck"},
)  # fmt: skip

# ITOP (RefiNet). "Hand" and "Foot" are Kinect-style hand/foot points, not the wrist/ankle
# landmarks, and "Torso" is the mid-spine: all three stay unmapped, so pelvis is derived.
ITOP_15 = JointSet(
    name="itop15",
    joint_names=(
        "Head", "Neck", "R_Shoulder", "L_Shoulder", "R_Elbow", "L_Elbow", "R_Hand", "L_Hand",
        "Torso", "R_Hip", "L_Hip", "R_Knee", "L_Knee", "R_Foot", "L_Foot",
    ),
    edges=(
        (0, 1), (1, 2), (1, 3), (2, 4), (4, 6), (3, 5), (5, 7), (1, 8), (8, 9), (8, 10),
        (10, 12), (12, 14), (9, 11), (11, 13),
    ),
    root=8,
    flip_pairs=((2, 3), (4, 5), (6, 7), (9, 10), (11, 12), (13, 14)),
    coco19_names={
        "Neck": "neck",
        **{k: v for k, v in _LIMBS_3DMPPE.items() if not k.endswith(("Wrist", "Ankle"))},
    },
)  # fmt: skip

JOINT_SETS: dict[str, JointSet] = {s.name: s for s in (H36M_17, H36M_18, MUCO_21, ITOP_15)}
