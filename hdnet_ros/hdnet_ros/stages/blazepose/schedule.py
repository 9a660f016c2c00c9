"""When BlazePose runs on whom: each track on a period, within a budget of crops per frame.

A tracked person's skeleton changes its shape little from one frame to the next, so the
network runs on each track every few frames and the track carries its pose in between:

* every ``blazepose.every_frames`` frames where the depth sensor measured the person's root
  last time: the root is the sensor's, the network adds the skeleton's shape;
* every ``blazepose.every_frames_without_depth`` frames where it did not (far people,
  holes, people behind others) and in frames without depth: between runs the carried
  skeleton fitted to each frame's 2D keypoints gives their root (:func:`~.carried_fit.carried_roots`;
  the placement stage's fit with the person's learned scale where it runs);
* a crop the network rejected (no person seen: a seated person behind a table, a person
  too far or cut by the image's edge) is tried again after the period, not every frame,
  and after 2, 4 and 8 periods once rejected again: most such crops are rejected again (from
  the first rejection where the 2D keypoints show fewer than FEW_JOINTS joints). A
  person whose last crop was rejected is not run for a carried pose that stops following
  them either (the refit below): the network has just said it sees no one there;
* a person whose confident 2D keypoints have not moved since the network's last run on
  them (:func:`~.stillness.pose_changes` under its STILL_CHANGE: seated, standing, waiting) keeps
  their skeleton's shape: their period is ``blazepose.still_period_factor`` times longer,
  up to ``blazepose.still_max_age_frames`` frames (:meth:`BlazePoseSchedule._stretched`),
  and their carried fit is also compared with its own fit at the run, like for like, so
  that a person whose keypoints and landmarks disagree is not refitted every frame to the
  same answer (:func:`~.carried_fit.carried_follows`). A still person whose last crop was rejected
  waits as much longer on their back-off (the network saw no one on these keypoints); new
  tracks are unchanged.

Tracks take turns: each runs on its own phase of its period (by track id), so that the cost
spreads over the frames instead of falling due on one. ``blazepose.max_crops`` caps the
crops of one frame; the people that want a crop are served by priority: new tracks first
(nothing to carry), then carried poses whose fit to this frame's keypoints fails or lands
away from their track (:func:`~.carried_fit.follows`), then the oldest poses; the person with the taller
box (nearer, mostly) first among equals. People left over carry their pose one more frame
and are older, so they come earlier on the next frame.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import cast

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    NUM_JOINTS,
    ROOT,
)
from hdnet_ros.people import MEASURED, Person
from hdnet_ros.stages.blazepose import BlazePoseConfig
from hdnet_ros.stages.blazepose.carried_fit import anchored, carried_follows, root_known, skeleton_roots
from hdnet_ros.stages.blazepose.root_fit import MonocularRoot, RootFit
from hdnet_ros.stages.blazepose.run_memory import Estimate, LastRun, RunMemory
from hdnet_ros.stages.blazepose.stillness import still_since

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
# A crop the network rejected (no person seen) is retried after the person's period; after
# each further rejection in a row the wait doubles, up to 2**this periods: most rejected
# crops are rejected again (a person seated behind a table, cut by the image's edge). On the
# sample frames' pseudo-sequence (90 frames) with 2 (4 periods, 8-12 frames) 99 of 191
# crops were rejected, and 36 of the 44 crops of people rejected 3 or more times in a row;
# with 3 (8 periods, 16-24 frames: 0.5-0.8 s at 30 Hz) 85 of 177 (docs/benchmarks.md, the
# sixth session).
MAX_BACK_OFF_DOUBLINGS = 3
# A person whose 2D keypoints show fewer joints than this (of 19; head and shoulders of
# someone seated behind others) and whose last crop was rejected backs off at once: on the
# sample frames' pseudo-sequence run every frame, 85 % of such crops were rejected again
# (64 % with more joints seen; 52 % of the crops of people with few joints seen whose last
# crop was accepted).
FEW_JOINTS = 9
# A track carries its pose for at most this many of its periods (its crop rejected, or
# deferred by the budget), then goes without until the network sees it again.
MAX_CARRIED_PERIODS = 4
# ... and for at most this many frames (4 periods of still_max_age_frames' default): a longer
# back-off after rejected crops does not make a pose older than that carried.
MAX_CARRIED_FRAMES = 60
# What is carried from the last estimate moves with the person's box while the box keeps its
# size within this share; a box that grew or shrank more (the person turned, sat down, is
# hidden differently) makes the estimate's mask and landmarks stale.
MAX_BOX_SCALE_CHANGE = 0.1
_NO_BOX = np.full(4, np.nan)


class Want(IntEnum):
    """Why a person wants the network this frame, in the order they are served."""

    NEW = 0  # no run on the person yet: nothing to carry
    REFIT = 1  # the carried pose lands away from the track in this frame's keypoints
    TURN = 2  # the pose is due by the period (its turn, or older than the period)
    NONE = 3  # carries its pose


@dataclass(frozen=True)
class Plan:
    """Whom the network runs on this frame (``run`` [P]) and what each person carries from
    their track (``carried`` [P]: a pose, already set on the person): its fit to this
    frame's keypoints (``roots``; None where it does not follow the track), and the last
    accepted estimate (``estimates``) with the move of the person's box since (``shifts``
    [P,2] pixels; NaN where the box changed its size: the estimate's mask and landmarks
    are stale). A person the network runs on keeps what they carry where it rejects the crop.
    ``still`` [P]: whose 2D pose has not changed since the network's last run on them, which
    accepted the crop (:func:`~.stillness.still_since`), for their kept mask (nobody with
    ``mask_max_age_frames`` 0)."""

    run: BoolArray
    carried: BoolArray
    roots: list[RootFit | None]
    estimates: list[Estimate | None]
    shifts: FloatArray
    still: BoolArray


class BlazePoseSchedule:
    """Plans each frame's crops (:meth:`plan`) and remembers each person's last run
    (:class:`~.run_memory.RunMemory`, told by :meth:`ran`).

    ``counts``: people per reason (``new``, ``refit``, ``turn``: run; ``carried``; ``deferred``:
    wanted a crop beyond ``max_crops``).
    """

    def __init__(self, config: BlazePoseConfig) -> None:
        self.config = config
        self.counts: Counter[str] = Counter()
        self.frame = 0
        longest = max(config.every_frames, config.every_frames_without_depth) * 2**MAX_BACK_OFF_DOUBLINGS
        self.memory = RunMemory(box_frames=longest + 1)
        self._last: list[LastRun | None] = []  # this frame's people's last runs, from plan to ran
        # This frame's 2D keypoints (pixels [P,J,2], scores [P,J]) and fit settings, from plan
        # to ran: the network's new poses are fitted to them as carried poses are later.
        self._keypoints: tuple[FloatArray, FloatArray] = (np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS)))
        self._fit: tuple[CameraModel, float, float] | None = None

    def reset(self) -> None:
        """Forget everyone (tracking restarted)."""
        self.memory.reset()

    def plan(
        self,
        people: Sequence[Person],
        expected: Sequence[Person | None],
        has_depth: bool,
        camera: CameraModel,
        min_score: float,
        relative_sigma: float,
        motion: FloatArray | None = None,
    ) -> Plan:
        """This frame's plan (``expected`` [P]: each person's track's last person, None for
        a new one). The carried poses are set on the people here, one frame older. Call
        :meth:`ran` with the network's answers. ``motion``: the camera's move since the last
        frame (4x4, ``p_now = motion p_before``; the tracker's ``camera_motion``): what the
        tracks carry in the camera's coordinates moves with it (a robot that turns by 0.1 rad
        between runs would turn every carried skeleton by as much, and the carried fits would
        land away from their runs' roots and be refitted)."""
        if motion is not None:
            self.memory.follow(motion)
        self._last = last = self.memory.last_runs(people, expected)
        self._keypoints = (
            np.array([p.pixels for p in people], dtype=np.float64).reshape(-1, NUM_JOINTS, 2),
            np.array([p.scores for p in people], dtype=np.float64).reshape(-1, NUM_JOINTS),
        )
        self._fit = (camera, min_score, relative_sigma)
        # Per person on Python numbers (a numpy scalar's arithmetic costs several times a float's).
        since = [self.frame - r.frame if r is not None else math.inf for r in last]
        base = [
            self._period(p, r, has_depth, few)
            for p, r, few in zip(expected, last, few_joints(self._keypoints[1], min_score).tolist(), strict=True)
        ]
        still, mask_still = self._still(last)
        periods = [self._stretched(period, calm) for period, calm in zip(base, still, strict=True)]
        self.counts["still"] += sum(stretched > period for stretched, period in zip(periods, base, strict=True))
        wants = np.array(
            [
                Want.NEW if r is None else Want.TURN if self._due(p, period, ago, stretched) else Want.NONE
                for p, r, period, stretched, ago in zip(expected, last, base, periods, since, strict=True)
            ],
            dtype=np.int64,
        ).reshape(-1)
        carried = np.array(
            [
                p is not None
                and p.network_pose is not None
                and p.network_pose_age + 1 < min(MAX_CARRIED_PERIODS * period, MAX_CARRIED_FRAMES)
                for p, period in zip(expected, periods, strict=True)
            ],
            dtype=bool,
        ).reshape(-1)
        carry_poses(people, expected, carried, None if motion is None else motion[:3, :3])
        roots: list[RootFit | None] = [None] * len(people)
        indices = [int(i) for i in np.flatnonzero(carried)]
        pixels, scores = self._keypoints  # the carried people's own pixels and scores, stacked once
        poses = [np.asarray(people[i].network_pose, dtype=np.float64) for i in indices]
        fits = skeleton_roots(
            pixels[indices],
            scores[indices],
            np.array(poses).reshape(-1, NUM_JOINTS, 3),
            camera,
            min_score,
            relative_sigma,
        )
        for index, fit in zip(indices, fits, strict=True):
            if not isinstance(fit, MonocularRoot):
                continue  # too few keypoints for any fit: the network, which would see as little, waits
            if carried_follows(fit, expected[index], last[index], still[index], motion):
                roots[index] = anchored(fit, last[index])
            elif wants[index] == Want.NONE and not _rejected(last[index]):
                wants[index] = Want.REFIT  # someone else's pose (a wrong association), or a changed one
            elif _rejected(last[index]):
                # After a rejected crop the network, which saw no person there, waits for its
                # back-off; meanwhile a pose that no longer follows the track is not carried.
                carried[index] = False
                _uncarry(people[index])
        run = self._served(people, wants, np.array(since, dtype=np.float64) / np.array(periods, dtype=np.float64))
        self._count(wants, run)
        estimates = [r.estimate if c and r is not None else None for r, c in zip(last, carried, strict=True)]
        then = np.array([r.box if r is not None else _NO_BOX for r in last], dtype=np.float64)
        shifts = box_shifts(
            then.reshape(-1, 4), np.array([p.detection.box for p in people], dtype=np.float64).reshape(-1, 4)
        )
        return Plan(run, carried, roots, estimates, shifts, np.array(mask_still, dtype=bool).reshape(-1))

    def ran(
        self,
        people: Sequence[Person],
        expected: Sequence[Person | None],
        run: BoolArray,
        estimates: Sequence[Estimate | None],
    ) -> None:
        """The network's answers to this frame's plan: ``estimates`` [P] (None where it did
        not run, ``run`` [P], or rejected the crop); then the next frame."""
        runs: list[LastRun | None] = []
        fitted = self._fitted(estimates)
        pixels, scores = self._keypoints
        for index, (person, last, runs_now, estimate, root) in enumerate(
            zip(people, self._last, run, estimates, fitted, strict=True)
        ):
            if not runs_now:
                runs.append(None)
                continue
            box = np.asarray(person.detection.box, dtype=np.float64)
            keypoints = (pixels[index], scores[index]) if len(pixels) == len(people) else None
            if estimate is not None:
                runs.append(LastRun(self.frame, estimate, box, 0, root, keypoints))
            elif last is not None:  # rejected: the last estimate stays, with its box; the keypoints are this crop's
                runs.append(
                    LastRun(self.frame, last.estimate, last.box, last.rejections + 1, None, keypoints, last.moved)
                )
            else:
                runs.append(LastRun(self.frame, None, box, 1, None, keypoints))
        self.memory.record(self.frame, people, expected, self._last, runs)
        self.frame += 1

    def _fitted(self, estimates: Sequence[Estimate | None]) -> list[FloatArray | None]:
        """Each new estimate's skeleton fitted to its frame's 2D keypoints (None: no estimate,
        or too few keypoints): with the network's own root (fitted to its landmarks) it gives
        the depth scale its carried fits keep (:func:`anchored`; the two disagree by up to
        tens of per cent for seated, half-hidden people)."""
        result: list[FloatArray | None] = [None] * len(estimates)
        new = {i: e.body.relative_pose for i, e in enumerate(estimates) if e is not None}
        if not new or self._fit is None or len(self._keypoints[0]) != len(estimates):
            return result
        pixels, scores = self._keypoints
        indices = list(new)
        skeletons = np.stack([np.asarray(pose, dtype=np.float64) for pose in new.values()])
        fits = skeleton_roots(pixels[indices], scores[indices], skeletons, *self._fit)
        for index, fit in zip(indices, fits, strict=True):
            result[index] = fit.position if isinstance(fit, MonocularRoot) else None
        return result

    def _period(self, previous: Person | None, last: LastRun | None, has_depth: bool, few: bool = False) -> int:
        """The person's period: whether the sensor measured their root last frame, lengthened
        after crops the network rejected in a row (x2, x4, then x8; a period of 1 stays every frame),
        from the first rejection where the 2D keypoints show ``few`` joints (:func:`few_joints`)."""
        measured = (
            has_depth
            and previous is not None
            and root_known(previous)
            and int(previous.depth_sources[ROOT]) in MEASURED
        )
        period = self.config.every_frames if measured else self.config.every_frames_without_depth
        rejections = 0 if last is None else last.rejections + (1 if few and last.rejections > 0 else 0)
        if period <= 1 or rejections <= 1:  # 1: every frame, as configured
            return period
        return int(period * 2 ** min(rejections - 1, MAX_BACK_OFF_DOUBLINGS))

    def _due(self, previous: Person | None, period: float, since: float, stretched: float | None = None) -> bool:
        """Whether a person's pose is due: on the track's phase of its period (by track id;
        at least half a period after the last run, so a new track's first turn does not
        come right after it), or later than the period (deferred by the budget, or the
        period changed). Untracked people have no phase: when the period has passed.
        A still person's ``stretched`` period (:meth:`_stretched`) keeps the phase of the
        base ``period`` and is due at the latest when it has passed (its maximum age)."""
        longer = stretched if stretched is not None else period
        if previous is None:
            return since >= longer
        on_phase = (self.frame + previous.track_id) % int(period) == 0
        if period <= 1:
            return True
        if longer > period:
            return (on_phase and 2 * since >= 2 * longer - period) or since >= longer
        return (on_phase and 2 * since >= period) or since > period

    def _stretched(self, period: int, still: bool) -> int:
        """A still person's longer period: ``still_period_factor`` times the period, at most
        ``still_max_age_frames`` and never shorter than the period (which, as every frame, a
        period of 1 stays)."""
        factor = self.config.still_period_factor
        if not still or factor <= 1 or period <= 1:
            return period
        return max(period, min(period * factor, self.config.still_max_age_frames))

    def _still(self, last: Sequence[LastRun | None]) -> tuple[list[bool], list[bool]]:
        """Whose pose has not changed since the network's last run on them
        (:func:`~.stillness.still_since`): for the periods (nobody with ``still_period_factor``
        1) and for the kept masks (nobody with ``mask_max_age_frames`` 0; only where that run
        was accepted, whose mask is kept)."""
        nobody = [False] * len(last)
        periods, masks = self.config.still_period_factor > 1, self.config.mask_max_age_frames > 0
        if not periods and not masks:
            return nobody, nobody
        still = still_since(last, *self._keypoints)
        # A mask is the last accepted run's: still since a rejected run says nothing of the pose then.
        accepted = [calm and r is not None and r.rejections == 0 for calm, r in zip(still, last, strict=True)]
        return (still if periods else nobody), (accepted if masks else nobody)

    def _served(
        self, people: Sequence[Person], wants: npt.NDArray[np.int64], staleness: npt.NDArray[np.float64]
    ) -> BoolArray:
        """The people the network runs on: all who want it, or the first ``max_crops`` by
        reason, then staleness (frames since the last run over the period; oldest first),
        then the taller box."""
        wanting = np.flatnonzero(wants != Want.NONE)
        run = np.zeros(len(people), dtype=bool)
        cap = self.config.max_crops
        if cap > 0 and len(wanting) > cap:
            heights = np.array([float(p.detection.box[3] - p.detection.box[1]) for p in people])
            order = np.lexsort((-heights[wanting], -np.nan_to_num(staleness[wanting], posinf=1e9), wants[wanting]))
            wanting = wanting[order[:cap]]
        run[wanting] = True
        return run

    def _count(self, wants: npt.NDArray[np.int64], run: BoolArray) -> None:
        served = np.bincount(wants[run], minlength=len(Want)).tolist()
        for want in Want:
            if want is not Want.NONE:
                self.counts[want.name.lower()] += served[want]
        self.counts["carried"] += int(np.count_nonzero(~run))
        self.counts["deferred"] += int(np.count_nonzero(~run & (wants != Want.NONE)))


def few_joints(scores: FloatArray, min_score: float) -> BoolArray:
    """Which people's keypoints (``scores`` [P,J]) show fewer than FEW_JOINTS joints."""
    return cast(BoolArray, np.count_nonzero(scores >= min_score, axis=1) < FEW_JOINTS)


def _uncarry(person: Person) -> None:
    """Take back a carried network pose (:func:`carry_poses`)."""
    person.network_pose = None
    person.network_feet = None
    person.network_pose_age = 0


def _rejected(last: LastRun | None) -> bool:
    return last is not None and last.rejections > 0


def box_shifts(then: FloatArray, now: FloatArray) -> FloatArray:
    """How far each person's box centre moved [N,2] (pixels) from boxes ``then`` [N,4] to
    ``now`` [N,4]; NaN rows where the box changed its width or height by more than
    MAX_BOX_SCALE_CHANGE (or there is no box then)."""
    change = np.maximum(now[:, 2:] - now[:, :2], 1.0) / np.maximum(then[:, 2:] - then[:, :2], 1.0) - 1.0
    kept = np.all(np.abs(change) <= MAX_BOX_SCALE_CHANGE, axis=1)
    shift = (now[:, :2] + now[:, 2:] - then[:, :2] - then[:, 2:]) / 2.0
    return np.where(kept[:, None], shift, np.nan)


def carry_poses(
    people: Sequence[Person], expected: Sequence[Person | None], carried: BoolArray, turn: FloatArray | None = None
) -> None:
    """The ``carried`` people take their track's last network pose, one frame older, turned
    by the camera's ``turn`` since (3x3, ``v_now = turn v_before``; None: it did not turn):
    the pose is the person's, whose body does not turn with the robot."""
    for person, previous, carries in zip(people, expected, carried, strict=True):
        if carries and previous is not None and previous.network_pose is not None:
            pose, feet = previous.network_pose, previous.network_feet
            if turn is not None:
                pose = pose @ turn.T
                feet = feet @ turn.T if feet is not None else None
            person.network_pose, person.network_feet = pose, feet
            person.network_pose_age = previous.network_pose_age + 1
