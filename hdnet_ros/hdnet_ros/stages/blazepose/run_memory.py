"""What the BlazePose schedule remembers of each person between frames: when the network
last ran on them, its last accepted estimate (with the person's box then) and how many
crops in a row it rejected.

Tracked people are found through the person object the tracker hands back as their
track's last state (``Tracker.expected``): the memory follows each track from person to
person and goes with the track (a weak reference: nothing is kept alive for it). People
the pipeline does not track (those it drops for too few 3D joints: often the ones whose
crop the network rejected, in frames without depth) are found by their box overlapping
the box of a recent run, so that they are not retried as new every frame.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.people import Person
from hdnet_ros.stages.blazepose.decode import BLAZEPOSE_OF_COCO, FOOT_LANDMARKS, BodyEstimate
from hdnet_ros.stages.blazepose.mask import PersonMask
from hdnet_ros.stages.blazepose.root_fit import MonocularRoot
from hdnet_ros.stages.keypoints2d import Keypoints2D, with_derived_joints
from hdnet_ros.stages.tracking.boxes import iou_matrix

FloatArray = npt.NDArray[np.float64]
# An untracked person continues a remembered box at this IoU (the tracker's own 2D-only gate).
BOX_IOU = 0.3
_COCO = np.array(BLAZEPOSE_OF_COCO)
_FEET = np.array(FOOT_LANDMARKS)


@dataclass(frozen=True)
class Estimate:
    """An accepted estimate as the people take it and their tracks carry it: the network's
    answer, and its landmarks as keypoints and its feet at the keypoint threshold (made
    once, used in every frame the track carries them). ``mask_frame``: the schedule's frame
    whose crop made the answer's mask (an earlier run's where the mask was kept)."""

    body: BodyEstimate
    keypoints: Keypoints2D
    feet_pixels: FloatArray
    feet_scores: FloatArray
    mask_frame: int = 0

    @classmethod
    def of(cls, body: BodyEstimate, min_score: float, frame: int = 0) -> Estimate:
        return cls(body, body.keypoints(min_score), *body.feet_keypoints(min_score), frame)

    @classmethod
    def all_of(cls, bodies: Sequence[BodyEstimate], min_score: float, frame: int = 0) -> list[Estimate]:
        """:meth:`of` for a frame's estimates at once (the same values, from one array pass;
        each estimate's arrays are its own rows)."""
        if not bodies:
            return []
        pixels = np.stack([body.pixels for body in bodies])
        visibility = np.stack([body.visibility for body in bodies])
        keypoints, scores = with_derived_joints(pixels[:, _COCO], visibility[:, _COCO], min_score)
        feet_scores = visibility[:, _FEET]
        feet_pixels = np.where((feet_scores >= min_score)[..., None], pixels[:, _FEET], np.nan)
        return [
            cls(body, Keypoints2D(keypoints[i], scores[i]), feet_pixels[i], feet_scores[i], frame)
            for i, body in enumerate(bodies)
        ]

    def with_mask(self, mask: PersonMask, frame: int) -> Estimate:
        """This estimate with an earlier run's ``mask`` (moved to this one's box), made in
        schedule frame ``frame``."""
        return dataclasses.replace(self, body=dataclasses.replace(self.body, mask=mask), mask_frame=frame)


@dataclass(frozen=True)
class LastRun:
    """The network's last run on someone: its frame, the last estimate it accepted (None:
    none yet) with the person's box at that estimate, and the crops in a row it rejected up
    to this run (0: it saw the person). ``fitted``: the estimate's skeleton fitted to the 2D
    keypoints of its frame (None: too few seen), for the :attr:`depth_scale`. ``keypoints``:
    the 2D keypoints (pixels [J,2], scores [J]) of the run's frame, whether its crop was
    accepted or rejected (None: none kept), to tell whether the person's pose has changed
    since (:func:`~.stillness.pose_changes`). ``moved``: the camera's move since the estimate
    (``p_now = moved p_then``, 4x4; None: it has not moved), which :attr:`root` and
    :attr:`fitted_now` take into this frame's camera (:meth:`RunMemory.follow`)."""

    frame: int
    estimate: Estimate | None
    box: FloatArray
    rejections: int
    fitted: FloatArray | None = None
    keypoints: tuple[FloatArray, FloatArray] | None = None
    moved: FloatArray | None = None

    @property
    def network_root(self) -> FloatArray | None:
        """The network's own monocular root at its last accepted estimate, in the camera of
        its frame (None: none)."""
        root = self.estimate.body.root if self.estimate is not None else None
        return root.position if isinstance(root, MonocularRoot) else None

    @property
    def root(self) -> FloatArray | None:
        """Where the carried pose should fit: the network's own monocular root at its run,
        in this frame's camera (None: none). Comparing with the skeleton's fit to that frame's
        keypoints instead (like for like) saved 10 of 289 crops on the sample frames' sequence
        but let poses that had changed be carried: joint error with depth 97 -> 126 mm
        (docs/benchmarks.md, perf11)."""
        return self._now(self.network_root)

    @property
    def fitted_now(self) -> FloatArray | None:
        """:attr:`fitted` in this frame's camera (None: none)."""
        return self._now(self.fitted)

    def after(self, motion: FloatArray) -> LastRun:
        """This run as seen from a camera that has since moved by ``motion`` (4x4, ``p_new =
        motion p_old``)."""
        return dataclasses.replace(self, moved=motion if self.moved is None else motion @ self.moved)

    def _now(self, point: FloatArray | None) -> FloatArray | None:
        if point is None or self.moved is None:
            return point
        return np.asarray(self.moved[:3, :3] @ point + self.moved[:3, 3], dtype=np.float64)

    @property
    def depth_scale(self) -> float:
        """The network's root depth over its skeleton's fit to the keypoints, at its estimate
        (1: either missing): the two 2D sources' disagreement on the person's size, which a
        carried fit keeps (:func:`~.carried_fit.anchored`)."""
        network = self.network_root
        if network is None or self.fitted is None or not self.fitted[2] > 0.0:
            return 1.0
        scale = float(network[2] / self.fitted[2])
        return scale if np.isfinite(scale) and scale > 0.0 else 1.0


class RunMemory:
    """Each tracked or recently seen person's :class:`LastRun`; boxes are forgotten after
    ``box_frames`` frames without a run."""

    def __init__(self, box_frames: int) -> None:
        self.box_frames = box_frames
        self._tracks: dict[int, tuple[weakref.ref[Person], LastRun]] = {}
        self._boxes: list[tuple[FloatArray, LastRun]] = []

    def reset(self) -> None:
        self._tracks.clear()
        self._boxes.clear()

    def last_runs(self, people: Sequence[Person], expected: Sequence[Person | None]) -> list[LastRun | None]:
        """Each person's last run: through their track (``expected`` [P]), else their box."""
        result = [self._track(previous) if previous is not None else None for previous in expected]
        untracked = [i for i, previous in enumerate(expected) if previous is None]
        if untracked and self._boxes:
            overlap = iou_matrix([people[i].detection.box for i in untracked], [box for box, _ in self._boxes])
            for row, index in enumerate(untracked):
                best = int(np.argmax(overlap[row]))
                if overlap[row, best] >= BOX_IOU:
                    result[index] = self._boxes[best][1]
        return result

    def record(
        self,
        frame: int,
        people: Sequence[Person],
        expected: Sequence[Person | None],
        last_runs: Sequence[LastRun | None],
        runs: Sequence[LastRun | None],
    ) -> None:
        """This frame's runs (``runs`` [P], None: not run); the others keep ``last_runs``."""
        boxes = []
        for person, previous, last, now in zip(people, expected, last_runs, runs, strict=True):
            current = now if now is not None else last
            if current is None:
                continue
            self._tracks[id(person)] = (weakref.ref(person), current)
            if previous is None:
                boxes.append((np.asarray(person.detection.box, dtype=np.float64), current))
        self._tracks = {key: entry for key, entry in self._tracks.items() if entry[0]() is not None}
        self._boxes = [(box, run) for box, run in boxes if frame - run.frame < self.box_frames]

    def follow(self, motion: FloatArray) -> None:
        """Everyone's last run as seen from the camera after its ``motion`` (4x4, ``p_new =
        motion p_old``; the tracker's :attr:`~hdnet_ros.stages.tracking.Tracker.camera_motion`)."""
        self._tracks = {key: (person, run.after(motion)) for key, (person, run) in self._tracks.items()}
        self._boxes = [(box, run.after(motion)) for box, run in self._boxes]

    def _track(self, previous: Person) -> LastRun | None:
        entry = self._tracks.get(id(previous))
        return entry[1] if entry is not None and entry[0]() is previous else None
