"""Every value of the IR that does not depend on the input, computed once.

Const layers give their values; ShapeOf gives the IR's static shape of its input, whatever
computes that input (every shape is static: :mod:`.graph` refuses dynamic dimensions); an
op whose inputs are all known and that :mod:`.constant_ops` can evaluate gives its
outputs. What remains depends on the input and becomes ONNX nodes. So fp16 weights become
fp32 arrays (the decompression Convert is exact), and a shape sub-graph becomes the
Reshape target or Interpolate size it computes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros.logs import get_logger
from hdnet_ros.nets.openvino_ir.attributes import check_attributes
from hdnet_ros.nets.openvino_ir.constant_ops import can_evaluate, evaluate
from hdnet_ros.nets.openvino_ir.graph import ELEMENT_TYPES, IrGraph, Layer, PortRef

LOGGER = get_logger(__name__)


def fold_constants(graph: IrGraph) -> dict[PortRef, npt.NDArray[Any]]:
    """(layer id, output port id) -> value, for every output that does not depend on the input."""
    values: dict[PortRef, npt.NDArray[Any]] = {}
    for layer in graph.layers:
        outputs = _fold(graph, layer, values)
        if outputs is None:
            continue
        if len(outputs) != len(layer.outputs):
            raise graph.error(layer, f"gave {len(outputs)} values for {len(layer.outputs)} outputs")
        for port, value in zip(layer.outputs, outputs, strict=True):
            _check(graph, layer, port.dims, port.element_type, value)
            values[(layer.id, port.id)] = value
    LOGGER.debug("%s: %d constant values", graph.path, len(values))
    return values


def _fold(graph: IrGraph, layer: Layer, values: dict[PortRef, npt.NDArray[Any]]) -> list[npt.NDArray[Any]] | None:
    if layer.type == "Const":
        return [graph.constants[layer.id]]
    if layer.type == "ShapeOf" and layer.version in ("opset1", "opset3"):
        check_attributes(graph, layer, {"output_type": ("i32", "i64")})
        dtype = ELEMENT_TYPES[layer.attributes.get("output_type", "i64")]
        return [np.array(layer.inputs[0].dims, dtype=dtype)]
    sources = graph.input_sources(layer)
    if not sources or not can_evaluate(layer) or any(source not in values for source in sources):
        return None
    return evaluate(graph, layer, [values[source] for source in sources])


def _check(graph: IrGraph, layer: Layer, dims: tuple[int, ...], element_type: str, value: npt.NDArray[Any]) -> None:
    """A folded value must be what the IR says the output is: a wrong evaluation stops here."""
    if value.shape != dims:
        raise graph.error(layer, f"folds to shape {list(value.shape)}, the IR says {list(dims)}")
    expected = ELEMENT_TYPES.get(element_type)
    if expected is not None and value.dtype != expected:
        raise graph.error(layer, f"folds to {value.dtype}, the IR says {element_type}")
