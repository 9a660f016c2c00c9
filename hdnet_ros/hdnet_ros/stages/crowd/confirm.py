"""Low-score boxes kept when the keypoints confirm a person there, or a track continues.

A detector scores a person it half sees low (a seated person at 0.19, a man half behind
his neighbour at 0.28): below the detector's threshold such a box is a *candidate*. The
keypoint network looks at its crop anyway; a candidate is kept when at least
``confirm_min_joints`` of its joints reach ``confirm_joint_score`` on a skeleton the
ownership tests left plausible, one of them on the torso, or when the box continues a
track (the tracker expected someone there). Otherwise it is dropped: background rarely
gives several confident joints in a plausible layout.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import NUM_COCO_JOINTS, TORSO_JOINTS
from hdnet_ros.stages.crowd.skeletons import Skeletons

BoolArray = npt.NDArray[np.bool_]


def confirmed(skeletons: Skeletons, min_joints: int, joint_score: float) -> BoolArray:
    """People [P] whose skeleton shows a person: enough confident joints, one on the torso."""
    confident = skeletons.seen & (skeletons.scores >= joint_score)
    enough = confident[:, :NUM_COCO_JOINTS].sum(axis=1) >= min_joints
    return enough & np.any(confident[:, list(TORSO_JOINTS)], axis=1)
