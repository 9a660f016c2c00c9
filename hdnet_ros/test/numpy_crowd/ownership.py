"""main's copy (649e036), kept as the reference.

Joints that belong to another person: found joint by joint, never published.

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
    """Seen joints [P,J] too far from their nearest kept ancestor for the person's size."""
    scale = skeletons.body_scale()
    pixels = skeletons.pixels
    kept = skeletons.seen.copy()
    rejected = np.zeros_like(kept)
    for joint, _ in LIMB_CHAINS:
        reference = np.full((len(skeletons), 2), np.nan)
        reach = np.full(len(skeletons), np.nan)
        for ancestor, fraction in reversed(LIMB_REACHES[joint]):  # the nearest kept ancestor wins
            usable = kept[:, ancestor]
            reference[usable] = pixels[usable, ancestor]
            reach[usable] = fraction
        distance = np.linalg.norm(pixels[:, joint] - reference, axis=-1)
        with np.errstate(invalid="ignore"):
            bad = kept[:, joint] & (distance > slack * reach * scale)
        rejected[:, joint] = bad
        kept[:, joint] &= ~bad
    neck = pixels[:, NECK]
    for joint in FACE_JOINTS:
        distance = np.linalg.norm(pixels[:, joint] - neck, axis=-1)
        with np.errstate(invalid="ignore"):
            rejected[:, joint] = kept[:, joint] & (distance > slack * FACE_REACH * scale)
    return rejected


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
    pixels = skeletons.pixels[:, :NUM_COCO_JOINTS]
    scale = skeletons.body_scale()
    centres = _torso_centres(skeletons)
    # Claims: person p's joint j near person q's joint j or its mirror [P,Q,17].
    near = np.zeros((count, count, NUM_COCO_JOINTS), dtype=bool)
    limit = radius * np.minimum(scale[:, None], scale[None, :])[..., None]
    x, y = pixels[..., 0], pixels[..., 1]  # the norms below as np.linalg.norm computes them, on [P,Q,17] planes
    for order in (slice(None), MIRROR[:NUM_COCO_JOINTS]):
        dx, dy = x[:, None] - x[None, :, order], y[:, None] - y[None, :, order]
        with np.errstate(invalid="ignore"):
            near |= np.sqrt(dx * dx + dy * dy) < limit
    near[np.arange(count), np.arange(count)] = False
    # Person p's joint j to person q's torso, in q's statures [P,Q,17]; an unknown torso is far.
    dx, dy = x[:, None] - centres[None, :, None, 0], y[:, None] - centres[None, :, None, 1]
    to_torso = np.sqrt(dx * dx + dy * dy) / scale[None, :, None]
    to_torso = np.nan_to_num(to_torso, nan=np.inf)
    own = to_torso[np.arange(count), np.arange(count)]  # [P,17]
    # p loses joint j to q when q claims it too, with a clearly higher score and a nearer torso.
    scores = skeletons.scores[:, :NUM_COCO_JOINTS]
    score_gap = scores[None, :, :] - scores[:, None, :]  # q's score minus p's [P,Q,17]
    nearer = to_torso < TORSO_RATIO * own[:, None, :]
    loses = near & (score_gap > SCORE_TIE) & nearer
    rejected[:, :NUM_COCO_JOINTS] = np.any(loses, axis=1)
    return rejected
