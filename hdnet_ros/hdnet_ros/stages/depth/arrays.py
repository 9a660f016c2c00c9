"""The depth stage's view of a frame's people: arrays over all people and joints at once.

Every step of the stage works on these arrays ([P,J,...], P people, J joints of
:mod:`hdnet_ros.joints`) instead of one person at a time, so that its cost is a fixed
number of numpy calls per frame whatever the crowd.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import DERIVED_JOINTS, FACE_JOINTS, NUM_JOINTS
from hdnet_ros.people import DepthSource, Person
from hdnet_ros.stages.depth.floor import ANKLES, MIN_TRUNCATION_MARGIN_PX, TRUNCATION_MARGIN
from hdnet_ros.stages.depth.observe import observe

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Observed:
    """What the 2D stage saw of every person.

    The rays and normalised coordinates of unseen joints are those of pixel (0, 0): they
    are never used, but keep the arrays free of NaN for the vectorised steps.
    """

    pixels: FloatArray  # [P,J,2] image pixels, NaN where not seen
    seen: BoolArray  # [P,J]
    normalized: FloatArray  # [P,J,2] undistorted normalised image coordinates
    rays: FloatArray  # [P,J,3] unit viewing rays
    boxes: FloatArray  # [P,4] x_min, y_min, x_max, y_max
    # [P,2] the left and right ankles the feet's floor cue may take: seen, of a person the
    # image's bottom does not cut (floor.TRUNCATION_MARGIN); None: every seen ankle.
    floor_ankles: BoolArray | None = None

    @classmethod
    def of(cls, people: list[Person], camera: CameraModel) -> Observed:
        count = len(people)
        pixels = np.array([p.pixels for p in people], dtype=np.float64).reshape(count, NUM_JOINTS, 2)
        boxes = np.array([p.detection.box for p in people], dtype=np.float64).reshape(count, 4)
        margin = np.maximum(MIN_TRUNCATION_MARGIN_PX, TRUNCATION_MARGIN * (boxes[:, 3] - boxes[:, 1]))
        uncut = ~(boxes[:, 3] >= camera.height - 1 - margin)[:, None]  # NaN boxes: uncut
        if not camera.has_distortion:  # one compiled pass (:mod:`.observe`), the same numbers
            seen = np.empty((count, NUM_JOINTS), dtype=np.bool_)
            normalized, rays = np.empty((count, NUM_JOINTS, 2)), np.empty((count, NUM_JOINTS, 3))
            observe(pixels, camera.cx, camera.cy, camera.fx, camera.fy, seen, normalized, rays)
            return cls(pixels, seen, normalized, rays, boxes, seen[:, ANKLES] & uncut)
        seen = np.all(np.isfinite(pixels), axis=-1)
        flat = np.where(seen[..., None], pixels, 0.0).reshape(-1, 2)
        normalized = camera.normalized_rays(flat)
        rays = np.concatenate((normalized, np.ones((len(normalized), 1))), axis=1)
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        shaped = normalized.reshape(count, NUM_JOINTS, 2), rays.reshape(count, NUM_JOINTS, 3)
        return cls(pixels, seen, *shaped, boxes, seen[:, ANKLES] & uncut)

    def __len__(self) -> int:
        return len(self.seen)

    def face_centres(self) -> tuple[FloatArray, BoolArray]:
        """The centre of each person's seen face keypoints [P,2] (NaN where none was seen)
        and whether any was seen [P]."""
        face = np.array(FACE_JOINTS)
        seen = self.seen[:, face]
        any_face: BoolArray = np.any(seen, axis=1)
        total = np.sum(np.where(seen[..., None], self.pixels[:, face], 0.0), axis=1)
        centre = total / np.maximum(seen.sum(axis=1), 1)[:, None]
        return np.where(any_face[:, None], centre, np.nan), any_face


@dataclass
class Lifted:
    """The stage's result for every person: 3D joints, their 1-sigma and depth source."""

    positions: FloatArray  # [P,J,3] metres, NaN where unknown
    sigma: FloatArray  # [P,J]
    sources: npt.NDArray[np.uint8]  # [P,J] DepthSource

    @classmethod
    def empty(cls, count: int) -> Lifted:
        return cls(
            np.full((count, NUM_JOINTS, 3), np.nan),
            np.full((count, NUM_JOINTS), np.nan),
            np.zeros((count, NUM_JOINTS), dtype=np.uint8),
        )

    @property
    def valid(self) -> BoolArray:
        return np.all(np.isfinite(self.positions), axis=-1)

    def complete_derived(self) -> None:
        """Midpoint joints (pelvis, neck) from their two joints where those have positions.

        A midpoint of an inferred joint is inferred; otherwise it has the larger of the two
        sources (sensor < network < fused)."""
        valid = self.valid
        for joint, (a, b) in DERIVED_JOINTS.items():
            fill = ~valid[:, joint] & valid[:, a] & valid[:, b]
            if not np.any(fill):
                continue
            self.positions[fill, joint] = (self.positions[fill, a] + self.positions[fill, b]) / 2.0
            self.sigma[fill, joint] = np.hypot(self.sigma[fill, a], self.sigma[fill, b]) / 2.0
            sa, sb = self.sources[fill, a], self.sources[fill, b]
            inferred = (sa == DepthSource.INFERRED) | (sb == DepthSource.INFERRED)
            self.sources[fill, joint] = np.where(inferred, DepthSource.INFERRED, np.maximum(sa, sb))

    def write_to(self, people: list[Person]) -> None:
        for index, person in enumerate(people):
            person.positions = self.positions[index]
            person.position_stddev = self.sigma[index]
            person.depth_sources = self.sources[index]

    def write_feet_to(self, people: list[Person]) -> None:
        for index, person in enumerate(people):
            person.feet = self.positions[index]
            person.feet_stddev = self.sigma[index]
            person.feet_sources = self.sources[index]


@dataclass
class RootCandidate:
    """One way of placing every person's root [P]: point, 1-sigma, source (NONE: none)."""

    point: FloatArray  # [P,3]
    sigma: FloatArray  # [P]
    source: npt.NDArray[np.uint8]  # [P]

    @classmethod
    def none(cls, count: int) -> RootCandidate:
        return cls(np.full((count, 3), np.nan), np.full(count, np.nan), np.zeros(count, dtype=np.uint8))

    @property
    def exists(self) -> BoolArray:
        return self.source != DepthSource.NONE


@dataclass
class RootCandidates:
    sensor: RootCandidate
    network_z: FloatArray  # [P] a root-depth network's z [m] (NaN: none), for fusion with the sensor
    network_sigma: FloatArray  # [P]
    network: RootCandidate  # that depth on the pelvis pixel's ray
    prior: RootCandidate


class MaskRectangle(Protocol):
    """One person's mask over an image rectangle (the segmentation stage's output):
    ``inside`` [h,w] covers image pixels x0..x0+w-1, y0..y0+h-1."""

    @property
    def x0(self) -> int: ...

    @property
    def y0(self) -> int: ...

    @property
    def inside(self) -> BoolArray: ...


@dataclass(frozen=True)
class PersonMasks:
    """Which image pixels are each person's: the rectangles of a segmentation network's
    masks, stacked (padded with "not the person")."""

    inside: BoolArray  # [P,H,W]; person p's rectangle starts at image pixel (x0[p], y0[p])
    x0: IntArray  # [P]
    y0: IntArray  # [P]
    present: BoolArray  # [P] False: no mask for that person (all pixels count)

    @classmethod
    def stack(cls, masks: Sequence[MaskRectangle | None]) -> PersonMasks:
        height = max((m.inside.shape[0] for m in masks if m is not None), default=0)
        width = max((m.inside.shape[1] for m in masks if m is not None), default=0)
        inside = np.zeros((len(masks), height, width), dtype=bool)
        x0 = np.zeros(len(masks), dtype=np.intp)
        y0 = np.zeros(len(masks), dtype=np.intp)
        present = np.zeros(len(masks), dtype=bool)
        for index, mask in enumerate(masks):
            if mask is None:
                continue
            h, w = mask.inside.shape
            inside[index, :h, :w] = mask.inside
            x0[index], y0[index], present[index] = mask.x0, mask.y0, True
        return cls(inside, x0, y0, present)

    def contains(self, owner: npt.ArrayLike, u: IntArray, v: IntArray) -> BoolArray:
        """Whether integer pixels (u, v) [...] are person ``owner``'s (broadcast together)."""
        owner_b = np.broadcast_to(np.asarray(owner, dtype=np.intp), np.broadcast_shapes(np.shape(owner), u.shape))
        rows, cols = v - self.y0[owner_b], u - self.x0[owner_b]
        _, height, width = self.inside.shape
        if not (height and width):  # no mask this frame (the 3D stage skipped everyone): nothing to index
            return ~self.present[owner_b]
        within = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        hit = self.inside[owner_b, np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)]
        return ~self.present[owner_b] | (within & hit)


@dataclass
class Facing:
    """The torso's yaw per person: their left points along (cos, 0, sin) in the camera
    frame and their forward along (sin, 0, -cos); cos = 1 faces the camera."""

    cos: FloatArray  # [P]
    sin: FloatArray  # [P]
    known: BoolArray  # [P] False where it cannot be told


@dataclass
class Measured:
    """The sensor's measurement of every person."""

    points: FloatArray  # [P,J,3] NaN where unmeasured
    sigma: FloatArray  # [P,J]
    occluded: BoolArray  # [P,J] an occluder was seen in front of the joint
    inferred: BoolArray  # [P,J] placed by the self-occlusion reasoning (DepthSource.INFERRED)
    facing: Facing
