"""Where a 2D network's keypoint scores say "right as often as wrong": the publishing threshold.

A keypoint is *right* when it lies within the PCK radius of its reference joint (0.1 x the
person's box diagonal, the crowd benchmark's PCK@0.1). P(right | score) is fitted as a
logistic curve by maximum likelihood over all labelled joints of the matched people, hidden
ones included (a guess placed well is right); the threshold is the score where the curve
crosses 1/2: above it a published joint is more likely right than wrong. Its uncertainty
is a bootstrap over the joints (percentile interval).

Used by ``benchmarks/bench_score_calibration.py`` on people the crowd benchmark does not
score (the CMU Panoptic views), to set ``keypoints.heatmap_min_score``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import expit

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

PCK_FRACTION = 0.1


@dataclass(frozen=True)
class JointOutcomes:
    """One score and one right/wrong per labelled joint."""

    scores: FloatArray
    right: BoolArray

    @classmethod
    def of(cls, pixels: FloatArray, scores: FloatArray, reference: FloatArray, diagonal: float) -> JointOutcomes:
        """The labelled joints (finite ``reference`` [J,2]) of one person: ``pixels`` [J,2]
        and ``scores`` [J] as the network gave them, whatever their score."""
        labelled = np.all(np.isfinite(reference), axis=1)
        error = np.linalg.norm(np.asarray(pixels, float)[labelled] - reference[labelled], axis=1)
        return cls(np.asarray(scores, float)[labelled], error <= PCK_FRACTION * diagonal)

    @classmethod
    def joined(cls, parts: list[JointOutcomes]) -> JointOutcomes:
        if not parts:
            return cls(np.zeros(0), np.zeros(0, bool))
        return cls(np.concatenate([p.scores for p in parts]), np.concatenate([p.right for p in parts]))

    def __len__(self) -> int:
        return len(self.scores)

    def right_share(self, low: float, high: float) -> tuple[int, float]:
        """How many joints scored in [low, high) and the share of them that are right."""
        inside = (self.scores >= low) & (self.scores < high)
        count = int(np.count_nonzero(inside))
        return count, float(np.mean(self.right[inside])) if count else float("nan")


def fit_logistic(scores: FloatArray, right: BoolArray) -> tuple[float, float]:
    """(intercept, slope) of P(right | score) = 1 / (1 + exp(-(intercept + slope score)))."""
    outcome = np.asarray(right, dtype=float)

    def loss(weights: FloatArray) -> tuple[float, FloatArray]:
        logit = weights[0] + weights[1] * scores
        probability = expit(logit)
        gradient = np.array([np.sum(probability - outcome), np.sum((probability - outcome) * scores)])
        return float(np.sum(np.logaddexp(0.0, logit) - outcome * logit)), gradient

    result = minimize(loss, np.array([0.0, 1.0]), jac=True, method="BFGS")
    return float(result.x[0]), float(result.x[1])


def half_right_score(outcomes: JointOutcomes) -> float:
    """The score where the fitted P(right | score) is 1/2 (NaN when it does not rise with the score)."""
    intercept, slope = fit_logistic(outcomes.scores, outcomes.right)
    return -intercept / slope if slope > 0 else float("nan")


def bootstrap_interval(
    outcomes: JointOutcomes, rounds: int = 300, level: float = 0.9, seed: int = 0
) -> tuple[float, float]:
    """The percentile interval of :func:`half_right_score` over ``rounds`` resamples of the joints."""
    generator = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        pick = generator.integers(0, len(outcomes), len(outcomes))
        values.append(half_right_score(JointOutcomes(outcomes.scores[pick], outcomes.right[pick])))
    tail = 100.0 * (1.0 - level) / 2.0
    return float(np.nanpercentile(values, tail)), float(np.nanpercentile(values, 100.0 - tail))
