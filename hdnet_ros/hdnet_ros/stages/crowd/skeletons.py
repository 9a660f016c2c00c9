"""The crowd stage's view of a frame's 2D skeletons: arrays over all people at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import DERIVED_JOINTS, LEFT_SHOULDER, NECK, NUM_COCO_JOINTS, PELVIS, RIGHT_SHOULDER
from hdnet_ros.metrics import COCO_SIGMAS
from hdnet_ros.people import Person
from hdnet_ros.skeleton import BONE_FRACTIONS

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

TORSO_FRACTION = BONE_FRACTIONS[(PELVIS, NECK)]  # neck to pelvis, of stature
SHOULDER_FRACTION = 2.0 * BONE_FRACTIONS[(NECK, LEFT_SHOULDER)]  # shoulder to shoulder


@dataclass
class Skeletons:
    """P people's keypoints: pixels [P,J,2] (NaN: not seen), scores [P,J], boxes [P,4],
    detection scores [P]. Edited in place by the crowd rules, written back with :meth:`write_to`."""

    pixels: FloatArray
    scores: FloatArray
    boxes: FloatArray
    box_scores: FloatArray

    @classmethod
    def of(cls, people: list[Person]) -> Skeletons:
        count = len(people)
        return cls(
            np.array([p.pixels for p in people], dtype=np.float64).reshape(count, -1, 2),
            np.array([p.scores for p in people], dtype=np.float64).reshape(count, -1),
            np.array([p.detection.box for p in people], dtype=np.float64).reshape(count, 4),
            np.array([p.detection.score for p in people], dtype=np.float64),
        )

    def subset(self, rows: npt.NDArray[np.intp]) -> Skeletons:
        """The people ``rows`` (copies)."""
        return Skeletons(self.pixels[rows], self.scores[rows], self.boxes[rows], self.box_scores[rows])

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def seen(self) -> BoolArray:
        return np.all(np.isfinite(self.pixels), axis=-1)

    def body_scale(self) -> FloatArray:
        """Each person's stature in pixels as far as the 2D view tells [P]: the box's longer
        side, or the torso's length or the shoulders' width over their share of stature,
        whichever is longest (a crouching or cut-off person's box is shorter than their
        stature; foreshortening only shortens)."""
        boxes = self.boxes
        longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        torso = np.linalg.norm(self.pixels[:, NECK] - self.pixels[:, PELVIS], axis=-1) / TORSO_FRACTION
        shoulders = np.linalg.norm(self.pixels[:, LEFT_SHOULDER] - self.pixels[:, RIGHT_SHOULDER], axis=-1)
        return np.fmax(np.fmax(longer, _unknown_as_zero(torso)), _unknown_as_zero(shoulders / SHOULDER_FRACTION))

    def reject(self, mask: BoolArray) -> None:
        """Unsee the joints ``mask`` [P,J] (pixels NaN, score 0); midpoints follow."""
        self.pixels[mask] = np.nan
        self.scores[mask] = 0.0
        self.derive_midpoints()

    def derive_midpoints(self) -> None:
        """Pelvis and neck as midpoints of their two joints (NaN unless both are seen),
        their scores the lower of the two."""
        for joint, (a, b) in DERIVED_JOINTS.items():
            self.pixels[:, joint] = (self.pixels[:, a] + self.pixels[:, b]) / 2.0
            self.scores[:, joint] = np.minimum(self.scores[:, a], self.scores[:, b])

    def write_to(self, people: list[Person]) -> None:
        for index, person in enumerate(people):
            person.pixels = self.pixels[index]
            person.scores = self.scores[index]


_LARGEST = np.finfo(np.float64).max


def _unknown_as_zero(lengths: FloatArray) -> FloatArray:
    """``np.nan_to_num(lengths, nan=0.0)`` of lengths (never negative): NaN -> 0, inf -> the
    largest float, in three ufunc calls where nan_to_num makes about ten (the crowd rules
    ask for the people's scale three times a frame)."""
    return np.where(np.isnan(lengths), 0.0, np.minimum(lengths, _LARGEST))


def pairwise_oks(skeletons: Skeletons, min_common: int = 4, larger: bool = False) -> FloatArray:
    """COCO's OKS between every two skeletons [P,P] over the COCO joints both have (area:
    the smaller of the two boxes, the larger with ``larger``); NaN where fewer than
    ``min_common`` joints are shared."""
    pixels = skeletons.pixels[:, :NUM_COCO_JOINTS]
    seen = np.all(np.isfinite(pixels), axis=-1)
    boxes = skeletons.boxes
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    pair_area = (np.maximum if larger else np.minimum)(area[:, None], area[None, :])
    d2 = np.sum((pixels[:, None] - pixels[None, :]) ** 2, axis=-1)  # [P,P,17]
    both = seen[:, None] & seen[None, :]
    terms = np.exp(-np.nan_to_num(d2, nan=np.inf) / (2.0 * pair_area[..., None] * (2.0 * COCO_SIGMAS) ** 2 + 1e-9))
    common = both.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        similarity = np.sum(np.where(both, terms, 0.0), axis=-1) / common
    return np.where(common >= min_common, similarity, np.nan)


def pair_oks(
    skeletons: Skeletons,
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
    min_common: int = 4,
    larger: bool = False,
) -> FloatArray:
    """:func:`pairwise_oks` of the pairs ``rows[k]``, ``cols[k]`` only [K]: the same
    arithmetic on the same values, so the same numbers to the bit (``test_crowd_kernels``)."""
    pixels = skeletons.pixels[:, :NUM_COCO_JOINTS]
    seen = np.all(np.isfinite(pixels), axis=-1)
    boxes = skeletons.boxes
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    pair_area = (np.maximum if larger else np.minimum)(area[rows], area[cols])
    d2 = np.sum((pixels[rows] - pixels[cols]) ** 2, axis=-1)  # [K,17]
    both = seen[rows] & seen[cols]
    terms = np.exp(-np.nan_to_num(d2, nan=np.inf) / (2.0 * pair_area[..., None] * (2.0 * COCO_SIGMAS) ** 2 + 1e-9))
    common = both.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        similarity = np.sum(np.where(both, terms, 0.0), axis=-1) / common
    return np.where(common >= min_common, similarity, np.nan)
