"""Metrics against cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hdnet_ros.joints import LEFT_HIP, LEFT_KNEE, NUM_JOINTS, PELVIS, RIGHT_HIP

from hdnet_ros import metrics


def test_mrpe_and_its_axes() -> None:
    gt = np.array([[0.0, 0.0, 2.0], [1.0, 0.0, 3.0]])
    pred = np.array([[0.03, 0.0, 2.04], [1.0, -0.06, 3.08]])  # errors 50 mm and 100 mm
    result = metrics.mrpe(pred, gt)
    assert result.mrpe == pytest.approx(0.075)
    assert (result.x, result.y, result.z) == pytest.approx((0.015, 0.03, 0.06))
    assert result.count == 2


def test_mrpe_skips_predictions_without_a_root() -> None:
    gt = np.array([[0.0, 0.0, 2.0], [1.0, 0.0, 3.0]])
    pred = np.array([[0.0, 0.0, 2.1], [np.nan, np.nan, np.nan]])
    result = metrics.mrpe(pred, gt)
    assert result.mrpe == pytest.approx(0.1)
    assert result.count == 1


def _skeleton(z: float) -> np.ndarray:
    points = np.zeros((NUM_JOINTS, 3))
    points[:, 2] = z
    points[:, 1] = np.arange(NUM_JOINTS) * 0.1
    return points


def test_mpjpe_absolute_and_root_relative() -> None:
    gt = _skeleton(3.0)
    pred = gt.copy()
    pred[:, 2] += 0.2  # the whole skeleton 20 cm too far
    pred[LEFT_KNEE, 0] += 0.1  # and one knee 10 cm off sideways as well
    absolute = metrics.mpjpe(pred, gt, root_relative=False)
    expected = (18 * 0.2 + math.hypot(0.2, 0.1)) / NUM_JOINTS
    assert absolute == pytest.approx(expected)
    # Root-relative: the offset cancels; only the knee is wrong, over 18 non-root joints.
    assert metrics.mpjpe(pred, gt, root_relative=True) == pytest.approx(0.1 / 18)


def test_pck_counts_missing_joints_as_misses_and_respects_the_mask() -> None:
    gt = _skeleton(3.0)
    pred = gt.copy()
    pred[LEFT_HIP, 2] += 0.149  # inside 150 mm
    pred[RIGHT_HIP, 2] += 0.151  # outside
    pred[LEFT_KNEE] = np.nan  # not predicted
    assert metrics.pck3d(pred, gt) == pytest.approx(17 / 19)
    mask = np.ones(NUM_JOINTS, bool)
    mask[LEFT_KNEE] = False  # not annotated: neither hit nor miss
    assert metrics.pck3d(pred, gt, mask) == pytest.approx(17 / 18)


def test_root_relative_pck_leaves_the_root_out() -> None:
    gt = _skeleton(3.0)
    pred = gt + np.array([0.0, 0.0, 0.5])  # absolute: every joint 50 cm off
    assert metrics.pck3d(pred, gt) == 0.0
    assert metrics.pck3d(pred, gt, root_relative=True) == 1.0
    pred[PELVIS, 2] += 0.3  # a wrong root moves every other joint in root-relative terms
    assert metrics.pck3d(pred, gt, root_relative=True) == 0.0


def _ap_frames() -> list[metrics.RootPredictions]:
    frame_a = metrics.RootPredictions(
        pred_roots=np.array([[0.0, 0.0, 3.1], [0.05, 0.0, 3.0], [1.0, 0.0, 3.3]]),
        scores=np.array([0.9, 0.8, 0.7]),
        gt_roots=np.array([[0.0, 0.0, 3.0], [1.0, 0.0, 3.0]]),
    )
    frame_b = metrics.RootPredictions(
        pred_roots=np.array([[0.0, 0.0, 5.2]]), scores=np.array([0.85]), gt_roots=np.array([[0.0, 0.0, 5.0]])
    )
    return [frame_a, frame_b]


def test_ap_root_follows_3dmppe_exactly() -> None:
    frames = _ap_frames()
    # Sorted by score: p(0.9) TP d=0.10, p(0.85) TP d=0.20, p(0.8) nearest GT already
    # matched -> FP, p(0.7) d=0.30 -> FP at 25 cm. Precision 1, 1, 2/3, 1/2; recall 1/3,
    # 2/3, 2/3, 2/3 over 3 GT. AP = sum_n P[n+1] (R[n+1] - R[n]) = 1 * 1/3 (the first
    # prediction's own recall is not counted, as in the reference).
    assert metrics.ap_root(frames, 0.25) == pytest.approx(1 / 3)
    # At 35 cm the last one is a TP: P = 1, 1, 2/3, 3/4; R = 1/3, 2/3, 2/3, 1.
    assert metrics.ap_root(frames, 0.35) == pytest.approx(1 / 3 + 3 / 4 * 1 / 3)
    # At 15 cm only the first is a TP: every later recall step is zero.
    assert metrics.ap_root(frames, 0.15) == 0.0


def test_ap_root_counts_rootless_predictions_as_false_positives() -> None:
    frames = _ap_frames()
    frames[1] = metrics.RootPredictions(
        pred_roots=np.array([[0.0, 0.0, 5.2], [np.nan, np.nan, np.nan]]),
        scores=np.array([0.85, 0.95]),
        gt_roots=np.array([[0.0, 0.0, 5.0]]),
    )
    # First (0.95) is an FP now: P = 0, 1/2, 2/3, ...; R = 0, 1/3, 2/3, 2/3, 2/3.
    assert metrics.ap_root(frames, 0.25) == pytest.approx(0.5 * 1 / 3 + 2 / 3 * 1 / 3)


def test_pcod_with_smap_tie_band() -> None:
    gt = [2.0, 3.0, 3.2]
    assert metrics.pcod([([2.1, 2.9, 3.05], gt)]).rate == 1.0  # the 0.2 m pair: both inside 0.3 m
    # Pair (1, 2): truth -0.2 (a tie), prediction +0.35 (not a tie, other sign): wrong.
    count = metrics.pcod([([2.1, 3.4, 3.05], gt)])
    assert (count.correct, count.pairs) == (2, 3)
    # Same sign counts as correct even when only the truth is inside the tie band.
    assert metrics.ordinal_correct(-0.5, -0.2)
    assert not metrics.ordinal_correct(0.31, -0.2)
    # A missing prediction makes its pairs wrong.
    assert metrics.pcod([([2.1, np.nan, 3.05], gt)]).correct == 1


def test_bone_length_error() -> None:
    gt = _skeleton(3.0)
    pred = gt.copy()
    pred[LEFT_KNEE, 0] += 0.03  # lengthens hip-knee and knee-ankle (both 0.2 m apart in y)
    error = metrics.bone_length_error(pred, gt)
    hip_knee_gt = np.linalg.norm(gt[LEFT_HIP] - gt[LEFT_KNEE])
    delta = 2 * (np.linalg.norm(pred[LEFT_HIP] - pred[LEFT_KNEE]) - hip_knee_gt)
    assert error == pytest.approx(delta / 18)


def test_clear_mot_identity_switches_and_mota() -> None:
    a, b = np.array([0.0, 0.0, 2.0]), np.array([1.0, 0.0, 2.0])
    frames = [
        metrics.TrackingFrame([1, 2], np.stack([a, b]), [10, 20], np.stack([a + np.array([0, 0, 0.1]), b])),
        # The tracker swapped its ids: both GT switch.
        metrics.TrackingFrame([1, 2], np.stack([a, b]), [10, 20], np.stack([b, a])),
        # GT 2 left; a stray hypothesis far away is a false positive.
        metrics.TrackingFrame([1], a[None], [20, 30], np.stack([a, [5.0, 0.0, 5.0]])),
        # GT 2 is back but nobody reports it: a miss.
        metrics.TrackingFrame([1, 2], np.stack([a, b]), [20], a[None]),
    ]
    result = metrics.clear_mot(frames, threshold=0.5)
    assert result.gt_count == 7
    assert result.matches == 6
    assert result.id_switches == 2
    assert result.false_positives == 1
    assert result.misses == 1
    assert result.mota == pytest.approx(1 - (1 + 1 + 2) / 7)
    assert result.motp == pytest.approx(0.1 / 6)
    assert result.id_switches_per_1000 == pytest.approx(2000 / 7)


def test_clear_mot_keeps_a_correspondence_while_it_holds() -> None:
    # Two hypotheses near one GT: the one matched before keeps it even when the other is
    # a little closer now (no switch), as CLEAR MOT prescribes.
    g = np.array([[0.0, 0.0, 2.0]])
    frames = [
        metrics.TrackingFrame([1], g, [10], g + np.array([0.1, 0, 0])),
        metrics.TrackingFrame([1], g, [10, 11], np.array([[0.2, 0, 2.0], [0.05, 0, 2.0]])),
    ]
    result = metrics.clear_mot(frames, threshold=0.5)
    assert result.id_switches == 0
    assert result.false_positives == 1
