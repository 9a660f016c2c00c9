"""What the placement reads from a person: the 2D point each of the skeleton's joints projects
to, which of them the image can vouch for, and a standing person as an observation of the
floor.

Two networks see each person: the 2D keypoint network (COCO definitions: MoveNet,
PP-TinyPose) and the 3D network whose metric skeleton is fitted (BlazePose GHUM). Their
joints are defined differently: BlazePose's hips sit higher and closer together than COCO's,
its knees higher (on the sample RGB-D frames its torso is 3-10 % shorter in the image than
the 2D network's; fitting its skeleton to the 2D network's points puts the person 5-6 % too
near). The skeleton's own landmarks are the points its joints project to, so the fit takes
them where the image vouches for them: inside the image, seen by the network, and within
:data:`AGREEMENT` of a torso length of the 2D network's keypoint. Further apart, the 3D
network is the one that is wrong more often: on the Panoptic frames BlazePose's 2D hips
and ankles miss by 80-250 px where a person is cut by the image or seen from above, and
taking its landmarks everywhere put the level camera's people 390 mm off (MoveNet; MRPE, camera
pose known) against 140 mm with the gate. Elsewhere the 2D network's keypoint stands. Where
the image cuts a person the gate is wider (:data:`AGREEMENT_CUT`): the 3D network then
frames the whole body beyond the image and the 2D network only the cut part.

A person cut by the image border (their box reaches it) has joints beyond it, and both
networks put their guesses for those at the edge of what they see: on Panoptic's level
camera, ankles 1.2 m below the image came out 20-50 px inside it (3-6 % of the box's
height). Keypoints within :data:`TRUNCATION_BAND` of the box's height of a border the box
reaches are therefore not used, by the fit or the floor.

A person partly hidden behind another has the joints the 2D network cannot see drawn onto
the body in front: on Panoptic's 00_12 a man's hips came out 45-56 px low on the head and
shoulders of the man in front of him (BlazePose's landmarks: 5-7 px), and ankles 70-120 px
low on a nearer person's legs. Where a keypoint lies in the box of a person who stands in
front (their box reaches lower in the image: people on one floor seen from above it) and
the 3D network's landmark disagrees with it, the landmark is taken (:func:`fit_joints`;
nobody is in front of a person the image's bottom cuts: their feet are beyond it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    FOOT_LEFT_HEEL,
    FOOT_LEFT_TOES,
    FOOT_RIGHT_HEEL,
    FOOT_RIGHT_TOES,
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    NECK,
    NUM_COCO_JOINTS,
    PELVIS,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
)
from hdnet_ros.people import Person
from hdnet_ros.stages.depth.floor import MIN_TRUNCATION_MARGIN_PX, TRUNCATION_MARGIN
from hdnet_ros.stages.placement.fit import ANKLE_HEIGHT_M, FEET_MIN_SCORE, Cues
from hdnet_ros.stages.placement.floor import IMAGE_UP
from hdnet_ros.stages.placement.people_floor import NO_TRACK, FloorObservation
from hdnet_ros.stages.placement.posture import leg_length, standing
from hdnet_ros.stages.placement.scale import scale_prior

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
# Each leg from the hip down (the feet: heel and toes after the 17 COCO joints).
LEG_CHAINS = (
    (LEFT_HIP, LEFT_KNEE, LEFT_ANKLE, (NUM_COCO_JOINTS + FOOT_LEFT_HEEL, NUM_COCO_JOINTS + FOOT_LEFT_TOES)),
    (RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE, (NUM_COCO_JOINTS + FOOT_RIGHT_HEEL, NUM_COCO_JOINTS + FOOT_RIGHT_TOES)),
)
# A box whose edge lies within TRUNCATION_MARGIN of its height (at least
# MIN_TRUNCATION_MARGIN_PX) of an image border is cut by it (stages/depth/floor.py).
# Keypoints this close to a border that cuts the person (a share of the box's height) are
# guesses for joints beyond it (module doc: measured 3-6 %; twice that for a margin).
TRUNCATION_BAND = 0.10
# The 3D network's landmark replaces the 2D keypoint where the two lie within this share of
# the torso's length: the definitions differ by 3-10 % of it, the 3D network's misses by
# 30 % and more.
AGREEMENT = 0.10
# For a person the image cuts, the 3D network's crop spans the whole body beyond the image
# (blazepose.crops.full_body_boxes) while the 2D network's is the cut box: on Panoptic its
# landmarks of cut people missed the reference by 0.078 of the torso at the hips and 0.046
# at the shoulders on average (no heavy tail), the 2D network's by 0.112 and 0.053 (median
# 0.095 at the hips). The gate is then the 2D network's own median miss plus the
# definitions' offset (0.04-0.05 at the hips).
AGREEMENT_CUT = 0.15
# A person whose box reaches lower in the image than another's by this share of the other's
# box height stands in front of them (detectors' box bottoms wander by a few pixels).
NEARER_MARGIN = 0.02


def cut_sides(box: FloatArray, camera: CameraModel) -> tuple[bool, bool, bool, bool]:
    """Which image borders (left, top, right, bottom) the box reaches."""
    margin = max(MIN_TRUNCATION_MARGIN_PX, TRUNCATION_MARGIN * float(box[3] - box[1]))
    return (
        bool(box[0] <= margin),
        bool(box[1] <= margin),
        bool(box[2] >= camera.width - 1 - margin),
        bool(box[3] >= camera.height - 1 - margin),
    )


def near_cut_border(pixels: FloatArray, box: FloatArray, camera: CameraModel) -> BoolArray:
    """Which pixels [N,2] lie within the truncation band of a border the box reaches."""
    left, top, right, bottom = cut_sides(box, camera)
    band = TRUNCATION_BAND * float(box[3] - box[1])
    x, y = pixels[:, 0], pixels[:, 1]
    with np.errstate(invalid="ignore"):
        near = (left & (x < band)) | (top & (y < band))
        near |= (right & (x > camera.width - 1 - band)) | (bottom & (y > camera.height - 1 - band))
    return np.asarray(near)


def fit_pixels(person: Person, agreement: float = AGREEMENT) -> FloatArray:
    """The 2D point of each joint [19,2] the skeleton's joint is fitted to (module doc): the
    3D network's landmark where it lies within ``agreement`` of the torso of the 2D keypoint,
    else the keypoint (NaN: neither)."""
    return _fit_pixels(person, agreement)[0]


def _fit_pixels(person: Person, agreement: float) -> tuple[FloatArray, BoolArray]:
    """:func:`fit_pixels` and which joints [19] took the 3D network's landmark."""
    pixels = np.asarray(person.pixels, dtype=np.float64).copy()
    taken = np.zeros(len(pixels), dtype=bool)
    landmarks = person.network_pixels
    if landmarks is None:
        return pixels, taken
    torso = float(np.linalg.norm(pixels[NECK] - pixels[PELVIS]))
    if not np.isfinite(torso):
        return pixels, taken
    apart = np.linalg.norm(landmarks - pixels, axis=1)
    with np.errstate(invalid="ignore"):
        taken = np.asarray(apart <= agreement * torso)
    pixels[taken] = landmarks[taken]
    return pixels, taken


def person_cues(
    person: Person, prior: tuple[float, float], camera: CameraModel, nearer: Sequence[FloatArray] = ()
) -> Cues | None:
    """The fit's inputs of one person: the network pose's COCO joints and feet with the
    points they project to (:func:`fit_joints`, the feet the 3D network's own) that the image
    vouches for (None: no network pose). ``nearer``: the boxes of the people in front of
    them (:func:`nearer_boxes`)."""
    if person.network_pose is None:
        return None
    feet = person.network_feet if person.network_feet is not None else np.full((4, 3), np.nan)
    skeleton = np.concatenate((person.network_pose[:NUM_COCO_JOINTS], feet)).astype(np.float64)
    joints, taken = fit_joints(person, camera, nearer)
    pixels = np.concatenate((joints[:NUM_COCO_JOINTS], person.feet_pixels)).astype(np.float64)
    scores = np.concatenate((person.scores[:NUM_COCO_JOINTS], person.feet_scores)).astype(np.float64)
    # The band is for the 2D network's guesses at joints beyond the border; a landmark of
    # the 3D network's full-body crop that agrees with the keypoint is a joint it sees.
    guessed = near_cut_border(pixels, person.detection.box, camera)
    guessed[:NUM_COCO_JOINTS] &= ~taken[:NUM_COCO_JOINTS]
    usable = np.all(np.isfinite(pixels), axis=1) & ~guessed
    if cut_sides(person.detection.box, camera)[3]:
        usable = _legs_below_seen_hips(usable)
    weights = np.where(usable, scores, 0.0)
    return Cues(skeleton, np.where(usable[:, None], pixels, np.nan), weights, prior[0], prior[1])


def fit_joints(person: Person, camera: CameraModel, nearer: Sequence[FloatArray] = ()) -> tuple[FloatArray, BoolArray]:
    """The 2D point of each joint [19,2] the fit takes (:func:`fit_pixels` with the gate for
    this person's box) and which of them [19] are the 3D network's landmarks. A keypoint that
    lies in the box of a person in front (``nearer``) and disagrees with the landmark gives
    way to the landmark: a top-down 2D network draws the joints it cannot see onto the body
    that hides them (module doc)."""
    joints, taken = _fit_pixels(person, agreement_for(person.detection.box, camera))
    landmarks = person.network_pixels
    if landmarks is not None and len(nearer):
        covered = (
            ~taken
            & _inside_any(np.asarray(person.pixels, dtype=np.float64), nearer)
            & np.all(np.isfinite(landmarks), axis=1)
        )
        joints[covered] = landmarks[covered]
        taken = taken | covered
    return joints, taken


def nearer_boxes(people: Sequence[Person], index: int, camera: CameraModel) -> list[FloatArray]:
    """The boxes of the people in front of person ``index``: people on one floor seen from
    above it, so the one whose box reaches lower in the image (by more than
    :data:`NEARER_MARGIN` of this person's box height) stands nearer. None for a person the
    image's bottom cuts: their feet are beyond it, so nobody's box says who stands in front."""
    box = people[index].detection.box
    if cut_sides(box, camera)[3]:
        return []
    lowest = float(box[3]) + NEARER_MARGIN * float(box[3] - box[1])
    return [p.detection.box for i, p in enumerate(people) if i != index and float(p.detection.box[3]) > lowest]


def _inside_any(pixels: FloatArray, boxes: Sequence[FloatArray]) -> BoolArray:
    """Which pixels [N,2] lie inside any of the boxes."""
    inside = np.zeros(len(pixels), dtype=bool)
    x, y = pixels[:, 0], pixels[:, 1]
    with np.errstate(invalid="ignore"):
        for box in boxes:
            inside |= (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
    return inside


def agreement_for(box: FloatArray, camera: CameraModel) -> float:
    """The landmark gate of a person with this box: wider where the image cuts them."""
    return AGREEMENT_CUT if any(cut_sides(box, camera)) else AGREEMENT


def _legs_below_seen_hips(usable: BoolArray) -> BoolArray:
    """For a person cut by the image's bottom: a knee counts only under its seen hip, an
    ankle and its foot only under their seen knee. A leg whose hip is beyond the border
    continues beyond it; the networks then draw the whole body into what they see (on
    Panoptic's level camera, knees and ankles of a man cut at the hips came out 150-250 px
    inside the image and put him 1.6 m too far)."""
    usable = usable.copy()
    for hip, knee, ankle, feet in LEG_CHAINS:
        usable[knee] &= usable[hip]
        usable[ankle] &= usable[knee]
        usable[list(feet)] &= usable[ankle]
    return usable


def sure_ankles(person: Person) -> BoolArray:
    """Which of the person's two ankles [2] the 2D network is sure of: the fit's feet terms'
    bound (:data:`~.fit_constants.FEET_MIN_SCORE`), which the people's floor keeps too. A
    seated person seen from behind gets ankles the 2D network guesses at the chair's legs
    (scores 0.3-0.5 on the sample frames): taken as standing feet, their rays put the floor
    0.1-0.35 m low, and the standing people on it 0.1-0.2 m too far."""
    scores = np.asarray(person.scores, dtype=np.float64)
    return np.asarray(scores[[LEFT_ANKLE, RIGHT_ANKLE]] >= FEET_MIN_SCORE)


# A floor observation's trunk lies within 80 deg of the image's up (a person lying across
# the image, or a skeleton the network turned over, says nothing about the floor's up).
MAX_TRUNK_COSINE = float(np.cos(np.deg2rad(80.0)))


def unit_up(trunk: FloatArray) -> FloatArray | None:
    """The trunk's direction [3] as a unit vector, or None where it has no length. Its length
    is math.hypot's, not np.linalg.norm's: BLAS's dot sums by the array's memory alignment on
    some CPUs (numpy 1.26's OpenBLAS on a Xeon with AVX-512 FP16), and the frame's pass
    (frame_floor) reads its trunks as rows of one array where this reads them alone: both
    must give the same up to the bit."""
    norm = math.hypot(float(trunk[0]), float(trunk[1]), float(trunk[2]))
    if not math.isfinite(norm) or norm < 1e-6:
        return None
    return np.asarray(trunk / norm)


def floor_observations(
    people: Sequence[Person],
    camera: CameraModel,
    frame: int,
    expected: Sequence[Person | None] = (),
    learned_scale: bool = True,
) -> list[FloorObservation]:
    """This frame's standing people whose hips and an ankle or the shoulders are seen in the
    image (not at a border that cuts them), as observations of the floor (people_floor).
    ``expected``: each person's track's last person (as for the fit; empty: none), whose
    track ties a person's observations over frames and whose learned scale (where
    ``learned_scale``) sizes their legs."""
    result = []
    tracks = list(expected) if len(expected) else [None] * len(people)
    for person, previous in zip(people, tracks, strict=True):
        if person.network_pose is None:
            continue
        skeleton = np.asarray(person.network_pose, dtype=np.float64)
        # Without the people in front (fit_joints' nearer): measured on Panoptic's 00_12,
        # taking the landmarks there too left the first two frames without a people floor.
        pixels = fit_joints(person, camera)[0]
        pixels[near_cut_border(pixels, person.detection.box, camera)] = np.nan
        ankles, hips = pixels[[LEFT_ANKLE, RIGHT_ANKLE]], pixels[[LEFT_HIP, RIGHT_HIP]]
        shoulders = pixels[[LEFT_SHOULDER, RIGHT_SHOULDER]]
        seen = np.all(np.isfinite(ankles), axis=1) & (ankles[:, 1] <= camera.height - 1) & (ankles[:, 1] >= 0)
        seen &= sure_ankles(person)
        if not np.all(np.isfinite(hips)) or not (np.any(seen) or np.all(np.isfinite(shoulders))):
            continue
        # The trunk's up (hips to shoulders): the network's legs lean off the truth more
        # than its trunk when the camera looks down.
        trunk = (skeleton[LEFT_SHOULDER] + skeleton[RIGHT_SHOULDER] - skeleton[LEFT_HIP] - skeleton[RIGHT_HIP]) / 2
        body_up = unit_up(trunk)
        if body_up is None or not standing(skeleton, body_up) or float(body_up @ IMAGE_UP) < MAX_TRUNK_COSINE:
            continue
        scale = scale_prior(previous if learned_scale else None, 1.0)[0]
        neck = camera.unit_rays(shoulders.mean(axis=0)[None])[0] if np.all(np.isfinite(shoulders)) else None
        result.append(
            FloorObservation(
                camera.unit_rays(ankles[seen]) if np.any(seen) else np.zeros((0, 3)),
                camera.unit_rays(hips.mean(axis=0)[None])[0],
                scale * (leg_length(skeleton) + ANKLE_HEIGHT_M),
                body_up,
                frame,
                neck,
                previous.track_id if previous is not None else NO_TRACK,
            )
        )
    return result
