"""What an adult skeleton looks like: bone lengths, the kinematic tree and a standing pose.

Typical bone lengths are fractions of stature from Drillis & Contini (1966) (Winter,
*Biomechanics and Motor Control of Human Movement*), for an adult of 1.70 m, the mean of an
equal mix of men and women. Joint-centre widths are narrower than the skin breadths of that
table: shoulder joint centres 0.20 H apart, hip joint centres 0.105 H apart.

Everything here is a constant of the output joint set (:mod:`hdnet_ros.joints`), also as
arrays indexed by joint, so that the depth stage can work on all joints of all people at
once.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import (
    BONES,
    LEFT_ANKLE,
    LEFT_EAR,
    LEFT_ELBOW,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NECK,
    NOSE,
    NUM_JOINTS,
    PELVIS,
    RIGHT_ANKLE,
    RIGHT_EAR,
    RIGHT_ELBOW,
    RIGHT_EYE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

TYPICAL_STATURE_M: Final = 1.70
# Relative spread of adult stature (sd 0.09 m over 1.70 m): the irreducible error of any
# depth derived from an assumed body size.
STATURE_RELATIVE_SD: Final = 0.055

# Bone (a, b) -> typical length as a fraction of stature.
BONE_FRACTIONS: Final[dict[tuple[int, int], float]] = {
    (PELVIS, LEFT_HIP): 0.0525,
    (PELVIS, RIGHT_HIP): 0.0525,
    (LEFT_HIP, LEFT_KNEE): 0.245,
    (LEFT_KNEE, LEFT_ANKLE): 0.246,
    (RIGHT_HIP, RIGHT_KNEE): 0.245,
    (RIGHT_KNEE, RIGHT_ANKLE): 0.246,
    (PELVIS, NECK): 0.288,
    (NECK, LEFT_SHOULDER): 0.100,
    (NECK, RIGHT_SHOULDER): 0.100,
    (LEFT_SHOULDER, LEFT_ELBOW): 0.186,
    (LEFT_ELBOW, LEFT_WRIST): 0.146,
    (RIGHT_SHOULDER, RIGHT_ELBOW): 0.186,
    (RIGHT_ELBOW, RIGHT_WRIST): 0.146,
    (NECK, NOSE): 0.127,
    (NOSE, LEFT_EYE): 0.025,
    (NOSE, RIGHT_EYE): 0.025,
    (LEFT_EYE, LEFT_EAR): 0.050,
    (RIGHT_EYE, RIGHT_EAR): 0.050,
}
assert set(BONE_FRACTIONS) == set(BONES), "every drawn bone needs a typical length"

# A standing adult with the arms hanging, as fractions of stature: (left, up, forward) of
# each joint, heights from Drillis & Contini. Distances in this pose bound the distances of
# the same joints in nearly any other pose (bending, sitting and turning shorten them),
# which makes them a size prior for joints that are not connected by one bone.
STANDING_TEMPLATE: Final = np.array(
    [
        [0.000, 0.920, 0.065],  # nose
        [0.019, 0.936, 0.050],  # left eye
        [-0.019, 0.936, 0.050],  # right eye
        [0.053, 0.930, -0.007],  # left ear
        [-0.053, 0.930, -0.007],  # right ear
        [0.100, 0.818, 0.000],  # left shoulder
        [-0.100, 0.818, 0.000],  # right shoulder
        [0.110, 0.632, 0.000],  # left elbow
        [-0.110, 0.632, 0.000],  # right elbow
        [0.115, 0.486, 0.000],  # left wrist
        [-0.115, 0.486, 0.000],  # right wrist
        [0.0525, 0.530, 0.000],  # left hip
        [-0.0525, 0.530, 0.000],  # right hip
        [0.0525, 0.285, 0.000],  # left knee
        [-0.0525, 0.285, 0.000],  # right knee
        [0.0525, 0.039, 0.000],  # left ankle
        [-0.0525, 0.039, 0.000],  # right ankle
        [0.000, 0.530, 0.000],  # pelvis
        [0.000, 0.818, 0.000],  # neck
    ]
)

# Kinematic parent of each joint (towards the pelvis), for chains measured outwards.
PARENT: Final[dict[int, int]] = {
    NECK: PELVIS,
    LEFT_HIP: PELVIS,
    RIGHT_HIP: PELVIS,
    LEFT_SHOULDER: NECK,
    RIGHT_SHOULDER: NECK,
    LEFT_ELBOW: LEFT_SHOULDER,
    RIGHT_ELBOW: RIGHT_SHOULDER,
    LEFT_WRIST: LEFT_ELBOW,
    RIGHT_WRIST: RIGHT_ELBOW,
    LEFT_KNEE: LEFT_HIP,
    RIGHT_KNEE: RIGHT_HIP,
    LEFT_ANKLE: LEFT_KNEE,
    RIGHT_ANKLE: RIGHT_KNEE,
    NOSE: NECK,
    LEFT_EYE: NOSE,
    RIGHT_EYE: NOSE,
    LEFT_EAR: LEFT_EYE,
    RIGHT_EAR: RIGHT_EYE,
}


def bone_length(a: int, b: int, stature: float = TYPICAL_STATURE_M) -> float:
    """Typical length [m] of the bone between joints a and b (in either order)."""
    fraction = BONE_FRACTIONS.get((a, b), BONE_FRACTIONS.get((b, a)))
    if fraction is None:
        raise KeyError(f"joints {a} and {b} are not connected by a bone")
    return fraction * stature


def path_lengths(stature: float = TYPICAL_STATURE_M) -> FloatArray:
    """Shortest skeleton path length [m] between every two joints [J,J] (Floyd-Warshall)."""
    dist = np.full((NUM_JOINTS, NUM_JOINTS), np.inf)
    np.fill_diagonal(dist, 0.0)
    for a, b in BONES:
        dist[a, b] = dist[b, a] = bone_length(a, b, stature)
    for k in range(NUM_JOINTS):
        dist = np.minimum(dist, dist[:, k : k + 1] + dist[k : k + 1, :])
    return dist


def ancestor_steps() -> tuple[IntArray, FloatArray]:
    """Each joint's ancestors towards the pelvis, nearest first [J,D] (-1 padded), and the
    length of each step of that chain as a fraction of stature [J,D] (0 where padded):
    the chain length to the d-th ancestor is the cumulative sum of the steps."""
    depth = max(len(_ancestors(j)) for j in range(NUM_JOINTS))
    indices = np.full((NUM_JOINTS, depth), -1, dtype=np.intp)
    steps = np.zeros((NUM_JOINTS, depth))
    for joint in range(NUM_JOINTS):
        child = joint
        for column, parent in enumerate(_ancestors(joint)):
            steps[joint, column] = bone_length(child, parent, stature=1.0)
            indices[joint, column] = parent
            child = parent
    return indices, steps


def _ancestors(joint: int) -> list[int]:
    chain = []
    while joint in PARENT:
        joint = PARENT[joint]
        chain.append(joint)
    return chain


ANCESTORS, ANCESTOR_STEPS = ancestor_steps()
