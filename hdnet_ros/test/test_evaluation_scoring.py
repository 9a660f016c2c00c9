"""The crowd benchmark's measures (evaluation.annotations, evaluation.scoring): each set's
joints mapped to COCO-17, and recall, OKS, PCK and joints taken from another person on
constructed skeletons with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.evaluation.annotations import (
    AIC_TO_COCO,
    ALL_SETS,
    MPII_TO_COCO,
    POSETRACK_TO_COCO,
    AnnotatedPerson,
    load_sets,
    to_coco,
)
from hdnet_ros.evaluation.scoring import Skeleton2D, score_photo, taken_joints
from hdnet_ros.joints import JOINT_NAMES, LEFT_WRIST, NOSE, RIGHT_ANKLE, RIGHT_SHOULDER


def test_each_sets_joints_land_on_their_coco_names() -> None:
    aic = ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist")
    assert [JOINT_NAMES[i] for i in AIC_TO_COCO[:6]] == list(aic)
    assert AIC_TO_COCO[12:] == (-1, -1)  # head top, neck
    assert POSETRACK_TO_COCO[1:3] == (-1, -1)  # head bottom and head top are not the eyes
    assert JOINT_NAMES[MPII_TO_COCO[0]] == "right_ankle" and JOINT_NAMES[MPII_TO_COCO[15]] == "left_wrist"
    assert MPII_TO_COCO[6:10] == (-1, -1, -1, -1)  # pelvis, thorax, upper neck, head top
    values = [0.0] * 42
    values[0:3] = [10, 20, 2]  # right shoulder, labelled
    values[36:39] = [5, 5, 2]  # head top: no COCO joint
    pixels = to_coco(values, AIC_TO_COCO)
    np.testing.assert_array_equal(pixels[RIGHT_SHOULDER], [10, 20])
    assert np.isfinite(pixels).all(axis=1).sum() == 1


def test_the_data_holds_27_crowd_people_and_5_coco_people(data_dir: Path) -> None:
    photos = load_sets(data_dir)
    counts = {s.name: sum(len(p.people) for p in photos if p.set_name == s.name) for s in ALL_SETS}
    assert counts == {"aic": 9, "posetrack18": 14, "mhp": 4, "coco": 5}


def person_at(x: float) -> AnnotatedPerson:
    rng = np.random.default_rng(int(x))
    keypoints = np.stack([x + rng.uniform(0, 60, 17), rng.uniform(0, 200, 17)], axis=1)
    return AnnotatedPerson(keypoints, np.array([x, 0.0, x + 60.0, 200.0]), 60.0 * 200.0)


def test_recall_oks_and_pck_count_a_missed_person_as_zero() -> None:
    people = [person_at(0.0), person_at(300.0)]
    found = [Skeleton2D(people[0].box.copy(), people[0].keypoints.copy())]
    score = score_photo(found, people)
    assert (score.detected, score.annotated) == (1, 2)
    assert score.oks == [pytest.approx(1.0), 0.0]
    assert score.pck == pytest.approx(0.5)
    assert score.skeletons_with_taken_joints == 0


def test_a_joint_on_another_persons_same_joint_is_taken() -> None:
    people = [person_at(0.0), person_at(100.0)]
    pixels = people[0].keypoints.copy()
    pixels[LEFT_WRIST] = people[1].keypoints[LEFT_WRIST]  # on the neighbour
    pixels[NOSE] = people[0].keypoints[NOSE] + 3.0  # a little off, still its own
    assert taken_joints(Skeleton2D(people[0].box, pixels), people[0], people[1:]) == 1
    score = score_photo([Skeleton2D(people[0].box, pixels), Skeleton2D(people[1].box, people[1].keypoints)], people)
    assert score.skeletons_with_taken_joints == 1 and score.taken_joints == 1
    # An unpublished (NaN) joint takes nothing.
    pixels[LEFT_WRIST] = np.nan
    assert taken_joints(Skeleton2D(people[0].box, pixels), people[0], people[1:]) == 0
    # A joint its own person did not label is judged by their nearest labelled joint.
    own = AnnotatedPerson(people[0].keypoints.copy(), people[0].box, people[0].area)
    own.keypoints[RIGHT_ANKLE] = np.nan
    pixels[RIGHT_ANKLE] = people[1].keypoints[RIGHT_ANKLE]
    assert taken_joints(Skeleton2D(own.box, pixels), own, people[1:]) == 1
