"""A one-subgraph TFLite file as a typed graph: tensors, constants, ops with normalised options.

The op list and topology come from the LiteRT interpreter (``_get_ops_details()``, with
the default XNNPACK delegate off so the list holds the file's real ops), tensors and
constants from its tensor details; the options the interpreter does not expose come from
the flatbuffer (:mod:`.schema`), and the two views are checked against each other.
numpy and LiteRT only: no torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros.logs import get_logger
from hdnet_ros.nets.tflite.schema import FileOp, TfliteGraphError, read_file_ops

LOGGER = get_logger(__name__)


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
    """One TFLite operator; ``options`` are normalised (see ``schema.normalise_options``)."""

    index: int
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Mapping[str, Any]


@dataclass(frozen=True)
class TfliteGraph:
    """The parts of a TFLite file needed to rebuild its network.

    ``output_indices``: the file's own outputs (a rebuild may choose other tensors).
    """

    path: Path
    input_index: int
    tensors: Mapping[int, TensorInfo]
    ops: tuple[GraphOp, ...]
    constants: Mapping[int, npt.NDArray[Any]]
    output_indices: tuple[int, ...] = ()

    def dequantized(self, index: int) -> npt.NDArray[np.float32]:
        """A constant tensor as float32: ``(q - zero_point) * scale``, per channel if stored so."""
        return dequantize(self.constants[index], self.tensors[index])


def dequantize(values: npt.NDArray[Any], info: TensorInfo) -> npt.NDArray[np.float32]:
    """Stored values as float32: int8/uint8 with their grid; float16/float32 widened as they are."""
    if not info.quantized or values.dtype.kind == "f":
        return np.asarray(values, dtype=np.float32)
    shape = [1] * values.ndim
    if info.scales.size > 1:  # per-channel: one scale per index of the quantised dimension
        shape[info.quantized_dimension] = -1
    scales = info.scales.reshape(shape)
    zero_points = info.zero_points.reshape(shape)
    # np.asarray: arithmetic on a 0-d array returns a numpy scalar.
    return np.asarray((values.astype(np.float64) - zero_points) * scales, dtype=np.float32)


def read_tflite_graph(path: str | Path) -> TfliteGraph:
    """Read the op list, tensors, constants and op options of a one-subgraph TFLite file.

    A file LiteRT cannot read raises ``ValueError`` (LiteRT's own message, or
    :class:`TfliteGraphError` when the flatbuffer and the interpreter disagree).
    """
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
    file_ops = read_file_ops(path)
    if len(file_ops) != len(details):
        raise TfliteGraphError(f"{path}: {len(details)} ops in the interpreter, {len(file_ops)} in the file")
    ops = tuple(_graph_op(detail, file_ops[i]) for i, detail in enumerate(details))
    inputs = interpreter.get_input_details()
    if len(inputs) != 1:
        raise TfliteGraphError(f"{path}: the rebuild takes one input, the file has {len(inputs)}")
    input_index = int(inputs[0]["index"])
    produced = {t for op in ops for t in op.outputs}
    constants: dict[int, npt.NDArray[Any]] = {}
    for op in ops:
        for index in op.inputs:
            if index >= 0 and index not in produced and index != input_index and index not in constants:
                constants[index] = np.array(interpreter.get_tensor(index), copy=True)
    outputs = tuple(int(d["index"]) for d in interpreter.get_output_details())
    return TfliteGraph(path, input_index, tensors, ops, constants, outputs)


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


def _graph_op(detail: Mapping[str, Any], file_op: FileOp) -> GraphOp:
    inputs = tuple(int(i) for i in detail["inputs"])
    outputs = tuple(int(i) for i in detail["outputs"])
    kind = str(detail["op_name"])
    # The interpreter's op order is the file's; check it rather than trust it.
    if (kind, inputs, outputs) != (file_op.kind, file_op.inputs, file_op.outputs):
        raise TfliteGraphError(f"op {detail['index']}: interpreter and file disagree ({kind} vs {file_op.kind})")
    return GraphOp(int(detail["index"]), kind, inputs, outputs, file_op.options)


def fold_constant_dequantize(graph: TfliteGraph) -> TfliteGraph:
    """The graph with every DEQUANTIZE of a float16 constant replaced by its float32 result.

    Float files store their weights as float16 constants, each widened by a DEQUANTIZE op
    before the op that uses it; widening is exact, so it is done once here and the
    convolutions get ordinary float32 weights. (int8 DEQUANTIZE ops of activations stay.)
    """
    constants = dict(graph.constants)
    tensors = dict(graph.tensors)
    kept = []
    for op in graph.ops:
        source = op.inputs[0] if op.inputs else -1
        if op.kind == "DEQUANTIZE" and source in constants and constants[source].dtype == np.float16:
            (target,) = op.outputs
            constants[target] = constants[source].astype(np.float32)
            tensors[target] = dataclasses.replace(tensors[target], dtype=np.dtype(np.float32))
        else:
            kept.append(op)
    if len(kept) == len(graph.ops):
        return graph
    LOGGER.debug("%s: %d float16 constants widened", graph.path, len(graph.ops) - len(kept))
    return dataclasses.replace(graph, tensors=tensors, ops=tuple(kept), constants=constants)


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
