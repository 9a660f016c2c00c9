"""Every person's fit inputs of a frame at once: :func:`~.cues.person_cues` with
:func:`~.cues.nearer_boxes` for each person, as a few numpy passes over [P,...] arrays.

Per person, cues.py makes some thirty small numpy calls, and tests each keypoint against
the boxes of the people in front one box at a time: about 60 us a person in the 20-person
crowd (1.2 ms a frame), where these passes take a fraction of it. The rules are cues.py's
(its docs say why each exists), the arithmetic is theirs operation for operation (the same
float64 products, sums and comparisons), so the cues are the same to the bit
(``test_placement.py`` compares both on crowds, the sample frames and random people); the
torso's length stays ``np.linalg.norm`` of each person's vector (a 1-D norm is a dot
product, which BLAS may round otherwise than numpy's sum of squares).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import NECK, NUM_COCO_JOINTS, NUM_FEET, NUM_JOINTS, PELVIS
from hdnet_ros.people import Person
from hdnet_ros.stages.placement.cues import (
    AGREEMENT,
    AGREEMENT_CUT,
    LEG_CHAINS,
    MIN_TRUNCATION_MARGIN_PX,
    NEARER_MARGIN,
    TRUNCATION_BAND,
    TRUNCATION_MARGIN,
    nearer_boxes,
    person_cues,
)
from hdnet_ros.stages.placement.fit import Cues

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_POINTS = NUM_COCO_JOINTS + NUM_FEET  # the fit's joints: COCO's and the feet


def frame_cues(
    people: Sequence[Person], priors: Sequence[tuple[float, float]], camera: CameraModel
) -> list[Cues | None]:
    """:func:`~.cues.person_cues` of every person with the boxes of the people in front of
    them (:func:`~.cues.nearer_boxes`) and their scale prior (None: no network pose)."""
    posed = [i for i, person in enumerate(people) if person.network_pose is not None]
    result: list[Cues | None] = [None] * len(people)
    # One person's cues cost less than the passes' fixed cost; arrays of unusual shapes or
    # boxes not in float64 go through cues.py, which says what is wrong with them.
    if len(posed) <= 1 or not _stackable(people):
        for index in posed:
            in_front = nearer_boxes(people, index, camera)
            result[index] = person_cues(people[index], priors[index], camera, in_front)
        return result
    every_box = np.array([person.detection.box for person in people], dtype=np.float64)
    every_cut = _cut_sides(every_box, camera)
    nearer = _nearer(every_box, every_cut[:, 3])[posed]  # [posed, everyone]
    chosen = [people[i] for i in posed]
    boxes, cut = every_box[posed], every_cut[posed]
    agreement = np.where(np.any(cut, axis=1), AGREEMENT_CUT, AGREEMENT)
    joints, taken = _fit_joints(chosen, agreement, every_box, nearer)
    pixels = np.concatenate((joints[:, :NUM_COCO_JOINTS], _stacked(chosen, "feet_pixels")), axis=1)
    scores = np.concatenate((_stacked(chosen, "scores")[:, :NUM_COCO_JOINTS], _stacked(chosen, "feet_scores")), axis=1)
    guessed = _near_cut_border(pixels, boxes, cut, camera)
    guessed[:, :NUM_COCO_JOINTS] &= ~taken[:, :NUM_COCO_JOINTS]
    usable = np.all(np.isfinite(pixels), axis=2) & ~guessed
    _legs_below_seen_hips(usable, cut[:, 3])
    weights = np.where(usable, scores, 0.0)
    kept = np.where(usable[:, :, None], pixels, np.nan)
    skeletons = _skeletons(chosen)
    for row, index in enumerate(posed):
        prior = priors[index]
        result[index] = Cues(skeletons[row], kept[row], weights[row], prior[0], prior[1])
    return result


def _stackable(people: Sequence[Person]) -> bool:
    """Whether every person's arrays have the shapes the passes take (else cues.py's own
    path, which says what is wrong)."""
    return all(_regular(person) for person in people)


def _regular(person: Person) -> bool:
    box, pose, feet, landmarks = person.detection.box, person.network_pose, person.network_feet, person.network_pixels
    return (
        isinstance(box, np.ndarray)
        and box.dtype == np.float64
        and box.shape == (4,)
        and np.shape(person.pixels) == (NUM_JOINTS, 2)
        and np.shape(person.scores) == (NUM_JOINTS,)
        and np.shape(person.feet_pixels) == (NUM_FEET, 2)
        and np.shape(person.feet_scores) == (NUM_FEET,)
        and (landmarks is None or np.shape(landmarks) == (NUM_JOINTS, 2))
        and (pose is None or (len(pose) >= NUM_COCO_JOINTS and np.shape(pose)[1:] == (3,)))
        and (feet is None or np.shape(feet) == (NUM_FEET, 3))
    )


def _skeletons(people: Sequence[Person]) -> FloatArray:
    """The network pose's COCO joints and feet of every person [P,21,3] (NaN feet where the
    network gave none)."""
    poses = np.array([person.network_pose[:NUM_COCO_JOINTS] for person in people if person.network_pose is not None])
    no_feet = np.full((NUM_FEET, 3), np.nan)
    feet = np.array([no_feet if person.network_feet is None else person.network_feet for person in people])
    return np.concatenate((poses, feet), axis=1, dtype=np.float64)


def _stacked(people: Sequence[Person], name: str) -> FloatArray:
    return np.array([getattr(person, name) for person in people], dtype=np.float64)


def _cut_sides(boxes: FloatArray, camera: CameraModel) -> BoolArray:
    """:func:`~.cues.cut_sides` of every box [P,4] -> [P,4] (left, top, right, bottom)."""
    margin = np.fmax(
        MIN_TRUNCATION_MARGIN_PX,  # max(): a NaN height gives the minimum
        TRUNCATION_MARGIN * (boxes[:, 3] - boxes[:, 1]),
    )
    return np.stack(
        (
            boxes[:, 0] <= margin,
            boxes[:, 1] <= margin,
            boxes[:, 2] >= camera.width - 1 - margin,
            boxes[:, 3] >= camera.height - 1 - margin,
        ),
        axis=1,
    )


def _nearer(boxes: FloatArray, cut_bottom: BoolArray) -> BoolArray:
    """[P,P]: whether person k stands in front of person i (:func:`~.cues.nearer_boxes`)."""
    lowest = boxes[:, 3] + NEARER_MARGIN * (boxes[:, 3] - boxes[:, 1])
    nearer = boxes[None, :, 3] > lowest[:, None]
    np.fill_diagonal(nearer, False)
    nearer[cut_bottom] = False
    return nearer


def _fit_joints(
    people: Sequence[Person], agreement: FloatArray, boxes: FloatArray, nearer: BoolArray
) -> tuple[FloatArray, BoolArray]:
    """:func:`~.cues.fit_joints` of every person: the points [P,19,2] and which are the 3D
    network's landmarks [P,19]; ``nearer`` [P,B]: the boxes [B,4] in front of each."""
    keypoints = _stacked(people, "pixels")
    landmarks = np.array(
        [p.network_pixels if p.network_pixels is not None else np.full((NUM_JOINTS, 2), np.nan) for p in people],
        dtype=np.float64,
    )
    torso = np.array([np.linalg.norm(pixels[NECK] - pixels[PELVIS]) for pixels in keypoints], dtype=np.float64)
    apart = np.linalg.norm(landmarks - keypoints, axis=2)
    with np.errstate(invalid="ignore"):
        taken = (apart <= (agreement * torso)[:, None]) & np.isfinite(torso)[:, None]
    covered = ~taken & _inside_nearer(keypoints, boxes, nearer) & np.all(np.isfinite(landmarks), axis=2)
    taken |= covered
    joints = np.where(taken[:, :, None], landmarks, keypoints)
    return joints, taken


def _inside_nearer(pixels: FloatArray, boxes: FloatArray, nearer: BoolArray) -> BoolArray:
    """[P,N]: whether each person's pixel [P,N,2] lies inside a box of the people in front
    of them (``nearer`` [P,B] over ``boxes`` [B,4])."""
    if not np.any(nearer):
        return np.zeros(pixels.shape[:2], dtype=bool)
    x, y = pixels[:, :, 0, None], pixels[:, :, 1, None]  # [P,N,1] against the boxes [B]
    with np.errstate(invalid="ignore"):
        inside = (x >= boxes[:, 0]) & (x <= boxes[:, 2]) & (y >= boxes[:, 1]) & (y <= boxes[:, 3])
    return np.any(inside & nearer[:, None, :], axis=2)


def _near_cut_border(pixels: FloatArray, boxes: FloatArray, cut: BoolArray, camera: CameraModel) -> BoolArray:
    """:func:`~.cues.near_cut_border` of every person's pixels [P,N,2] -> [P,N]."""
    band = (TRUNCATION_BAND * (boxes[:, 3] - boxes[:, 1]))[:, None]
    left, top, right, bottom = (cut[:, k, None] for k in range(4))
    x, y = pixels[:, :, 0], pixels[:, :, 1]
    with np.errstate(invalid="ignore"):
        near = (left & (x < band)) | (top & (y < band))
        near |= (right & (x > camera.width - 1 - band)) | (bottom & (y > camera.height - 1 - band))
    return np.asarray(near)


def _legs_below_seen_hips(usable: BoolArray, cut_bottom: BoolArray) -> None:
    """:func:`~.cues._legs_below_seen_hips` in place on the rows the image's bottom cuts."""
    rows = np.flatnonzero(cut_bottom)
    if not len(rows):
        return
    for hip, knee, ankle, feet in LEG_CHAINS:
        usable[rows, knee] &= usable[rows, hip]
        usable[rows, ankle] &= usable[rows, knee]
        usable[np.ix_(rows, np.asarray(feet))] &= usable[rows, ankle][:, None]
