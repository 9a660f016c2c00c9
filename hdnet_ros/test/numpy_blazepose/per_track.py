"""``fill_unseen_keypoints`` of ``stages/blazepose/per_track.py`` as main had it at 9f93135,
kept only as the reference ``test_blazepose_glue`` holds the faster form to (the same
values, bit for bit)."""

from __future__ import annotations

import numpy as np
from hdnet_ros.joints import DERIVED_JOINTS
from hdnet_ros.people import Person
from hdnet_ros.stages.keypoints2d import Keypoints2D


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
