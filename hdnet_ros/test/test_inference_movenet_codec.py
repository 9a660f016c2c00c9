"""The MoveNet decoding on hand-made head tensors (numpy only; the file-based checks are in
test_movenet_torch.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.inference.movenet_codec import (
    INT8_DECODING,
    Grid,
    center_prior,
    decode_movenet,
    decode_movenet_outputs,
)

GRID = 48


def heads_for(center: tuple[int, int], joints: np.ndarray, batch: int = 1) -> dict[str, np.ndarray]:
    """Head tensors of one person centred at ``center`` (cell) with joints at ``joints`` [17,2]
    (y, x in cells, fractional): peaks at the joints' cells, offsets to the exact positions."""
    center_heatmap = np.full((batch, GRID, GRID, 1), 0.01, np.float32)
    center_heatmap[:, center[0], center[1], 0] = 0.9
    heatmaps = np.full((batch, GRID, GRID, 17), 0.01, np.float32)
    offsets = np.zeros((batch, GRID, GRID, 34), np.float32)
    regression = np.zeros((batch, GRID, GRID, 34), np.float32)
    for j, (y, x) in enumerate(joints):
        cy, cx = int(np.floor(y)), int(np.floor(x))
        heatmaps[:, cy, cx, j] = 0.8
        offsets[:, cy, cx, 2 * j : 2 * j + 2] = (y - cy, x - cx)
        # The regression is rough: half a cell off, as a real one would be.
        regression[:, center[0], center[1], 2 * j : 2 * j + 2] = (y - center[0] + 0.5, x - center[1] - 0.5)
    return {
        "center_heatmap": center_heatmap,
        "keypoint_heatmaps": heatmaps,
        "keypoint_offsets": offsets,
        "center_regression": regression,
    }


def joints_around(center: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.asarray(center, np.float64) + rng.uniform(-10, 10, (17, 2))


def test_decodes_joint_positions_and_scores() -> None:
    joints = joints_around((24, 22))
    keypoints = decode_movenet_outputs(heads_for((24, 22), joints, batch=2))
    assert keypoints.shape == (2, 17, 3) and keypoints.dtype == np.float32
    np.testing.assert_allclose(keypoints[..., :2], np.broadcast_to(joints / GRID, (2, 17, 2)), atol=1e-6)
    np.testing.assert_allclose(keypoints[..., 2], 0.8)


def test_single_crop_maps_get_a_batch_axis() -> None:
    heads = heads_for((20, 30), joints_around((20, 30)))
    single = {name: value[0] for name, value in heads.items()}
    batched = decode_movenet(
        heads["center_heatmap"], heads["keypoint_heatmaps"], heads["keypoint_offsets"], heads["center_regression"]
    )
    np.testing.assert_array_equal(decode_movenet_outputs(single), batched)


def test_centre_prior_prefers_the_person_in_the_middle() -> None:
    """Two equally strong centres: the one nearer the crop's centre wins (the prior)."""
    middle, corner = (24, 24), (5, 5)
    heads = heads_for(middle, joints_around(middle))
    heads["center_heatmap"][0, corner[0], corner[1], 0] = 0.9
    decoded = decode_movenet_outputs(heads)
    np.testing.assert_allclose(decoded[0, :, :2], joints_around(middle) / GRID, atol=1e-6)
    prior = center_prior()
    assert prior[24, 24] == pytest.approx(1 / 1.8) and prior[5, 5] < prior[24, 24] / 10


def test_joint_near_the_regressed_position_beats_a_stronger_one_far_away() -> None:
    """A neighbour's wrist, brighter but 30 cells from where the regression puts this
    person's wrist, loses: the heatmap is divided by distance + 1.8."""
    joints = joints_around((24, 24))
    heads = heads_for((24, 24), joints)
    far = (int(joints[9, 0] + 30) % GRID, int(joints[9, 1]))
    heads["keypoint_heatmaps"][0, far[0], far[1], 9] = 0.95
    decoded = decode_movenet_outputs(heads)
    np.testing.assert_allclose(decoded[0, 9, :2], joints[9] / GRID, atol=1e-6)


def test_int8_arithmetic_lands_on_the_output_grid() -> None:
    joints = joints_around((24, 24))
    decoded = decode_movenet_outputs(heads_for((24, 24), joints), int8=INT8_DECODING)
    step = INT8_DECODING.keypoints.scale
    on_grid = (decoded[..., :2] / step) - np.round(decoded[..., :2] / step)
    np.testing.assert_allclose(on_grid, 0.0, atol=1e-3)
    # Still the same joints, to within the int8 steps (offsets 0.2 cells, output 0.79 px).
    np.testing.assert_allclose(decoded[0, :, :2], joints / GRID, atol=0.2 / GRID + step)


def test_rejects_wrong_shapes() -> None:
    heads = heads_for((24, 24), joints_around((24, 24)))
    heads["keypoint_offsets"] = heads["keypoint_offsets"][..., :17]
    with pytest.raises(ValueError, match="keypoint_offsets"):
        decode_movenet_outputs(heads)


def test_quantize_computes_in_float32_like_the_graphs_quantize_ops() -> None:
    """The graph's QUANTIZE (float32 -> int8) of the centre row: 13 / 0.10196078 is 127.49999
    grid steps in float64 but exactly 127.5 in float32, which LiteRT rounds to 128 (a person
    centred on row 13 got a score 10 steps off with the float64 division)."""
    grid = INT8_DECODING.center_y
    steps = (grid.quantize(np.arange(48)) / grid.scale).round().astype(int)
    assert steps[13] == 128
    assert (grid.snap(13.0) / grid.scale).round() == 127  # float64 division: a step lower
    # elsewhere it is the plain rounding to the grid (rows 0..26 fit on it), within half a step
    inside = np.arange(48) <= 26
    np.testing.assert_array_less(np.abs(grid.quantize(np.arange(48)) - np.arange(48))[inside], grid.scale / 2 + 1e-6)
    assert grid.quantize(np.float32(0.3)).dtype == np.float64
    np.testing.assert_array_equal(Grid(0.0, 0).quantize([0.1, 7.25]), [0.1, 7.25])  # float decoding: untouched


def test_decoding_does_not_depend_on_the_last_bits_of_litert_sqrt() -> None:
    """LiteRT's float SQRT in the decoding is not correctly rounded, and how it errs depends on
    the CPU (measured: within 1 ulp on AVX-512, 2 ulp on AVX2/SSE4.2 and aarch64 under
    emulation). Its input is one of 256 int8 distances; the square root of each lies at least
    8 ulp (measured: 32) from a rounding boundary of the int8 distance that follows, so any
    SQRT within 8 ulp gives the same keypoints."""
    grid, source = INT8_DECODING.distance, INT8_DECODING.distance2
    roots = np.sqrt(((np.arange(-128, 128) - source.zero_point) * np.float32(source.scale)).astype(np.float32))
    expected = grid.quantize(roots)
    low, high = roots.copy(), roots.copy()
    for _ in range(8):
        low, high = np.nextafter(low, np.float32(-np.inf)), np.nextafter(high, np.float32(np.inf))
        np.testing.assert_array_equal(grid.quantize(low), expected)
        np.testing.assert_array_equal(grid.quantize(high), expected)
