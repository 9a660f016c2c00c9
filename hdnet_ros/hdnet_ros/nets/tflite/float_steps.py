"""One float torch step per TFLite op kind (rank-4 activations NCHW inside).

Weights are the file's constants as float32: int8 ones dequantised as
``(q - zero_point) * scale`` (per output channel where stored so), float16 ones widened
(``graph.fold_constant_dequantize``). Every step is an ordinary module: ``.half()``,
``.cuda()`` and ONNX export work on the network they make up.

Covered: CONV_2D, DEPTHWISE_CONV_2D, ADD, SUB, MUL, PAD, RESHAPE, MAX_POOL_2D,
RESIZE_BILINEAR, LOGISTIC, CONCATENATION, and CAST / QUANTIZE / DEQUANTIZE of activations
(no arithmetic in a float network).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional

from hdnet_ros.nets.tflite.graph import GraphOp, TfliteGraph
from hdnet_ros.nets.tflite.layout import NCHW_AXIS, broadcast_constant, spatial_pads
from hdnet_ros.nets.tflite.schema import TfliteGraphError

# Op kinds that carry no arithmetic in a float network: int8 graphs use them to move
# between number formats only.
FORMAT_OPS = frozenset({"CAST", "QUANTIZE", "DEQUANTIZE"})
ELEMENTWISE_OPS = frozenset({"ADD", "SUB", "MUL"})
CLAMPS: dict[str, tuple[float | None, float | None]] = {
    "NONE": (None, None),
    "RELU": (0.0, None),
    "RELU6": (0.0, 6.0),
    "RELU_N1_TO_1": (-1.0, 1.0),
}


def _rank(graph: TfliteGraph, index: int) -> int:
    return len(graph.tensors[index].shape)


class Activation(nn.Module):
    """A fused activation: a clamp (an ONNX Clip, which TensorRT fuses into the conv)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in CLAMPS:
            raise TfliteGraphError(f"fused activation {name} is not supported")
        self.low, self.high = CLAMPS[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.low is None and self.high is None:
            return x
        return torch.clamp(x, min=self.low, max=self.high)


class Conv(nn.Module):
    """CONV_2D / DEPTHWISE_CONV_2D with the fused activation; an asymmetric SAME pad explicitly."""

    def __init__(self, op: GraphOp, graph: TfliteGraph, depthwise: bool) -> None:
        super().__init__()
        weight = graph.dequantized(op.inputs[1])
        bias = graph.dequantized(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        in_shape = graph.tensors[op.inputs[0]].shape  # NHWC
        if depthwise:  # [1, kh, kw, C * multiplier] -> [C * multiplier, 1, kh, kw]
            torch_weight = weight[0].transpose(2, 0, 1)[:, None]
            groups = in_shape[3]
        else:  # [O, kh, kw, I] -> [O, I, kh, kw]
            torch_weight = weight.transpose(0, 3, 1, 2)
            groups = 1
        kernel = torch_weight.shape[2:]
        pads = spatial_pads(op.options, in_shape[1:3], kernel)
        symmetric = all(before == after for before, after in pads)
        self.conv = nn.Conv2d(
            torch_weight.shape[1] * groups,
            torch_weight.shape[0],
            kernel_size=tuple(kernel),
            stride=op.options["stride"],
            dilation=op.options["dilation"],
            groups=groups,
            bias=bias is not None,
            padding=(pads[0][0], pads[1][0]) if symmetric else 0,
        )
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(torch_weight)))
            if bias is not None and self.conv.bias is not None:
                self.conv.bias.copy_(torch.from_numpy(bias))
        self.conv.requires_grad_(False)
        # functional.pad order is (left, right, top, bottom).
        self.pad = None if symmetric else (pads[1][0], pads[1][1], pads[0][0], pads[0][1])
        self.activation = Activation(op.options["activation"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = functional.pad(x, self.pad)
        return self.activation(self.conv(x))


class Elementwise(nn.Module):
    """ADD / SUB / MUL where either operand may be a constant of the file."""

    def __init__(self, op: GraphOp, graph: TfliteGraph, activations: set[int]) -> None:
        super().__init__()
        self.kind = op.kind
        left, right = op.inputs[:2]
        rank = _rank(graph, op.outputs[0])
        self.left: torch.Tensor | None
        self.right: torch.Tensor | None
        for name, index in (("left", left), ("right", right)):
            value = None if index in activations else broadcast_constant(graph.dequantized(index), rank)
            self.register_buffer(name, None if value is None else torch.from_numpy(np.asarray(value, np.float32)))
        self.activation = Activation(op.options["activation"])

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        given = iter(inputs)
        a = self.left if self.left is not None else next(given)
        b = self.right if self.right is not None else next(given)
        if self.kind == "ADD":
            result = a + b
        elif self.kind == "SUB":
            result = a - b
        else:
            result = a * b
        return self.activation(result)


class Pad(nn.Module):
    """PAD: zeros before and after each axis, as the file's [rank, 2] constant says."""

    def __init__(self, op: GraphOp, graph: TfliteGraph) -> None:
        super().__init__()
        if op.inputs[1] not in graph.constants:
            raise TfliteGraphError(f"op {op.index}: PAD with computed paddings is not supported")
        paddings = np.asarray(graph.constants[op.inputs[1]], dtype=np.int64).reshape(-1, 2)
        if np.any(paddings[0] != 0):
            raise TfliteGraphError(f"op {op.index}: PAD of the batch axis is not supported")
        if np.any(paddings < 0):
            raise TfliteGraphError(f"op {op.index}: negative PAD is not supported")
        if len(paddings) == 4:  # NHWC paddings, NCHW tensor
            paddings = paddings[[0, 3, 1, 2]]
        # functional.pad takes (before, after) pairs from the last axis backwards.
        self.pad = tuple(int(v) for pair in paddings[:0:-1] for v in pair)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.pad(x, self.pad)


class Reshape(nn.Module):
    """RESHAPE to the output tensor's shape, the batch axis kept free (the crops of a frame).

    TFLite's row-major order is that of the NHWC tensor, so a rank-4 input goes back to NHWC
    before the reshape and a rank-4 output to NCHW after it.
    """

    def __init__(self, op: GraphOp, graph: TfliteGraph) -> None:
        super().__init__()
        in_shape = graph.tensors[op.inputs[0]].shape
        out_shape = graph.tensors[op.outputs[0]].shape
        if not in_shape or not out_shape or in_shape[0] != out_shape[0] or min(out_shape) < 1:
            raise TfliteGraphError(
                f"op {op.index}: RESHAPE {list(in_shape)} -> {list(out_shape)} does not keep the batch axis"
            )
        self.in_rank4 = len(in_shape) == 4
        self.out_rank4 = len(out_shape) == 4
        self.shape = tuple(out_shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_rank4:
            x = x.permute(0, 2, 3, 1)
        x = x.reshape(-1, *self.shape)
        return x.permute(0, 3, 1, 2) if self.out_rank4 else x


class MaxPool(nn.Module):
    """MAX_POOL_2D; SAME padding pads with -inf (TensorFlow ignores the padded positions)."""

    def __init__(self, op: GraphOp, graph: TfliteGraph) -> None:
        super().__init__()
        in_shape = graph.tensors[op.inputs[0]].shape
        self.kernel = tuple(op.options["filter"])
        self.stride = tuple(op.options["stride"])
        pads = spatial_pads(op.options, in_shape[1:3], self.kernel)
        self.pad = None if pads == [(0, 0), (0, 0)] else (pads[1][0], pads[1][1], pads[0][0], pads[0][1])
        self.activation = Activation(op.options["activation"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = functional.pad(x, self.pad, value=-math.inf)
        return self.activation(functional.max_pool2d(x, self.kernel, self.stride))


def resize_matrix(
    in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool
) -> npt.NDArray[np.float32]:
    """[out, in] weights of TensorFlow's RESIZE_BILINEAR along one axis.

    TensorFlow's three coordinate modes (align_corners, half_pixel_centers, neither: the
    legacy "asymmetric" one) are spelt out here instead of relying on a framework resize
    whose mode names differ between torch, ONNX and TensorRT: a matrix product exports and
    runs the same everywhere.
    """
    scale = (in_size - 1) / (out_size - 1) if align_corners and out_size > 1 else in_size / out_size
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    for out in range(out_size):
        source = (out + 0.5) * scale - 0.5 if half_pixel_centers else out * scale
        floor = math.floor(source)
        lerp = source - floor
        low, high = min(max(floor, 0), in_size - 1), min(max(floor + 1, 0), in_size - 1)
        matrix[out, low] += 1.0 - lerp
        matrix[out, high] += lerp
    return matrix.astype(np.float32)


class ResizeBilinear(nn.Module):
    def __init__(self, op: GraphOp, graph: TfliteGraph) -> None:
        super().__init__()
        _, in_h, in_w, _ = graph.tensors[op.inputs[0]].shape
        _, out_h, out_w, _ = graph.tensors[op.outputs[0]].shape
        modes = (bool(op.options["align_corners"]), bool(op.options["half_pixel_centers"]))
        self.rows: torch.Tensor
        self.columns: torch.Tensor
        self.register_buffer("rows", torch.from_numpy(resize_matrix(in_h, out_h, *modes)))
        self.register_buffer("columns", torch.from_numpy(np.ascontiguousarray(resize_matrix(in_w, out_w, *modes).T)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # [out_h, in_h] @ [N, C, in_h, in_w] @ [in_w, out_w]
        return torch.matmul(torch.matmul(self.rows, x), self.columns)


class Sigmoid(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Concatenation(nn.Module):
    def __init__(self, op: GraphOp, graph: TfliteGraph) -> None:
        super().__init__()
        rank = _rank(graph, op.outputs[0])
        axis = op.options.get("axis", 0) % rank
        self.axis = NCHW_AXIS[axis] if rank == 4 else axis
        self.activation = Activation(op.options["activation"])

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(torch.cat(inputs, dim=self.axis))


# Steps built from the op and the graph alone.
_SHAPE_STEPS: dict[str, Callable[[GraphOp, TfliteGraph], nn.Module]] = {
    "PAD": Pad,
    "RESHAPE": Reshape,
    "MAX_POOL_2D": MaxPool,
    "RESIZE_BILINEAR": ResizeBilinear,
    "CONCATENATION": Concatenation,
}


def make_float_step(op: GraphOp, graph: TfliteGraph, activations: set[int]) -> nn.Module:
    """The float torch step for one TFLite op; an op kind not covered is a TfliteGraphError."""
    if op.kind in FORMAT_OPS:
        return Identity()
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return Conv(op, graph, depthwise=op.kind == "DEPTHWISE_CONV_2D")
    if op.kind in ELEMENTWISE_OPS:
        return Elementwise(op, graph, activations)
    if op.kind in _SHAPE_STEPS:
        return _SHAPE_STEPS[op.kind](op, graph)
    if op.kind == "LOGISTIC":
        return Sigmoid()
    raise TfliteGraphError(f"op {op.index} ({op.kind}) is not supported by the PyTorch rebuild")
