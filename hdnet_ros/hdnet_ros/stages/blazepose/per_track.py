"""BlazePose in the pipeline, behind one call per frame: whom the network runs on, what the
others carry, where their roots are, and what its landmarks add to the 2D keypoints.

    people + their tracks' last states (``Tracker.expected``)
        -> the schedule's plan (schedule.BlazePoseSchedule): whom the network runs on, the
           others' carried poses and their roots refitted to this frame
        -> the network on the planned crops
        -> poses, feet and unseen keypoints written to the people -> the depth stage's arrays

With ``keypoints.model: blazepose_ghum_full`` BlazePose also makes the 2D keypoints
(:func:`landmarks_as_keypoints`); it then ran on everyone already and nothing is scheduled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import DERIVED_JOINTS, NUM_FEET
from hdnet_ros.people import Frame, Person
from hdnet_ros.stages.blazepose import BlazePoseStage, BodyEstimate, MonocularRoot, PersonMask
from hdnet_ros.stages.blazepose.mask import moved_mask
from hdnet_ros.stages.blazepose.root_fit import RootFit
from hdnet_ros.stages.blazepose.run_memory import Estimate
from hdnet_ros.stages.blazepose.schedule import BlazePoseSchedule, Plan
from hdnet_ros.stages.depth import NetworkEstimates
from hdnet_ros.stages.depth.arrays import PersonMasks
from hdnet_ros.stages.keypoints2d import Keypoints2D
from hdnet_ros.stages.tracking.boxes import intersection_matrix

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_DERIVED = np.array(list(DERIVED_JOINTS))
_NO_POINT = np.full(3, np.nan)
# The depth stage reads a person's mask to keep other people's surfaces out of their joints'
# depth windows; where people do not overlap it changes nothing (the windows' feasible
# intervals already reject the background and occluders: docs/evaluation.md, "Person
# masks"). So BlazePose makes a person's mask only in frames with depth and where their box,
# grown by this share of its size on every side (people move while a track carries the
# mask), meets another person's box; without it a crop costs 0.74x on OpenVINO.
MASK_BOX_MARGIN = 0.1
# ... and a person's mask changes only where their pose does: a run on a still person whose
# box kept its size keeps their last mask, moved with the box, up to
# ``blazepose.mask_max_age_frames`` (:func:`keeps_mask`; on OpenVINO a crop without the mask
# costs 0.6-0.74x, docs/inference.md). A mask is made on every other crop that reads one:
# leaving it out where the network is likely to reject the crop (a first crop, a retry after
# a rejection: 51 of 89 rejected on the sample frames) was measured and not kept, as those
# people, accepted, then went without a mask for a period: joints of people half hidden at the
# image's edge took other surfaces, up to 1.9 m away (docs/inference.md).


def landmarks_as_keypoints(
    stage: BlazePoseStage, frame: Frame, people: Sequence[Person], expected: Sequence[Person | None], min_score: float
) -> list[BodyEstimate | None]:
    """Give ``people`` (detections without keypoints yet) BlazePose's 2D landmarks as their
    keypoints; BlazePose's estimates. ``expected`` [P]: each one's track state, whose
    keypoints orient the crop."""
    guides = [np.asarray(p.pixels, dtype=np.float64) if p is not None else None for p in expected]
    bodies = stage(frame, people, guides, masks_wanted(people, range(len(people)), frame.depth_m is not None))
    for person, body in zip(people, bodies, strict=True):
        if body is not None:
            landmarks = body.keypoints(min_score)
            person.pixels, person.scores = landmarks.pixels, landmarks.scores
    return bodies


def estimate_bodies(
    stage: BlazePoseStage,
    schedule: BlazePoseSchedule,
    frame: Frame,
    people: list[Person],
    expected: Sequence[Person | None],
    *,
    min_score: float,
    network_root: bool,
    bodies: list[BodyEstimate | None] | None = None,
    motion: FloatArray | None = None,
) -> NetworkEstimates:
    """BlazePose's poses, roots and masks for ``people`` as the depth stage's arrays.

    Runs the network on the people ``schedule`` plans for this frame; the others carry their
    track's pose, its fit to this frame's keypoints as their root, and the last estimate's
    mask and landmarks moved with their box. ``bodies``: estimates already made this frame
    for every person (BlazePose made the keypoints): nothing more runs. ``network_root``:
    whether BlazePose's monocular root is the network root (``networks.root_depth``).
    ``motion``: the camera's move since the last frame (the tracker's ``camera_motion``),
    which the carried poses follow.
    """
    if bodies is None:
        roots, masks = _scheduled(stage, schedule, frame, people, expected, min_score, motion)
    else:
        for person, body in zip(people, bodies, strict=True):
            if body is not None:
                take_estimate(person, Estimate.of(body, min_score))
        roots = [b.root if b is not None else None for b in bodies]
        masks = [b.mask if b is not None else None for b in bodies]
    return body_estimates(people, masks, roots if network_root else [None] * len(people))


def _scheduled(
    stage: BlazePoseStage,
    schedule: BlazePoseSchedule,
    frame: Frame,
    people: list[Person],
    expected: Sequence[Person | None],
    min_score: float,
    motion: FloatArray | None,
) -> tuple[list[RootFit | None], list[PersonMask | None]]:
    """Run the network on the planned people; the others, and those whose crop it rejects,
    keep what they carry. The roots and masks of all people."""
    camera = frame.camera
    plan = schedule.plan(
        people, expected, frame.depth_m is not None, camera, min_score, stage.config.root_relative_sigma, motion
    )
    estimates: list[Estimate | None] = [None] * len(people)
    roots: list[RootFit | None] = list(plan.roots)
    masks: list[PersonMask | None] = [None] * len(people)
    chosen = [int(i) for i in np.flatnonzero(plan.run)]
    wanted = masks_wanted(people, chosen, frame.depth_m is not None)
    age = stage.config.mask_max_age_frames if stage.skips_masks else 0  # else a new mask costs nothing
    kept = {i: w and keeps_mask(plan, i, schedule.frame, age) for i, w in zip(chosen, wanted, strict=True)}
    schedule.counts["mask_kept"] += sum(kept.values())
    masked = [w and not kept[i] for i, w in zip(chosen, wanted, strict=True)]
    bodies = stage(frame, [people[i] for i in chosen], masks=masked)
    accepted = [(index, body) for index, body in zip(chosen, bodies, strict=True) if body is not None]
    made = Estimate.all_of([b for _, b in accepted], min_score, schedule.frame)
    for (index, _), new in zip(accepted, made, strict=True):
        estimates[index] = kept_mask(plan, index, new, camera) if kept[index] else new
    movable = cast(list[bool], np.isfinite(plan.shifts).all(axis=1).tolist())  # boxes that kept their size
    for index, person in enumerate(people):
        estimate, carried = estimates[index], plan.estimates[index]
        if estimate is not None:
            take_estimate(person, estimate)
            roots[index], masks[index] = estimate.body.root, estimate.body.mask
        elif carried is not None and movable[index]:
            masks[index] = carry_estimate(person, carried, plan.shifts[index], camera.height, camera.width)
    schedule.ran(people, expected, plan.run, estimates)
    return roots, masks


def masks_wanted(people: Sequence[Person], chosen: Sequence[int], has_depth: bool) -> list[bool]:
    """Whether each ``chosen`` person's mask is wanted (MASK_BOX_MARGIN): the frame has depth
    and their grown box meets another of ``people``'s boxes."""
    if not has_depth or not chosen:
        return [has_depth] * len(chosen)
    boxes = np.array([p.detection.box for p in people], dtype=np.float64).reshape(-1, 4)
    rows = np.asarray(chosen, dtype=np.intp)
    grown = boxes[rows].copy()
    margin = MASK_BOX_MARGIN * (grown[:, 2:] - grown[:, :2])
    grown[:, :2] -= margin
    grown[:, 2:] += margin
    meets = intersection_matrix(grown, boxes) > 0.0
    meets[np.arange(len(rows)), rows] = False  # not their own box
    return cast(list[bool], meets.any(axis=1).tolist())


def keeps_mask(plan: Plan, index: int, frame: int, max_age: int) -> bool:
    """Whether a run on person ``index`` keeps their carried estimate's mask instead of
    making one: their pose has not changed since the network's last run on them
    (``plan.still``), their box kept its size (the mask moves with it) and the mask was made
    fewer than ``max_age`` frames before ``frame``."""
    carried = plan.estimates[index]
    return (
        carried is not None
        and carried.body.mask is not None
        and bool(plan.still[index])
        and bool(np.isfinite(plan.shifts[index]).all())
        and frame - carried.mask_frame < max_age
    )


def kept_mask(plan: Plan, index: int, estimate: Estimate, camera: CameraModel) -> Estimate:
    """This run's ``estimate`` of person ``index`` with their carried mask moved with their box."""
    carried = plan.estimates[index]
    assert carried is not None and carried.body.mask is not None  # keeps_mask
    moved = moved_mask(carried.body.mask, plan.shifts[index], camera.height, camera.width)
    return estimate.with_mask(moved, carried.mask_frame)


def take_estimate(person: Person, estimate: Estimate) -> None:
    """This frame's estimate on ``person``: the pose, its landmarks, the feet, the unseen keypoints."""
    body = estimate.body
    person.network_pose, person.network_feet, person.network_pose_age = body.relative_pose, body.feet, 0
    person.network_pixels, person.network_scores = estimate.keypoints.pixels, estimate.keypoints.scores
    fill_unseen_keypoints(person, estimate.keypoints)
    person.feet_pixels, person.feet_scores = estimate.feet_pixels, estimate.feet_scores


def carry_estimate(person: Person, estimate: Estimate, shift: FloatArray, height: int, width: int) -> PersonMask | None:
    """An earlier estimate of ``person`` (whose pose they carry) moved by their box's
    ``shift`` [2]: its landmarks are the person's (the placement fits the same points as in
    its own frame) and fill the keypoints unseen now, with the feet; its mask, moved, is
    returned (None: the estimate has none)."""
    landmarks = Keypoints2D(estimate.keypoints.pixels + shift, estimate.keypoints.scores)
    person.network_pixels, person.network_scores = landmarks.pixels, landmarks.scores
    fill_unseen_keypoints(person, landmarks)
    person.feet_pixels, person.feet_scores = estimate.feet_pixels + shift, estimate.feet_scores
    mask = estimate.body.mask
    return moved_mask(mask, shift, height, width) if mask is not None else None


def body_estimates(
    people: Sequence[Person], masks: Sequence[PersonMask | None], fits: Sequence[RootFit | None]
) -> NetworkEstimates:
    """BlazePose's per-person outputs as the depth stage's arrays: the poses the people carry
    (this frame's or their track's), the monocular roots (``fits``: BlazePose's own, or the
    carried skeleton's fit to this frame) and the masks (this frame's, or moved with the box)."""
    roots = [fit if isinstance(fit, MonocularRoot) else None for fit in fits]
    root_point = np.array([r.position if r is not None else _NO_POINT for r in roots]).reshape(-1, 3)
    root_sigma = np.array([r.sigma if r is not None else np.nan for r in roots], dtype=np.float64)
    stacked = PersonMasks.stack(masks)
    feet = NetworkEstimates.stacked([p.network_feet for p in people], NUM_FEET)
    feet_pixels = np.array([p.feet_pixels for p in people], dtype=np.float64).reshape(-1, NUM_FEET, 2)
    return NetworkEstimates(
        root_point[:, 2].copy(),
        root_sigma,
        root_point,
        NetworkEstimates.stacked([p.network_pose for p in people]),
        stacked,
        feet,
        feet_pixels,
    )


def fill_unseen_keypoints(person: Person, landmarks: Keypoints2D) -> None:
    """Joints the 2D keypoint network did not see but BlazePose did take BlazePose's pixel
    and visibility (its crop saw them at no extra cost); the midpoint joints follow.

    Called for every person every frame: the tests run as array methods and, for the
    midpoints, on Python floats (13 -> 8 us a person; the same values)."""
    seen = cast(BoolArray, np.isfinite(person.pixels).all(axis=1))
    fill = ~seen & np.isfinite(landmarks.pixels).all(axis=1)
    fill[_DERIVED] = False
    if not fill.any():
        return
    person.pixels = pixels = np.where(fill[:, None], landmarks.pixels, person.pixels)
    person.scores = scores = np.where(fill, landmarks.scores, person.scores)
    for joint, (a, b) in DERIVED_JOINTS.items():
        if not seen[joint] and all(math.isfinite(v) for v in (*pixels[a].tolist(), *pixels[b].tolist())):
            pixels[joint] = (pixels[a] + pixels[b]) / 2.0
            scores[joint] = min(scores[a], scores[b])
