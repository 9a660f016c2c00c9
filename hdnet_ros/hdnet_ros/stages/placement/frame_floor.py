"""A frame's standing people as observations of the floor at once: :func:`~.cues.floor_observations`
with its per-person numpy calls made as a few passes over [P,...] arrays (frame_cues.py's way).

Per person, cues.py's loop makes some forty small numpy calls (the fit's joints, the cut
borders, three ray computations): about 240 us a person on the sample frames (1.9 ms a
frame at 8 people), most of it numpy's per-call cost. The rules are cues.py's and the
arithmetic is theirs operation for operation (the same float64 sums, quotients and
comparisons; a mean of two as their sum over two, which is what ``np.mean`` computes; the
rays of all points in one :meth:`~hdnet_ros.camera.CameraModel.unit_rays` call, a per-row
computation), so the observations are the same to the bit (``test_placement_frame_floor.py``).
What stays per person, on the people whose hips are seen: the skeleton's up's length, its
leg length (once, for the standing test and the hip height) and the standing test
(:func:`~.posture.standing`, :func:`~.posture.leg_length`), which take 1-D norms and dot
products: BLAS's, which may round otherwise than a numpy pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_SHOULDER,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_SHOULDER,
)
from hdnet_ros.people import Person
from hdnet_ros.stages.placement.cues import AGREEMENT, AGREEMENT_CUT, MAX_TRUNK_COSINE, floor_observations, unit_up
from hdnet_ros.stages.placement.fit import ANKLE_HEIGHT_M, FEET_MIN_SCORE
from hdnet_ros.stages.placement.floor import IMAGE_UP
from hdnet_ros.stages.placement.frame_cues import (
    _cut_sides,
    _fit_joints,
    _near_cut_border,
    _skeletons,
    _stackable,
    _stacked,
)
from hdnet_ros.stages.placement.people_floor import NO_TRACK, FloorObservation
from hdnet_ros.stages.placement.posture import leg_length, standing
from hdnet_ros.stages.placement.scale import scale_prior

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def frame_floor_observations(
    people: Sequence[Person],
    camera: CameraModel,
    frame: int,
    expected: Sequence[Person | None] = (),
    learned_scale: bool = True,
) -> list[FloorObservation]:
    """:func:`~.cues.floor_observations` of a frame (its arguments, its result)."""
    posed = [i for i, person in enumerate(people) if person.network_pose is not None]
    tracks = list(expected) if len(expected) else [None] * len(people)
    # One person costs less than the passes' fixed cost; unusual arrays (and a wrong number
    # of tracks) go through cues.py, which says what is wrong with them.
    if len(posed) <= 1 or len(tracks) != len(people) or not _stackable(people):
        return floor_observations(people, camera, frame, expected, learned_scale)
    chosen = [people[i] for i in posed]
    pixels = _floor_pixels(chosen, camera)
    ankles, hips = pixels[:, [LEFT_ANKLE, RIGHT_ANKLE]], pixels[:, [LEFT_HIP, RIGHT_HIP]]
    shoulders = pixels[:, [LEFT_SHOULDER, RIGHT_SHOULDER]]
    seen = np.all(np.isfinite(ankles), axis=2) & (ankles[:, :, 1] <= camera.height - 1) & (ankles[:, :, 1] >= 0)
    seen &= _stacked(chosen, "scores")[:, [LEFT_ANKLE, RIGHT_ANKLE]] >= FEET_MIN_SCORE
    necked = np.all(np.isfinite(shoulders), axis=(1, 2))
    candidates = np.all(np.isfinite(hips), axis=(1, 2)) & (np.any(seen, axis=1) | necked)
    skeletons = _skeletons(chosen)  # the network pose's joints in float64, as cues.py reads them
    ups = (
        skeletons[:, LEFT_SHOULDER] + skeletons[:, RIGHT_SHOULDER] - skeletons[:, LEFT_HIP] - skeletons[:, RIGHT_HIP]
    ) / 2
    standers = []  # (row, unit up, leg length)
    for row in map(int, np.flatnonzero(candidates)):
        leg = leg_length(skeletons[row])
        up = _standing_up(skeletons[row], ups[row], leg)
        if up is not None:
            standers.append((row, up, leg))
    if not standers:
        return []
    rows = np.array([row for row, _, _ in standers])
    rays = _rays(camera, ankles[rows], seen[rows], hips[rows], shoulders[rows], necked[rows])
    result = []
    for (row, up, leg), (ankle_rays, pelvis_ray, neck_ray) in zip(standers, rays, strict=True):
        previous = tracks[posed[row]]
        scale = scale_prior(previous if learned_scale else None, 1.0)[0]
        hip_height = scale * (leg + ANKLE_HEIGHT_M)
        track = previous.track_id if previous is not None else NO_TRACK
        result.append(FloorObservation(ankle_rays, pelvis_ray, hip_height, up, frame, neck_ray, track))
    return result


def _floor_pixels(people: Sequence[Person], camera: CameraModel) -> FloatArray:
    """The fit's joints of every person [P,19,2] without the people in front (cues.py's
    floor_observations says why), NaN within the band of a border that cuts them."""
    boxes = np.array([person.detection.box for person in people], dtype=np.float64)
    cut = _cut_sides(boxes, camera)
    agreement = np.where(np.any(cut, axis=1), AGREEMENT_CUT, AGREEMENT)
    nobody_in_front = np.zeros((len(people), len(people)), dtype=bool)
    pixels = _fit_joints(people, agreement, boxes, nobody_in_front)[0]
    pixels[_near_cut_border(pixels, boxes, cut, camera)] = np.nan
    return pixels


def _standing_up(skeleton: FloatArray, trunk: FloatArray, leg: float) -> FloatArray | None:
    """The skeleton's unit up (its trunk) where it stands (``leg``: its leg length) with the
    trunk near the image's up, else None (cues.floor_observations' tests, in its order)."""
    up = unit_up(trunk)
    if up is None or not standing(skeleton, up, leg) or float(up @ IMAGE_UP) < MAX_TRUNK_COSINE:
        return None
    return up


def _rays(
    camera: CameraModel, ankles: FloatArray, seen: BoolArray, hips: FloatArray, shoulders: FloatArray, necked: BoolArray
) -> list[tuple[FloatArray, FloatArray, FloatArray | None]]:
    """Each person's (seen ankles' rays [A,3], the mid-hip's ray [3], the mid-shoulders'
    ray or None where a shoulder is unseen) from one unit_rays call over all the points."""
    count = len(hips)
    mid_hips = (hips[:, 0] + hips[:, 1]) / 2  # hips.mean(axis=0), as np.mean computes it
    mid_shoulders = (shoulders[necked, 0] + shoulders[necked, 1]) / 2
    rays = camera.unit_rays(np.concatenate((mid_hips, mid_shoulders, ankles[seen])))
    pelvis, necks, ankle_rays = np.split(rays, [count, count + len(mid_shoulders)])
    neck_rows = np.cumsum(necked) - 1
    ankle_ends = np.cumsum(np.count_nonzero(seen, axis=1))
    ankle_starts = ankle_ends - np.count_nonzero(seen, axis=1)
    return [
        (
            ankle_rays[ankle_starts[k] : ankle_ends[k]] if ankle_ends[k] > ankle_starts[k] else np.zeros((0, 3)),
            pelvis[k],
            necks[neck_rows[k]] if necked[k] else None,
        )
        for k in range(count)
    ]
