"""MoveNet SinglePose Lightning as a PyTorch module, rebuilt from the int8 TFLite file.

Why this exists: the released MoveNet is an int8 TFLite model. TensorRT cannot read TFLite
and ``tflite2onnx`` stops at the keypoint decoding inside the graph (ARG_MAX, GATHER_ND, ...).
The convolutional part is ordinary, so it is rebuilt here from the file itself:

* :func:`read_tflite_graph` reads the graph through the LiteRT interpreter: the op list and
  its topology from ``_get_ops_details()``, tensors and int8 weights from the tensor details,
  and the per-op options the interpreter does not expose (strides, padding, fused
  activations, the resize coordinate mode) from the flatbuffer through the schema reader
  that ships with ``ai-edge-litert``.
* :class:`MoveNet` executes the convolutional part of that op list with torch ops and
  float weights dequantised as ``(q - zero_point) * scale`` (per output channel where the
  file quantises per channel). It stops before the in-graph decoding and returns the four
  head tensors. It is an ordinary ``nn.Module``: ``.half()``, ``.cuda()``, ONNX export.
* ``MoveNet(graph, arithmetic="int8")`` (``load_movenet(path, arithmetic="int8")``) runs the
  int8 model's own integer arithmetic instead, bit for bit as LiteRT's default kernels
  do (:mod:`hdnet_ros.nets.movenet_int8`), in float32: the head tensors are LiteRT's.
* The decoding lives outside the network, in numpy:
  :func:`hdnet_ros.inference.movenet_codec.decode_movenet` turns the head tensors into the
  TFLite model's [N,17,3] (y, x, score) output.

Network contract (the ONNX export keeps it):

* input ``image``: [N,192,192,3], RGB, channels last, values 0..255 (uint8, or float32
  holding the same integers). Not normalised: the network computes ``x / 127.5 - 1``
  itself, as the TFLite graph does.
* outputs, channels last on the 48x48 grid (cell i covers input pixels 4i..4i+3):

  - ``center_heatmap`` [N,48,48,1]: sigmoid score of the person centre,
  - ``keypoint_heatmaps`` [N,48,48,17]: sigmoid score per joint,
  - ``keypoint_offsets`` [N,48,48,34]: (dy, dx) per joint in grid cells, interleaved
    y0, x0, y1, x1, ...: the sub-cell position of a joint found in that cell,
  - ``center_regression`` [N,48,48,34]: (dy, dx) per joint in grid cells from that cell,
    read at the person centre.

In the float arithmetic the weights are the int8 weights dequantised and the activations
stay float where the int8 model rounds every activation to 8 bits. Each op, fed the int8
model's own input tensors, matches the int8 op's output within 0.75 of its int8 step
(tested); through the whole network the roundings add up and the keypoints differ from
LiteRT's by about 1.5 px (median). The int8 arithmetic has no such difference; see
docs/inference.md for the figures.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional

LOGGER = logging.getLogger(__name__)

MOVENET_INPUT_SIZE = 192
MOVENET_GRID_SIZE = 48
MOVENET_NUM_KEYPOINTS = 17
INPUT_NAME = "image"
OUTPUT_NAMES: tuple[str, ...] = ("center_heatmap", "keypoint_heatmaps", "keypoint_offsets", "center_regression")
ONNX_OPSET = 17

# Op kinds that carry no arithmetic in a float network: the int8 graph uses them to move
# between number formats only.
_FORMAT_OPS = frozenset({"CAST", "QUANTIZE", "DEQUANTIZE"})
_ELEMENTWISE_OPS = frozenset({"ADD", "SUB", "MUL"})
_CLAMPS: dict[str, tuple[float | None, float | None]] = {
    "NONE": (None, None),
    "RELU": (0.0, None),
    "RELU6": (0.0, 6.0),
    "RELU_N1_TO_1": (-1.0, 1.0),
}


class MoveNetGraphError(ValueError):
    """The TFLite file is not a graph this module can rebuild; the message says why."""


@dataclass(frozen=True)
class TensorInfo:
    """One TFLite tensor: shape, stored type and quantisation."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scales: npt.NDArray[np.float64]
    zero_points: npt.NDArray[np.int64]
    quantized_dimension: int

    @property
    def quantized(self) -> bool:
        return self.scales.size > 0


@dataclass(frozen=True)
class GraphOp:
    """One TFLite operator; ``options`` are normalised (see ``_normalise_options``)."""

    index: int
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Mapping[str, Any]


@dataclass(frozen=True)
class TfliteGraph:
    """The parts of a TFLite file needed to rebuild its network."""

    path: Path
    input_index: int
    tensors: Mapping[int, TensorInfo]
    ops: tuple[GraphOp, ...]
    constants: Mapping[int, npt.NDArray[Any]]

    def dequantized(self, index: int) -> npt.NDArray[np.float32]:
        """A constant tensor as float32: ``(q - zero_point) * scale``, per channel if stored so."""
        return dequantize(self.constants[index], self.tensors[index])


def dequantize(values: npt.NDArray[Any], info: TensorInfo) -> npt.NDArray[np.float32]:
    if not info.quantized or values.dtype.kind == "f":
        return np.asarray(values, dtype=np.float32)
    shape = [1] * values.ndim
    if info.scales.size > 1:  # per-channel: one scale per index of the quantised dimension
        shape[info.quantized_dimension] = -1
    scales = info.scales.reshape(shape)
    zero_points = info.zero_points.reshape(shape)
    # np.asarray: arithmetic on a 0-d array returns a numpy scalar.
    return np.asarray((values.astype(np.float64) - zero_points) * scales, dtype=np.float32)


# ----------------------------------------------------------------------------------------
# Reading the TFLite file
# ----------------------------------------------------------------------------------------


def read_tflite_graph(path: str | Path) -> TfliteGraph:
    """Read the op list, tensors, constants and op options of a one-subgraph TFLite file."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TFLite file {path} does not exist")
    # Without the default XNNPACK delegate: it would replace runs of ops by DELEGATE nodes
    # in the op list.
    interpreter = Interpreter(
        model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interpreter.allocate_tensors()
    tensors = {int(d["index"]): _tensor_info(d) for d in interpreter.get_tensor_details()}
    details = interpreter._get_ops_details()  # the interpreter's only view of the topology
    options = _read_op_options(path)
    if len(options) != len(details):
        raise MoveNetGraphError(f"{path}: {len(details)} ops in the interpreter, {len(options)} in the file")
    ops = tuple(_graph_op(detail, options[i]) for i, detail in enumerate(details))
    produced = {t for op in ops for t in op.outputs}
    input_index = int(interpreter.get_input_details()[0]["index"])
    constants: dict[int, npt.NDArray[Any]] = {}
    for op in ops:
        for index in op.inputs:
            if index >= 0 and index not in produced and index != input_index and index not in constants:
                constants[index] = np.array(interpreter.get_tensor(index), copy=True)
    return TfliteGraph(path, input_index, tensors, ops, constants)


def _tensor_info(detail: Mapping[str, Any]) -> TensorInfo:
    quantization = detail["quantization_parameters"]
    return TensorInfo(
        index=int(detail["index"]),
        name=str(detail["name"]),
        shape=tuple(int(v) for v in detail["shape"]),
        dtype=np.dtype(detail["dtype"]),
        scales=np.asarray(quantization["scales"], dtype=np.float64),
        zero_points=np.asarray(quantization["zero_points"], dtype=np.int64),
        quantized_dimension=int(quantization["quantized_dimension"]),
    )


@dataclass(frozen=True)
class _FileOp:
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any]


def _graph_op(detail: Mapping[str, Any], file_op: _FileOp) -> GraphOp:
    inputs = tuple(int(i) for i in detail["inputs"])
    outputs = tuple(int(i) for i in detail["outputs"])
    kind = str(detail["op_name"])
    # The interpreter's op order is the file's; check it rather than trust it.
    if (kind, inputs, outputs) != (file_op.kind, file_op.inputs, file_op.outputs):
        raise MoveNetGraphError(f"op {detail['index']}: interpreter and file disagree ({kind} vs {file_op.kind})")
    return GraphOp(int(detail["index"]), kind, inputs, outputs, file_op.options)


def _read_op_options(path: Path) -> list[_FileOp]:
    """Op options from the flatbuffer (the interpreter does not expose them)."""
    schema = _tflite_schema()
    buffer = bytearray(path.read_bytes())
    get_root = getattr(schema.Model, "GetRootAs", None) or schema.Model.GetRootAsModel
    model = schema.ModelT.InitFromObj(get_root(buffer, 0))
    if model.subgraphs is None or len(model.subgraphs) != 1:
        raise MoveNetGraphError(f"{path}: expected one subgraph")
    op_names = _enum_names(schema.BuiltinOperator)
    activations = _enum_names(schema.ActivationFunctionType)
    paddings = _enum_names(schema.Padding)
    result = []
    for operator in model.subgraphs[0].operators or []:
        code = model.operatorCodes[operator.opcodeIndex]
        # Codes above 127 live only in builtinCode; older files only fill the deprecated field.
        kind = op_names[max(int(code.builtinCode), int(code.deprecatedBuiltinCode))]
        raw = vars(operator.builtinOptions) if operator.builtinOptions is not None else {}
        result.append(
            _FileOp(
                kind,
                tuple(int(i) for i in operator.inputs),
                tuple(int(i) for i in operator.outputs),
                _normalise_options(raw, activations, paddings),
            )
        )
    return result


def _tflite_schema() -> Any:
    """The flatbuffer schema reader: ai-edge-litert ships it; full TensorFlow has it too."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated
        except ImportError as error:
            raise MoveNetGraphError(
                "reading op options needs the TFLite schema module of ai-edge-litert "
                "(ai_edge_litert.schema_py_generated) or TensorFlow; neither is importable"
            ) from error
    return schema_py_generated


def _enum_names(enum_class: type) -> dict[int, str]:
    return {value: name for name, value in vars(enum_class).items() if not name.startswith("_")}


def _normalise_options(
    raw: Mapping[str, Any], activations: Mapping[int, str], paddings: Mapping[int, str]
) -> dict[str, Any]:
    """Schema field names -> the few keys the module builder reads."""
    options: dict[str, Any] = {"activation": activations[int(raw.get("fusedActivationFunction", 0))]}
    if "strideH" in raw:
        options["stride"] = (int(raw["strideH"]), int(raw["strideW"]))
        options["dilation"] = (int(raw.get("dilationHFactor", 1)), int(raw.get("dilationWFactor", 1)))
        options["padding"] = paddings[int(raw["padding"])]
    if "depthMultiplier" in raw:
        options["depth_multiplier"] = int(raw["depthMultiplier"])
    if "alignCorners" in raw:
        options["align_corners"] = bool(raw["alignCorners"])
        options["half_pixel_centers"] = bool(raw.get("halfPixelCenters", False))
    if "axis" in raw:
        options["axis"] = int(raw["axis"])
    return options


# ----------------------------------------------------------------------------------------
# Which tensors are the MoveNet heads
# ----------------------------------------------------------------------------------------


def movenet_head_tensors(graph: TfliteGraph) -> dict[str, int]:
    """Tensor index of each output in ``OUTPUT_NAMES``, found from the graph's structure.

    The two sigmoids are the centre (1 channel) and joint (17 channels) heatmaps. Of the two
    34-channel maps the decoding gathers from, the first is read at the centre (the
    regression to the joints) and the second at each joint (the offsets).
    """
    sigmoids = {graph.tensors[op.outputs[0]].shape[-1]: op.outputs[0] for op in graph.ops if op.kind == "LOGISTIC"}
    gathered = [
        op.inputs[0]
        for op in graph.ops
        if op.kind == "GATHER_ND" and graph.tensors[op.inputs[0]].shape[-1] == 2 * MOVENET_NUM_KEYPOINTS
    ]
    if 1 not in sigmoids or MOVENET_NUM_KEYPOINTS not in sigmoids or len(gathered) != 2:
        raise MoveNetGraphError(f"{graph.path} does not look like MoveNet SinglePose (heads not found)")
    heads = {
        "center_heatmap": sigmoids[1],
        "keypoint_heatmaps": sigmoids[MOVENET_NUM_KEYPOINTS],
        "keypoint_offsets": gathered[1],
        "center_regression": gathered[0],
    }
    for name, index in heads.items():
        LOGGER.debug("MoveNet head %s = tensor %d (%s)", name, index, graph.tensors[index].name)
    return heads


def ops_for_outputs(graph: TfliteGraph, outputs: Sequence[int]) -> list[GraphOp]:
    """The ops the outputs depend on, in the file's (topological) order."""
    producer = {t: op for op in graph.ops for t in op.outputs}
    needed: set[int] = set()
    pending = list(outputs)
    while pending:
        op = producer.get(pending.pop())
        if op is None or op.index in needed:
            continue
        needed.add(op.index)
        pending.extend(i for i in op.inputs if i >= 0)
    return [op for op in graph.ops if op.index in needed]


# ----------------------------------------------------------------------------------------
# Torch steps, one per TFLite op (NCHW inside the network)
# ----------------------------------------------------------------------------------------


def _nchw_constant(values: npt.NDArray[np.float32]) -> torch.Tensor:
    """A constant broadcast against NHWC activations, rearranged to broadcast against NCHW."""
    if values.ndim == 0:
        return torch.tensor(float(values))
    padded = values.reshape((1,) * (4 - values.ndim) + values.shape)
    return torch.from_numpy(np.ascontiguousarray(padded.transpose(0, 3, 1, 2)))


class _Activation(nn.Module):
    """A fused activation: a clamp (an ONNX Clip, which TensorRT fuses into the conv)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in _CLAMPS:
            raise MoveNetGraphError(f"fused activation {name} is not supported")
        self.low, self.high = _CLAMPS[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.low is None and self.high is None:
            return x
        return torch.clamp(x, min=self.low, max=self.high)


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME padding: the odd pixel goes after, which torch's symmetric padding can't express."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class _Conv(nn.Module):
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
        stride, dilation = op.options["stride"], op.options["dilation"]
        kernel = torch_weight.shape[2:]
        pads = [(0, 0), (0, 0)]
        if op.options["padding"] == "SAME":
            pads = [_same_padding(in_shape[1 + a], kernel[a], stride[a], dilation[a]) for a in range(2)]
        symmetric = all(before == after for before, after in pads)
        self.conv = nn.Conv2d(
            torch_weight.shape[1] * groups,
            torch_weight.shape[0],
            kernel_size=tuple(kernel),
            stride=stride,
            dilation=dilation,
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
        self.activation = _Activation(op.options["activation"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = functional.pad(x, self.pad)
        return self.activation(self.conv(x))


class _Elementwise(nn.Module):
    """ADD / SUB / MUL where either operand may be a constant of the file."""

    def __init__(self, op: GraphOp, graph: TfliteGraph, activations: set[int]) -> None:
        super().__init__()
        self.kind = op.kind
        left, right = op.inputs[:2]
        self.left: torch.Tensor | None
        self.right: torch.Tensor | None
        self.register_buffer("left", None if left in activations else _nchw_constant(graph.dequantized(left)))
        self.register_buffer("right", None if right in activations else _nchw_constant(graph.dequantized(right)))
        self.activation = _Activation(op.options["activation"])

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


class _ResizeBilinear(nn.Module):
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


class _Sigmoid(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _Concatenation(nn.Module):
    def __init__(self, op: GraphOp, graph: TfliteGraph) -> None:
        super().__init__()
        rank = len(graph.tensors[op.outputs[0]].shape)
        if rank != 4:
            raise MoveNetGraphError(f"op {op.index}: CONCATENATION of rank {rank} is not supported")
        self.axis = (0, 2, 3, 1)[op.options.get("axis", 0) % 4]  # NHWC axis -> NCHW axis
        self.activation = _Activation(op.options["activation"])

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(torch.cat(inputs, dim=self.axis))


def _make_step(op: GraphOp, graph: TfliteGraph, activations: set[int]) -> nn.Module:
    if op.kind in _FORMAT_OPS:
        return _Identity()
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return _Conv(op, graph, depthwise=op.kind == "DEPTHWISE_CONV_2D")
    if op.kind in _ELEMENTWISE_OPS:
        return _Elementwise(op, graph, activations)
    if op.kind == "RESIZE_BILINEAR":
        return _ResizeBilinear(op, graph)
    if op.kind == "LOGISTIC":
        return _Sigmoid()
    if op.kind == "CONCATENATION":
        return _Concatenation(op, graph)
    raise MoveNetGraphError(f"op {op.index} ({op.kind}) is not supported by the PyTorch rebuild")


# ----------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------


ARITHMETICS = ("float", "int8")


class MoveNet(nn.Module):
    """The convolutional part of MoveNet SinglePose, executed op by op from the TFLite graph.

    ``forward(image)`` takes [N,192,192,3] RGB 0..255 (see the module docstring) and returns
    the tuple of head tensors named by ``OUTPUT_NAMES``.

    ``arithmetic``:

    * ``"float"``: float weights (the int8 weights dequantised), float activations. For
      fp16 and TensorRT; the keypoints differ from LiteRT's by about 1.5 px (median).
    * ``"int8"``: the int8 model's own arithmetic, bit for bit as LiteRT's default (XNNPACK)
      kernels compute it (:mod:`hdnet_ros.nets.movenet_int8`): the head tensors, and so the
      keypoints, are LiteRT's exactly. fp32 only.
    """

    def __init__(self, graph: TfliteGraph, arithmetic: str = "float") -> None:
        super().__init__()
        if arithmetic not in ARITHMETICS:
            raise ValueError(f"arithmetic must be one of {ARITHMETICS}, not {arithmetic!r}")
        heads = movenet_head_tensors(graph)
        input_shape = graph.tensors[graph.input_index].shape
        if tuple(input_shape[1:]) != (MOVENET_INPUT_SIZE, MOVENET_INPUT_SIZE, 3):
            raise MoveNetGraphError(f"{graph.path}: input {input_shape} is not [1,192,192,3]")
        ops = ops_for_outputs(graph, list(heads.values()))
        activations = {graph.input_index} | {t for op in ops for t in op.outputs}
        self.arithmetic = arithmetic
        if arithmetic == "int8":
            from hdnet_ros.nets.movenet_int8 import Dequantize, make_int8_step

            self.steps = nn.ModuleList(make_int8_step(op, graph, activations) for op in ops)
            # int8 values inside, real values out: the same contract as the float network.
            self.outputs = nn.ModuleList(Dequantize(graph.tensors[heads[name]]) for name in OUTPUT_NAMES)
        else:
            self.steps = nn.ModuleList(_make_step(op, graph, activations) for op in ops)
            self.outputs = nn.ModuleList(_Identity() for _ in OUTPUT_NAMES)
        # Per step: the TFLite tensor indices it reads (activations only) and writes.
        self.wiring: tuple[tuple[tuple[int, ...], int], ...] = tuple(
            (tuple(i for i in op.inputs if i in activations), op.outputs[0]) for op in ops
        )
        self.input_index = graph.input_index
        self.output_indices = tuple(heads[name] for name in OUTPUT_NAMES)
        self._release_after = self._last_uses()
        # Follows .half()/.to(): the dtype the image is cast to.
        self._dtype_probe: torch.Tensor
        self.register_buffer("_dtype_probe", torch.zeros(()), persistent=False)
        LOGGER.debug("MoveNet rebuilt from %s: %d ops, %s arithmetic", graph.path, len(ops), arithmetic)

    def _last_uses(self) -> list[tuple[int, ...]]:
        """For each step, the tensors no later step reads (freed as the network runs)."""
        keep = set(self.output_indices)
        seen: set[int] = set()
        release: list[tuple[int, ...]] = []
        for inputs, _ in reversed(self.wiring):
            release.append(tuple(i for i in set(inputs) if i not in seen and i not in keep))
            seen.update(inputs)
        return release[::-1]

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        dtype = self._dtype_probe.dtype
        if self.arithmetic == "int8" and dtype not in (torch.float32, torch.float64):
            raise TypeError(f"the int8 arithmetic needs float32 (its sums reach 2^24), not {dtype}")
        x = image.to(dtype).permute(0, 3, 1, 2)  # NHWC -> NCHW
        values: dict[int, torch.Tensor] = {self.input_index: x}
        for step, (inputs, output), release in zip(self.steps, self.wiring, self._release_after, strict=True):
            values[output] = step(*[values[i] for i in inputs])
            for index in release:
                del values[index]
        return tuple(
            dequantize(values[i]).permute(0, 2, 3, 1)
            for dequantize, i in zip(self.outputs, self.output_indices, strict=True)
        )


def load_movenet(tflite_path: str | Path, arithmetic: str = "float") -> MoveNet:
    """MoveNet in eval mode, weights read from the int8 TFLite file.

    ``arithmetic``: ``"float"`` (fp16-capable) or ``"int8"`` (LiteRT's keypoints exactly,
    fp32 only); see :class:`MoveNet`.
    """
    return MoveNet(read_tflite_graph(tflite_path), arithmetic=arithmetic).eval()


def export_movenet_onnx(model: nn.Module, onnx_path: str | Path, opset: int = ONNX_OPSET) -> Path:
    """Export to ONNX with a dynamic batch axis (the person crops of a frame), one file.

    torch's dynamo exporter where it exists (torch >= 2.5): it writes opset 18 and its own
    conversion to 17 trips over Pad before its optimiser has folded the pads into the
    convolutions, so the optimised graph is converted here. Older torch: the TorchScript
    exporter, which writes the requested opset directly.
    """
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()  # the outermost module: every submodule in inference mode
    example = torch.zeros((2, MOVENET_INPUT_SIZE, MOVENET_INPUT_SIZE, 3), dtype=torch.float32)
    parameters = _exporter_parameters()
    if "dynamic_shapes" in parameters:
        _export_dynamo(model, example, onnx_path, opset)
    else:
        names = [INPUT_NAME, *OUTPUT_NAMES]
        # torch 2.5..2.8 also take dynamo=; without it they would pick the dynamo exporter.
        legacy: dict[str, Any] = {"dynamo": False} if "dynamo" in parameters else {}
        torch.onnx.export(
            model,
            (example,),
            str(onnx_path),
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            opset_version=opset,
            dynamic_axes={name: {0: "batch"} for name in names},
            **legacy,
        )
    return onnx_path


def _exporter_parameters() -> frozenset[str]:
    import inspect

    return frozenset(inspect.signature(torch.onnx.export).parameters)


def _export_dynamo(model: nn.Module, example: torch.Tensor, onnx_path: Path, opset: int) -> None:
    import onnx

    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.onnx.export(
        model,
        (example,),
        None,
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        opset_version=max(opset, 18),
        dynamo=True,
        dynamic_shapes={"image": {0: batch}},
        verbose=False,
    )
    if program is None:
        raise RuntimeError("torch.onnx.export returned no program")
    proto = program.model_proto
    if opset < 18:
        proto = onnx.version_converter.convert_version(proto, opset)
    onnx.save(proto, str(onnx_path))
