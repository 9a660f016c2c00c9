"""Accuracy metrics for absolute 3D multi-person pose and tracking, in metres.

Definitions follow the reference implementations (see docs/evaluation.md):

- MRPE (HDNet / 3DMPPE): mean Euclidean root error, and the mean absolute error per axis.
- MPJPE: mean Euclidean joint error, optionally root-relative (each skeleton minus its root).
- 3DPCK (MuPoTS): share of annotated joints with an error below 150 mm; a joint without a
  prediction counts as a miss. PCK_abs is camera-centric, PCK_rel root-relative.
- AP_root (3DMPPE MuPoTS_eval.py): predictions sorted by score; each is matched to the nearest
  valid GT root of its frame by 3D distance; it is a true positive if that distance is below
  the threshold and that GT is not matched yet; AP = sum_n P[n+1] (R[n+1] - R[n]) without
  interpolation, recall over all valid GT.
- PCOD (SMAP mupots_smap.m, cal_ordinal): for each pair of people in a frame, the ordinal
  depth of their roots is correct when both depth differences have the same sign, or when
  both are within the 300 mm tie band.
- CLEAR MOT (Bernardin & Stiefelhagen 2008): per frame, correspondences from the previous
  frame are kept while still within the threshold, the rest are assigned with the Hungarian
  algorithm; an identity switch is a GT matched to another hypothesis than last time.

And in 2D, on annotated photos (pixels):

- OKS (COCO keypoint evaluation): the mean over a person's labelled joints of
  exp(-d^2 / (2 s^2 k^2)), s^2 the person's area, k = 2 sigma with COCO's per-joint sigmas;
  a joint without a prediction scores 0.
- PCK@a: share of labelled joints within a x the person's box diagonal (or another scale).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from hdnet_ros.joints import BONES, ROOT

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

PCK_THRESHOLD_M = 0.15
AP_THRESHOLDS_M = (0.25, 0.20, 0.15, 0.10)
PCOD_TIE_M = 0.30
# COCO's per-keypoint OKS constants (COCO-17 order).
COCO_SIGMAS: npt.NDArray[np.float64] = (
    np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89])
    / 10.0
)


@dataclass(frozen=True)
class RootError:
    """MRPE and its per-axis parts [m] over ``count`` root pairs."""

    mrpe: float
    x: float
    y: float
    z: float
    count: int


def mrpe(pred_roots: npt.ArrayLike, gt_roots: npt.ArrayLike) -> RootError:
    """Mean root position error over the pairs whose prediction is valid (finite)."""
    pred = np.asarray(pred_roots, dtype=np.float64).reshape(-1, 3)
    gt = np.asarray(gt_roots, dtype=np.float64).reshape(-1, 3)
    ok = np.all(np.isfinite(pred), axis=1) & np.all(np.isfinite(gt), axis=1)
    if not np.any(ok):
        nan = float("nan")
        return RootError(nan, nan, nan, nan, 0)
    diff = pred[ok] - gt[ok]
    axis = np.mean(np.abs(diff), axis=0)
    return RootError(
        float(np.mean(np.linalg.norm(diff, axis=1))), float(axis[0]), float(axis[1]), float(axis[2]), int(ok.sum())
    )


def _joint_mask(pred: FloatArray, gt: FloatArray, mask: npt.ArrayLike | None) -> BoolArray:
    annotated = np.all(np.isfinite(gt), axis=-1)
    if mask is not None:
        annotated &= np.asarray(mask, dtype=bool)
    return annotated


def _relative(points: FloatArray, root: int) -> FloatArray:
    return points - points[..., root : root + 1, :]


def joint_errors(
    pred: npt.ArrayLike, gt: npt.ArrayLike, mask: npt.ArrayLike | None = None, root_relative: bool = False
) -> tuple[FloatArray, BoolArray]:
    """Per-joint Euclidean errors [N,J] (NaN where no prediction) and the annotated mask.

    Root-relative errors subtract each skeleton's own root (predicted from predicted, true
    from true); a skeleton without a predicted root then has no root-relative joints.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.ndim == 2:
        p, g = p[None], g[None]
        mask = None if mask is None else np.asarray(mask)[None]
    annotated = _joint_mask(p, g, mask)
    if root_relative:
        p, g = _relative(p, ROOT), _relative(g, ROOT)
    errors = np.linalg.norm(p - g, axis=-1)
    return errors, annotated


def mpjpe(
    pred: npt.ArrayLike, gt: npt.ArrayLike, mask: npt.ArrayLike | None = None, root_relative: bool = True
) -> float:
    """Mean per-joint position error over annotated joints that have a prediction."""
    errors, annotated = joint_errors(pred, gt, mask, root_relative)
    if root_relative:
        annotated = annotated & (np.arange(errors.shape[-1]) != ROOT)
    values = errors[annotated & np.isfinite(errors)]
    return float(np.mean(values)) if values.size else float("nan")


def pck3d(
    pred: npt.ArrayLike,
    gt: npt.ArrayLike,
    mask: npt.ArrayLike | None = None,
    threshold: float = PCK_THRESHOLD_M,
    root_relative: bool = False,
) -> float:
    """Share of annotated joints with an error below ``threshold``; missing ones are misses.
    Root-relative PCK leaves the root itself out (its error is zero by construction)."""
    errors, annotated = joint_errors(pred, gt, mask, root_relative)
    if root_relative:
        annotated = annotated & (np.arange(errors.shape[-1]) != ROOT)
    total = int(np.count_nonzero(annotated))
    if total == 0:
        return float("nan")
    with np.errstate(invalid="ignore"):
        hits = annotated & (errors < threshold)
    return float(np.count_nonzero(hits)) / total


@dataclass(frozen=True)
class RootPredictions:
    """One frame's predicted roots with their scores and its valid GT roots."""

    pred_roots: FloatArray  # [P,3], NaN rows = a prediction without a root
    scores: FloatArray  # [P]
    gt_roots: FloatArray  # [G,3] valid GT only


def ap_root(frames: Sequence[RootPredictions], threshold: float) -> float:
    """AP_root exactly as 3DMPPE's MuPoTS evaluation computes it (see the module docstring).

    Frames without valid GT are skipped, as in the reference. A prediction without a root
    cannot be near any GT and counts as a false positive.
    """
    gt_count = sum(len(f.gt_roots) for f in frames)
    if gt_count == 0:
        return float("nan")
    entries: list[tuple[float, int, int, float]] = []  # (score, frame, nearest gt, distance)
    for index, frame in enumerate(frames):
        if len(frame.gt_roots) == 0:
            continue
        roots = np.asarray(frame.pred_roots).reshape(-1, 3)
        for root, score in zip(roots, np.asarray(frame.scores).ravel(), strict=True):
            dist = np.linalg.norm(np.asarray(frame.gt_roots) - root, axis=1)
            if not np.any(np.isfinite(dist)):
                entries.append((float(score), index, -1, float("inf")))
                continue
            nearest = int(np.nanargmin(dist))  # first of equals, like the reference's strict '>'
            entries.append((float(score), index, nearest, float(dist[nearest])))
    # Stable sort by descending score, as Python's list.sort(reverse=True) in the reference.
    order = sorted(range(len(entries)), key=lambda i: -entries[i][0])
    matched: set[tuple[int, int]] = set()
    tp = fp = 0
    precision: list[float] = []
    recall: list[float] = []
    for i in order:
        _, frame_index, gt_index, dist = entries[i]
        if gt_index >= 0 and dist < threshold and (frame_index, gt_index) not in matched:
            matched.add((frame_index, gt_index))
            tp += 1
        else:
            fp += 1
        precision.append(tp / (tp + fp))
        recall.append(tp / gt_count)
    return float(sum(precision[n + 1] * (recall[n + 1] - recall[n]) for n in range(len(precision) - 1)))


def ordinal_correct(pred_delta: float, gt_delta: float, tie: float = PCOD_TIE_M) -> bool:
    """SMAP's cal_ordinal score >= 0: same sign, or both differences inside the tie band."""
    if abs(gt_delta) < tie and abs(pred_delta) < tie:
        return True
    return bool(np.sign(pred_delta) == np.sign(gt_delta))


@dataclass(frozen=True)
class OrdinalCount:
    correct: int
    pairs: int

    @property
    def rate(self) -> float:
        return self.correct / self.pairs if self.pairs else float("nan")


def pcod(frames: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]], tie: float = PCOD_TIE_M) -> OrdinalCount:
    """Percentage of correct ordinal depth over person pairs, pooled over frames.

    Each frame is (pred_root_z [N], gt_root_z [N]) of the same N people; a pair with a
    missing prediction is wrong.
    """
    correct = pairs = 0
    for pred_z, gt_z in frames:
        p = np.asarray(pred_z, dtype=np.float64).ravel()
        g = np.asarray(gt_z, dtype=np.float64).ravel()
        for i in range(len(g)):
            for j in range(i + 1, len(g)):
                pairs += 1
                if np.isfinite(p[i]) and np.isfinite(p[j]) and ordinal_correct(p[i] - p[j], g[i] - g[j], tie):
                    correct += 1
    return OrdinalCount(correct, pairs)


def bone_length_error(pred: npt.ArrayLike, gt: npt.ArrayLike, bones: Sequence[tuple[int, int]] = BONES) -> float:
    """Mean |predicted - true| bone length over bones whose two joints are predicted."""
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.ndim == 2:
        p, g = p[None], g[None]
    a, b = np.array([bone[0] for bone in bones]), np.array([bone[1] for bone in bones])
    pred_len = np.linalg.norm(p[:, a] - p[:, b], axis=-1)
    gt_len = np.linalg.norm(g[:, a] - g[:, b], axis=-1)
    diff = np.abs(pred_len - gt_len)
    values = diff[np.isfinite(diff)]
    return float(np.mean(values)) if values.size else float("nan")


# --- tracking -----------------------------------------------------------------------


@dataclass(frozen=True)
class TrackingFrame:
    """One frame's ground-truth people and tracker hypotheses (ids and root positions)."""

    gt_ids: Sequence[int]
    gt_positions: FloatArray  # [G,3]
    hyp_ids: Sequence[int]
    hyp_positions: FloatArray  # [H,3]; NaN rows cannot be matched


@dataclass
class MotResult:
    gt_count: int = 0
    matches: int = 0
    misses: int = 0
    false_positives: int = 0
    id_switches: int = 0
    distance_sum: float = 0.0
    # (frame, gt id, hyp id) of each match, for velocity and per-track analyses.
    matched_pairs: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def mota(self) -> float:
        if self.gt_count == 0:
            return float("nan")
        return 1.0 - (self.misses + self.false_positives + self.id_switches) / self.gt_count

    @property
    def motp(self) -> float:
        return self.distance_sum / self.matches if self.matches else float("nan")

    @property
    def id_switches_per_1000(self) -> float:
        return 1000.0 * self.id_switches / self.gt_count if self.gt_count else float("nan")


def clear_mot(frames: Sequence[TrackingFrame], threshold: float = 0.5) -> MotResult:
    """CLEAR MOT with 3D root distance below ``threshold`` [m] as the match criterion."""
    result = MotResult()
    current: dict[int, int] = {}  # gt id -> hyp id matched in the previous frame
    last: dict[int, int] = {}  # gt id -> hyp id of its most recent match
    for frame_index, frame in enumerate(frames):
        gt_ids, hyp_ids = list(frame.gt_ids), list(frame.hyp_ids)
        gt_pos = np.asarray(frame.gt_positions, dtype=np.float64).reshape(-1, 3)
        hyp_pos = np.asarray(frame.hyp_positions, dtype=np.float64).reshape(-1, 3)
        dist = (
            np.linalg.norm(gt_pos[:, None, :] - hyp_pos[None, :, :], axis=-1)
            if gt_ids and hyp_ids
            else np.zeros((len(gt_ids), len(hyp_ids)))
        )
        feasible = np.isfinite(dist) & (dist < threshold)
        pairs: dict[int, int] = {}  # gt row -> hyp column
        hyp_col = {h: c for c, h in enumerate(hyp_ids)}
        for row, gid in enumerate(gt_ids):  # keep last frame's correspondences that still hold
            col = hyp_col.get(current.get(gid, -1), -1)
            if col >= 0 and feasible[row, col] and col not in pairs.values():
                pairs[row] = col
        rows = [r for r in range(len(gt_ids)) if r not in pairs]
        cols = [c for c in range(len(hyp_ids)) if c not in pairs.values()]
        if rows and cols:
            sub = dist[np.ix_(rows, cols)]
            cost = np.where(feasible[np.ix_(rows, cols)], sub, 1e6)
            for r, c in zip(*linear_sum_assignment(cost), strict=True):
                if cost[r, c] < 1e6:
                    pairs[rows[r]] = cols[c]
        next_current: dict[int, int] = {}
        for row, col in pairs.items():
            gid, hid = gt_ids[row], hyp_ids[col]
            if gid in last and last[gid] != hid:
                result.id_switches += 1
            last[gid] = hid
            next_current[gid] = hid
            result.distance_sum += float(dist[row, col])
            result.matched_pairs.append((frame_index, gid, hid))
        current = next_current
        result.gt_count += len(gt_ids)
        result.matches += len(pairs)
        result.misses += len(gt_ids) - len(pairs)
        result.false_positives += len(hyp_ids) - len(pairs)
    return result


# --- 2D keypoints -------------------------------------------------------------------


def keypoint_similarity(pred: npt.ArrayLike, truth: npt.ArrayLike, area: float) -> FloatArray:
    """Each joint's OKS term [..., J] (0 where ``pred`` is NaN): exp(-d^2 / (2 area (2 sigma)^2))
    for COCO-17 pixels [..., 17, 2]."""
    p = np.asarray(pred, dtype=np.float64)
    d2 = np.sum((p - np.asarray(truth, dtype=np.float64)) ** 2, axis=-1)
    terms = np.exp(-d2 / (2.0 * area * (2.0 * COCO_SIGMAS) ** 2 + np.spacing(1)))
    return np.where(np.all(np.isfinite(p), axis=-1), terms, 0.0)


def oks(pred: npt.ArrayLike, truth: npt.ArrayLike, labelled: npt.ArrayLike, area: float) -> float:
    """COCO's object keypoint similarity of one person: the mean of
    :func:`keypoint_similarity` over the labelled joints (NaN: none labelled)."""
    mask = np.asarray(labelled, dtype=bool)
    if not np.any(mask):
        return float("nan")
    return float(np.mean(keypoint_similarity(pred, truth, area)[mask]))


def pck_hits(pred: npt.ArrayLike, truth: npt.ArrayLike, labelled: npt.ArrayLike, radius: float) -> tuple[int, int]:
    """(labelled joints predicted within ``radius`` px, labelled joints); an unseen (NaN)
    prediction is a miss."""
    mask = np.asarray(labelled, dtype=bool)
    error = np.linalg.norm(np.asarray(pred, dtype=np.float64) - np.asarray(truth, dtype=np.float64), axis=-1)
    with np.errstate(invalid="ignore"):
        hits = mask & (error <= radius)
    return int(np.count_nonzero(hits)), int(np.count_nonzero(mask))
