"""Each IR op type written as its ONNX equivalent (opset 13; HardSwish needs 14).

One function per op type, reading the layer through :class:`~.onnx_builder.Operands`.
Every attribute is checked (:mod:`.attributes`): a value not implemented here is an error
naming the layer, never a silently different network. Shapes are static, so where the IR
computes a shape (a Reshape target, an Interpolate size) the converter writes the IR's
stated output shape instead; with a dynamic batch the leading axis is left to the runtime
(Reshape ``-1``, Resize by scales). Semantics that differ between the two formats are
noted where they are mapped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hdnet_ros.nets.openvino_ir.attributes import check_attributes, flag, integer, ints, number, require_inputs, text
from hdnet_ros.nets.openvino_ir.constant_ops import as_int64, normalise_axes
from hdnet_ros.nets.openvino_ir.graph import ELEMENT_TYPES, IrGraph, Layer
from hdnet_ros.nets.openvino_ir.onnx_builder import ONNX_TYPES, Operands

Conversion = Callable[[Operands], None]
BROADCASTS = ("numpy", "none")
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def _axes(ops: Operands, index: int, rank: int) -> list[int]:
    return normalise_axes(ops.graph, ops.layer, ops.constant(index), rank)


def _unary(onnx_type: str, opset: int = 13) -> Conversion:
    def convert(ops: Operands) -> None:
        check_attributes(ops.graph, ops.layer, {})
        ops.builder.add(onnx_type, [ops.tensor(0)], [ops.output()], ops.layer.name, opset=opset)

    return convert


def _binary(onnx_type: str) -> Conversion:
    def convert(ops: Operands) -> None:
        check_attributes(ops.graph, ops.layer, {"auto_broadcast": BROADCASTS, "m_pythondiv": None})
        element = ops.layer.outputs[0].element_type
        if onnx_type == "Div" and not element.startswith("f") and flag(ops.graph, ops.layer, "m_pythondiv", True):
            raise ops.graph.error(ops.layer, "integer division rounding down (m_pythondiv) has no ONNX equivalent")
        ops.add(onnx_type, [ops.tensor(0), ops.tensor(1)])

    return convert


def _clamp(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {"min": None, "max": None})
    dtype = ELEMENT_TYPES[ops.layer.outputs[0].element_type]
    bounds = [number(ops.graph, ops.layer, key, math.nan) for key in ("min", "max")]
    names = [
        ops.builder.initializer(np.array(value, dtype=dtype), f"{ops.layer.name}/{key}")
        for value, key in zip(bounds, ("min", "max"), strict=True)
    ]
    ops.add("Clip", [ops.tensor(0), *names])


def _convert(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {"destination_type": ONNX_TYPES.keys()})
    ops.add("Cast", [ops.tensor(0)], to=ONNX_TYPES[ops.layer.attributes["destination_type"]])


def _pads(ops: Operands, rank: int) -> dict[str, Any]:
    auto_pad = text(ops.graph, ops.layer, "auto_pad", "explicit")
    if auto_pad in ("same_upper", "same_lower"):
        return {"auto_pad": auto_pad.upper()}
    if auto_pad == "valid":
        return {"pads": [0] * (2 * rank)}
    begin, end = ints(ops.graph, ops.layer, "pads_begin"), ints(ops.graph, ops.layer, "pads_end")
    if len(begin) != rank or len(end) != rank:
        raise ops.graph.error(ops.layer, f"pads_begin/pads_end must have {rank} entries")
    return {"pads": [*begin, *end]}


CONVOLUTION_ATTRIBUTES = {
    "strides": None,
    "dilations": None,
    "pads_begin": None,
    "pads_end": None,
    "auto_pad": ("explicit", "valid", "same_upper", "same_lower", "notset"),
}


def _convolution(ops: Operands) -> None:
    """Convolution: weights [O, I, k...]; GroupConvolution: [G, O/G, I/G, k...] -> ONNX's [O, I/G, k...]."""
    check_attributes(ops.graph, ops.layer, CONVOLUTION_ATTRIBUTES)
    weight_dims = ops.input_dims(1)
    grouped = ops.layer.type == "GroupConvolution"
    kernel = weight_dims[3:] if grouped else weight_dims[2:]
    group = weight_dims[0] if grouped else 1
    if not grouped:
        weights = ops.tensor(1)
    elif ops.is_constant(1):
        onnx_dims = (weight_dims[0] * weight_dims[1], *weight_dims[2:])
        weights = ops.builder.initializer(ops.constant(1).reshape(onnx_dims), f"{ops.layer.name}/weights")
    else:
        weights = ops.temporary("weights")
        onnx_dims = (weight_dims[0] * weight_dims[1], *weight_dims[2:])
        ops.add("Reshape", [ops.tensor(1), ops.int64s(onnx_dims, "weights_shape")], [weights])
    rank = len(kernel)
    ops.add(
        "Conv",
        [ops.tensor(0), weights],
        kernel_shape=list(kernel),
        strides=list(ints(ops.graph, ops.layer, "strides")),
        dilations=list(ints(ops.graph, ops.layer, "dilations", (1,) * rank)),
        group=group,
        **_pads(ops, rank),
    )


def _matmul(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {"transpose_a": None, "transpose_b": None})
    operands = []
    for index, key in enumerate(("transpose_a", "transpose_b")):
        name = ops.tensor(index)
        rank = len(ops.input_dims(index))
        if flag(ops.graph, ops.layer, key) and rank >= 2:  # a rank-1 operand is never transposed
            transposed = ops.temporary(key)
            ops.add("Transpose", [name], [transposed], perm=[*range(rank - 2), rank - 1, rank - 2])
            name = transposed
        operands.append(name)
    ops.add("MatMul", operands)


def _reshape(ops: Operands) -> None:
    """The IR's stated output shape (its target may be computed; the result is static)."""
    check_attributes(ops.graph, ops.layer, {"special_zero": None})
    dims = list(ops.output_dims())
    if ops.dynamic_batch and dims:
        dims[0] = -1  # the batch, whatever it is at run time
    ops.add("Reshape", [ops.tensor(0), ops.int64s(dims, "shape")])


def _transpose(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {})
    perm = as_int64(ops.constant(1)).tolist() or list(reversed(range(len(ops.input_dims()))))
    ops.add("Transpose", [ops.tensor(0)], perm=perm)


def _concat(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {"axis": None})
    (axis,) = normalise_axes(
        ops.graph, ops.layer, np.array([integer(ops.graph, ops.layer, "axis")]), len(ops.output_dims())
    )
    ops.add("Concat", [ops.tensor(i) for i in range(len(ops.layer.inputs))], axis=axis)


def _split(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {"num_splits": None})
    (axis,) = _axes(ops, 1, len(ops.input_dims()))
    if ops.dynamic_batch and axis == 0:
        raise ops.graph.error(ops.layer, "splits along the batch axis: the batch cannot be made dynamic")
    sizes = [ops.output_dims(i)[axis] for i in range(len(ops.layer.outputs))]
    outputs = [ops.output(i) for i in range(len(ops.layer.outputs))]
    ops.add("Split", [ops.tensor(0), ops.int64s(sizes, "split")], outputs, axis=axis)


def _squeeze(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {})
    dims = ops.input_dims()
    axes = _axes(ops, 1, len(dims)) if len(ops.layer.inputs) > 1 else [i for i, d in enumerate(dims) if d == 1]
    ops.add("Squeeze", [ops.tensor(0), ops.int64s(axes, "axes")])


def _unsqueeze(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {})
    ops.add("Unsqueeze", [ops.tensor(0), ops.int64s(sorted(_axes(ops, 1, len(ops.output_dims()))), "axes")])


def _softmax(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {"axis": None})
    (axis,) = normalise_axes(
        ops.graph, ops.layer, np.array([integer(ops.graph, ops.layer, "axis", 1)]), len(ops.input_dims())
    )
    ops.add("Softmax", [ops.tensor(0)], axis=axis)  # opset 13: along that one axis, as OpenVINO


def _hard_sigmoid(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {})
    alpha, beta = (float(ops.constant(i).reshape(-1)[0]) for i in (1, 2))
    ops.add("HardSigmoid", [ops.tensor(0)], alpha=alpha, beta=beta)


def _reduce_mean(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {"keep_dims": None})
    axes = _axes(ops, 1, len(ops.input_dims()))
    ops.add("ReduceMean", [ops.tensor(0)], axes=axes, keepdims=int(flag(ops.graph, ops.layer, "keep_dims")))


def _gather(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {"batch_dims": ("0",)})
    (axis,) = _axes(ops, 2, len(ops.input_dims()))
    ops.add("Gather", [ops.tensor(0), ops.tensor(1)], axis=axis)


def _strided_slice(ops: Operands) -> None:
    masks = ("begin_mask", "end_mask", "new_axis_mask", "shrink_axis_mask", "ellipsis_mask")
    check_attributes(ops.graph, ops.layer, dict.fromkeys(masks))
    begin, end = as_int64(ops.constant(1)), as_int64(ops.constant(2))
    steps = as_int64(ops.constant(3)) if len(ops.layer.inputs) > 3 else np.ones_like(begin)
    for unsupported in masks[2:]:
        if any(ints(ops.graph, ops.layer, unsupported, ())):
            raise ops.graph.error(ops.layer, f"{unsupported} is not supported")
    ignore_begin, ignore_end = (ints(ops.graph, ops.layer, key, ()) for key in masks[:2])
    starts, ends = [], []
    for i in range(len(begin)):
        forward = steps[i] > 0
        # Mask 1: the whole axis in the step's direction (OpenVINO's meaning, checked against it).
        skip_begin, skip_end = (i < len(m) and bool(m[i]) for m in (ignore_begin, ignore_end))
        starts.append((0 if forward else INT64_MAX) if skip_begin else int(begin[i]))
        ends.append((INT64_MAX if forward else INT64_MIN) if skip_end else int(end[i]))
    axes = list(range(len(begin)))
    if ops.dynamic_batch and 0 in axes and (starts[0], ends[0], steps[0]) != (0, INT64_MAX, 1):
        raise ops.graph.error(ops.layer, "slices the batch axis: the batch cannot be made dynamic")
    names = [ops.int64s(v, key) for v, key in ((starts, "starts"), (ends, "ends"), (axes, "axes"), (steps, "steps"))]
    ops.add("Slice", [ops.tensor(0), *names])


def _broadcast(ops: Operands) -> None:
    check_attributes(ops.graph, ops.layer, {"mode": ("numpy", "bidirectional")})
    # Expand broadcasts both ways; in numpy mode the result is the target shape either way.
    ops.add("Expand", [ops.tensor(0), ops.int64s(as_int64(ops.constant(1)), "shape")])


def _top_k(ops: Operands) -> None:
    check_attributes(
        ops.graph,
        ops.layer,
        {
            "axis": None,
            "mode": ("max", "min"),
            "sort": ("value", "index", "none"),
            "index_element_type": ("i32", "i64"),
        },
    )
    rank = len(ops.input_dims())
    (axis,) = normalise_axes(ops.graph, ops.layer, np.array([integer(ops.graph, ops.layer, "axis")]), rank)
    k = int(as_int64(ops.constant(1)).reshape(-1)[0])
    if text(ops.graph, ops.layer, "sort", "none") == "index" and k > 1:
        raise ops.graph.error(ops.layer, "sort=index with k > 1 (ONNX TopK sorts by value)")
    indices = ops.output(1)
    index_type = text(ops.graph, ops.layer, "index_element_type", "i32")
    raw_indices = indices if index_type == "i64" else ops.temporary("indices")
    largest = int(text(ops.graph, ops.layer, "mode", "max") == "max")
    ops.add(
        "TopK",
        [ops.tensor(0), ops.int64s([k], "k")],
        [ops.output(0), raw_indices],
        axis=axis,
        largest=largest,
        sorted=1,
    )
    if raw_indices != indices:
        ops.add("Cast", [raw_indices], [indices], to=ONNX_TYPES[index_type])


INTERPOLATE_ATTRIBUTES = {
    "mode": ("nearest", "linear_onnx", "cubic"),
    "shape_calculation_mode": ("sizes", "scales"),
    "coordinate_transformation_mode": (
        "half_pixel",
        "pytorch_half_pixel",
        "asymmetric",
        "tf_half_pixel_for_nn",
        "align_corners",
    ),
    "nearest_mode": ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple"),
    "antialias": ("false", "False", "0"),
    "pads_begin": None,
    "pads_end": None,
    "cube_coeff": None,
}
RESIZE_MODES = {"nearest": "nearest", "linear_onnx": "linear", "cubic": "cubic"}


def _interpolate(ops: Operands) -> None:
    """Interpolate-4 -> Resize-13 with scales (any batch) or, for a static batch in sizes mode, sizes."""
    graph, layer = ops.graph, ops.layer
    check_attributes(graph, layer, INTERPOLATE_ATTRIBUTES)
    if any(ints(graph, layer, "pads_begin", ())) or any(ints(graph, layer, "pads_end", ())):
        raise graph.error(layer, "padding before interpolation is not supported")
    in_dims, out_dims = ops.input_dims(), ops.output_dims()
    rank = len(in_dims)
    axes = _axes(ops, 3, rank) if len(layer.inputs) > 3 else list(range(rank))
    by_scales = text(graph, layer, "shape_calculation_mode", "sizes") == "scales"
    scales = np.ones(rank, dtype=np.float32)
    if by_scales:
        scales[axes] = ops.constant(2).astype(np.float32).reshape(-1)
    else:  # OpenVINO computes the sizes mode's scales as out / in, as Resize does
        scales = np.array([o / i for o, i in zip(out_dims, in_dims, strict=True)], dtype=np.float32)
    if ops.dynamic_batch and scales[0] != 1:
        raise graph.error(layer, "resizes the batch axis: the batch cannot be made dynamic")
    attributes: dict[str, Any] = {
        "mode": RESIZE_MODES[text(graph, layer, "mode", "nearest")],
        "coordinate_transformation_mode": text(graph, layer, "coordinate_transformation_mode", "half_pixel"),
        "cubic_coeff_a": number(graph, layer, "cube_coeff", -0.75),
        "nearest_mode": _nearest_mode(graph, layer, scales.tolist()),
    }
    if by_scales or ops.dynamic_batch:
        produced = [int(np.float32(s) * np.float32(d)) for s, d in zip(scales, in_dims, strict=True)]
        if tuple(produced) != out_dims:
            raise graph.error(
                layer, f"Resize by scales {scales.tolist()} would give {produced}, the IR says {list(out_dims)}"
            )
        scale_name = ops.builder.initializer(scales, f"{layer.name}/scales")
        ops.add("Resize", [ops.tensor(0), "", scale_name], **attributes)
    else:
        ops.add("Resize", [ops.tensor(0), "", "", ops.int64s(out_dims, "sizes")], **attributes)


def _nearest_mode(graph: IrGraph, layer: Layer, scales: Sequence[float]) -> str:
    mode = text(graph, layer, "nearest_mode", "round_prefer_floor")
    if mode != "simple":
        return mode
    # OpenVINO's "simple": truncation (= floor for these non-negative coordinates) when
    # upsampling, ceil when downsampling; one ONNX mode serves only one of the two.
    kinds = {"up" if s > 1 else "down" for s in scales if s != 1}
    if len(kinds) > 1:
        raise graph.error(layer, "nearest_mode=simple upsampling some axes and downsampling others")
    return "ceil" if kinds == {"down"} else "floor"


# type -> (versions, conversion, input counts)
ONNX_OPS: dict[str, tuple[tuple[str, ...], Conversion, tuple[int, ...]]] = {
    "Add": (("opset1",), _binary("Add"), (2,)),
    "Subtract": (("opset1",), _binary("Sub"), (2,)),
    "Multiply": (("opset1",), _binary("Mul"), (2,)),
    "Divide": (("opset1",), _binary("Div"), (2,)),
    "Maximum": (("opset1",), _binary("Max"), (2,)),
    "Minimum": (("opset1",), _binary("Min"), (2,)),
    "ReLU": (("opset1",), _unary("Relu"), (1,)),
    "Sigmoid": (("opset1",), _unary("Sigmoid"), (1,)),
    "Sqrt": (("opset1",), _unary("Sqrt"), (1,)),
    "Exp": (("opset1",), _unary("Exp"), (1,)),
    "Tanh": (("opset1",), _unary("Tanh"), (1,)),
    "Abs": (("opset1",), _unary("Abs"), (1,)),
    # x * min(max(x + 3, 0), 6) / 6, as ONNX's HardSwish (opset 14).
    "HSwish": (("opset4",), _unary("HardSwish", opset=14), (1,)),
    "HardSigmoid": (("opset1",), _hard_sigmoid, (3,)),
    "Clamp": (("opset1",), _clamp, (1,)),
    "Convert": (("opset1",), _convert, (1,)),
    "Convolution": (("opset1",), _convolution, (2,)),
    "GroupConvolution": (("opset1",), _convolution, (2,)),
    "MatMul": (("opset1",), _matmul, (2,)),
    "Reshape": (("opset1",), _reshape, (2,)),
    "Transpose": (("opset1",), _transpose, (2,)),
    "Concat": (("opset1",), _concat, tuple(range(1, 1025))),
    "Split": (("opset1",), _split, (2,)),
    "Squeeze": (("opset1",), _squeeze, (1, 2)),
    "Unsqueeze": (("opset1",), _unsqueeze, (2,)),
    "SoftMax": (("opset1", "opset8"), _softmax, (1,)),
    "ReduceMean": (("opset1",), _reduce_mean, (2,)),
    "Gather": (("opset1", "opset7", "opset8"), _gather, (3,)),
    "StridedSlice": (("opset1",), _strided_slice, (3, 4)),
    "Broadcast": (("opset3",), _broadcast, (2,)),
    "TopK": (("opset1", "opset3"), _top_k, (2,)),
    "Interpolate": (("opset4",), _interpolate, (3, 4)),
}


def convert_layer(ops: Operands) -> None:
    """Write ``ops.layer`` as ONNX nodes; an op type, version or attribute not implemented is an error."""
    layer, graph = ops.layer, ops.graph
    entry = ONNX_OPS.get(layer.type)
    if entry is None:
        raise graph.error(layer, f"op type {layer.type} is not supported on values that depend on the input")
    versions, conversion, counts = entry
    if layer.version not in versions:
        raise graph.error(layer, f"{layer.type} of {layer.version} is not supported (supported: {', '.join(versions)})")
    require_inputs(graph, layer, counts)
    conversion(ops)
