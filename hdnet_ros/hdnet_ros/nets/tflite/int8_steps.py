"""int8 TFLite ops as torch steps, computing what LiteRT's default kernels (XNNPACK) compute.

LiteRT runs an int8 file through its default XNNPACK delegate. Every op there maps int8
inputs to int8 outputs with integer accumulators and a requantisation whose rounding is
part of the result; a float network (``float_steps``) leaves those roundings out, and
through ~90 ops they move a network's outputs by a few int8 steps. The steps here repeat
XNNPACK's integer arithmetic instead, so the tensors are LiteRT's own, exactly:

* convolutions (per-channel int8 weights): int32 accumulator of ``(x - x_zp) * w`` plus the
  int32 bias, then fp32 requantisation ``round_half_even(float(acc) * scale[c])`` with
  ``scale[c] = x_scale * w_scale[c] / y_scale`` in float32;
* MUL: ``round_half_even(float((a - a_zp) * (b - b_zp)) * a_scale * b_scale / y_scale)``;
* ADD / SUB: fixed point: 20-bit multipliers of ``a_scale / y_scale`` and ``b_scale /
  y_scale`` (negated for SUB) and ``(bias + a * m_a + b * m_b) >> shift``, which rounds
  half up;
* RESIZE_BILINEAR: 11-bit fractional weights, two integer lerps, ``(acc + 2^21) >> 22``;
* LOGISTIC: a 256-entry table, ``round_half_even(sigmoid(x) / y_scale)`` in float32;
* fused activations: a clamp of the int8 result.

Every activation is held as its int8 value (not the real value) in a float32 tensor. All
the sums above stay integers below 2^24, where float32 is exact, so the network runs on any
fp32 backend (torch CPU/CUDA, the ONNX export on onnxruntime) with the same result; the
construction checks the file's weights against that bound. The ADD and resize sums would
not fit in 24 bits as written, so they are split into parts that do, with the shifts done
as exact floor divisions by powers of two (``_floor_shift``).

The op formulas were established against XNNPACK's own intermediate tensors of a real file,
read out of LiteRT by listing every tensor as a model output (``schema.expose_tensors``),
and the tests check them op by op and end to end.

Where this is exact. XNNPACK picks its kernels by instruction set, yet on MoveNet (LiteRT
2.3.0) every op gave the same integers on each family measured, so one formula serves all:
x86-64 AVX-512 VNNI (AMD Zen 4) and AVX-512 (Intel Xeon) natively, AVX2 (Zen 2) and SSE4
(Nehalem), aarch64 NEON (Cortex-A57), NEON with dot product (A76) and with i8mm under qemu.
Not verified: AMX, AVX-VNNI, SVE/SME (qemu's SVE run was no evidence: its convolutions came
out wrong). Elsewhere each op is held to within one int8 step (the tests hold the steps to
that against LiteRT's builtin kernels, which round differently at every op). fp16 cannot hold the accumulators: this
arithmetic is fp32 only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional

from hdnet_ros.nets.tflite.graph import GraphOp, TensorInfo, TfliteGraph
from hdnet_ros.nets.tflite.layout import broadcast_constant, spatial_pads

_F32 = np.float32
# float32 integers are exact below this.
EXACT_LIMIT = 2**24
# XNNPACK's fixed-point ADD: multipliers of 20 bits (the larger one in [2^20, 2^21)).
_ADD_MULTIPLIER_BITS = 20
# XNNPACK's bilinear weights: 11 fractional bits.
_RESIZE_WEIGHT_BITS = 11


class Int8ArithmeticError(ValueError):
    """The file's int8 graph cannot be reproduced exactly in float32; the message says why."""


def _grid(info: TensorInfo) -> tuple[float, int]:
    if info.scales.size != 1 or info.dtype != np.int8:
        raise Int8ArithmeticError(f"tensor {info.name} is not int8 quantised per tensor")
    return float(_F32(info.scales[0])), int(info.zero_points[0])


def _activation_range(activation: str, scale: float, zero_point: int) -> tuple[float, float]:
    """The int8 output range of a fused activation (XNNPACK quantises the float bounds)."""
    low, high = -128, 127
    if activation in ("RELU", "RELU6"):
        low = max(low, zero_point)
    if activation == "RELU6":
        high = min(high, int(np.rint(_F32(6.0) / _F32(scale) + _F32(zero_point))))
    elif activation not in ("NONE", "RELU"):
        raise Int8ArithmeticError(f"fused activation {activation} is not supported")
    return float(low), float(high)


def _floor_shift(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``x >> bits`` (arithmetic shift: floor) of an integer-valued float tensor; exact."""
    return torch.floor(x * (2.0**-bits))


class _Requantize(nn.Module):
    """fp32 requantisation: ``clamp(round_half_even(acc * scale)) + zero_point``.

    One scale per channel (axis 1, NCHW) or one for the tensor (any rank).
    """

    def __init__(self, scale: npt.ArrayLike, zero_point: int, bounds: tuple[float, float]) -> None:
        super().__init__()
        scales = np.asarray(scale, dtype=_F32)
        self.scale: torch.Tensor
        self.register_buffer("scale", torch.from_numpy(scales.reshape(() if scales.size == 1 else (1, -1, 1, 1))))
        self.zero_point = float(zero_point)
        self.low, self.high = bounds[0] - zero_point, bounds[1] - zero_point

    def forward(self, accumulator: torch.Tensor) -> torch.Tensor:
        return torch.round(torch.clamp(accumulator * self.scale, self.low, self.high)) + self.zero_point


class Int8Quantize(nn.Module):
    """The input QUANTIZE: float 0..255 -> int8 values (``round_half_even(x / scale) + zp``)."""

    def __init__(self, op: GraphOp, graph: TfliteGraph) -> None:
        super().__init__()
        self.scale, self.zero_point = _grid(graph.tensors[op.outputs[0]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.round(x / self.scale) + self.zero_point, -128.0, 127.0)


class Int8Conv(nn.Module):
    """CONV_2D / DEPTHWISE_CONV_2D on int8 values, int32 accumulator, fp32 requantisation."""

    def __init__(self, op: GraphOp, graph: TfliteGraph) -> None:
        super().__init__()
        depthwise = op.kind == "DEPTHWISE_CONV_2D"
        in_info, weight_info = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
        out_info = graph.tensors[op.outputs[0]]
        in_scale, self.input_zero_point = _grid(in_info)
        out_scale, out_zero_point = _grid(out_info)
        if np.any(weight_info.zero_points != 0):
            raise Int8ArithmeticError(f"op {op.index}: weights with a zero point are not supported")
        weight = graph.constants[op.inputs[1]].astype(np.int64)
        # [1, kh, kw, C] -> [C, 1, kh, kw] or [O, kh, kw, I] -> [O, I, kh, kw]
        torch_weight = weight[0].transpose(2, 0, 1)[:, None] if depthwise else weight.transpose(0, 3, 1, 2)
        bias = graph.constants[op.inputs[2]].astype(np.int64) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        self.weight: torch.Tensor
        self.bias: torch.Tensor | None
        self.register_buffer("weight", torch.from_numpy(np.ascontiguousarray(torch_weight, dtype=_F32)))
        self.register_buffer("bias", None if bias is None else torch.from_numpy(bias.astype(_F32).reshape(1, -1, 1, 1)))
        self.stride = tuple(op.options["stride"])
        self.dilation = tuple(op.options["dilation"])
        self.groups = in_info.shape[3] if depthwise else 1
        kernel = torch_weight.shape[2:]
        pads = spatial_pads(op.options, in_info.shape[1:3], kernel)
        # (left, right, top, bottom); the padding holds the zero point, i.e. 0 after the shift.
        self.pad = (pads[1][0], pads[1][1], pads[0][0], pads[0][1])
        scale = (_F32(in_scale) * weight_info.scales.astype(_F32)) / _F32(out_scale)
        bounds = _activation_range(op.options["activation"], out_scale, out_zero_point)
        self.requantize = _Requantize(scale, out_zero_point, bounds)
        _check_exact(op, torch_weight, bias, self.requantize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = functional.pad(x - self.input_zero_point, self.pad)
        accumulator = functional.conv2d(
            shifted, self.weight, stride=self.stride, dilation=self.dilation, groups=self.groups
        )
        if self.bias is not None:
            accumulator = accumulator + self.bias  # rounded once, as XNNPACK's float(acc) is
        # A no-op on every channel that can leave 2^24 (``_check_exact``); it also keeps
        # runtimes from folding the requantisation scale into the weights (onnxruntime's
        # Conv+Mul fusion), which would round the products.
        return self.requantize(torch.clamp(accumulator, -EXACT_LIMIT, EXACT_LIMIT))


def _check_exact(
    op: GraphOp, weight: npt.NDArray[np.int64], bias: npt.NDArray[np.int64] | None, requantize: _Requantize
) -> None:
    """Every output channel must come out as XNNPACK's, however a runtime orders the sums.

    |x - x_zp| <= 255, so the sum of products stays within ``worst = 255 * sum|w|`` of the
    bias. A channel is exact when ``|bias| + worst < 2^24`` (float32 integers are exact
    there, in any order of addition, and the clamp at 2^24 in ``forward`` never acts), or
    when it is saturated: every accumulator it can have, clamped, requantises to the same
    int8 value (int8 files park unused channels on huge biases, such as -1.5e8).
    """
    worst = np.abs(weight).reshape(weight.shape[0], -1).sum(axis=1) * 255
    if int(worst.max()) >= EXACT_LIMIT:
        raise Int8ArithmeticError(
            f"op {op.index}: accumulator may reach {int(worst.max())}, beyond float32's exact integers"
        )
    offset = np.zeros_like(worst) if bias is None else bias
    wide = np.flatnonzero(np.abs(offset) + worst >= EXACT_LIMIT)
    if wide.size == 0:
        return
    ends = torch.from_numpy(np.stack([offset - worst, offset + worst]).astype(np.float64))
    ends = torch.clamp(ends, -EXACT_LIMIT, EXACT_LIMIT).to(torch.float32).reshape(2, -1, 1, 1)
    q = requantize(ends).reshape(2, -1)[:, wide]
    if not torch.equal(q[0], q[1]):
        raise Int8ArithmeticError(f"op {op.index}: channels {wide.tolist()} may exceed float32's exact integers")


class _Operand(nn.Module):
    """One input of an elementwise op: an activation, or a constant of the file (int8 values)
    in the layout of the op's activations (``rank``: the output's)."""

    def __init__(self, index: int, graph: TfliteGraph, activations: set[int], rank: int) -> None:
        super().__init__()
        self.constant: torch.Tensor | None
        value = None
        if index not in activations:
            value = broadcast_constant(graph.constants[index].astype(_F32), rank)
        self.register_buffer("constant", None if value is None else torch.from_numpy(np.ascontiguousarray(value)))

    def take(self, given: Any) -> torch.Tensor:
        return self.constant if self.constant is not None else next(given)


class Int8Add(nn.Module):
    """ADD / SUB with XNNPACK's fixed-point arithmetic.

    ``out = (2^(s-1) - m_a * a_zp - m_b * b_zp + m_a * a + m_b * b) >> s`` with ``m = round(
    (a_scale / y_scale) * 2^s)`` and ``s`` chosen so that the larger |m| has 21 bits. The
    products reach 2^29, so each multiplier is split at 2^10 (``m = hi * 2^10 + lo``): the
    high parts sum below 2^21, the low parts below 2^19, and
    ``floor((2^10 * H + L) / 2^s) = floor((H + floor(L / 2^10)) / 2^(s - 10))``.
    """

    _SPLIT = 10

    def __init__(self, op: GraphOp, graph: TfliteGraph, activations: set[int]) -> None:
        super().__init__()
        (a_scale, a_zp), (b_scale, b_zp), (y_scale, y_zp) = (
            _grid(graph.tensors[i]) for i in (op.inputs[0], op.inputs[1], op.outputs[0])
        )
        a_ratio = _F32(a_scale) / _F32(y_scale)
        b_ratio = _F32(b_scale) / _F32(y_scale) * (_F32(-1.0) if op.kind == "SUB" else _F32(1.0))
        largest = max(abs(a_ratio), abs(b_ratio))
        shift = _ADD_MULTIPLIER_BITS - (math.frexp(float(largest))[1] - 1)
        if shift <= self._SPLIT or abs(largest) >= 256:
            raise Int8ArithmeticError(f"op {op.index}: scale ratio {largest} is out of XNNPACK's ADD range")
        a_mult, b_mult = (int(np.rint(float(r) * 2.0**shift)) for r in (a_ratio, b_ratio))
        bias = (1 << (shift - 1)) - a_mult * a_zp - b_mult * b_zp
        self.a_high, self.a_low = divmod(a_mult, 1 << self._SPLIT)
        self.b_high, self.b_low = divmod(b_mult, 1 << self._SPLIT)
        self.bias_high, self.bias_low = divmod(bias, 1 << self._SPLIT)
        self.shift = shift
        self.zero_point = float(y_zp)
        low, high = _activation_range(op.options["activation"], y_scale, y_zp)
        self.low, self.high = low - y_zp, high - y_zp
        rank = len(graph.tensors[op.outputs[0]].shape)
        self.left = _Operand(op.inputs[0], graph, activations, rank)
        self.right = _Operand(op.inputs[1], graph, activations, rank)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        given = iter(inputs)
        a, b = self.left.take(given), self.right.take(given)
        high = a * self.a_high + b * self.b_high + self.bias_high
        low = a * self.a_low + b * self.b_low + self.bias_low
        result = _floor_shift(high + _floor_shift(low, self._SPLIT), self.shift - self._SPLIT)
        return torch.clamp(result, self.low, self.high) + self.zero_point


class Int8Mul(nn.Module):
    """MUL: the exact product of the shifted int8 values, fp32 requantisation."""

    def __init__(self, op: GraphOp, graph: TfliteGraph, activations: set[int]) -> None:
        super().__init__()
        (a_scale, self.a_zp), (b_scale, self.b_zp), (y_scale, y_zp) = (
            _grid(graph.tensors[i]) for i in (op.inputs[0], op.inputs[1], op.outputs[0])
        )
        scale = _F32(_F32(a_scale) * _F32(b_scale)) / _F32(y_scale)
        bounds = _activation_range(op.options["activation"], y_scale, y_zp)
        self.requantize = _Requantize(scale, y_zp, bounds)
        rank = len(graph.tensors[op.outputs[0]].shape)
        self.left = _Operand(op.inputs[0], graph, activations, rank)
        self.right = _Operand(op.inputs[1], graph, activations, rank)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        given = iter(inputs)
        a, b = self.left.take(given), self.right.take(given)
        return self.requantize((a - self.a_zp) * (b - self.b_zp))


def resize_taps(
    in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool
) -> list[tuple[int, int, int]]:
    """(low index, high index, 11-bit weight of the high one) per output position.

    XNNPACK's bilinear indirection: source coordinates in float32, clamped to the input,
    the fraction rounded to 11 bits.
    """
    aligned = align_corners and out_size > 1
    scale = _F32(in_size - 1) / _F32(out_size - 1) if aligned else _F32(in_size) / _F32(out_size)
    offset = _F32(0.5) * scale - _F32(0.5) if half_pixel_centers else _F32(0.0)
    taps = []
    for out in range(out_size):
        source = min(max(_F32(_F32(out) * scale + offset), _F32(0.0)), _F32(in_size - 1))
        low = int(source)
        weight = int(np.rint(_F32(source - _F32(low)) * _F32(1 << _RESIZE_WEIGHT_BITS)))
        taps.append((low, min(low + 1, in_size - 1), weight))
    return taps


class Int8ResizeBilinear(nn.Module):
    """RESIZE_BILINEAR on int8 values, XNNPACK's integer lerps (input and output share a grid).

    ``t = (tl << 11) + (tr - tl) * wx``, ``b`` likewise, ``acc = (t << 11) + (b - t) * wy``,
    ``out = (acc + 2^21) >> 22``. Expanded, ``acc = 2^22 tl + 2^11 (A) + e * wx * wy`` with
    ``A = (tr - tl) wx + (bl - tl) wy`` and ``e = br - bl - tr + tl``; ``e * wx`` (< 2^20) is
    split at 2^11 so that every partial sum stays float32-exact.
    """

    def __init__(self, op: GraphOp, graph: TfliteGraph) -> None:
        super().__init__()
        in_info, out_info = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        if _grid(in_info) != _grid(out_info):
            raise Int8ArithmeticError(f"op {op.index}: RESIZE_BILINEAR that requantises is not supported")
        modes = (bool(op.options["align_corners"]), bool(op.options["half_pixel_centers"]))
        rows = resize_taps(in_info.shape[1], out_info.shape[1], *modes)
        columns = resize_taps(in_info.shape[2], out_info.shape[2], *modes)
        self.rows_low: torch.Tensor
        self.rows_high: torch.Tensor
        self.rows_weight: torch.Tensor
        self.columns_low: torch.Tensor
        self.columns_high: torch.Tensor
        self.columns_weight: torch.Tensor
        for name, taps, shape in (("rows", rows, (1, 1, -1, 1)), ("columns", columns, (1, 1, 1, -1))):
            low, high, weight = (torch.tensor([t[i] for t in taps]) for i in range(3))
            self.register_buffer(f"{name}_low", low)
            self.register_buffer(f"{name}_high", high)
            self.register_buffer(f"{name}_weight", weight.to(torch.float32).reshape(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = x.index_select(2, self.rows_low), x.index_select(2, self.rows_high)
        tl, tr = top.index_select(3, self.columns_low), top.index_select(3, self.columns_high)
        bl, br = bottom.index_select(3, self.columns_low), bottom.index_select(3, self.columns_high)
        wx, wy = self.columns_weight, self.rows_weight
        bits = _RESIZE_WEIGHT_BITS
        ex = (br - bl - tr + tl) * wx  # |.| < 2^20
        ex_high = _floor_shift(ex, bits)
        ex_low = ex - ex_high * 2.0**bits
        # acc + 2^21 = 2^22 tl + 2^11 (A + ex_high * wy) + ex_low * wy + 2^21
        middle = (tr - tl) * wx + (bl - tl) * wy + ex_high * wy
        return tl + _floor_shift(middle + _floor_shift(ex_low * wy + 2.0 ** (2 * bits - 1), bits), bits)


def logistic_table(in_scale: float, in_zero_point: int, out_scale: float, out_zero_point: int) -> npt.NDArray[Any]:
    """int8 -> int8 sigmoid for every input value, in float32 as XNNPACK builds its table."""
    q = np.arange(-128, 128)
    x = _F32(in_scale) * (q - in_zero_point).astype(_F32)
    y = _F32(1.0) / (_F32(1.0) + np.exp(-x, dtype=_F32))
    return np.clip(np.rint(y / _F32(out_scale) + _F32(out_zero_point)), -128, 127).astype(_F32)


class Int8Logistic(nn.Module):
    def __init__(self, op: GraphOp, graph: TfliteGraph) -> None:
        super().__init__()
        table = logistic_table(*_grid(graph.tensors[op.inputs[0]]), *_grid(graph.tensors[op.outputs[0]]))
        self.table: torch.Tensor
        self.register_buffer("table", torch.from_numpy(table))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table[(x + 128.0).to(torch.int64)]


class Dequantize(nn.Module):
    """int8 values -> the real values ``(q - zp) * scale`` (the network's outputs)."""

    def __init__(self, info: TensorInfo) -> None:
        super().__init__()
        self.scale, self.zero_point = _grid(info)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return (q - self.zero_point) * self.scale


_GRAPH_STEPS: dict[str, Any] = {
    "CAST": lambda op, graph, activations: nn.Identity(),  # uint8 -> float: the values stay
    "QUANTIZE": lambda op, graph, activations: Int8Quantize(op, graph),
    "CONV_2D": lambda op, graph, activations: Int8Conv(op, graph),
    "DEPTHWISE_CONV_2D": lambda op, graph, activations: Int8Conv(op, graph),
    "ADD": Int8Add,
    "SUB": Int8Add,
    "MUL": Int8Mul,
    "RESIZE_BILINEAR": lambda op, graph, activations: Int8ResizeBilinear(op, graph),
    "LOGISTIC": lambda op, graph, activations: Int8Logistic(op, graph),
}


def make_int8_step(op: GraphOp, graph: TfliteGraph, activations: set[int]) -> nn.Module:
    """The exact int8 torch step for one TFLite op."""
    if op.kind not in _GRAPH_STEPS:
        raise Int8ArithmeticError(f"op {op.index} ({op.kind}) has no exact int8 step")
    step: nn.Module = _GRAPH_STEPS[op.kind](op, graph, activations)
    return step
