"""The ONNX graph under construction, and one layer's view of it (:class:`Operands`).

Tensor names are the IR's own (a port's first ``names`` entry) where it has them and they
are unique, else ``<layer name>:<port id>``: a converted node can be found in the IR by
name. A folded IR value becomes an initializer once, the first time a node reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

from hdnet_ros.nets.openvino_ir.graph import ELEMENT_TYPES, IrGraph, Layer, PortRef

BASE_OPSET = 13
# IR types -> ONNX element types (bool and the integers as onnx names them).
ONNX_TYPES: dict[str, int] = {name: helper.np_dtype_to_tensor_dtype(dtype) for name, dtype in ELEMENT_TYPES.items()}


class OnnxGraphBuilder:
    """Nodes, initializers and names of the ONNX graph being written; the opset it needs."""

    def __init__(self, graph: IrGraph, folded: Mapping[PortRef, npt.NDArray[Any]]) -> None:
        self.graph = graph
        self.folded = folded
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.opset = BASE_OPSET
        self._names: set[str] = set()
        self._tensor_names: dict[PortRef, str] = {}
        self._constant_names: dict[PortRef, str] = {}

    def unique(self, hint: str) -> str:
        name, suffix = hint, 1
        while name in self._names:
            suffix += 1
            name = f"{hint}_{suffix}"
        self._names.add(name)
        return name

    def tensor_name(self, ref: PortRef) -> str:
        """The ONNX name of an IR output port computed by a node (given once, on first use)."""
        if ref not in self._tensor_names:
            layer = self.graph.layer(ref[0])
            port = self.graph.output_port(ref)
            preferred = port.names[0] if port.names and port.names[0] not in self._names else f"{layer.name}:{ref[1]}"
            self._tensor_names[ref] = self.unique(preferred)
        return self._tensor_names[ref]

    def constant_name(self, ref: PortRef) -> str:
        """The initializer holding a folded IR value (added on first use)."""
        if ref not in self._constant_names:
            self._constant_names[ref] = self.initializer(self.folded[ref], self.graph.layer(ref[0]).name)
        return self._constant_names[ref]

    def initializer(self, array: npt.ArrayLike, hint: str) -> str:
        name = self.unique(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def add(
        self,
        op_type: str,
        inputs: Sequence[str],
        outputs: Sequence[str],
        name: str,
        opset: int = BASE_OPSET,
        **attributes: Any,
    ) -> None:
        self.opset = max(self.opset, opset)
        self.nodes.append(helper.make_node(op_type, list(inputs), list(outputs), name=self.unique(name), **attributes))

    def model(
        self,
        inputs: Sequence[onnx.ValueInfoProto],
        outputs: Sequence[onnx.ValueInfoProto],
        producer: str,
        version: str,
        properties: Mapping[str, str],
    ) -> onnx.ModelProto:
        """The model of the nodes added so far, with the initializers they read, at the lowest
        ONNX IR version the opset allows (older runtimes read it)."""
        read = {name for node in self.nodes for name in node.input}
        initializers = [tensor for tensor in self.initializers if tensor.name in read]
        graph = helper.make_graph(self.nodes, self.graph.path.stem, list(inputs), list(outputs), initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", self.opset)], producer_name=producer, producer_version=version
        )
        model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
        helper.set_model_props(model, dict(properties))
        return model


@dataclass(frozen=True)
class Operands:
    """What converting one layer needs: its inputs (tensor names or folded constants), its
    output names, the IR's static dims, and the conversion's batch mode."""

    builder: OnnxGraphBuilder
    layer: Layer
    sources: tuple[PortRef, ...]
    dynamic_batch: bool

    @property
    def graph(self) -> IrGraph:
        return self.builder.graph

    def is_constant(self, index: int) -> bool:
        return self.sources[index] in self.builder.folded

    def constant(self, index: int) -> npt.NDArray[Any]:
        if not self.is_constant(index):
            raise self.graph.error(self.layer, f"input {index} must be a constant, it depends on the network's input")
        return self.builder.folded[self.sources[index]]

    def tensor(self, index: int) -> str:
        """Input ``index`` as an ONNX tensor name (a folded value becomes an initializer)."""
        source = self.sources[index]
        if source in self.builder.folded:
            return self.builder.constant_name(source)
        return self.builder.tensor_name(source)

    def output(self, index: int = 0) -> str:
        return self.builder.tensor_name((self.layer.id, self.layer.outputs[index].id))

    def input_dims(self, index: int = 0) -> tuple[int, ...]:
        return self.layer.inputs[index].dims

    def output_dims(self, index: int = 0) -> tuple[int, ...]:
        return self.layer.outputs[index].dims

    def add(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str] | None = None, **attributes: Any) -> None:
        """One node for this layer (outputs default to the layer's first output)."""
        self.builder.add(
            op_type, inputs, outputs if outputs is not None else [self.output()], self.layer.name, **attributes
        )

    def temporary(self, suffix: str) -> str:
        return self.builder.unique(f"{self.layer.name}/{suffix}")

    def int64s(self, values: Sequence[int] | npt.NDArray[Any], suffix: str) -> str:
        """An int64 initializer for this layer (axes, shapes, sizes)."""
        return self.builder.initializer(np.asarray(values, dtype=np.int64), f"{self.layer.name}/{suffix}")
