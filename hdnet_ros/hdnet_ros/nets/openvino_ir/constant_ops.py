"""numpy evaluations of the IR ops that compute constants, as OpenVINO defines them.

These are the ops of the weight-decompression chains (Const f16 -> Convert f32) and of the
shape sub-graphs (ShapeOf -> Gather / StridedSlice / Concat / arithmetic -> a Reshape
target or an Interpolate size), and of grids computed in the graph (Range, Broadcast).
Each takes the layer and its input values and returns its output values; an attribute or
value it does not implement is an error naming the layer. The folding checks every result
against the IR's stated shape and element type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros.nets.openvino_ir.attributes import check_attributes, flag, integer, ints, require_inputs
from hdnet_ros.nets.openvino_ir.graph import ELEMENT_TYPES, IrConversionError, IrGraph, Layer

Array = npt.NDArray[Any]
Evaluation = Callable[[IrGraph, Layer, list[Array]], list[Array]]
BROADCASTS = ("numpy", "none")


def as_int64(values: Array) -> npt.NDArray[np.int64]:
    """Axes, shapes and indices as int64; u64 is read as the two's complement it stores (-1)."""
    if values.dtype == np.uint64:
        return values.view(np.int64)
    return values.astype(np.int64)


def normalise_axes(graph: IrGraph, layer: Layer, axes: Array, rank: int) -> list[int]:
    result = []
    for axis in as_int64(axes).reshape(-1).tolist():
        if not -rank <= axis < rank:
            raise graph.error(layer, f"axis {axis} is outside a rank-{rank} tensor")
        result.append(axis % rank)
    return result


def _convert(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(graph, layer, {"destination_type": ELEMENT_TYPES.keys()})
    # OpenVINO truncates floats to integers, as numpy's astype does (checked against it).
    return [inputs[0].astype(ELEMENT_TYPES[layer.attributes["destination_type"]])]


def _divide(graph: IrGraph, layer: Layer, a: Array, b: Array) -> Array:
    if a.dtype.kind == "f":
        return np.asarray(a / b, dtype=a.dtype)
    if flag(graph, layer, "m_pythondiv", True):
        return np.floor_divide(a, b)
    quotient = np.abs(a) // np.abs(b)
    return np.asarray(np.sign(a) * np.sign(b) * quotient, dtype=a.dtype)


_BINARY: dict[str, Callable[[Array, Array], Array]] = {
    "Add": np.add,
    "Subtract": np.subtract,
    "Multiply": np.multiply,
    "Maximum": np.maximum,
    "Minimum": np.minimum,
}


def _binary(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(graph, layer, {"auto_broadcast": BROADCASTS, "m_pythondiv": None})
    a, b = inputs
    if layer.type == "Divide":
        return [_divide(graph, layer, a, b)]
    return [np.asarray(_BINARY[layer.type](a, b), dtype=a.dtype)]


def _concat(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(graph, layer, {"axis": None})
    (axis,) = normalise_axes(graph, layer, np.array([integer(graph, layer, "axis")]), inputs[0].ndim)
    return [np.concatenate(inputs, axis=axis)]


def _mask(graph: IrGraph, layer: Layer, name: str, length: int) -> list[bool]:
    bits = ints(graph, layer, name, ())
    return [bool(bits[i]) if i < len(bits) else False for i in range(length)]


def _strided_slice(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(
        graph,
        layer,
        {"begin_mask": None, "end_mask": None, "new_axis_mask": None, "shrink_axis_mask": None, "ellipsis_mask": None},
    )
    data, begin, end = inputs[0], as_int64(inputs[1]), as_int64(inputs[2])
    stride = as_int64(inputs[3]) if len(inputs) > 3 else np.ones_like(begin)
    for unsupported in ("new_axis_mask", "shrink_axis_mask", "ellipsis_mask"):
        if any(_mask(graph, layer, unsupported, len(begin))):
            raise graph.error(layer, f"{unsupported} is not supported")
    # OpenVINO's masks: 1 = ignore the begin (end) value and take the whole axis (checked against it).
    ignore_begin = _mask(graph, layer, "begin_mask", len(begin))
    ignore_end = _mask(graph, layer, "end_mask", len(begin))
    index = tuple(
        slice(None if ignore_begin[i] else int(begin[i]), None if ignore_end[i] else int(end[i]), int(stride[i]))
        for i in range(len(begin))
    )
    return [np.array(data[index])]


def _gather(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(graph, layer, {"batch_dims": ("0",)})
    data, indices, axis = inputs
    (axis_value,) = normalise_axes(graph, layer, axis, data.ndim)
    return [np.take(data, as_int64(indices), axis=axis_value)]


def _squeeze(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(graph, layer, {})
    data = inputs[0]
    if len(inputs) == 1:
        return [np.squeeze(data)]
    return [np.squeeze(data, axis=tuple(normalise_axes(graph, layer, inputs[1], data.ndim)))]


def _unsqueeze(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(graph, layer, {})
    data, axes = inputs
    rank = data.ndim + as_int64(axes).size
    return [np.expand_dims(data, axis=tuple(sorted(normalise_axes(graph, layer, axes, rank))))]


def _range(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(graph, layer, {"output_type": ELEMENT_TYPES.keys()})
    # Range-4 names its output type; Range-1's is its inputs' type.
    dtype = ELEMENT_TYPES[layer.attributes["output_type"]] if layer.version == "opset4" else inputs[0].dtype
    start, stop, step = (np.asarray(v).reshape(()).astype(dtype) for v in inputs)
    count = max(int(np.ceil((float(stop) - float(start)) / float(step))), 0)
    # start + i * step in the output type, as OpenVINO's reference computes it.
    return [np.asarray(start + np.arange(count).astype(dtype) * step, dtype=dtype)]


def _broadcast(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(graph, layer, {"mode": ("numpy", "bidirectional")})
    data, target = inputs[0], tuple(as_int64(inputs[1]).tolist())
    if layer.attributes.get("mode", "numpy") == "bidirectional":
        target = np.broadcast_shapes(data.shape, target)
    return [np.array(np.broadcast_to(data, target))]


def _reshape(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(graph, layer, {"special_zero": None})
    data, target = inputs[0], as_int64(inputs[1]).tolist()
    if flag(graph, layer, "special_zero"):
        target = [data.shape[i] if v == 0 else v for i, v in enumerate(target)]
    return [data.reshape(target)]


def _transpose(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(graph, layer, {})
    data, order = inputs
    perm = as_int64(order).tolist() or list(reversed(range(data.ndim)))
    return [np.transpose(data, perm)]


def _shape_of(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    check_attributes(graph, layer, {"output_type": ("i32", "i64")})
    return [np.array(inputs[0].shape, dtype=ELEMENT_TYPES[layer.attributes.get("output_type", "i64")])]


# type -> (versions, evaluation, input counts)
CONSTANT_OPS: dict[str, tuple[tuple[str, ...], Evaluation, tuple[int, ...]]] = {
    "Convert": (("opset1",), _convert, (1,)),
    **{name: (("opset1",), _binary, (2,)) for name in (*_BINARY, "Divide")},
    "Concat": (("opset1",), _concat, tuple(range(1, 65))),
    "StridedSlice": (("opset1",), _strided_slice, (3, 4)),
    "Gather": (("opset1", "opset7", "opset8"), _gather, (3,)),
    "Squeeze": (("opset1",), _squeeze, (1, 2)),
    "Unsqueeze": (("opset1",), _unsqueeze, (2,)),
    "Range": (("opset1", "opset4"), _range, (3,)),
    "Broadcast": (("opset3",), _broadcast, (2,)),
    "Reshape": (("opset1",), _reshape, (2,)),
    "Transpose": (("opset1",), _transpose, (2,)),
    "ShapeOf": (("opset1", "opset3"), _shape_of, (1,)),
}


def can_evaluate(layer: Layer) -> bool:
    entry = CONSTANT_OPS.get(layer.type)
    return entry is not None and layer.version in entry[0]


def evaluate(graph: IrGraph, layer: Layer, inputs: list[Array]) -> list[Array]:
    """The layer's outputs on constant ``inputs`` (``can_evaluate(layer)`` must hold)."""
    _, evaluation, counts = CONSTANT_OPS[layer.type]
    require_inputs(graph, layer, counts)
    try:
        return evaluation(graph, layer, inputs)
    except IrConversionError:
        raise
    except (ValueError, IndexError, TypeError) as error:  # numpy's own: shapes or indices that do not fit
        raise graph.error(layer, f"cannot evaluate on its constant inputs ({error})") from error
