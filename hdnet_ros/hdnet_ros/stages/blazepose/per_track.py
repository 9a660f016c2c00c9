"""BlazePose in the pipeline, behind one call per frame: whom the network runs on, what the
others carry, where their roots are, and what its landmarks add to the 2D keypoints.

    people + their tracks' last states (``Tracker.expected``)
        -> due people (schedule.due_people) -> carried poses and their refitted roots
        -> the network on the due ones (and on carried fits that do not follow their track)
        -> poses, feet and unseen keypoints written to the people -> the depth stage's arrays

With ``keypoints.model: blazepose_ghum_full`` BlazePose also makes the 2D keypoints
(:func:`landmarks_as_keypoints`); it then ran on everyone already and nothing is scheduled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import DERIVED_JOINTS, NUM_FEET
from hdnet_ros.people import Frame, Person
from hdnet_ros.stages.blazepose import BlazePoseStage, BodyEstimate, MonocularRoot
from hdnet_ros.stages.blazepose.root_fit import RootFit
from hdnet_ros.stages.blazepose.schedule import carried_roots, carry_poses, due_people, follows
from hdnet_ros.stages.depth import NetworkEstimates
from hdnet_ros.stages.depth.arrays import PersonMasks
from hdnet_ros.stages.keypoints2d import Keypoints2D

FloatArray = npt.NDArray[np.float64]


def landmarks_as_keypoints(
    stage: BlazePoseStage, frame: Frame, people: Sequence[Person], expected: Sequence[Person | None], min_score: float
) -> list[BodyEstimate | None]:
    """Give ``people`` (detections without keypoints yet) BlazePose's 2D landmarks as their
    keypoints; BlazePose's estimates. ``expected`` [P]: each one's track state, whose
    keypoints orient the crop."""
    guides = [np.asarray(p.pixels, dtype=np.float64) if p is not None else None for p in expected]
    bodies = stage(frame, people, guides)
    for person, body in zip(people, bodies, strict=True):
        if body is not None:
            landmarks = body.keypoints(min_score)
            person.pixels, person.scores = landmarks.pixels, landmarks.scores
    return bodies


def estimate_bodies(
    stage: BlazePoseStage,
    frame: Frame,
    people: list[Person],
    expected: Sequence[Person | None],
    frame_index: int,
    *,
    min_score: float,
    network_root: bool,
    bodies: list[BodyEstimate | None] | None = None,
) -> NetworkEstimates:
    """BlazePose's poses, roots and masks for ``people`` as the depth stage's arrays.

    Runs the network on the people the schedule makes due (``blazepose.every_frames``;
    ``frame_index`` is its phase); the others carry their track's pose and get its fit to
    this frame's keypoints as their root. ``bodies``: estimates already made this frame for
    every person (BlazePose made the keypoints): nothing more runs. ``network_root``: whether
    BlazePose's monocular root is the network root (``networks.root_depth``).
    """
    if bodies is None:
        bodies, roots = _scheduled(stage, frame, people, expected, frame_index, min_score)
    else:
        roots = [b.root if b is not None else None for b in bodies]
    for person, body in zip(people, bodies, strict=True):
        if body is not None:
            person.network_pose, person.network_feet, person.network_pose_age = body.relative_pose, body.feet, 0
            landmarks = body.keypoints(min_score)
            person.network_pixels, person.network_scores = landmarks.pixels, landmarks.scores
            fill_unseen_keypoints(person, landmarks)
            person.feet_pixels, person.feet_scores = body.feet_keypoints(min_score)
    return body_estimates(people, bodies, roots if network_root else [None] * len(people))


def _scheduled(
    stage: BlazePoseStage,
    frame: Frame,
    people: list[Person],
    expected: Sequence[Person | None],
    frame_index: int,
    min_score: float,
) -> tuple[list[BodyEstimate | None], list[RootFit | None]]:
    """Run the network on the due people; the others carry their pose and refit its root."""
    config = stage.config
    bodies: list[BodyEstimate | None] = [None] * len(people)
    roots: list[RootFit | None] = [None] * len(people)
    due = due_people(people, expected, frame.depth_m is not None, config.every_frames, frame_index)
    carry_poses(people, expected, due)
    carried = [i for i in np.flatnonzero(~due) if people[i].network_pose is not None]
    fits = carried_roots([people[i] for i in carried], frame.camera, min_score, config.root_relative_sigma)
    for index, fit in zip(carried, fits, strict=True):
        previous = expected[int(index)]
        assert previous is not None
        if isinstance(fit, MonocularRoot) and follows(fit, previous):
            roots[index] = fit
        else:  # this frame's keypoints do not carry the pose: run the network after all
            due[index] = True
    chosen = np.flatnonzero(due)
    for index, body in zip(chosen, stage(frame, [people[i] for i in chosen]), strict=True):
        bodies[index], roots[index] = body, body.root if body is not None else None
    return bodies, roots


def body_estimates(
    people: Sequence[Person], bodies: Sequence[BodyEstimate | None], fits: Sequence[RootFit | None]
) -> NetworkEstimates:
    """BlazePose's per-person outputs as the depth stage's arrays: the poses the people carry
    (this frame's or their track's), the monocular roots (``fits``: BlazePose's own, or the
    carried skeleton's fit to this frame) and this frame's masks."""
    roots = [fit if isinstance(fit, MonocularRoot) else None for fit in fits]
    root_point = np.array([r.position if r is not None else np.full(3, np.nan) for r in roots]).reshape(-1, 3)
    root_sigma = np.array([r.sigma if r is not None else np.nan for r in roots], dtype=np.float64)
    masks = PersonMasks.stack([b.mask if b is not None else None for b in bodies])
    feet = NetworkEstimates.stacked([p.network_feet for p in people], NUM_FEET)
    feet_pixels = np.array([p.feet_pixels for p in people], dtype=np.float64).reshape(-1, NUM_FEET, 2)
    return NetworkEstimates(
        root_point[:, 2].copy(),
        root_sigma,
        root_point,
        NetworkEstimates.stacked([p.network_pose for p in people]),
        masks,
        feet,
        feet_pixels,
    )


def fill_unseen_keypoints(person: Person, landmarks: Keypoints2D) -> None:
    """Joints the 2D keypoint network did not see but BlazePose did take BlazePose's pixel
    and visibility (its crop saw them at no extra cost); the midpoint joints follow."""
    seen = np.all(np.isfinite(person.pixels), axis=1)
    fill = ~seen & np.all(np.isfinite(landmarks.pixels), axis=1)
    fill[list(DERIVED_JOINTS)] = False
    if not np.any(fill):
        return
    person.pixels = np.where(fill[:, None], landmarks.pixels, person.pixels)
    person.scores = np.where(fill, landmarks.scores, person.scores)
    for joint, (a, b) in DERIVED_JOINTS.items():
        if not seen[joint] and np.all(np.isfinite(person.pixels[[a, b]])):
            person.pixels[joint] = (person.pixels[a] + person.pixels[b]) / 2.0
            person.scores[joint] = min(person.scores[a], person.scores[b])
