"""Joints that belong to another person: found joint by joint, never published.

A top-down network sees one person's crop, but in a crowd the crop holds neighbours, and
a network may put a joint on one of them (a wrist on the neighbour's wrist, a leg running
across three people). Three tests, each on all people at once:

1. **Outside the box**: a joint farther outside its person's box than ``box_margin`` of
   the box's size (the crop holds a neighbour beyond the box; the person's own joints
   stay near it).
2. **Implausible limbs**: walking out from the torso, a joint farther in 2D from its
   nearest kept ancestor than ``limb_slack`` x the typical length of the bones between
   them (fractions of stature, :mod:`hdnet_ros.skeleton`) x the person's 2D stature.
   Foreshortening only shortens bones in 2D, so the bound holds in any pose; a joint on
   a neighbour is typically half a body away. Face keypoints are bounded by the head's
   size around the neck.
3. **A joint two skeletons claim**: where two people put the same (or the mirrored)
   joint within ``shared_radius`` x stature of each other, it is one joint when it lies
   clearly closer (in units of each one's stature, at most ``TORSO_RATIO`` of the
   distance) to the other's torso, and the other's network is clearly surer of it
   (score higher by ``SCORE_TIE``: a top-down network scores the joints of the person
   centred in its crop above a neighbour's it strays onto). Then it is the other's: it
   lies closer to a neighbour's skeleton than to its own torso. Two people holding hands
   put their wrists together within both reaches: both keep them (measured on the AI
   Challenger photo).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import (
    FACE_JOINTS,
    FLIP_PAIRS,
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
    NUM_COCO_JOINTS,
    NUM_JOINTS,
    RIGHT_ANKLE,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    TORSO_JOINTS,
)
from hdnet_ros.skeleton import BONE_FRACTIONS
from hdnet_ros.stages.crowd.kernels import limb_rejections, shared_rejections
from hdnet_ros.stages.crowd.skeletons import Skeletons

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Limb chains from the torso outwards: (joint, parent).
LIMB_CHAINS: tuple[tuple[int, int], ...] = (
    (LEFT_ELBOW, LEFT_SHOULDER),
    (RIGHT_ELBOW, RIGHT_SHOULDER),
    (LEFT_KNEE, LEFT_HIP),
    (RIGHT_KNEE, RIGHT_HIP),
    (LEFT_WRIST, LEFT_ELBOW),
    (RIGHT_WRIST, RIGHT_ELBOW),
    (LEFT_ANKLE, LEFT_KNEE),
    (RIGHT_ANKLE, RIGHT_KNEE),
)
# Neck to the farthest face keypoint (an ear, via the nose and an eye), of stature.
FACE_REACH = BONE_FRACTIONS[(NECK, NOSE)] + BONE_FRACTIONS[(NOSE, LEFT_EYE)] + BONE_FRACTIONS[(LEFT_EYE, LEFT_EAR)]

SCORE_TIE = 0.1  # joint scores this close say nothing about whose joint it is
TORSO_RATIO = 0.5  # the other's torso at most this share of the own torso's distance: clearly theirs


def _limb_reaches() -> dict[int, tuple[tuple[int, float], ...]]:
    """How far each chain joint may be from each of its ancestors, in stature units:
    joint -> ((ancestor, reach), ...), nearest ancestor first."""
    reaches: dict[int, tuple[tuple[int, float], ...]] = {}
    for joint, parent in LIMB_CHAINS:
        bone = BONE_FRACTIONS.get((parent, joint), BONE_FRACTIONS.get((joint, parent), 0.0))
        reaches[joint] = ((parent, bone), *((a, bone + r) for a, r in reaches.get(parent, ())))
    return reaches


LIMB_REACHES = _limb_reaches()
MIRROR = np.arange(NUM_JOINTS)
for _a, _b in FLIP_PAIRS:
    MIRROR[_a], MIRROR[_b] = _b, _a
_MIRROR_COCO = np.ascontiguousarray(MIRROR[:NUM_COCO_JOINTS], dtype=np.int64)

# LIMB_CHAINS and LIMB_REACHES as the compiled test reads them: joints [C], their
# ancestors [C,D] nearest first (-1 pads) and reaches [C,D] in statures.
_CHAIN_JOINTS = np.array([joint for joint, _ in LIMB_CHAINS], dtype=np.int64)
_DEPTH = max(len(LIMB_REACHES[joint]) for joint, _ in LIMB_CHAINS)
_CHAIN_ANCESTORS = np.array(
    [[a for a, _ in LIMB_REACHES[j]] + [-1] * (_DEPTH - len(LIMB_REACHES[j])) for j, _ in LIMB_CHAINS], dtype=np.int64
)
_CHAIN_REACHES = np.array(
    [[r for _, r in LIMB_REACHES[j]] + [np.nan] * (_DEPTH - len(LIMB_REACHES[j])) for j, _ in LIMB_CHAINS]
)
_FACE_JOINTS = np.array(FACE_JOINTS, dtype=np.int64)


def outside_box(skeletons: Skeletons, margin: float) -> BoolArray:
    """Seen joints [P,J] beyond their box grown by ``margin`` x its width / height per side."""
    boxes = skeletons.boxes
    size = np.stack((boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), axis=1)
    low = (boxes[:, :2] - margin * size)[:, None, :]
    high = (boxes[:, 2:] + margin * size)[:, None, :]
    with np.errstate(invalid="ignore"):
        beyond = np.any((skeletons.pixels < low) | (skeletons.pixels > high), axis=-1)
    return beyond & skeletons.seen


def implausible_limbs(skeletons: Skeletons, slack: float) -> BoolArray:
    """Seen joints [P,J] too far from their nearest kept ancestor for the person's size
    (compiled: :func:`.kernels.limb_rejections`)."""
    return limb_rejections(
        np.ascontiguousarray(skeletons.pixels, dtype=np.float64),
        np.ascontiguousarray(skeletons.seen),
        skeletons.body_scale(),
        float(slack),
        _CHAIN_JOINTS,
        _CHAIN_ANCESTORS,
        _CHAIN_REACHES,
        _FACE_JOINTS,
        FACE_REACH,
        NECK,
    )


def _torso_centres(skeletons: Skeletons) -> FloatArray:
    """The mean of each person's seen shoulders and hips [P,2] (NaN: none seen)."""
    torso = skeletons.pixels[:, list(TORSO_JOINTS)]
    seen = np.all(np.isfinite(torso), axis=-1)
    total = np.sum(np.where(seen[..., None], torso, 0.0), axis=1)
    count = seen.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[:, None] > 0, total / count[:, None], np.nan)


def shared_joints(skeletons: Skeletons, radius: float) -> BoolArray:
    """Joints [P,J] that another person also claims and that are that person's (module doc)."""
    count = len(skeletons)
    rejected = np.zeros((count, NUM_JOINTS), dtype=bool)
    if count < 2:
        return rejected
    rejected[:, :NUM_COCO_JOINTS] = shared_rejections(
        np.ascontiguousarray(skeletons.pixels[:, :NUM_COCO_JOINTS], dtype=np.float64),
        np.ascontiguousarray(skeletons.scores[:, :NUM_COCO_JOINTS], dtype=np.float64),
        skeletons.body_scale(),
        _torso_centres(skeletons),
        float(radius),
        _MIRROR_COCO,
        SCORE_TIE,
        TORSO_RATIO,
    )
    return rejected
