"""How a standing skeleton stands: whether it stands at all, its legs' length, and how far
a floor may turn its trunk upright. Shared by the fit (fit.py) and the floor from people
(cues.py, people_floor.py).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation

from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
)
from hdnet_ros.stages.placement.floor import Floor

FloatArray = npt.NDArray[np.float64]
# The skeleton stands when its hips are over its lower ankle by at least this share of its
# leg length (straight legs ~1; sitting on a chair ~0.5; lying ~0). Seen from above, the
# network's standing legs lean 20-45 deg off the floor's up (0.71-0.94 of the leg: a
# person of the Panoptic frames at 0.73), so the bound lies nearer the seated side.
STANDING_FRACTION = 0.65
# A standing person's skeleton is turned upright by the floor (uprighting): the network's
# trunk direction is good to this (BlazePose's trunk against the Panoptic reference: median
# 7 deg, 3-30 deg), a standing trunk vertical within that (the reference's trunks: median
# 2.6 deg, 1-10 deg).
NETWORK_TRUNK_SIGMA_RAD = float(np.deg2rad(10.0))
TRUNK_LEAN_SIGMA_RAD = float(np.deg2rad(3.0))
# Only a floor whose up does not come from the people's trunks turns them: the people's
# floor is partly made of those same trunks (measured: turning towards it moved 00_06 and
# 00_12 of the Panoptic frames 50-65 mm of MRPE further off).
UPRIGHTING_FLOORS = ("tf", "depth")


def standing(skeleton: FloatArray, up: FloatArray, leg: float | None = None) -> bool:
    """Whether a skeleton [21,3] stands or walks: its hips over its lower ankle by most of
    a leg along ``up`` (legs extended under the body); ``leg``: its :func:`leg_length`
    where the caller has it."""
    pelvis = (skeleton[LEFT_HIP] + skeleton[RIGHT_HIP]) / 2.0
    leg = leg_length(skeleton) if leg is None else leg
    ankles = skeleton[[LEFT_ANKLE, RIGHT_ANKLE]]
    if not np.isfinite(leg) or not np.all(np.isfinite(ankles)):
        return False
    return bool(np.max((pelvis - ankles) @ up) >= STANDING_FRACTION * leg)


def leg_length(skeleton: FloatArray) -> float:
    """Hip to knee to ankle, the mean of both sides [m] (NaN if unknown)."""
    return float(np.mean(leg_sides(skeleton)))


def leg_sides(skeleton: FloatArray) -> FloatArray:
    """Hip to knee to ankle of the left and the right leg [2] (NaN if unknown)."""
    return np.array(
        [
            np.linalg.norm(skeleton[hip] - skeleton[knee]) + np.linalg.norm(skeleton[knee] - skeleton[ankle])
            for hip, knee, ankle in ((LEFT_HIP, LEFT_KNEE, LEFT_ANKLE), (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE))
        ]
    )


def uprighting(skeleton: FloatArray, floor: Floor) -> FloatArray:
    """The rotation [3,3] that turns a standing skeleton's trunk towards the floor's up by
    the share its uncertainty leaves to the floor: the network's trunk direction is good to
    NETWORK_TRUNK_SIGMA, a standing trunk is vertical within TRUNK_LEAN_SIGMA, the floor's up
    is good to its tilt sigma (the two estimates of the trunk combined by their variances)."""
    trunk = (skeleton[LEFT_SHOULDER] + skeleton[RIGHT_SHOULDER] - skeleton[LEFT_HIP] - skeleton[RIGHT_HIP]) / 2.0
    norm = float(np.linalg.norm(trunk))
    if not np.isfinite(norm) or norm < 1e-6:
        return np.eye(3)
    axis = np.cross(trunk / norm, floor.normal)
    sine = float(np.linalg.norm(axis))
    if sine < 1e-9:
        return np.eye(3)
    angle = float(np.arctan2(sine, trunk @ floor.normal / norm))
    upright = TRUNK_LEAN_SIGMA_RAD**2 + floor.sigma_tilt_rad**2
    share = NETWORK_TRUNK_SIGMA_RAD**2 / (NETWORK_TRUNK_SIGMA_RAD**2 + upright)
    return np.asarray(Rotation.from_rotvec(axis / sine * angle * share).as_matrix())
