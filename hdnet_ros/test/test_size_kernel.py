"""The depth stage's compiled bone-length depth gives the shared numpy function's results
bit for bit (``stages.depth.size_kernel``: the lifter calls it instead of
``size_prior.bone_prior_depths``).

Inputs: standing people projected at 1-12 m with keypoint noise and random joints unseen
(from all seen to none, so every branch runs: no pair, fewer than 3 pairs, 3 or fewer kept,
many), degenerate ones (all keypoints on one pixel: zero bone lengths, infinite depths),
with and without boxes (some NaN, some tiny), other statures and ratios."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import NUM_JOINTS
from hdnet_ros.skeleton import STANDING_TEMPLATE
from hdnet_ros.stages.depth import size_kernel

from hdnet_ros import size_prior

PEOPLE = 400


def _people(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """normalized [P,J,2], seen [P,J], boxes [P,4] (pixels, 640 x 480 at f = 525)."""
    rng = np.random.default_rng(seed)
    template = np.asarray(STANDING_TEMPLATE, dtype=np.float64)[:NUM_JOINTS]
    angle = rng.uniform(-np.pi, np.pi, PEOPLE)
    rotated = template.copy()[None].repeat(PEOPLE, axis=0)
    rotated[..., 0] = template[:, 0] * np.cos(angle)[:, None] + template[:, 2] * np.sin(angle)[:, None]
    rotated[..., 2] = -template[:, 0] * np.sin(angle)[:, None] + template[:, 2] * np.cos(angle)[:, None]
    depth = rng.uniform(1.0, 12.0, PEOPLE)
    points = (
        rotated * rng.uniform(0.8, 1.2, PEOPLE)[:, None, None]
        + np.stack((rng.uniform(-2, 2, PEOPLE), rng.uniform(-1, 1, PEOPLE), depth), axis=1)[:, None]
    )
    normalized = points[..., :2] / points[..., 2:] + rng.normal(0.0, 3.0 / 525.0, (PEOPLE, NUM_JOINTS, 2))
    normalized[:10] = normalized[:10, :1]  # every keypoint on one point: no usable pair
    normalized[10:20, 2:] = normalized[10:20, 2:3]  # most on one point: zero lengths kept
    seen = rng.random((PEOPLE, NUM_JOINTS)) < rng.uniform(0.0, 1.0, PEOPLE)[:, None]
    seen[20:40] = True
    normalized = np.where(seen[..., None], normalized, 0.0)  # as Observed gives unseen ones
    pixels = normalized * 525.0 + (320.0, 240.0)
    boxes = np.concatenate((pixels.min(axis=1), pixels.max(axis=1)), axis=1)
    boxes[40:50] = np.nan
    boxes[50:60, 2:] = boxes[50:60, :2] + 0.5
    return normalized, seen, boxes


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("stature", "min_ratio", "sigma_px", "with_boxes"),
    [(1.7, 0.75, 3.0, True), (1.7, 0.75, 3.0, False), (1.5, 0.9, 1.0, True), (1.9, 0.5, 8.0, True)],
)
def test_compiled_bone_depths_are_the_numpy_ones_bit_for_bit(
    seed: int, stature: float, min_ratio: float, sigma_px: float, with_boxes: bool
) -> None:
    normalized, seen, boxes = _people(seed)
    camera = CameraModel(640, 480, np.array([[525.0, 0.0, 320.0], [0.0, 520.0, 240.0], [0.0, 0.0, 1.0]]))
    given = boxes if with_boxes else None
    expected = size_prior.bone_prior_depths(normalized, seen, camera, stature, min_ratio, sigma_px, given)
    got = size_kernel.bone_prior_depths(normalized, seen, camera, stature, min_ratio, sigma_px, given)
    assert np.isfinite(expected.z).sum() > PEOPLE // 4  # the inputs give depths, not only NaN
    np.testing.assert_array_equal(got.z, expected.z)
    np.testing.assert_array_equal(got.sigma, expected.sigma)


def test_no_people() -> None:
    camera = CameraModel.from_fov(640, 480, 60.0)
    got = size_kernel.bone_prior_depths(np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS), bool), camera)
    assert got.z.shape == (0,) and got.sigma.shape == (0,)
