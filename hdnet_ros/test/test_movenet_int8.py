"""The exact int8 steps of the rebuilt MoveNet, on small graphs made here (no model file).

Each step does its int8 arithmetic in float32 with the sums split so that they stay exact;
these tests hold the split versions to XNNPACK's formulas written plainly with int64.
(test_movenet_torch.py checks them against LiteRT itself on the real file.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.nets.tflite.graph import GraphOp, TensorInfo, TfliteGraph
from helpers import installed, needs

pytestmark = needs("torch", why="the int8 emulation is PyTorch code")
if installed("torch"):
    import torch
    from hdnet_ros.nets.tflite import int8_steps


def tensor(index: int, shape: tuple[int, ...], scale: float | list[float], zero_point: int = 0) -> TensorInfo:
    scales = np.atleast_1d(np.asarray(scale, dtype=np.float32)).astype(np.float64)
    return TensorInfo(
        index, f"t{index}", shape, np.dtype(np.int8), scales, np.zeros(scales.size, np.int64) + zero_point, 0
    )


def graph_of(op: GraphOp, tensors: list[TensorInfo], constants: dict[int, np.ndarray] | None = None) -> TfliteGraph:
    return TfliteGraph(Path("made.tflite"), 0, {t.index: t for t in tensors}, (op,), constants or {})


def nchw(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(values.astype(np.float32)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("kind", ["ADD", "SUB"])
@pytest.mark.parametrize(
    "scales", [(0.03936885, 0.03740035, 0.04100744), (0.0078431, 0.0039216, 0.0078431), (11.4, 0.26, 0.9)]
)
def test_add_matches_xnnpack_fixed_point_over_every_int8_pair(kind: str, scales: tuple[float, float, float]) -> None:
    a_scale, b_scale, y_scale = (np.float32(s) for s in scales)
    tensors = [
        tensor(0, (1, 256, 256, 1), a_scale, 12),
        tensor(1, (1, 256, 256, 1), b_scale, -5),
        tensor(2, (1, 256, 256, 1), y_scale, 7),
    ]
    op = GraphOp(0, kind, (0, 1), (2,), {"activation": "NONE"})
    step = int8_steps.Int8Add(op, graph_of(op, tensors), {0, 1, 2})
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing="ij")
    with torch.inference_mode():
        result = step(nchw(a[None, ..., None]), nchw(b[None, ..., None])).permute(0, 2, 3, 1).numpy()[0, ..., 0]
    # XNNPACK, plainly in int64: 20-bit multipliers, bias with the rounding, arithmetic shift.
    b_ratio = (b_scale / y_scale) * (-1 if kind == "SUB" else 1)
    ratios = (a_scale / y_scale, b_ratio)
    shift = 20 - int(np.floor(np.log2(max(abs(float(r)) for r in ratios))))
    a_mult, b_mult = (int(np.rint(float(r) * 2.0**shift)) for r in ratios)
    bias = (1 << (shift - 1)) - a_mult * 12 - b_mult * -5
    expected = np.clip(((bias + a.astype(np.int64) * a_mult + b.astype(np.int64) * b_mult) >> shift) + 7, -128, 127)
    np.testing.assert_array_equal(result, expected)
    # and it is an addition: within one step of the exact real result
    exact = ((a - 12) * float(a_scale) + (1 if kind == "ADD" else -1) * (b + 5) * float(b_scale)) / float(y_scale) + 7
    inside = (exact > -127) & (exact < 126)
    assert np.abs(result - exact)[inside].max() <= 0.5 + 1e-3


@pytest.mark.parametrize("kind", ["ADD", "MUL"])
@pytest.mark.parametrize("shape", [(2, 4, 5, 3), (2, 3)])
def test_a_constant_operand_broadcasts_as_the_same_values_given_as_an_activation(
    kind: str, shape: tuple[int, ...]
) -> None:
    """A constant of the file (one value per channel) in a rank-4 op (NCHW inside) and in a
    rank-2 op (layout kept): the step gives what it gives that constant broadcast by hand."""
    rng = np.random.default_rng(len(shape))
    a = rng.integers(-128, 128, size=shape)
    constant = rng.integers(-128, 128, size=shape[-1:]).astype(np.int8)
    tensors = [tensor(0, shape, 0.05, 3), tensor(1, shape[-1:], 0.02, -4), tensor(2, shape, 0.07, 1)]
    op = GraphOp(0, kind, (0, 1), (2,), {"activation": "NONE"})
    step_class = int8_steps.Int8Add if kind == "ADD" else int8_steps.Int8Mul
    with_constant = step_class(op, graph_of(op, tensors, {1: constant}), {0, 2})
    tensors[1] = tensor(1, shape, 0.02, -4)
    both_given = step_class(op, graph_of(op, tensors), {0, 1, 2})
    given = np.broadcast_to(constant, shape)

    def inside(values: np.ndarray) -> torch.Tensor:
        return nchw(values) if len(shape) == 4 else torch.from_numpy(values.astype(np.float32))

    with torch.inference_mode():
        result = with_constant(inside(a))
        expected = both_given(inside(a), inside(given))
    assert result.shape == expected.shape == inside(a).shape
    torch.testing.assert_close(result, expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("in_size", "out_size", "align_corners", "half_pixel"),
    [(6, 12, False, True), (5, 11, False, True), (5, 11, True, False), (4, 9, False, False)],
)
def test_resize_matches_xnnpack_integer_lerps(
    in_size: int, out_size: int, align_corners: bool, half_pixel: bool
) -> None:
    rng = np.random.default_rng(in_size * out_size)
    values = rng.integers(-128, 128, size=(2, in_size, in_size + 1, 3))
    out_w = out_size + 2
    tensors = [tensor(0, (2, in_size, in_size + 1, 3), 0.25, -3), tensor(2, (2, out_size, out_w, 3), 0.25, -3)]
    options = {"activation": "NONE", "align_corners": align_corners, "half_pixel_centers": half_pixel}
    op = GraphOp(0, "RESIZE_BILINEAR", (0, 1), (2,), options)
    step = int8_steps.Int8ResizeBilinear(op, graph_of(op, tensors))
    with torch.inference_mode():
        result = step(nchw(values)).permute(0, 2, 3, 1).numpy()
    rows = int8_steps.resize_taps(in_size, out_size, align_corners, half_pixel)
    columns = int8_steps.resize_taps(in_size + 1, out_w, align_corners, half_pixel)
    expected = np.empty(result.shape, np.int64)
    for i, (top, bottom, wy) in enumerate(rows):
        for j, (left, right, wx) in enumerate(columns):
            tl, tr, bl, br = (values[:, r, c] for r, c in ((top, left), (top, right), (bottom, left), (bottom, right)))
            upper = (tl << 11) + (tr - tl) * wx
            lower = (bl << 11) + (br - bl) * wx
            expected[:, i, j] = ((upper << 11) + (lower - upper) * wy + (1 << 21)) >> 22
    np.testing.assert_array_equal(result, expected)
    # half-pixel 2x upsampling: the weights are exactly 1/4 and 3/4
    if (in_size, out_size, half_pixel) == (6, 12, True):
        assert {w for _, _, w in rows[1:-1]} == {512, 1536}


def test_conv_rejects_weights_whose_sums_leave_float32_integers() -> None:
    """600 input channels of weight 127 can sum to 600 * 127 * 255 > 2^24."""
    tensors = [tensor(0, (1, 4, 4, 600), 0.02, -128), tensor(1, (8, 1, 1, 600), [0.01] * 8)]
    tensors.append(tensor(2, (1, 4, 4, 8), 0.05))
    options = {"activation": "NONE", "stride": (1, 1), "dilation": (1, 1), "padding": "VALID"}
    op = GraphOp(0, "CONV_2D", (0, 1), (2,), options)
    constants = {1: np.full((8, 1, 1, 600), 127, np.int8)}
    with pytest.raises(int8_steps.Int8ArithmeticError, match="exact integers"):
        int8_steps.Int8Conv(op, graph_of(op, tensors, constants))
    constants[1][:, :, :, 300:] = 0  # half of them: 300 * 127 * 255 < 2^24
    step = int8_steps.Int8Conv(op, graph_of(op, tensors, constants))
    x = np.full((1, 4, 4, 600), 127)
    with torch.inference_mode():
        out = step(nchw(x)).permute(0, 2, 3, 1).numpy()
    # (127 + 128) * 127 * 300 * 0.02 * 0.01 / 0.05 = 38862 -> saturates at 127
    assert np.all(out == 127)


def conv_1x1(tensors: list[TensorInfo], constants: dict[int, np.ndarray]) -> int8_steps.Int8Conv:
    options = {"activation": "NONE", "stride": (1, 1), "dilation": (1, 1), "padding": "VALID"}
    op = GraphOp(0, "CONV_2D", (0, 1, 2), (3,), options)
    return int8_steps.Int8Conv(op, graph_of(op, tensors, constants))


def test_conv_accepts_a_saturated_channel_with_a_huge_bias() -> None:
    """MoveNet parks unused channels on a bias of -154995744: exact or not, they are -128."""
    weights = np.array([[3, -2, 0, 0, 0], [5, 1, 0, 0, 0]], np.int8).reshape(2, 1, 1, 5)
    tensors = [tensor(0, (1, 3, 3, 5), 0.02), tensor(1, (2, 1, 1, 5), [0.01, 0.01]), tensor(3, (1, 3, 3, 2), 0.05)]
    step = conv_1x1(tensors, {1: weights, 2: np.array([-154995744, 10], np.int32)})
    x = np.random.default_rng(0).integers(-128, 128, size=(1, 3, 3, 5))
    with torch.inference_mode():
        out = step(nchw(x)).permute(0, 2, 3, 1).numpy()
    assert np.all(out[..., 0] == -128)
    accumulator = x[..., 0] * 5 + x[..., 1] * 1 + 10
    expected = np.clip(np.rint(np.float32(accumulator) * np.float32(0.004)), -128, 127)
    np.testing.assert_array_equal(out[..., 1], expected)


def test_conv_rejects_a_channel_whose_result_depends_on_sums_past_2_24() -> None:
    """Bias -16700000 plus up to 5 * 127 * 255 = 161925 passes 2^24, and at a scale of 7e-6
    the output still varies (-118.5 .. -116.2), so float32's rounding would show."""
    weights = np.full((1, 1, 1, 5), 127, np.int8)
    tensors = [tensor(0, (1, 3, 3, 5), 0.02), tensor(1, (1, 1, 1, 5), [0.01]), tensor(3, (1, 3, 3, 1), 0.0002 / 7e-6)]
    with pytest.raises(int8_steps.Int8ArithmeticError, match="channels \\[0\\]"):
        conv_1x1(tensors, {1: weights, 2: np.array([-16700000], np.int32)})
    conv_1x1(tensors, {1: weights, 2: np.array([-16500000], np.int32)})  # within 2^24: fine


@pytest.mark.parametrize("grid", [(0.28221691, 114), (0.28092748, 115)])  # MoveNet's two sigmoid inputs
def test_logistic_table_is_the_sigmoid_on_the_int8_grids(grid: tuple[float, int]) -> None:
    """The table is the sigmoid rounded to the output grid, and no entry sits near a tie:
    computed in float64 instead of float32 it is the same, so it does not hang on which
    exp() a runtime has (XNNPACK's own was seen on 191 and 208 of the 256 inputs)."""
    scale, zero_point = grid
    table = int8_steps.logistic_table(scale, zero_point, 0.00390625, -128)
    x = np.float64(np.float32(scale)) * (np.arange(-128, 128) - zero_point)
    in_float64 = np.clip(np.rint(1 / (1 + np.exp(-x)) / 0.00390625 - 128), -128, 127)
    assert np.all(np.diff(table) >= 0)
    np.testing.assert_array_equal(table, in_float64)


@pytest.mark.parametrize(
    ("machine", "flags", "family", "verified"),
    [
        # this machine (AMD EPYC Zen 4)
        ("x86_64", "avx2 avx512f avx512bw avx512_vnni", "x86-64 AVX-512 VNNI", True),
        ("x86_64", "avx2 avx512f avx512bw", "x86-64 AVX-512", True),  # the earlier Intel Xeon
        ("x86_64", "sse4_1 sse4_2 avx avx2 fma", "x86-64 AVX2", True),  # AMD Zen 2, Intel Haswell
        ("x86_64", "avx2 avx512f avx512bw avx512_vnni amx_int8", "x86-64 AMX", True),  # an AMX Xeon (22nd session)
        ("x86_64", "avx2 avx_vnni", "x86-64 AVX-VNNI", False),  # Alder Lake
        ("aarch64", "fp asimd atomics asimddp", "aarch64 NEON dot product", True),  # Jetson Orin (A78AE)
        ("aarch64", "fp asimd", "aarch64 NEON", True),  # Jetson Nano / TX2 (A57)
        ("aarch64", "fp asimd asimddp i8mm sve", "aarch64 SVE", False),  # Graviton 3
        ("riscv64", "", "riscv64 without the verified instruction sets", False),
    ],
)
def test_xnnpack_family_is_read_from_the_cpu_flags(machine: str, flags: str, family: str, verified: bool) -> None:
    """Which instruction-set family the exactness checks consider (conftest.xnnpack_family):
    the one XNNPACK would pick its int8 kernels for, first match in its order of preference."""
    from conftest import xnnpack_family

    assert xnnpack_family(machine, set(flags.split())) == (family, verified)
