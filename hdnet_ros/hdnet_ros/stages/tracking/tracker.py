"""Multi-person 3D tracking: the same id for the same person, frame after frame.

Why this file is long: one class, whose association rules each carry their reason (below);
the boxes, the keypoints' moves, the filters and the tracks are modules of their own.

Each track filters its person's root (pelvis) with a constant-velocity Kalman filter whose
state is kept in the current camera's coordinates. The people's motion is the motion in
``fixed_frame`` (REP-105's ``odom``: a frame that does not move with the robot): each frame
the camera's pose there, from TF at the image stamp, moves every track into the new camera's
coordinates (:meth:`Tracker.follow_camera`), so a robot that drives or turns does not make
the people around it walk, the boxes predicted into the image move with the turn, and the
published velocity is the person's own (relative to ``fixed_frame``, in the camera's axes:
rotated into any frame by the rotation alone). Without that pose (no TF, a static camera
with ``fixed_frame`` empty) the camera's frame is the fixed one, counted per frame.
Association per frame is one optimal assignment
(``scipy.optimize.linear_sum_assignment``) over a cost matrix:

- a track with a 3D state and a person with a 3D root: the Euclidean distance between the
  track's predicted root and the person's root plus ``box_cost_m`` x (1 - IoU) of their
  boxes. The pair's sigma combines the track's (it grows while the track coasts) and what
  the person reports beyond ``measurement_sigma_m`` (a far person placed by their size
  wanders by a metre from frame to frame); the distance must lie within the base gate plus
  3 sigma, and a pair noisier than ``TRUSTED_SIGMA_M`` counts it in units of its sigma, so
  that the wander does not outweigh the boxes. The boxes must overlap in 2D as well: the
  track's box, moved with its predicted root and widened by its width on each side (a
  partly occluded person's box shrinks and slides), or by the track's own 3 sigma in pixels
  where that is more (a track that coasted while its person turned or stopped out of
  sight), has IoU >= ``min_iou`` with the person's box or one of them lies mostly inside
  the other;
- otherwise (no 3D on either side) a 2D-only cost (1 - IoU) x ``iou_cost_m`` for IoU >=
  ``min_iou_2d_only``, so people without a valid root keep their ids too;
- and, in the same assignment, a confirmed track keeps a person whose box still lies on it
  (IoU >= ``BOX_ONLY_IOU``) but whose root the 3D gate refuses, at the 2D cost plus
  ``BOX_ONLY_M`` (about a 3D match on the gate's edge); that root is not trusted and stays
  out of the filter. Deciding it in the first assignment matters: a person whose root
  wandered off would otherwise be gated out of their own track and take a neighbour's;
- a pair the image makes clear costs at most its 2D cost, whatever the roots say, and
  where the gate refuses the root it stays out of the filter: the same skeleton (its
  keypoints moved a few pixels and no other one near: :mod:`~.keypoints`) is matched
  whatever else its track or person could pair with, the same box (IoU >= ``CLEAR_IOU``
  with no other box of either at ``CLEAR_RIVAL_IOU``: :func:`~.boxes.clear_pairs`) costs
  at most (1 - IoU) x ``iou_cost_m``. Where people overlap in the image (one seated behind
  another) their roots land on each other's bodies and their boxes trade shapes; their
  skeletons stay (measured: docs/evaluation.md, "Tracking").

A person whose box lies mostly inside another person's box at the same root depth is
probably hidden behind them and measured on their body (:func:`hidden_roots`): that root
is not trusted. Such people are left out of the first assignment (they would take the
front person's track) and matched by box alone in the second; their roots never enter
the filter.

Track life: NEW until seen ``min_hits`` times, then TRACKED; a TRACKED track that misses
frames is LOST and coasts on its prediction for up to ``max_coast_s`` (ids survive short
occlusions), a NEW one only for ``new_track_coast_s``; ``expected`` never hands on a track
that will have coasted longer by the frame's stamp, nor one a confident box continues to a
low-score candidate (ByteTrack's order), and after a pause in the stream longer
than any track coasts (:meth:`Tracker.outlived`) the pipeline starts afresh. The velocity
of the filter is written into ``Person.velocity`` (m/s, relative to ``fixed_frame``, in the
camera's axes) once the filter knows it to ``max_velocity_sigma``; before, it is NaN (unknown).

A person placed without the sensor's depth (a NETWORK or INFERRED root noisier than
``measurement_sigma_m``: the network's fit, the size and floor priors) has a depth good to
a few percent each frame: the filter weighs it by that sigma and the person is published
at the filtered root (``smooth_monocular_root``; the whole skeleton moved with it), so the
root does not jitter frame to frame nor jump where the sensor's depth ends (weighing it
along the viewing ray only cost identity switches: docs/evaluation.md, "Tracking"). A root
the tracker refuses (outside the gate, or measured on the person in front) and its track's
filter cannot explain (beyond ``EXPLAINED_SIGMAS``) is not published either: the person is
at the track's predicted root (``hold_refused_root``), their measured joints INFERRED; on
the sample frames' still scenes such roots jumped by 1-10 m between frames. Either way the
published root's sigma is the filter's along its ray, but for a root from the priors alone
(an INFERRED root: the person's size and the floor), whose error is the person's own (their
stature and posture against the template's) and the same in every frame: the filter, which
takes each frame's error as new, cannot average it away, and the root keeps at least this
frame's own sigma (measured against the sensor: docs/evaluation.md, "The stated
uncertainty").
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import ROOT
from hdnet_ros.logs import get_logger
from hdnet_ros.people import MEASURED, CameraPose, DepthSource, Person, TrackingState
from hdnet_ros.settings_field import setting
from hdnet_ros.stages.tracking.boxes import clear_pairs, has_root, hidden_roots, iou_matrix, overlap_matrix
from hdnet_ros.stages.tracking.kalman import RootKalman, move_all, positions_after, predict_all, update_all
from hdnet_ros.stages.tracking.keypoints import same_skeletons, track_keypoint_moves, warm_up
from hdnet_ros.stages.tracking.track import Track, moved_boxes

FloatArray = npt.NDArray[np.float64]
LOG = get_logger(__name__)

INFEASIBLE = 1e9

# A person mostly hidden behind another is often measured on the front person's surface:
# the root lands at the front person's depth. Such a root is not trusted (hidden_roots);
# the person is associated by box alone and the filter skips the root.
HIDDEN_COVER = 0.5  # share of a box inside another person's box that makes its root suspect
HIDDEN_DEPTH_M = 0.35  # a suspect root lies within this depth of the covering person's root [m]
# Roots placed without the depth sensor: their depth comes from the person's size and the
# floor in this one frame, good to a few percent, while their direction is the pixels'.
MONOCULAR = (int(DepthSource.NETWORK), int(DepthSource.INFERRED))
# Association: a pair of track and person whose roots are both known to this sigma or
# better counts its 3D distance in metres; a noisier pair counts distance / sigma x this.
TRUSTED_SIGMA_M = 0.5
# A confirmed track may keep a person whose box still lies on it (IoU >= BOX_ONLY_IOU)
# while the 3D gate refuses their root, at (1 - IoU) x iou_cost_m plus this: about a 3D
# match on the gate's edge, so that a root that agrees elsewhere wins [m].
BOX_ONLY_M = 0.8
BOX_ONLY_IOU = 0.5
# A track and a person whose boxes overlap this much while neither overlaps anyone else's
# more than CLEAR_RIVAL_IOU are the same person as far as the boxes can tell (module doc):
# between frames a box moves little, a root jumps (onto an overlapping person's body).
CLEAR_IOU = 0.7
CLEAR_RIVAL_IOU = 0.5
# The fixed frame's up may be at most this far from the image's up (-y) for the tracker to
# take people as walking on a floor (the floor stage's default floor.max_tilt_deg) [deg].
MAX_UP_TILT_DEG = 70.0
# A camera pose in the fixed frame that moves faster than this between frames jumped (an
# odometry reset, a localisation's correction): robots drive under 2-3 m/s, heads pan under
# 3-6 rad/s [m/s, rad/s].
MAX_CAMERA_SPEED = 5.0
MAX_CAMERA_TURN = 10.0
# A refused root within this many sigmas of its track's predicted root is where the track
# expects it (a suspect measured on the person itself): published as measured, not held.
EXPLAINED_SIGMAS = 3.0


@dataclass(frozen=True)
class TrackingConfig:
    enabled: bool = setting(True, "assign track ids, tracking states and velocities")
    max_distance_m: float = setting(
        0.8, "largest distance between a track's predicted root and a person's root [m]", min=0.05
    )
    min_iou: float = setting(
        0.05, "smallest 2D overlap (IoU) of a track's predicted box with a person's box", min=0.0, max=1.0
    )
    min_iou_2d_only: float = setting(
        0.3, "smallest IoU for associations without a 3D root on both sides", min=0.0, max=1.0
    )
    iou_cost_m: float = setting(1.0, "cost of a 2D-only association at IoU 0, in metres", min=0.01)
    box_cost_m: float = setting(
        1.0, "added to a 3D association's cost at IoU 0 (scaled by 1 - IoU), in metres", min=0.0
    )
    min_hits: int = setting(3, "frames a new track must be seen in before it is TRACKED", min=1)
    max_coast_s: float = setting(3.0, "how long a lost track is kept and can be found again [s]", min=0.0)
    new_track_coast_s: float = setting(1.0, "how long a NEW track survives without being seen [s]", min=0.0)
    publish_lost: bool = setting(False, "also publish LOST tracks as predicted persons")
    acceleration_sigma: float = setting(
        0.5, "Kalman process noise: white acceleration density [m/s^2/sqrt(Hz)]", min=0.0
    )
    measurement_sigma_m: float = setting(
        0.08, "smallest root measurement noise assumed, whatever the person reports [m]", min=0.001
    )
    initial_velocity_sigma: float = setting(1.5, "velocity uncertainty of a new track [m/s]", min=0.01)
    smooth_monocular_root: bool = setting(
        True,
        "publish the track's filtered root for people placed without sensor depth (NETWORK, INFERRED roots noisier "
        "than measurement_sigma_m): their depth is noisy frame to frame, which the filter weighs by the reported sigma",
    )
    max_velocity_sigma: float = setting(
        0.5,
        "publish a track's velocity only while its filter knows it to this 1-sigma (RMS over the axes), else as "
        "unknown (0 = from its second 3D measurement on) [m/s]",
        min=0.0,
    )
    vertical_acceleration_sigma: float = setting(
        0.1,
        "Kalman process noise along the fixed frame's up (z) while its pose is known: people walk on a floor, so "
        "a coasting track does not drift up or down [m/s^2/sqrt(Hz)]",
        min=0.0,
    )
    fixed_frame: str = setting(
        "odom",
        "TF frame that does not move with the robot (REP-105: odom) in which people's motion is tracked: the "
        "camera's motion there, looked up at each image stamp, is taken out of the people's, so a still person "
        "stays still and keeps their id while the robot drives or turns; '' = the camera frame (a static camera); "
        "a failed lookup is counted and the frame tracked as if the camera had not moved",
    )
    hold_refused_root: bool = setting(
        True,
        "publish a person whose root the tracker refuses (outside its track's gate, or measured on the person in "
        "front) and its track cannot explain (beyond 3 sigma) at the track's predicted root, their measured joints "
        "INFERRED, instead of at the refused root",
    )


def _place_at_track(person: Person, kalman: RootKalman, measured: bool) -> None:
    """Publish the person at the track's filtered root: joints and feet moved rigidly, the
    root's 1-sigma the filter's along its ray (an INFERRED root's at least its own: module
    doc) and every joint's the part of its own beyond the root's plus that. ``measured``:
    the depths were this frame's measurements, and the sensor's joints keep their source;
    otherwise (a refused root) they are INFERRED now."""
    root = kalman.position
    before = float(person.position_stddev[ROOT])
    after = kalman.sigma_along(root)
    if measured and int(person.depth_sources[ROOT]) == DepthSource.INFERRED and np.isfinite(before):
        after = max(after, before)
    shift = root - person.positions[ROOT]
    person.positions = person.positions + shift
    person.feet = person.feet + shift
    person.position_stddev = _restated(person.position_stddev, before, after)
    person.feet_stddev = _restated(person.feet_stddev, before, after)
    if not measured:
        person.depth_sources = _inferred(person.depth_sources)
        person.feet_sources = _inferred(person.feet_sources)


def _jumped(motion: FloatArray, stamp_ns: int | None, before_ns: int | None) -> bool:
    """Whether the camera's ``motion`` between two poses stamped ``before_ns`` and
    ``stamp_ns`` is faster than MAX_CAMERA_SPEED or MAX_CAMERA_TURN (unknown stamps: never)."""
    if stamp_ns is None or before_ns is None:
        return False
    dt = max((stamp_ns - before_ns) * 1e-9, 1e-3)
    angle = math.acos(min(max((float(np.trace(motion[:3, :3])) - 1.0) / 2.0, -1.0), 1.0))
    return float(np.linalg.norm(motion[:3, 3])) > MAX_CAMERA_SPEED * dt or angle > MAX_CAMERA_TURN * dt


def _rigid(matrix: npt.ArrayLike | None) -> FloatArray | None:
    """``matrix`` as a 4x4 rigid transform, or None where it is none (missing, NaN, a
    rotation part that is not orthonormal with determinant 1: a broken odometry message
    would turn every track into NaN)."""
    if matrix is None:
        return None
    pose = np.asarray(matrix, dtype=np.float64)
    if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
        return None
    rotation = pose[:3, :3]
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6) or np.linalg.det(rotation) < 0:
        return None
    return pose


def _restated(stddev: npt.NDArray[np.floating], root_before: float, root_after: float) -> npt.NDArray[np.floating]:
    """Joint sigmas whose root's share ``root_before`` is replaced by ``root_after`` (NaN stays)."""
    own = np.maximum(stddev**2 - root_before**2, 0.0) if np.isfinite(root_before) else stddev**2
    return np.sqrt(own + root_after**2).astype(stddev.dtype)


def _inferred(sources: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return np.where(np.isin(sources, MEASURED), np.uint8(DepthSource.INFERRED), sources).astype(np.uint8)


class Tracker:
    """Keeps tracks across frames; :meth:`update` once per frame with all its people."""

    def __init__(self, config: TrackingConfig | None = None, camera: CameraModel | None = None) -> None:
        self.config = config or TrackingConfig()
        self.camera = camera  # lets the tracks' boxes follow their predicted roots
        self.tracks: list[Track] = []
        self._next_id = 1
        self._last_stamp_ns: int | None = None
        self._suspect: set[int] = set()  # this frame's people whose root is not trusted
        # The camera's pose in fixed_frame whose coordinates the tracks are kept in (None: none yet).
        self._camera_in_fixed: FloatArray | None = None
        self._pose_stamp_ns: int | None = None  # the stamp of that pose (None: not given)
        self._up: FloatArray | None = None  # the fixed frame's up in the camera's axes (None: unknown)
        self.counts: Counter[str] = Counter()  # frames by the frame tracked in (report())
        # The camera's move that follow_camera took out of the tracks this frame (p_now = M
        # p_before, 4x4), for what else the frame's stages carry in the camera's coordinates
        # from the frame before (BlazePose's carried poses); None: the camera did not move, or
        # its move is not known.
        self.camera_motion: FloatArray | None = None
        self._said = ""
        warm_up()  # the compiled keypoint moves, before the first frame

    def reset(self) -> None:
        self.tracks.clear()
        self._last_stamp_ns = None
        self._camera_in_fixed = None
        self._pose_stamp_ns = None
        self._up = None
        self.camera_motion = None

    def report(self) -> dict[str, str | int]:
        """``fixed_frame``, the frames tracked in it (``fixed``) and those whose camera pose
        there was not known (``fixed_missing``, ``fixed_stale``, ``fixed_invalid``: tracked as
        if the camera had not moved), poses that jumped (``fixed_jump``, among ``fixed``);
        empty while tracking is off."""
        if not self.config.enabled:
            return {}
        return {"fixed_frame": self.config.fixed_frame, **self.counts}

    def follow_camera(self, pose: CameraPose | None, stamp_ns: int | None = None) -> None:
        """Move the tracks into this frame's camera coordinates, the camera's ``pose`` in
        ``fixed_frame`` at ``stamp_ns`` given (module doc); call it before anything else reads
        the tracks in a frame. ``pose`` None: not asked (no ``fixed_frame``, no TF in the
        transport); a pose whose lookup failed: counted, the tracks stay in the last camera's
        coordinates; a pose that jumped (faster than a robot's camera moves: an odometry
        reset, a localisation's correction): counted, the tracks stay where they are in the
        camera, which did not move with the frame."""
        self.camera_motion = None
        if not self.config.enabled or pose is None:
            return
        camera = _rigid(pose.matrix)
        if camera is None:
            reason = pose.reason or ("invalid" if pose.matrix is not None else "missing")
            self.counts[f"fixed_{reason}"] += 1
            self._up = None  # the camera's turn since the last pose is unknown
            why = pose.message or "not a rigid transform (NaN, or a rotation that is not one)"
            self._say(f"the camera frame: no pose in {self.config.fixed_frame} ({reason})", why)
            return
        self.counts["fixed"] += 1
        self._say(self.config.fixed_frame, "")
        if self._camera_in_fixed is not None and not np.array_equal(camera, self._camera_in_fixed):
            # (a camera on a static mount gives the same pose every frame: nothing to move)
            # Last camera's coordinates -> this camera's: inverse(now) @ before.
            motion = np.asarray(np.linalg.solve(camera, self._camera_in_fixed), dtype=np.float64)
            if _jumped(motion, stamp_ns, self._pose_stamp_ns):
                self.counts["fixed_jump"] += 1
                LOG.warning("tracking: the camera's pose in %s jumped: the tracks stay", self.config.fixed_frame)
            else:
                move_all([t.kalman for t in self.tracks if t.kalman is not None], motion)
                self.camera_motion = motion
                rotation = motion[:3, :3]
                for track in self.tracks:
                    track.turn = rotation if track.turn is None else rotation @ track.turn
        self._camera_in_fixed = camera
        self._pose_stamp_ns = stamp_ns
        # The fixed frame's z (up, REP-103) in this camera's axes; a frame whose z is no
        # plausible up for the image (an optical frame named by mistake) gets no floor model.
        up = camera[2, :3].copy()
        self._up = up if up[1] <= -math.cos(math.radians(MAX_UP_TILT_DEG)) else None

    def update(self, people: list[Person], stamp_ns: int, camera: CameraModel | None = None) -> list[Person]:
        """Associate ``people`` with the tracks, set their ``track_id``, ``tracking_state``
        and ``velocity`` in place, and return the people to publish (the given ones, plus
        predicted LOST persons when ``publish_lost`` is set)."""
        if not self.config.enabled:
            return people
        if camera is not None:
            self.camera = camera
        dt = 0.0 if self._last_stamp_ns is None else max((stamp_ns - self._last_stamp_ns) * 1e-9, 0.0)
        self._last_stamp_ns = stamp_ns if self._last_stamp_ns is None else max(stamp_ns, self._last_stamp_ns)
        predict_all(
            [track.kalman for track in self.tracks if track.kalman is not None],
            dt,
            self.config.acceleration_sigma,
            self._up,
            self.config.vertical_acceleration_sigma,
        )
        for track in self.tracks:
            track.time_since_update_s += dt
        self._suspect = hidden_roots(people, HIDDEN_COVER, HIDDEN_DEPTH_M)
        matches, box_only = self._associate(people)
        untrusted = box_only | self._suspect
        rooted = [has_root(person) for person in people]  # read once: the filters and the tracks use it
        # The filters of the matched tracks with a trusted root, updated all at once.
        filtered = [
            (row, col)
            for row, col in matches
            if col not in untrusted and self.tracks[row].kalman is not None and rooted[col]
        ]
        update_all(
            [cast(RootKalman, self.tracks[row].kalman) for row, _ in filtered],
            np.array([people[col].positions[ROOT] for _, col in filtered], dtype=np.float64).reshape(-1, 3),
            np.array([self._measurement_sigma(people[col]) for _, col in filtered], dtype=np.float64),
        )
        updated = {row for row, _ in filtered}
        matched_tracks = set()
        for row, col in matches:
            self._update_track(self.tracks[row], people[col], col not in untrusted and rooted[col], row in updated)
            matched_tracks.add(row)
        matched_people = {col for _, col in matches}
        for row, track in enumerate(self.tracks):
            if row not in matched_tracks and track.confirmed:
                track.state = TrackingState.LOST
        self.tracks = [t for t in self.tracks if self._alive(t)]
        for col, person in enumerate(people):
            if col not in matched_people:
                # A new track starts from whatever root it has: later trusted roots correct it.
                self._start_track(person)
        published = list(people)
        if self.config.publish_lost:
            published += [self._predicted_person(t) for t in self.tracks if t.state == TrackingState.LOST]
        return published

    def outlived(self, stamp_ns: int) -> bool:
        """Whether the stream paused longer than any track coasts before ``stamp_ns``: the
        people seen before it are gone (their tracks would all be dropped)."""
        if self._last_stamp_ns is None:
            return False
        return (stamp_ns - self._last_stamp_ns) * 1e-9 > max(self.config.max_coast_s, self.config.new_track_coast_s)

    def expected(self, people: list[Person], stamp_ns: int, low: Sequence[bool] | None = None) -> list[Person | None]:
        """For each of this frame's people, the last person of the track they most likely
        continue (by their boxes against the tracks' predicted boxes), before any 3D is known:
        what a stage that runs before tracking may carry over (a network's pose). Changes no
        track. ``low``: the detector's low-score candidates, offered only the tracks no
        confident box continues (ByteTrack's order: such a box recovers a lost person, it does
        not take a person's track from their own box)."""
        if not self.config.enabled or not self.tracks or not people:
            return [None] * len(people)
        dt = 0.0 if self._last_stamp_ns is None else max((stamp_ns - self._last_stamp_ns) * 1e-9, 0.0)
        # Tracks that will have coasted too long by this stamp are not continued (after a gap in
        # the stream, another person now standing where they stood would take their pose and size).
        tracks = [t for t in self.tracks if self._alive(t, dt)]
        if not tracks:
            return [None] * len(people)
        filtered = [t.kalman for t in tracks if t.kalman is not None]
        after = iter(positions_after(filtered, dt, self.config.acceleration_sigma))  # rows of [T,3]
        ahead = [next(after) if t.kalman is not None else None for t in tracks]
        overlap = iou_matrix(moved_boxes(tracks, ahead, self.camera), [person.detection.box for person in people])
        cost = np.where(overlap >= self.config.min_iou_2d_only, 1.0 - overlap, INFEASIBLE)
        result: list[Person | None] = [None] * len(people)
        candidate = np.zeros(len(people), dtype=bool) if low is None else np.asarray(low, dtype=bool)
        taken = np.zeros(len(tracks), dtype=bool)
        for group in (np.flatnonzero(~candidate), np.flatnonzero(candidate)):
            free = np.flatnonzero(~taken)
            for row, col in zip(*linear_sum_assignment(cost[np.ix_(free, group)]), strict=True):
                if cost[free[row], group[col]] < INFEASIBLE:
                    taken[free[row]] = True
                    result[int(group[col])] = tracks[int(free[row])].person
        return result

    def _say(self, frame: str, why: str) -> None:
        if frame != self._said:  # said once per change, with the details
            (LOG.warning if why else LOG.info)("tracking in %s%s", frame, f": {why}" if why else "")
        self._said = frame

    # -- association -----------------------------------------------------------------

    def _root_sigmas(self, people: list[Person]) -> FloatArray:
        """Each person's root sigma as the association weighs it: what the person reports
        beyond the sensor's ``measurement_sigma_m`` (the base gate covers that much) [P]."""
        reported = np.array([float(person.position_stddev[ROOT]) for person in people], dtype=np.float64)
        floor = self.config.measurement_sigma_m
        return np.where(np.isfinite(reported) & (reported > floor), reported, 0.0)

    def _cost_matrix(self, people: list[Person], predicted: FloatArray, overlap: FloatArray) -> FloatArray:
        """The association cost of every track (rows) with every person [T,P].

        A track with a 3D state and a person with a root: the distance between the track's
        predicted root and the person's root plus ``box_cost_m`` x (1 - IoU), allowed within
        the 3D gate and the 2D gate (:func:`~.boxes.overlap_matrix`). Otherwise (no 3D on either
        side) the 2D-only cost (1 - IoU) x ``iou_cost_m`` for IoU >= ``min_iou_2d_only``.
        ``predicted``: the tracks' predicted boxes [T,4]; ``overlap``: their IoU with the
        people's boxes [T,P].
        """
        config = self.config
        roots = np.array([p.positions[ROOT] for p in people], dtype=np.float64).reshape(-1, 3)
        rooted = np.all(np.isfinite(roots), axis=1)
        cost = np.where(overlap >= config.min_iou_2d_only, (1.0 - overlap) * config.iou_cost_m, INFEASIBLE)
        boxes = np.array([p.detection.box for p in people], dtype=np.float64).reshape(-1, 4)
        filtered = np.array([track.kalman is not None for track in self.tracks], dtype=bool)
        if not np.any(filtered):
            return cost
        # All tracks with a 3D state against all people at once [T3,P] (the norm's own arithmetic).
        states = [track.kalman for track in self.tracks if track.kalman is not None]
        positions = np.array([kalman.x[:3] for kalman in states], dtype=np.float64)
        spread = np.array([kalman.position_sigma for kalman in states], dtype=np.float64)
        sigma = np.sqrt(spread[:, None] ** 2 + self._root_sigmas(people)[None, :] ** 2)  # [T3,P]
        distance = np.linalg.norm(positions[:, None, :] - roots[None, :, :], axis=-1)
        # A track that coasted is less sure where its box is than its width says (a person who
        # turned while out of view): its 2D gate widens by its 3 sigma, in pixels at its depth.
        fx = self.camera.fx if self.camera is not None else 0.0
        reach = 3.0 * spread * fx / np.maximum(positions[:, 2], 0.1)
        gate_2d = overlap_matrix(predicted[filtered], boxes, config.min_iou, min_pad=reach)
        allowed = (distance <= config.max_distance_m + 3.0 * sigma) & gate_2d
        # A root known to a few centimetres counts its distance in full; a noisier pair
        # (a far person placed by their size, a coasting track) in units of its sigma, so
        # that its frame-to-frame wander does not outweigh the boxes. The 2D term also
        # separates people whose roots come close in 3D (one hidden behind another and
        # measured at the other's depth).
        scaled = distance * np.minimum(1.0, TRUSTED_SIGMA_M / np.maximum(sigma, 1e-9))
        in_3d = np.where(allowed, scaled + config.box_cost_m * (1.0 - overlap[filtered]), INFEASIBLE)
        cost[filtered] = np.where(rooted[None, :], in_3d, cost[filtered])
        return cost

    def _box_only_cost(self, overlap: FloatArray) -> FloatArray:
        """The cost of keeping a confirmed track by its box alone [T,P], for the pairs the
        3D gate refuses: ``(1 - IoU) x iou_cost_m + BOX_ONLY_M`` for IoU >= ``BOX_ONLY_IOU``
        (a NEW track's box, one or two frames old, is no such evidence)."""
        confirmed = np.array([track.confirmed for track in self.tracks], dtype=bool)[:, None]
        allowed = confirmed & (overlap >= max(self.config.min_iou_2d_only, BOX_ONLY_IOU))
        return np.where(allowed, (1.0 - overlap) * self.config.iou_cost_m + BOX_ONLY_M, INFEASIBLE)

    def _associate(self, people: list[Person]) -> tuple[list[tuple[int, int]], set[int]]:
        """Optimal assignment on the 3D + 2D cost (with the box-only alternative for
        confirmed tracks), then a 2D-only pass for what is left.

        The second pass catches a person whose root is an outlier this frame (measured on
        an occluder) but whose box still sits on the track: it keeps the id and the outlier
        stays out of the filter. Returns the matches and the people matched in 2D only.
        """
        if not self.tracks or not people:
            return [], set()
        roots = [track.kalman.position if track.kalman is not None else None for track in self.tracks]
        predicted = moved_boxes(self.tracks, roots, self.camera)
        overlap = iou_matrix(predicted, [p.detection.box for p in people])
        cost = self._cost_matrix(people, predicted, overlap)
        # A box that stays on its track keeps it although its root wandered out of the gate
        # (a far person's size-based depth, a root measured through a gap), in the same
        # assignment: a wandering root must not take someone else's track meanwhile.
        by_box_cost = self._box_only_cost(overlap)
        by_box = (cost >= INFEASIBLE) & (by_box_cost < INFEASIBLE)  # the roots' gate refused the pair
        cost = np.where(by_box, by_box_cost, cost)
        # People with a suspect root wait for the second pass: in the first they would take
        # a track from someone whose root is trusted.
        cost[:, sorted(self._suspect)] = INFEASIBLE
        # What the image makes clear holds (module doc), suspect or not; a refused root stays out.
        refused = by_box | (cost >= INFEASIBLE)
        clear = clear_pairs(overlap, CLEAR_IOU, CLEAR_RIVAL_IOU)
        cost = np.where(clear, np.minimum(cost, (1.0 - overlap) * self.config.iou_cost_m), cost)
        moves = track_keypoint_moves(self.tracks, predicted, people)
        same = same_skeletons(moves)
        taken = np.logical_or.outer(np.any(same, axis=1), np.any(same, axis=0))
        cost = np.where(taken, INFEASIBLE, cost)
        cost = np.where(same, moves, cost)
        by_box |= (clear | same) & refused
        rows, cols = linear_sum_assignment(cost)
        matches = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < INFEASIBLE]
        box_only: set[int] = {c for r, c in matches if by_box[r, c]}
        taken_tracks, taken_people = {m[0] for m in matches}, {m[1] for m in matches}
        free_tracks = [r for r in range(len(self.tracks)) if r not in taken_tracks]
        free_people = [c for c in range(len(people)) if c not in taken_people]
        if free_tracks and free_people:
            free_overlap = overlap[np.ix_(free_tracks, free_people)]
            second = np.where(free_overlap >= self.config.min_iou_2d_only, 1.0 - free_overlap, INFEASIBLE)
            for r, c in zip(*linear_sum_assignment(second), strict=True):
                if second[r, c] < INFEASIBLE:
                    matches.append((free_tracks[int(r)], free_people[int(c)]))
                    box_only.add(free_people[int(c)])
        return matches, box_only

    def _measurement_sigma(self, person: Person) -> float:
        reported = float(person.position_stddev[ROOT])
        floor = self.config.measurement_sigma_m
        return max(reported, floor) if np.isfinite(reported) else floor

    def _explained(self, kalman: RootKalman, person: Person) -> bool:
        """Whether the person's root lies within ``EXPLAINED_SIGMAS`` of the track's predicted
        root (the filter's sigma and the root's own): a root refused for where its box is (a
        suspect) that is where its track expects it is published as measured."""
        sigma = math.hypot(kalman.position_sigma, self._measurement_sigma(person))
        return float(np.linalg.norm(person.positions[ROOT] - kalman.position)) <= EXPLAINED_SIGMAS * sigma

    def _monocular(self, person: Person) -> bool:
        """Whether the person's root was placed without the sensor's depth (MONOCULAR) and is
        noisier along its ray than ``measurement_sigma_m`` (a pelvis inferred from a measured
        hip is INFERRED too, but as good as the sensor's)."""
        reported = float(person.position_stddev[ROOT])
        noisy = np.isfinite(reported) and reported > self.config.measurement_sigma_m
        return bool(noisy and int(person.depth_sources[ROOT]) in MONOCULAR)

    def _update_track(self, track: Track, person: Person, use_root: bool = True, filtered: bool = False) -> None:
        """Take the person into the track; ``use_root``: the person's root is known and
        trusted; ``filtered``: the track's filter has already taken it
        (:func:`~.kalman.update_all`)."""
        if use_root:
            if track.kalman is None:
                root = person.positions[ROOT].astype(np.float64)
                track.kalman = RootKalman(root, self._measurement_sigma(person), self.config.initial_velocity_sigma)
            elif not filtered:
                track.kalman.update(person.positions[ROOT].astype(np.float64), self._measurement_sigma(person))
            track.updates_3d += 1
            track.last_root = track.kalman.position
            if self.config.smooth_monocular_root and self._monocular(person):
                _place_at_track(person, track.kalman, measured=True)
        elif track.kalman is not None:
            # The new box belongs to the predicted root of this frame: moving it later by
            # the prediction since the last 3D update would count that motion twice.
            track.last_root = track.kalman.position
            if self.config.hold_refused_root and has_root(person) and not self._explained(track.kalman, person):
                _place_at_track(person, track.kalman, measured=False)
        track.box = np.asarray(person.detection.box, dtype=np.float64)
        track.person = person
        track.turn = None
        track.hits += 1
        track.time_since_update_s = 0.0
        if track.confirmed or track.hits >= self.config.min_hits:
            track.confirmed = True
            track.state = TrackingState.TRACKED
        else:
            track.state = TrackingState.NEW
        self._label(person, track)

    def _start_track(self, person: Person) -> None:
        track = Track(track_id=self._next_id, box=np.asarray(person.detection.box, dtype=np.float64), person=person)
        self._next_id += 1
        if has_root(person):
            root = person.positions[ROOT].astype(np.float64)
            track.kalman = RootKalman(root, self._measurement_sigma(person), self.config.initial_velocity_sigma)
            track.updates_3d = 1
            track.last_root = root.copy()
        if self.config.min_hits <= 1:
            track.confirmed = True
            track.state = TrackingState.TRACKED
        self.tracks.append(track)
        self._label(person, track)

    def _alive(self, track: Track, ahead_s: float = 0.0) -> bool:
        """Whether the track has not coasted beyond its limit (``ahead_s`` later)."""
        limit = self.config.max_coast_s if track.confirmed else self.config.new_track_coast_s
        return track.time_since_update_s + ahead_s <= limit + 1e-9

    def _label(self, person: Person, track: Track) -> None:
        person.track_id = track.track_id
        person.tracking_state = track.state
        person.velocity = self._known_velocity(track)

    def _known_velocity(self, track: Track) -> FloatArray:
        """The track's velocity, or NaN (unknown) before two 3D measurements (the filter's
        zero is a guess then) and while the filter knows it no better than
        ``max_velocity_sigma``: a root that wanders by half a metre between frames makes a
        still person walk at 1-2 m/s for a second (docs/evaluation.md, "Where the people
        stay")."""
        bound = self.config.max_velocity_sigma
        kalman = track.kalman
        if kalman is None or track.updates_3d < 2 or (bound > 0 and kalman.velocity_sigma > bound):
            return np.full(3, np.nan)
        return kalman.velocity

    def _predicted_person(self, track: Track) -> Person:
        """A LOST track's last person at the predicted root (the skeleton and feet moved with
        it and turned with the camera since, the root's sigma the coasting filter's, no joint
        measured), with the velocity the filter still knows (:meth:`_known_velocity`)."""
        person = copy.deepcopy(track.person)
        if track.turn is not None and has_root(person):  # the body turned with the camera's axes, not the robot
            root = person.positions[ROOT].copy()
            person.positions = root + (person.positions - root) @ track.turn.T
            person.feet = root + (person.feet - root) @ track.turn.T
        if track.kalman is not None and has_root(person):
            _place_at_track(person, track.kalman, measured=False)
            person.velocity = self._known_velocity(track)
        person.detection.box = track.predicted_box(self.camera)
        person.pixels = np.full_like(person.pixels, np.nan)
        person.track_id = track.track_id
        person.tracking_state = TrackingState.LOST
        return person
