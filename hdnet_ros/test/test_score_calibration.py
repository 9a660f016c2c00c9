"""The publishing threshold's fit (evaluation/score_calibration.py): right/wrong per joint
and the score where P(right | score) crosses 1/2, on data drawn from a known curve."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.evaluation.score_calibration import (
    JointOutcomes,
    bootstrap_interval,
    fit_logistic,
    half_right_score,
)


def drawn(crossing: float, steepness: float, count: int, seed: int = 0) -> JointOutcomes:
    generator = np.random.default_rng(seed)
    scores = generator.uniform(0.0, 1.0, count)
    probability = 1.0 / (1.0 + np.exp(-steepness * (scores - crossing)))
    return JointOutcomes(scores, generator.uniform(0.0, 1.0, count) < probability)


def test_joints_are_right_within_a_tenth_of_the_box_diagonal_and_unlabelled_ones_skipped() -> None:
    reference = np.array([[100.0, 100.0], [200.0, 100.0], [np.nan, np.nan]])
    pixels = np.array([[109.0, 100.0], [200.0, 111.0], [0.0, 0.0]])
    joints = JointOutcomes.of(pixels, np.array([0.9, 0.2, 0.5]), reference, diagonal=100.0)
    np.testing.assert_array_equal(joints.right, [True, False])
    np.testing.assert_array_equal(joints.scores, [0.9, 0.2])
    assert joints.right_share(0.0, 0.5) == (1, 0.0)
    assert joints.right_share(0.5, 1.0) == (1, 1.0)


def test_the_fit_recovers_a_known_curve_and_its_crossing() -> None:
    joints = drawn(crossing=0.3, steepness=12.0, count=4000)
    intercept, slope = fit_logistic(joints.scores, joints.right)
    assert slope == pytest.approx(12.0, rel=0.15)
    assert -intercept / slope == pytest.approx(0.3, abs=0.02)
    low, high = bootstrap_interval(joints, rounds=100)
    assert low < 0.3 < high
    assert high - low < 0.05


def test_fewer_joints_give_a_wider_interval() -> None:
    many = bootstrap_interval(drawn(0.3, 12.0, 4000), rounds=100)
    few = bootstrap_interval(drawn(0.3, 12.0, 300), rounds=100)
    assert few[1] - few[0] > 2 * (many[1] - many[0])


def test_scores_that_say_nothing_have_no_crossing() -> None:
    generator = np.random.default_rng(1)
    scores = generator.uniform(0.0, 1.0, 500)
    falling = JointOutcomes(scores, scores < 0.5)  # right only at low scores: not a confidence
    assert np.isnan(half_right_score(falling))
