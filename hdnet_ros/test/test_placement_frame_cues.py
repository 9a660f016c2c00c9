"""Every person's cues of a frame at once (``stages/placement/frame_cues.py``) against cues.py
person by person (``person_cues`` with ``nearer_boxes``): the same arrays to the bit, on random
crowds that reach every rule (cut borders, people in front, landmarks near and far, unseen
joints, a torso of unknown length, no network pose, no landmarks, no feet)."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import NECK, NUM_FEET, NUM_JOINTS
from hdnet_ros.people import Detection, Person
from hdnet_ros.stages.placement.cues import nearer_boxes, person_cues
from hdnet_ros.stages.placement.fit import Cues
from hdnet_ros.stages.placement.frame_cues import frame_cues

CAMERA = CameraModel(640, 480, np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]]))


def random_person(rng: np.random.Generator) -> Person:
    """A person whose box may reach the image's borders, keypoints in and around it, and
    networks' outputs that may be missing, partly unseen or off the keypoints."""
    width, height = rng.uniform(20, 200), rng.uniform(40, 400)
    x0 = rng.choice([rng.uniform(-5, 3), rng.uniform(0, 640 - width), 640 - width + rng.uniform(-3, 5)])
    y0 = rng.choice([rng.uniform(-5, 3), rng.uniform(0, 480 - height)])
    y1 = y0 + height if rng.random() < 0.7 else 479.0 - rng.uniform(0, 6)  # often cut by the bottom
    box = np.array([x0, y0, x0 + width, y1])
    pixels = box[:2] + rng.uniform(-0.3, 1.3, (NUM_JOINTS, 2)) * (box[2:] - box[:2])
    pixels[rng.random(NUM_JOINTS) < 0.15] = np.nan
    person = Person(Detection(box, float(rng.uniform(0.3, 1.0))), pixels, rng.uniform(0, 1, NUM_JOINTS))
    if rng.random() < 0.85:
        pose = rng.normal(0, 0.4, (NUM_JOINTS, 3))
        pose[rng.random(NUM_JOINTS) < 0.1] = np.nan
        person.network_pose = pose
        if rng.random() < 0.8:
            person.network_feet = rng.normal(0, 0.5, (NUM_FEET, 3))
    if rng.random() < 0.8:
        spread = rng.choice([1.0, 5.0, 40.0])
        landmarks = np.where(np.isnan(pixels), rng.uniform(0, 480, pixels.shape), pixels)
        landmarks = landmarks + rng.normal(0, spread, pixels.shape)
        landmarks[rng.random(NUM_JOINTS) < 0.1] = np.nan
        person.network_pixels = landmarks
        if rng.random() < 0.1:
            person.pixels[NECK] = np.nan  # no torso: no landmark is taken by agreement
    person.feet_pixels = box[:2] + rng.uniform(-0.2, 1.2, (NUM_FEET, 2)) * (box[2:] - box[:2])
    person.feet_pixels[rng.random(NUM_FEET) < 0.2] = np.nan
    person.feet_scores = rng.uniform(0, 1, NUM_FEET)
    return person


def assert_same(expected: Cues | None, got: Cues | None) -> None:
    if expected is None or got is None:
        assert expected is got
        return
    for name in ("skeleton", "pixels", "weights"):
        want, have = getattr(expected, name), getattr(got, name)
        assert have.dtype == want.dtype and have.shape == want.shape, name
        assert np.array_equal(have, want, equal_nan=True), name
    assert (got.scale, got.scale_sigma) == (expected.scale, expected.scale_sigma)


@pytest.mark.parametrize("seed", range(4))
def test_a_frames_cues_are_each_persons_cues_to_the_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rules = {"taken": 0, "in front": 0, "cut": 0}
    for _ in range(60):
        people = [random_person(rng) for _ in range(int(rng.integers(1, 14)))]
        priors = [(float(rng.uniform(0.9, 1.1)), float(rng.uniform(0.02, 0.1))) for _ in people]
        got = frame_cues(people, priors, CAMERA)
        for index, person in enumerate(people):
            nearer = nearer_boxes(people, index, CAMERA)
            assert_same(person_cues(person, priors[index], CAMERA, nearer), got[index])
            rules["in front"] += bool(nearer)
            rules["cut"] += bool(person.detection.box[3] >= CAMERA.height - 4)
            cues = got[index]
            if cues is not None and person.network_pixels is not None:
                rules["taken"] += int(np.sum(np.all(cues.pixels[:17] == person.network_pixels[:17], axis=1)))
    assert min(rules.values()) > 20, rules  # every rule was reached


def test_people_without_a_network_pose_have_no_cues_and_boxes_not_in_float64_still_agree() -> None:
    rng = np.random.default_rng(7)
    people = [random_person(rng) for _ in range(6)]
    for person in people[::2]:
        person.network_pose = None
    priors = [(1.0, 0.07)] * len(people)
    got = frame_cues(people, priors, CAMERA)
    assert [c is None for c in got] == [True, False, True, False, True, False]
    people[1].detection.box = people[1].detection.box.astype(np.float32)  # cues.py's own path
    for index, cues in enumerate(frame_cues(people, priors, CAMERA)):
        assert_same(person_cues(people[index], priors[index], CAMERA, nearer_boxes(people, index, CAMERA)), cues)
