"""The multi-person tracker on scripted trajectories whose identities are known."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import NUM_JOINTS, ROOT
from hdnet_ros.people import Detection, Person, TrackingState
from hdnet_ros.stages.tracking import RootKalman, Tracker, TrackingConfig, boxes_overlap, hidden_roots, iou

CAMERA = CameraModel.from_fov(640, 480, 70.0)
DT_NS = int(1e9 / 15)


def person_at(root: np.ndarray, with_root: bool = True, sigma: float = 0.03) -> Person:
    """A person whose box is a 0.6 x 1.7 m rectangle around the root, projected."""
    corners = root + np.array([[-0.3, -0.9, 0.0], [0.3, 0.8, 0.0]])
    (x0, y0), (x1, y1) = CAMERA.project(corners)
    person = Person(Detection(np.array([x0, y0, x1, y1]), 0.9), np.full((NUM_JOINTS, 2), np.nan), np.zeros(NUM_JOINTS))
    if with_root:
        person.positions[ROOT] = root
        person.position_stddev[ROOT] = sigma
    return person


def walk(start: np.ndarray, velocity: np.ndarray, frame: int) -> np.ndarray:
    return start + velocity * frame / 15.0


def test_crossing_people_keep_their_ids_and_velocities() -> None:
    rng = np.random.default_rng(0)
    tracker = Tracker(TrackingConfig(), CAMERA)
    a0, va = np.array([-1.5, 0.0, 3.0]), np.array([1.0, 0.0, 0.0])
    b0, vb = np.array([1.5, 0.0, 3.6]), np.array([-1.0, 0.0, 0.0])
    ids: dict[str, set[int]] = {"a": set(), "b": set()}
    for frame in range(45):  # they pass each other in the image around frame 22
        a = person_at(walk(a0, va, frame) + rng.normal(0, 0.03, 3))
        b = person_at(walk(b0, vb, frame) + rng.normal(0, 0.03, 3))
        people = [b, a] if frame % 2 else [a, b]  # detection order means nothing
        tracker.update(people, frame * DT_NS)
        ids["a"].add(a.track_id)
        ids["b"].add(b.track_id)
        if frame < 2:
            assert a.tracking_state == TrackingState.NEW
        if frame >= 2:
            assert a.tracking_state == TrackingState.TRACKED
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1 and ids["a"] != ids["b"]
    np.testing.assert_allclose(a.velocity, va, atol=0.15)
    np.testing.assert_allclose(b.velocity, vb, atol=0.15)


def test_short_occlusion_keeps_the_id_and_a_long_one_does_not() -> None:
    config = TrackingConfig(max_coast_s=1.0, publish_lost=True)
    tracker = Tracker(config, CAMERA)
    start, velocity = np.array([-1.0, 0.0, 3.0]), np.array([0.8, 0.0, 0.0])
    first = None
    for frame in range(40):
        if 10 <= frame < 20:  # hidden for 0.67 s
            published = tracker.update([], frame * DT_NS)
            assert len(published) == 1 and published[0].tracking_state == TrackingState.LOST
            # The predicted person keeps walking.
            assert published[0].root[0] == pytest.approx(walk(start, velocity, frame)[0], abs=0.1)
            continue
        person = person_at(walk(start, velocity, frame))
        tracker.update([person], frame * DT_NS)
        first = first or person.track_id
        assert person.track_id == first
        assert person.tracking_state == (TrackingState.NEW if frame < 2 else TrackingState.TRACKED)
    for frame in range(40, 60):  # hidden for 1.33 s: the track ends
        tracker.update([], frame * DT_NS)
    person = person_at(walk(start, velocity, 60))
    tracker.update([person], 60 * DT_NS)
    assert person.track_id != first
    assert person.tracking_state == TrackingState.NEW


def test_people_without_a_3d_root_are_tracked_in_2d() -> None:
    tracker = Tracker(TrackingConfig(), CAMERA)
    seen: list[set[int]] = [set(), set()]
    for frame in range(20):
        left = person_at(walk(np.array([-1.0, 0.0, 3.0]), np.array([0.5, 0.0, 0.0]), frame), with_root=False)
        right = person_at(walk(np.array([1.2, 0.0, 3.0]), np.array([-0.5, 0.0, 0.0]), frame), with_root=False)
        tracker.update([right, left], frame * DT_NS)
        seen[0].add(left.track_id)
        seen[1].add(right.track_id)
        assert np.all(np.isnan(left.velocity))
    assert len(seen[0]) == len(seen[1]) == 1 and seen[0] != seen[1]


def test_an_outlier_root_keeps_the_id_and_stays_out_of_the_filter() -> None:
    tracker = Tracker(TrackingConfig(), CAMERA)
    root = np.array([0.0, 0.0, 3.0])
    for frame in range(10):
        person = person_at(root)
        tracker.update([person], frame * DT_NS)
    track_id = person.track_id
    outlier = person_at(root)
    outlier.positions[ROOT] = root + np.array([0.0, 0.0, -1.5])  # measured on an occluder in front
    tracker.update([outlier], 10 * DT_NS)
    assert outlier.track_id == track_id
    assert tracker.tracks[0].kalman is not None
    assert tracker.tracks[0].kalman.position[2] == pytest.approx(3.0, abs=0.05)


def test_a_flicker_of_a_new_track_is_dropped() -> None:
    tracker = Tracker(TrackingConfig(new_track_coast_s=0.3), CAMERA)
    ghost = person_at(np.array([0.0, 0.0, 3.0]))
    tracker.update([ghost], 0)
    assert ghost.tracking_state == TrackingState.NEW
    for frame in range(1, 8):
        assert tracker.update([], frame * DT_NS) == []
    assert tracker.tracks == []


def test_kalman_filter_converges_on_a_constant_velocity() -> None:
    rng = np.random.default_rng(1)
    kf = RootKalman(np.zeros(3), 0.05, 1.5)
    for step in range(1, 60):
        kf.predict(1 / 15, 0.5)
        kf.update(np.array([1.2, 0.0, -0.4]) * step / 15 + rng.normal(0, 0.03, 3), 0.03)
    np.testing.assert_allclose(kf.velocity, [1.2, 0.0, -0.4], atol=0.15)
    kf.predict(-1.0, 0.5)  # a stamp from the past does not run the filter backwards
    assert kf.position[0] == pytest.approx(1.2 * 59 / 15, abs=0.15)


def test_box_gate_accepts_a_shrunken_partly_occluded_box() -> None:
    old = np.array([100.0, 100.0, 160.0, 300.0])
    assert iou(old, old) == 1.0
    half = np.array([140.0, 100.0, 190.0, 300.0])  # the visible half, slid sideways
    assert iou(old, half) < 0.3
    assert boxes_overlap(old, half, 0.05)
    assert not boxes_overlap(old, np.array([400.0, 100.0, 460.0, 300.0]), 0.05)


def test_disabled_tracker_passes_people_through() -> None:
    person = person_at(np.array([0.0, 0.0, 3.0]))
    assert Tracker(TrackingConfig(enabled=False)).update([person], 0) == [person]
    assert person.track_id == 0 and person.tracking_state == TrackingState.OFF


def narrowed(person: Person, left: float, right: float) -> Person:
    """The person with only the share [left, right] of its box width visible."""
    x0, y0, x1, y1 = person.detection.box
    person.detection.box = np.array([x0 + left * (x1 - x0), y0 + 0.1 * (y1 - y0), x0 + right * (x1 - x0), y1])
    return person


def test_a_root_measured_on_the_person_in_front_is_suspect() -> None:
    front = person_at(np.array([0.0, 0.0, 2.5]))
    hidden = narrowed(person_at(np.array([0.1, 0.0, 2.6])), 0.3, 0.7)  # its root on the front person
    beside = person_at(np.array([1.5, 0.0, 2.5]))
    behind = narrowed(person_at(np.array([0.1, 0.0, 3.5])), 0.3, 0.7)  # measured at its own depth
    assert hidden_roots([front, hidden, beside], 0.5, 0.35) == {1}
    assert hidden_roots([front, behind], 0.5, 0.35) == set()


def test_a_hidden_person_keeps_its_id_and_the_filter_skips_its_suspect_root() -> None:
    tracker = Tracker(TrackingConfig(), CAMERA)
    front_root, back_root = np.array([0.0, 0.0, 2.5]), np.array([0.2, 0.0, 3.4])
    for frame in range(6):  # the back person partly behind the front one, measured correctly
        front, back = person_at(front_root), person_at(back_root)
        tracker.update([front, back], frame * DT_NS)
    front_id, back_id = front.track_id, back.track_id
    for frame in range(6, 12):  # then mostly hidden and measured on the front person
        front = person_at(front_root)
        back = narrowed(person_at(back_root), 0.4, 0.9)
        back.positions[ROOT] = front_root + np.array([0.15, 0.0, 0.05])
        tracker.update([back, front], frame * DT_NS)
        assert front.track_id == front_id and back.track_id == back_id
    track = next(t for t in tracker.tracks if t.track_id == back_id)
    assert track.kalman is not None and track.kalman.position[2] == pytest.approx(3.4, abs=0.1)
