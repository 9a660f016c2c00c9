"""A frame's floor observations at once (``stages/placement/frame_floor.py``) against cues.py
person by person (``floor_observations``): the same observations to the bit (every array
field ``array_equal``, the hip height, frame and track equal), on crowds of standing and
seated people seen by cameras of several heights and pitches (keypoints unseen, people cut
by the image's borders, landmarks near and far from the keypoints, no network pose, tracks
with and without a learned scale), on random people that reach the rules' odd corners, and
on the sample RGB-D frames' people as the pipeline sees them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import LEFT_ANKLE, LEFT_HIP, LEFT_SHOULDER, NUM_JOINTS, RIGHT_ANKLE, RIGHT_HIP
from hdnet_ros.people import Person
from hdnet_ros.stages.placement.cues import floor_observations
from hdnet_ros.stages.placement.fit import FEET_MIN_SCORE
from hdnet_ros.stages.placement.frame_floor import frame_floor_observations
from hdnet_ros.stages.placement.people_floor import FloorObservation
from test_placement import CAMERA, _person, body, camera_pose, observe
from test_placement_frame_cues import CAMERA as SMALL_CAMERA
from test_placement_frame_cues import random_person

FIELDS = ("ankle_rays", "pelvis_ray", "skeleton_up", "neck_ray")


def assert_same(expected: list[FloorObservation], got: list[FloorObservation]) -> None:
    assert len(got) == len(expected)
    for want, have in zip(expected, got, strict=True):
        for name in FIELDS:
            a, b = getattr(want, name), getattr(have, name)
            assert (a is None) == (b is None), name
            if a is not None:
                assert b.dtype == a.dtype and b.shape == a.shape, name
                assert np.array_equal(a, b, equal_nan=True), name
        assert (have.hip_height, have.frame, have.track) == (want.hip_height, want.frame, want.track)


def assert_frame_agrees(
    people: Sequence[Person], camera: CameraModel, frame: int, expected: Sequence[Person | None] = ()
) -> int:
    """Both functions agree with and without the learned scale; the observations made."""
    for learned in (True, False):
        want = floor_observations(people, camera, frame, expected, learned)
        assert_same(want, frame_floor_observations(people, camera, frame, expected, learned))
    return len(want)


def standing_crowd(rng: np.random.Generator) -> list[Person]:
    """Standing and seated people in front of a camera 1.5-3.5 m high pitched 5-45 deg, with
    the networks' outputs off by a little or a lot and some keypoints unseen; people near
    the image's sides and bottom are cut by it."""
    pose = camera_pose(rng.uniform(1.5, 3.5), rng.uniform(5.0, 45.0))
    people = []
    for _ in range(int(rng.integers(2, 12))):
        ahead = rng.uniform(1.5, 8.0)
        where = (ahead, rng.uniform(-0.6, 0.6) * ahead)  # in view, some at its sides
        cues, _ = observe(body(where, rng.uniform(1.5, 1.9), seated=rng.random() < 0.2), pose)
        person = _person(cues)
        assert person.network_pose is not None
        person.network_pose = person.network_pose + rng.normal(0.0, 0.03, person.network_pose.shape)
        if rng.random() < 0.8:  # the 3D network's landmarks, near the keypoints or far off
            spread = rng.choice([0.5, 3.0, 40.0])
            person.network_pixels = person.pixels + rng.normal(0.0, spread, person.pixels.shape)
        person.pixels[rng.random(NUM_JOINTS) < 0.1] = np.nan
        if rng.random() < 0.1:
            person.pixels[rng.choice([LEFT_ANKLE, RIGHT_ANKLE, LEFT_HIP, RIGHT_HIP, LEFT_SHOULDER])] = np.nan
        if rng.random() < 0.3:  # ankles the 2D network is unsure of (the floor takes them at FEET_MIN_SCORE)
            person.scores = person.scores.copy()
            person.scores[[LEFT_ANKLE, RIGHT_ANKLE]] = rng.choice([0.3, FEET_MIN_SCORE, 0.7], size=2)
        box = person.detection.box
        person.detection.box = np.clip(box, 0.0, [CAMERA.width - 1, CAMERA.height - 1] * 2)  # cut by the image
        if rng.random() < 0.1:
            person.network_pose = None
        people.append(person)
    return people


def tracks_of(people: Sequence[Person], rng: np.random.Generator) -> list[Person | None]:
    """Each person's track's last person (some none, some with a learned scale)."""
    tracks: list[Person | None] = []
    for index, person in enumerate(people):
        if rng.random() < 0.3:
            tracks.append(None)
            continue
        previous = Person(person.detection, person.pixels, person.scores, track_id=index + 1)
        if rng.random() < 0.6:
            previous.scale, previous.scale_sigma = float(rng.uniform(0.9, 1.1)), float(rng.uniform(0.01, 0.05))
        tracks.append(previous)
    return tracks


@pytest.mark.parametrize("seed", range(4))
def test_a_frames_floor_observations_are_each_persons_to_the_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    made = cut = seated_or_unseen = 0
    for frame in range(40):
        people = standing_crowd(rng)
        expected = tracks_of(people, rng) if frame % 2 else []
        count = assert_frame_agrees(people, CAMERA, frame, expected)
        made += count
        posed = sum(person.network_pose is not None for person in people)
        seated_or_unseen += posed - count
        cut += sum(bool(person.detection.box[3] >= CAMERA.height - 4) for person in people)
    assert made > 80 and cut > 20 and seated_or_unseen > 20, (made, cut, seated_or_unseen)


@pytest.mark.parametrize("seed", range(2))
def test_random_peoples_floor_observations_agree_too(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for frame in range(60):
        people = [random_person(rng) for _ in range(int(rng.integers(1, 14)))]
        assert_frame_agrees(people, SMALL_CAMERA, frame)


def test_unusual_arrays_and_a_wrong_number_of_tracks_go_through_cues() -> None:
    rng = np.random.default_rng(11)
    people = standing_crowd(rng)
    people[0].detection.box = people[0].detection.box.astype(np.float32)  # cues.py's own path
    assert_frame_agrees(people, CAMERA, 3, tracks_of(people, rng))
    with pytest.raises(ValueError):
        frame_floor_observations(people, CAMERA, 3, [None])


def test_the_sample_frames_floor_observations_agree(models_dir: Path, sample_bags: list[Path]) -> None:
    """Every call the pipeline makes over a few frames of each sample RGB-D frame (tracked
    people from the second frame on)."""
    from hdnet_ros.frame_input import build_frame
    from hdnet_ros.pipeline import Pipeline
    from hdnet_ros.stages.placement import floor_choice as stage
    from helpers import sample_messages

    from hdnet_ros.config import load_settings

    pipeline = Pipeline.from_settings(load_settings(overrides={"models.models_dir": str(models_dir)}))
    made: list[int] = []

    def checked(
        people: Sequence[Person], camera: CameraModel, frame: int, expected: Sequence[Person | None], learned: bool
    ) -> list[FloorObservation]:
        made.append(assert_frame_agrees(people, camera, frame, expected))
        return frame_floor_observations(people, camera, frame, expected, learned)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stage, "frame_floor_observations", checked)
        for bag in sample_bags:
            m = sample_messages(bag)
            pipeline.reset_tracking()
            for step in range(3):
                frame = build_frame(m["rgb"], m["depth"], m["camera_info"])
                pipeline.process(dataclasses.replace(frame, stamp_ns=frame.stamp_ns + step * 33_333_333))
    assert len(made) == 9 and sum(made) >= 12, made
