"""When BlazePose runs on whom: per track, at a configurable rate, the pose carried between.

A tracked person whose root the depth sensor measures needs the network only for the
shape of their skeleton, which changes little from one frame to the next: the network
runs on them every ``blazepose.every_frames``-th frame and the tracker carries the pose in
between. It runs every frame for new tracks, for people the sensor could not measure last
time (their root is the network's own) and for every frame without depth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import ROOT
from hdnet_ros.people import DepthSource, Person

BoolArray = npt.NDArray[np.bool_]
MEASURED = (DepthSource.SENSOR, DepthSource.FUSED)


def due_people(people: Sequence[Person], expected: Sequence[Person | None], has_depth: bool, every: int) -> BoolArray:
    """Which of this frame's ``people`` BlazePose runs on. ``expected`` [P]: the last person
    of the track each one probably continues (``Tracker.expected``), None for a new one."""
    due = np.ones(len(people), dtype=bool)
    if not has_depth or every <= 1:
        return due
    for index, previous in enumerate(expected):
        if previous is None or previous.network_pose is None:
            continue
        measured = bool(previous.valid[ROOT]) and int(previous.depth_sources[ROOT]) in MEASURED
        due[index] = not measured or previous.network_pose_age + 1 >= every
    return due


def carry_poses(people: Sequence[Person], expected: Sequence[Person | None], due: BoolArray) -> None:
    """The people the network does not run on take their track's last network pose."""
    for person, previous, runs in zip(people, expected, due, strict=True):
        if not runs and previous is not None and previous.network_pose is not None:
            person.network_pose = previous.network_pose
            person.network_feet = previous.network_feet
            person.network_pose_age = previous.network_pose_age + 1
