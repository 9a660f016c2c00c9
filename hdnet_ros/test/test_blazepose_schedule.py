"""BlazePose per track at ``blazepose.every_frames``: who runs when, and what the others carry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.frame_input import build_frame
from hdnet_ros.joints import NUM_JOINTS, ROOT
from hdnet_ros.people import DepthSource, Detection, Frame, Person
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.skeleton import STANDING_TEMPLATE
from hdnet_ros.stages.blazepose.root_fit import MonocularRoot, RootFitFailure
from hdnet_ros.stages.blazepose.schedule import carried_roots, carry_poses, due_people, follows
from helpers import sample_messages

from hdnet_ros.config import load_settings


def tracked(track_id: int, source: DepthSource, age: int = 0) -> Person:
    person = Person(Detection(np.array([0.0, 0.0, 10.0, 10.0]), 0.9), np.zeros((NUM_JOINTS, 2)), np.ones(NUM_JOINTS))
    person.positions[ROOT] = (0.0, 0.0, 2.0)
    person.depth_sources[ROOT] = source
    person.track_id, person.network_pose, person.network_pose_age = track_id, np.zeros((NUM_JOINTS, 3)), age
    return person


def test_new_tracks_unmeasured_people_and_frames_without_depth_always_run() -> None:
    people = [tracked(0, DepthSource.SENSOR) for _ in range(3)]
    expected = [None, tracked(4, DepthSource.NETWORK), tracked(5, DepthSource.SENSOR)]
    assert due_people(people, expected, True, 3, frame_index=0).tolist() == [True, True, False]
    assert due_people(people, expected, False, 3, frame_index=0).all()  # no depth: every frame
    assert due_people(people, expected, True, 1, frame_index=0).all()  # every_frames 1


def test_measured_tracks_take_turns() -> None:
    people = [tracked(0, DepthSource.SENSOR) for _ in range(3)]
    expected = [tracked(track, DepthSource.FUSED, age=1) for track in (1, 2, 3)]
    turns = np.array([due_people(people, expected, True, 3, frame_index=k) for k in range(6)])
    assert (turns.sum(axis=0) == 2).all()  # each track twice in six frames
    assert (turns.sum(axis=1) == 1).all()  # one track per frame: the cost is spread


def test_people_not_run_carry_their_tracks_pose_one_frame_older() -> None:
    people = [tracked(0, DepthSource.SENSOR), tracked(0, DepthSource.SENSOR)]
    for person in people:
        person.network_pose = None
    previous = tracked(7, DepthSource.SENSOR, age=1)
    previous.network_pose = np.full((NUM_JOINTS, 3), 0.1)
    carry_poses(people, [previous, previous], np.array([False, True]))
    assert people[0].network_pose is previous.network_pose and people[0].network_pose_age == 2
    assert people[1].network_pose is None  # it runs: the network gives it a fresh pose


@pytest.fixture(scope="module")
def sequence(models_dir: Path, sample_bags: list[Path]) -> list[Frame]:
    """The first sample frame six times at 30 Hz (a scene that stands still)."""
    messages = sample_messages(sample_bags[0])
    frame = build_frame(messages["rgb"], messages["depth"], messages["camera_info"])
    return [dataclasses.replace(frame, stamp_ns=frame.stamp_ns + k * 33_333_333) for k in range(6)]


def run(models_dir: Path, frames: list[Frame], every: int) -> tuple[list[int], list[dict[int, np.ndarray]]]:
    overrides = {"models.models_dir": str(models_dir), "blazepose.every_frames": every}
    pipeline = Pipeline.from_settings(load_settings(overrides=overrides))
    assert pipeline.stages.blazepose is not None
    crops, roots = [], []
    for frame in frames:
        before = pipeline.stages.blazepose.counts["crops"]
        people = pipeline.process(frame).people
        crops.append(pipeline.stages.blazepose.counts["crops"] - before)
        roots.append({p.track_id: p.root.copy() for p in people if p.valid[ROOT]})
    return crops, roots


def test_a_still_scene_runs_fewer_crops_and_keeps_its_roots(models_dir: Path, sequence: list[Frame]) -> None:
    every_crops, every_roots = run(models_dir, sequence, 1)
    crops, roots = run(models_dir, sequence, 3)
    assert crops[0] == every_crops[0]  # new tracks: everyone runs
    assert sum(crops) < sum(every_crops)  # then the sensor-measured people take turns
    # Between runs the carried skeleton, fitted to each frame's keypoints, keeps the network's
    # root with the person: the roots stay those of the every-frame run (same scene, same
    # tracks) within the monocular fit's few centimetres.
    for scheduled, reference in zip(roots, every_roots, strict=True):
        assert scheduled.keys() == reference.keys()
        for track, root in scheduled.items():
            assert np.linalg.norm(root - reference[track]) < 0.10, track


def test_a_carried_fit_that_jumps_away_from_its_track_is_not_taken() -> None:
    previous = tracked(3, DepthSource.FUSED)  # its root at 2 m
    near = MonocularRoot(np.array([0.05, 0.0, 2.1]), 0.1, 8, 1.0)
    far = MonocularRoot(np.array([0.0, 0.0, 3.4]), 0.2, 4, 6.0)
    assert follows(near, previous)
    assert not follows(far, previous)  # wrong keypoints: the network runs instead
    previous.positions[ROOT] = np.nan
    assert not follows(near, previous)  # no root to follow


def carried_person(skeleton: np.ndarray, root: np.ndarray, camera: CameraModel) -> Person:
    """A person carrying ``skeleton`` (root-relative, camera axes) whose keypoints are the
    projection of the same skeleton placed at ``root``."""
    pixels = camera.project(skeleton + root)
    person = Person(Detection(np.array([0.0, 0.0, 640.0, 480.0]), 0.9), pixels, np.ones(NUM_JOINTS))
    person.network_pose = skeleton
    return person


def test_a_carried_skeleton_is_fitted_to_the_frames_keypoints() -> None:
    """The carried pose's root is where its skeleton projects onto this frame's keypoints;
    a different body (the track's pose on someone else's keypoints) lands away from it."""
    camera = CameraModel.from_fov(640, 480, 60.0)
    # A standing adult (1.7 m) in camera axes (x right, y down), pelvis at the origin.
    template = STANDING_TEMPLATE * 1.7
    skeleton = np.stack((-template[:, 0], -(template[:, 1] - template[17, 1]), -template[:, 2]), axis=1)
    root = np.array([0.4, 0.1, 3.2])
    (fit,) = carried_roots([carried_person(skeleton, root, camera)], camera, min_score=0.3, relative_sigma=0.07)
    assert isinstance(fit, MonocularRoot)
    np.testing.assert_allclose(fit.position, root, atol=1e-6)
    previous = tracked(1, DepthSource.SENSOR)
    previous.positions[ROOT] = root + np.array([0.05, 0.0, 0.05])
    assert follows(fit, previous)
    # The same keypoints carrying a child's skeleton (0.6x): the fit lands 40 % nearer.
    someone_else = carried_person(skeleton, root, camera)
    someone_else.network_pose = 0.6 * skeleton
    (child,) = carried_roots([someone_else], camera, min_score=0.3, relative_sigma=0.07)
    assert isinstance(child, MonocularRoot) and child.position[2] < 0.7 * root[2]
    assert not follows(child, previous)
    # Too few torso and leg keypoints seen: no fit (the pipeline then runs nothing).
    hidden = carried_person(skeleton, root, camera)
    hidden.scores[[11, 12, 13, 14, 15, 16]] = 0.0
    (none,) = carried_roots([hidden], camera, min_score=0.3, relative_sigma=0.07)
    assert isinstance(none, RootFitFailure)
