"""When BlazePose runs on whom: per track, at a configurable rate, the pose carried between.

A tracked person whose root the depth sensor measures needs the network only for the
shape of their skeleton, which changes little from one frame to the next: the network
runs on them every ``blazepose.every_frames``-th frame and the tracker carries the pose in
between. It runs every frame for new tracks, for people the sensor could not measure last
time (their root is the network's own) and for every frame without depth. Between runs
the carried skeleton is fitted to each frame's 2D keypoints, so the network's root keeps
following the person (:func:`carried_roots`). A fit that lands away from the track, or
none at all (too few torso and leg keypoints, a seated person behind a table), runs the
network after all (:func:`follows`): its own 33 landmarks often fit where the 2D keypoints
do not, and without the network's root such a person's torso may not be found in depth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    ROOT,
)
from hdnet_ros.people import DepthSource, Person
from hdnet_ros.stages.blazepose.root_fit import MonocularRoot, RootFit, fit_roots

BoolArray = npt.NDArray[np.bool_]
MEASURED = (DepthSource.SENSOR, DepthSource.FUSED)
# The joints a carried skeleton is fitted to the 2D keypoints by (as BlazePose's own fit:
# torso and legs; the face and hands are left out).
FIT_JOINTS = (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE)


def due_people(
    people: Sequence[Person], expected: Sequence[Person | None], has_depth: bool, every: int, frame_index: int
) -> BoolArray:
    """Which of this frame's ``people`` BlazePose runs on. ``expected`` [P]: the last person
    of the track each one probably continues (``Tracker.expected``), None for a new one.

    Tracks the sensor measures take turns: each runs on its own phase of the ``every``-frame
    cycle (by track id), so that they do not all fall due on one frame.
    """
    due = np.ones(len(people), dtype=bool)
    if not has_depth or every <= 1:
        return due
    for index, previous in enumerate(expected):
        if previous is None or previous.network_pose is None:
            continue
        measured = bool(previous.valid[ROOT]) and int(previous.depth_sources[ROOT]) in MEASURED
        turn = (frame_index + previous.track_id) % every == 0
        due[index] = not measured or turn or previous.network_pose_age + 1 >= 2 * every
    return due


def carry_poses(people: Sequence[Person], expected: Sequence[Person | None], due: BoolArray) -> None:
    """The people the network does not run on take their track's last network pose."""
    for person, previous, runs in zip(people, expected, due, strict=True):
        if not runs and previous is not None and previous.network_pose is not None:
            person.network_pose = previous.network_pose
            person.network_feet = previous.network_feet
            person.network_pose_age = previous.network_pose_age + 1


def carried_roots(
    people: Sequence[Person], camera: CameraModel, min_score: float, relative_sigma: float
) -> list[RootFit]:
    """Monocular roots of people who carry a pose but were not run this frame: their
    carried metric skeleton fitted to this frame's 2D keypoints (the same least squares as
    BlazePose's own root, on the torso and leg joints), so the network's root follows the
    person between runs."""
    if not people:
        return []
    pixels = np.stack([np.asarray(p.pixels, dtype=np.float64) for p in people])
    scores = np.stack([np.asarray(p.scores, dtype=np.float64) for p in people])
    skeletons = np.stack([np.asarray(p.network_pose, dtype=np.float64) for p in people])
    return fit_roots(
        pixels, scores, skeletons, camera, min_visibility=min_score, relative_sigma=relative_sigma, landmarks=FIT_JOINTS
    )


# A carried skeleton's fit follows its track when it lands this close to the track's last
# root: a walker moves a few centimetres per frame; a fit on too few or wrong keypoints
# lands much farther.
FOLLOW_M = 0.2
FOLLOW_RELATIVE = 0.1


def follows(fit: MonocularRoot, previous: Person) -> bool:
    """Whether a carried skeleton's fit to this frame is a root of the same person as the
    track's last one (else the network runs on the person after all)."""
    if not previous.valid[ROOT]:
        return False
    last = np.asarray(previous.positions[ROOT], dtype=np.float64)
    return float(np.linalg.norm(fit.position - last)) <= max(FOLLOW_M, FOLLOW_RELATIVE * float(last[2]))
