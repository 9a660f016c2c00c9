"""Published 2D skeletons against annotated people: the crowd benchmark's measures.

- **Matching**: skeletons and annotated people are paired one to one by their boxes
  (Hungarian on IoU, a pair needs IoU >= 0.5); recall is the share of annotated people
  with a skeleton.
- **OKS** (COCO's, :func:`hdnet_ros.metrics.oks`) per annotated person; a missed person
  scores 0. **PCK@0.1**: labelled joints within 0.1 x the person's box diagonal; a missed
  person's joints are misses.
- **Joints taken from another person**: a skeleton's *own* person is its match, or, for a
  skeleton without one, the annotated person its box overlaps most (IoU >= 0.25; less: a
  person nobody annotated, not judged). A published joint is taken from another person B
  when it lies closer to B's same (labelled) joint than to its own person's, by more than
  the own person's PCK radius (0.1 x box diagonal): d(joint, B) + radius < d(joint, own).
  A joint whose own counterpart is unlabelled is judged against its own person's nearest
  labelled joint instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from hdnet_ros.evaluation.annotations import AnnotatedPerson
from hdnet_ros.metrics import oks, pck_hits
from hdnet_ros.stages.tracking.boxes import iou_matrix

FloatArray = npt.NDArray[np.float64]

MATCH_IOU = 0.5
OWNER_IOU = 0.25
PCK_FRACTION = 0.1


@dataclass(frozen=True)
class Skeleton2D:
    """A published person as the benchmark sees it: box and COCO-17 pixels (NaN: not published)."""

    box: FloatArray
    pixels: FloatArray


@dataclass
class PhotoScore:
    annotated: int = 0
    detected: int = 0
    oks: list[float] = field(default_factory=list)  # per annotated person, 0 when missed
    pck_hits: int = 0
    pck_joints: int = 0
    published: int = 0
    skeletons_with_taken_joints: int = 0
    taken_joints: int = 0

    def add(self, other: PhotoScore) -> None:
        self.annotated += other.annotated
        self.detected += other.detected
        self.oks += other.oks
        self.pck_hits += other.pck_hits
        self.pck_joints += other.pck_joints
        self.published += other.published
        self.skeletons_with_taken_joints += other.skeletons_with_taken_joints
        self.taken_joints += other.taken_joints

    @property
    def recall(self) -> float:
        return self.detected / self.annotated if self.annotated else float("nan")

    @property
    def mean_oks(self) -> float:
        return float(np.mean(self.oks)) if self.oks else float("nan")

    @property
    def pck(self) -> float:
        return self.pck_hits / self.pck_joints if self.pck_joints else float("nan")


def match(skeletons: Sequence[Skeleton2D], people: Sequence[AnnotatedPerson]) -> dict[int, int]:
    """{annotated person index: skeleton index}, one to one, IoU >= MATCH_IOU."""
    if not skeletons or not people:
        return {}
    overlap = iou_matrix([p.box for p in people], [s.box for s in skeletons])
    rows, cols = linear_sum_assignment(-overlap)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if overlap[r, c] >= MATCH_IOU}


def owners(skeletons: Sequence[Skeleton2D], people: Sequence[AnnotatedPerson], matched: dict[int, int]) -> list[int]:
    """Each skeleton's own annotated person (-1: none judged), see the module doc."""
    result = [-1] * len(skeletons)
    for person, skeleton in matched.items():
        result[skeleton] = person
    if people:
        overlap = iou_matrix([s.box for s in skeletons], [p.box for p in people])
        for index in range(len(skeletons)):
            if result[index] < 0 and overlap[index].max() >= OWNER_IOU:
                result[index] = int(np.argmax(overlap[index]))
    return result


def taken_joints(skeleton: Skeleton2D, own: AnnotatedPerson, others: Sequence[AnnotatedPerson]) -> int:
    """How many of the skeleton's published joints lie on another person (module doc)."""
    published = np.all(np.isfinite(skeleton.pixels), axis=1)
    if not others or not np.any(published):
        return 0
    radius = PCK_FRACTION * own.diagonal
    own_points = own.keypoints
    labelled = own.labelled
    # Distance to the own person's same joint, or to its nearest labelled joint where unlabelled.
    same = np.linalg.norm(skeleton.pixels - own_points, axis=1)
    nearest = np.min(
        np.linalg.norm(skeleton.pixels[:, None, :] - own_points[None, labelled, :], axis=2), axis=1, initial=np.inf
    )
    own_distance = np.where(labelled, same, nearest)
    other_points = np.stack([o.keypoints for o in others])  # [O,17,2]
    other_distance = np.linalg.norm(skeleton.pixels[None] - other_points, axis=2)  # NaN where unlabelled
    with np.errstate(invalid="ignore"):
        closer = np.any(other_distance + radius < own_distance[None], axis=0)
    return int(np.count_nonzero(published & closer))


def score_photo(skeletons: Sequence[Skeleton2D], people: Sequence[AnnotatedPerson]) -> PhotoScore:
    """Every measure of one photo."""
    result = PhotoScore(annotated=len(people), published=len(skeletons))
    matched = match(skeletons, people)
    result.detected = len(matched)
    for index, person in enumerate(people):
        labelled = person.labelled
        if index in matched:
            pixels = skeletons[matched[index]].pixels
            result.oks.append(oks(pixels, person.keypoints, labelled, person.area))
        else:
            pixels = np.full_like(person.keypoints, np.nan)
            result.oks.append(0.0)
        hits, joints = pck_hits(pixels, person.keypoints, labelled, PCK_FRACTION * person.diagonal)
        result.pck_hits += hits
        result.pck_joints += joints
    for skeleton, owner in zip(skeletons, owners(skeletons, people, matched), strict=True):
        if owner < 0:
            continue
        others = [p for i, p in enumerate(people) if i != owner]
        taken = taken_joints(skeleton, people[owner], others)
        result.taken_joints += taken
        result.skeletons_with_taken_joints += int(taken > 0)
    return result
