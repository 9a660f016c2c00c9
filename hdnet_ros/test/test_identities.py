"""The same people in every frame of a still scene: no duplicates that grow, no identities
that change, no roots that jump and no velocities of people who stand still
(docs/evaluation.md, "The same people in every frame" and "Where the people stay"; the
benchmark is ``benchmarks/bench_identities.py``).

Each sample RGB-D frame is repeated 30 times, moved 1-2 px to the right a frame with its
depth, through the default pipeline; tracking restarts with each. The image does not
change within a scene, so the people published should not either. The seated row of these
frames gives the detector's low-score boxes, boxes around part of a person and flickering
detections: on main before the fifteenth session scene 1 grew from 7 people to 15 (mean
9.9) under 17 track ids. Each scene's starting people are the median count of its first
three frames: the first frame alone flickers by one between arithmetics (scene 1 starts with
7 people in float32 and with 6 in PP-TinyPose's bfloat16, then 7, 7; with one frame as the
reference its mean 8.47 sat 0.03 under the bound and failed on another bf16 CPU at 8.53).
Scenes now publish 6.8-8.5 people a frame on average under 8-12 track ids, against 6-7
starting people (float32 and bfloat16 keypoints). The bounds leave 1.0-2.5 people a frame
and 1-4 track ids of margin over those figures for other CPUs' boxes (a detection that
flickers across the threshold there starts one more track), and fail on the old figures.
The roots' steps and the velocities are bounded the same way (their tests say with what
margins).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.frame_input import build_frame
from hdnet_ros.joints import ROOT
from hdnet_ros.people import Frame, Person
from hdnet_ros.pipeline import Pipeline
from helpers import sample_messages

from hdnet_ros.config import load_settings

STEPS = 30
FRAME_NS = 33_333_333


def moved(frame: Frame, pixels: int, stamp_ns: int) -> Frame:
    """``frame`` moved ``pixels`` to the right (the uncovered columns black, without depth)."""
    rgb = np.zeros_like(frame.rgb)
    rgb[:, pixels:] = frame.rgb[:, : frame.rgb.shape[1] - pixels]
    assert frame.depth_m is not None
    depth = np.full_like(frame.depth_m, np.nan)
    depth[:, pixels:] = frame.depth_m[:, : frame.depth_m.shape[1] - pixels]
    return dataclasses.replace(frame, rgb=rgb, depth_m=depth, stamp_ns=stamp_ns)


Scene = tuple[list[int], set[int], list[float], list[float]]


def root_steps(before: list[Person], after: list[Person]) -> list[float]:
    """How far each track's published root moved from one frame to the next [m]."""
    roots = {person.track_id: person.positions[ROOT] for person in before}
    pairs = [(roots[p.track_id], p.positions[ROOT]) for p in after if p.track_id in roots]
    return [float(np.linalg.norm(b - a)) for a, b in pairs if np.all(np.isfinite(a)) and np.all(np.isfinite(b))]


def velocity_errors(people: list[Person], fx: float) -> list[float]:
    """How far each published velocity is from the image's apparent motion in the x-z plane
    (``moved`` shifts it 1.5 px a frame: a person at depth z moves 1.5 x 30 x z / fx m/s)."""
    known = [p for p in people if np.all(np.isfinite(p.velocity)) and np.isfinite(p.positions[ROOT, 2])]
    return [float(np.hypot(p.velocity[0] - 45.0 * p.positions[ROOT, 2] / fx, p.velocity[2])) for p in known]


@pytest.fixture(scope="module")
def scenes(models_dir: Path, sample_bags: list[Path]) -> list[Scene]:
    """Per sample frame (a scene): the people published in each of its frames, the track ids,
    the steps of the tracks' roots between frames, and the published velocities' errors."""
    pipeline = Pipeline.from_settings(load_settings(overrides={"models.models_dir": str(models_dir)}))
    results = []
    for scene, bag in enumerate(sample_bags):
        messages = sample_messages(bag)
        frame = build_frame(messages["rgb"], messages["depth"], messages["camera_info"])
        pipeline.reset_tracking()
        counts, ids, steps, errors, last = [], set(), [], [], []
        for step in range(STEPS):
            stamp = ((scene + 1) * 1000 + step) * FRAME_NS
            people = pipeline.process(moved(frame, (3 * step) // 2, stamp)).people
            counts.append(len(people))
            ids.update(person.track_id for person in people)
            steps += root_steps(last, people)
            errors += velocity_errors(people, float(frame.camera.K[0, 0]))
            last = people
        results.append((counts, ids, steps, errors))
    return results


def starting_people(counts: list[int]) -> int:
    """The people a scene starts with: the median of its first three frames' counts."""
    return int(np.median(counts[:3]))


def test_a_still_scene_keeps_its_people(scenes: list[Scene]) -> None:
    """No scene's people grow by more than 2.5 a frame on average over its starting people."""
    for counts, _, _, _ in scenes:
        assert starting_people(counts) >= 5, "the seated row and the standing man"
        assert np.mean(counts) <= starting_people(counts) + 2.5, counts


def test_a_still_scene_keeps_its_identities(scenes: list[Scene]) -> None:
    """No scene publishes more than 6 track ids beyond its starting people."""
    for counts, ids, _, _ in scenes:
        assert len(ids) <= starting_people(counts) + 6, (counts, sorted(ids))


def test_a_still_scene_keeps_its_people_where_they_are(scenes: list[Scene]) -> None:
    """A person's published root moves by more than 1 m between two frames in at most 3 % of
    the steps (4 of 617 measured; 41 when a root the tracker refused was published, up to
    10.5 m: a seated person's root measured on the wall behind or on the person in front)."""
    steps = np.concatenate([scene[2] for scene in scenes])
    assert len(steps) >= 450, "the tracks continue from frame to frame"
    assert np.count_nonzero(steps > 1.0) <= 0.03 * len(steps), np.sort(steps)[-20:]


def test_a_still_scene_s_people_do_not_walk(scenes: list[Scene]) -> None:
    """At most 80 published velocities (of about 660 people-frames) are more than 1 m/s off the
    image's own motion (43 measured; 136 when every track published its filter's velocity from
    its second frame on: a root that wanders by half a metre between frames made a seated
    person walk at 1-4 m/s); at least 200 are published (311 measured)."""
    errors = np.concatenate([scene[3] for scene in scenes])
    assert len(errors) >= 200, len(errors)
    assert np.count_nonzero(errors > 1.0) <= 80, np.sort(errors)[-20:]
