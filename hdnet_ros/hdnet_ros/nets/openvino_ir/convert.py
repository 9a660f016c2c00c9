"""An OpenVINO IR converted to an ONNX model: :func:`ir_to_onnx`, and the key of a conversion.

The steps: read (:mod:`.graph`), fold what does not depend on the input (:mod:`.folding`),
keep the ops the wanted outputs need, write each as ONNX (:mod:`.onnx_ops`), then check
the model (``onnx.checker``) and its shapes: ONNX's shape inference must give every output
the shape the IR states (with a dynamic batch: at twice the IR's batch, the leading axis
doubled and the rest unchanged, which catches a shape constant that still holds the IR's
batch). Weights are float32 (fp16-compressed IR weights are widened, exactly). The model
is deterministic: the same IR and options give the same bytes.

Options: ``dynamic_batch`` makes the leading axis of the inputs and outputs symbolic
(``N``); a graph that cannot run at another batch (it splits, slices or resizes that axis,
or an output does not carry it) is refused with the layer at fault. ``drop_outputs``
removes outputs by name (and every op only they needed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy.typing as npt
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, shape_inference

from hdnet_ros.logs import get_logger
from hdnet_ros.nets.openvino_ir.folding import fold_constants
from hdnet_ros.nets.openvino_ir.graph import IrConversionError, IrGraph, Layer, Port, PortRef, read_ir
from hdnet_ros.nets.openvino_ir.onnx_builder import ONNX_TYPES, OnnxGraphBuilder, Operands
from hdnet_ros.nets.openvino_ir.onnx_ops import convert_layer

LOGGER = get_logger(__name__)
# Bump when the converter writes a different model for the same IR: cached conversions are keyed by it.
CONVERTER_VERSION = "1"
PRODUCER = "hdnet_ros.nets.openvino_ir"
BATCH_NAME = "N"
# The metadata property holding the conversion key (see conversion_key).
KEY_PROPERTY = "openvino_ir.key"


@dataclass(frozen=True)
class ConversionOptions:
    dynamic_batch: bool = False
    drop_outputs: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"dynamic_batch={str(self.dynamic_batch).lower()};drop_outputs={','.join(sorted(self.drop_outputs))}"


def conversion_key(xml_path: Path, options: ConversionOptions, bin_path: Path | None = None) -> str:
    """sha256 (hex) of what a conversion depends on: the converter's version, the options,
    the ``.xml`` and the ``.bin``. A converted file carries it in its metadata."""
    digest = hashlib.sha256(f"{PRODUCER} {CONVERTER_VERSION}\n{options.describe()}\n".encode())
    for path in (xml_path, bin_path or xml_path.with_suffix(".bin")):
        digest.update(_file_sha256(path).encode())
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ir_to_onnx(
    xml_path: str | Path,
    *,
    dynamic_batch: bool = False,
    drop_outputs: Sequence[str] = (),
    bin_path: str | Path | None = None,
) -> onnx.ModelProto:
    """The IR at ``xml_path`` (weights in ``bin_path``, default beside it) as a checked ONNX model.

    Inputs keep the IR's names, outputs the IR's tensor names (the first of the producing
    port's ``names``). Raises :class:`IrConversionError` naming the file and layer when
    the IR is malformed or uses an op or attribute this converter does not implement.
    """
    xml_path = Path(xml_path)
    bin_file = Path(bin_path) if bin_path is not None else xml_path.with_suffix(".bin")
    options = ConversionOptions(dynamic_batch, tuple(drop_outputs))
    graph = read_ir(xml_path, bin_file)
    folded = fold_constants(graph)
    results = _kept_results(graph, options.drop_outputs)
    builder = OnnxGraphBuilder(graph, folded)
    inputs = [
        _value_info(builder.tensor_name((p.id, p.outputs[0].id)), p.outputs[0], options) for p in graph.parameters
    ]
    for layer in _needed_layers(graph, results, folded):
        if layer.type not in ("Parameter", "Result"):
            convert_layer(Operands(builder, layer, graph.input_sources(layer), options.dynamic_batch))
    taken: set[str] = set()
    outputs = [_graph_output(builder, graph, result, folded, options, taken) for result in results]
    properties = {
        "openvino_ir.source": xml_path.name,
        KEY_PROPERTY: conversion_key(xml_path, options, bin_file),
        "openvino_ir.options": options.describe(),
    }
    model = builder.model(inputs, outputs, PRODUCER, CONVERTER_VERSION, properties)
    expected = {output.name: result.inputs[0].dims for output, result in zip(outputs, results, strict=True)}
    check_model(graph, model, expected, options)
    return model


def _kept_results(graph: IrGraph, drop: Collection[str]) -> list[Layer]:
    results = graph.results
    names = {result.id: _result_names(graph, result) for result in results}
    known = {name for found in names.values() for name in found}
    unknown = sorted(set(drop) - known)
    if unknown:
        raise IrConversionError(f"{graph.path}: no output named {unknown} to drop (outputs: {sorted(known)})")
    kept = [result for result in results if not set(names[result.id]) & set(drop)]
    if not kept:
        raise IrConversionError(f"{graph.path}: every output would be dropped")
    return kept


def _result_names(graph: IrGraph, result: Layer) -> tuple[str, ...]:
    source = graph.input_sources(result)[0]
    return (*graph.output_port(source).names, graph.layer(source[0]).name)


def _needed_layers(graph: IrGraph, results: Iterable[Layer], folded: Mapping[PortRef, npt.NDArray[Any]]) -> list[Layer]:
    """The layers the results need, in graph order; folded values end the walk (they are constants)."""
    needed: set[int] = set()
    pending = [result.id for result in results]
    while pending:
        layer_id = pending.pop()
        if layer_id in needed:
            continue
        needed.add(layer_id)
        pending.extend(source[0] for source in graph.input_sources(graph.layer(layer_id)) if source not in folded)
    return [layer for layer in graph.layers if layer.id in needed]


def _value_info(name: str, port: Port, options: ConversionOptions) -> onnx.ValueInfoProto:
    if port.element_type not in ONNX_TYPES:
        raise IrConversionError(f"tensor {name}: element type {port.element_type!r} has no ONNX equivalent here")
    shape: list[int | str] = list(port.dims)
    if options.dynamic_batch and shape:
        shape[0] = BATCH_NAME
    return helper.make_tensor_value_info(name, ONNX_TYPES[port.element_type], shape)


def _graph_output(
    builder: OnnxGraphBuilder,
    graph: IrGraph,
    result: Layer,
    folded: Mapping[PortRef, npt.NDArray[Any]],
    options: ConversionOptions,
    taken: set[str],
) -> onnx.ValueInfoProto:
    source = graph.input_sources(result)[0]
    port = result.inputs[0]
    if source in folded:  # a constant output: an Identity gives it its own name
        name = builder.unique(_result_names(graph, result)[0])
        builder.add("Identity", [builder.constant_name(source)], [name], result.name)
    else:
        name = builder.tensor_name(source)
        if name in taken:  # a second output of the same tensor
            copy = builder.unique(result.name)
            builder.add("Identity", [name], [copy], result.name)
            name = copy
    taken.add(name)
    return _value_info(name, port, options)


def ir_batch(graph: IrGraph) -> int:
    """The leading dimension the IR's inputs share: the batch a dynamic batch replaces."""
    leading = {p.outputs[0].dims[:1] for p in graph.parameters}
    if len(leading) != 1 or () in leading:
        raise IrConversionError(f"{graph.path}: the inputs do not share a leading (batch) axis: {sorted(leading)}")
    return next(iter(leading))[0]


def check_model(
    graph: IrGraph, model: onnx.ModelProto, expected: Mapping[str, tuple[int, ...]], options: ConversionOptions
) -> None:
    """``onnx.checker``, then ONNX's shape inference against the IR's output shapes; with a
    dynamic batch at twice the IR's batch."""
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as error:
        raise IrConversionError(f"{graph.path}: the converted model is not valid ONNX ({error})") from error
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    batch = ir_batch(graph) if options.dynamic_batch else 0
    for value in probe.graph.input:
        if options.dynamic_batch:
            value.type.tensor_type.shape.dim[0].dim_value = 2 * batch
    for value in probe.graph.output:
        value.type.tensor_type.ClearField("shape")
    try:
        inferred = shape_inference.infer_shapes(probe, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as error:
        raise IrConversionError(f"{graph.path}: ONNX shape inference fails on the converted model ({error})") from error
    for value in inferred.graph.output:
        got = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
        want = list(expected[value.name])
        if options.dynamic_batch:
            if not want or want[0] != batch:
                raise IrConversionError(
                    f"{graph.path}: output {value.name} {want} has no batch axis: the batch cannot be made dynamic"
                )
            want[0] = 2 * batch
        if got != want:
            at = f" at batch {2 * batch}" if options.dynamic_batch else ""
            raise IrConversionError(
                f"{graph.path}: output {value.name} has the shape {got}{at} in ONNX, expected {want}"
            )


def save_onnx(model: onnx.ModelProto, path: Path) -> Path:
    """``model`` in one file (the weights inside: these networks are a few MB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def stored_conversion_key(onnx_path: Path) -> str | None:
    """The conversion key an ONNX file written by :func:`ir_to_onnx` carries; None for any
    other file, or one onnx cannot read."""
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except (OSError, DecodeError) as error:
        LOGGER.debug("%s: not readable as ONNX (%s)", onnx_path, error)
        return None
    if model.producer_name != PRODUCER:
        return None
    return next((p.value for p in model.metadata_props if p.key == KEY_PROPERTY), None)
