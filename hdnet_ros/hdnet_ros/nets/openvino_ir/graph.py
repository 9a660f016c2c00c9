"""An OpenVINO IR file as a typed graph: layers with their ports and attributes, edges, constants.

The XML is parsed with the standard library, after refusing any document type declaration
(an IR has none; entities are where XML parsing goes wrong). Constants are read from the
``.bin`` at the offset and size the XML gives, checked against the element type and shape.
Every layer's output dimensions are read as the IR states them: the converter needs them
static (a dynamic dimension is an error; reshape the IR to a fixed size first). numpy only.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SUPPORTED_IR_VERSIONS = ("11",)

# IR element types -> numpy. u1/u4/i4/nf4 (packed bits) and bf16 have no numpy type here.
ELEMENT_TYPES: dict[str, np.dtype[Any]] = {
    "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "u8": np.dtype(np.uint8),
    "u16": np.dtype(np.uint16),
    "u32": np.dtype(np.uint32),
    "u64": np.dtype(np.uint64),
    "boolean": np.dtype(np.bool_),
}
# A port's precision attribute (FP32, I64, BOOL...) -> the element type.
PRECISIONS = {name.upper(): name for name in ELEMENT_TYPES} | {
    "FP16": "f16",
    "FP32": "f32",
    "FP64": "f64",
    "BOOL": "boolean",
}


class IrConversionError(ValueError):
    """The IR cannot be read or converted; the message names the file and, where one is at fault, the layer."""


@dataclass(frozen=True)
class Port:
    """One input or output of a layer: static dims, element type, the tensor's names (outputs)."""

    id: int
    dims: tuple[int, ...]
    element_type: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layer:
    """One IR layer: ``attributes`` are the ``<data>`` element's, as strings."""

    id: int
    name: str
    type: str
    version: str
    attributes: Mapping[str, str]
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]

    def describe(self) -> str:
        return f"layer {self.id} {self.name!r} ({self.type}, {self.version})"

    def output_index(self, port_id: int) -> int:
        for index, port in enumerate(self.outputs):
            if port.id == port_id:
                return index
        raise KeyError(port_id)


# (layer id, port id): where a value is produced or consumed.
PortRef = tuple[int, int]


@dataclass(frozen=True)
class IrGraph:
    """The layers in topological order; ``sources`` maps each consumed input port to the output
    port feeding it; ``constants`` holds each Const layer's value (read-only views on the .bin)."""

    path: Path
    layers: tuple[Layer, ...]
    sources: Mapping[PortRef, PortRef]
    constants: Mapping[int, npt.NDArray[Any]]
    parameters: tuple[Layer, ...]  # in the file's order: the model's inputs
    results: tuple[Layer, ...]  # in the file's order: the model's outputs
    _by_id: dict[int, Layer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {layer.id: layer for layer in self.layers})

    def layer(self, layer_id: int) -> Layer:
        return self._by_id[layer_id]

    def input_sources(self, layer: Layer) -> tuple[PortRef, ...]:
        """The output port feeding each of ``layer``'s inputs, in port order."""
        return tuple(self.sources[(layer.id, port.id)] for port in layer.inputs)

    def output_port(self, ref: PortRef) -> Port:
        layer = self.layer(ref[0])
        return layer.outputs[layer.output_index(ref[1])]

    def error(self, layer: Layer | None, message: str) -> IrConversionError:
        where = f"{self.path}: {layer.describe()}: " if layer is not None else f"{self.path}: "
        return IrConversionError(where + message)


def read_ir(xml_path: str | Path, bin_path: str | Path | None = None) -> IrGraph:
    """Read ``xml_path`` and its weights (``bin_path``, default: the same name with ``.bin``)."""
    xml_path = Path(xml_path)
    bin_path = Path(bin_path) if bin_path is not None else xml_path.with_suffix(".bin")
    for path in (xml_path, bin_path):
        if not path.is_file():
            raise IrConversionError(f"OpenVINO IR file {path} does not exist")
    root = _parse_xml(xml_path)
    version = root.get("version")
    if root.tag != "net" or version not in SUPPORTED_IR_VERSIONS:
        raise IrConversionError(
            f"{xml_path}: not an OpenVINO IR of version {', '.join(SUPPORTED_IR_VERSIONS)} "
            f"(root <{root.tag}> version {version!r})"
        )
    layers_element, edges_element = root.find("layers"), root.find("edges")
    if layers_element is None or edges_element is None:
        raise IrConversionError(f"{xml_path}: no <layers> or no <edges>")
    layers = [_layer(xml_path, element) for element in layers_element.iter("layer")]
    by_id = _unique_ids(xml_path, layers)
    sources = _edges(xml_path, edges_element, by_id)
    weights = bin_path.read_bytes()
    constants = {layer.id: _constant(xml_path, layer, weights) for layer in layers if layer.type == "Const"}
    ordered = _topological(xml_path, layers, sources)
    parameters = tuple(layer for layer in layers if layer.type == "Parameter")
    results = tuple(layer for layer in layers if layer.type == "Result")
    return IrGraph(xml_path, ordered, sources, constants, parameters, results)


def _parse_xml(path: Path) -> ET.Element:
    content = path.read_bytes()
    # An IR never has a DTD; refusing one rules out entity expansion before parsing.
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise IrConversionError(f"{path}: the XML declares a document type or entities, which an IR never has")
    try:
        return ET.fromstring(content)
    except ET.ParseError as error:
        raise IrConversionError(f"{path}: not well-formed XML ({error})") from error


def _integer(path: Path, text: str | None, what: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise IrConversionError(f"{path}: {what} is {text!r}, not an integer") from None


def _layer(path: Path, element: ET.Element) -> Layer:
    layer_id = _integer(path, element.get("id"), "a layer id")
    name = element.get("name", "")
    where = f"layer {layer_id} {name!r}"
    data = element.find("data")
    ports: list[tuple[Port, ...]] = []
    for group in ("input", "output"):
        holder = element.find(group)
        found = holder.findall("port") if holder is not None else []
        ports.append(tuple(_port(path, where, port) for port in found))
    return Layer(
        id=layer_id,
        name=name,
        type=element.get("type", ""),
        version=element.get("version", ""),
        attributes=dict(data.attrib) if data is not None else {},
        inputs=ports[0],
        outputs=ports[1],
    )


def _port(path: Path, where: str, element: ET.Element) -> Port:
    port_id = _integer(path, element.get("id"), f"{where}: a port id")
    dims = []
    for dim in element.findall("dim"):
        text = (dim.text or "").strip()
        if not text.isdigit():  # -1, ?, or a range like 1..8
            raise IrConversionError(
                f"{path}: {where}: port {port_id} has the dynamic dimension {text!r}; "
                "the converter needs static shapes (reshape the IR to a fixed input size first)"
            )
        dims.append(int(text))
    precision = element.get("precision", "")
    element_type = PRECISIONS.get(precision.upper(), precision.lower())
    return Port(port_id, tuple(dims), element_type, split_names(element.get("names", "")))


def split_names(text: str) -> tuple[str, ...]:
    """A port's ``names``: comma-separated, a literal comma escaped as ``\\,``."""
    if not text:
        return ()
    parts = re.split(r"(?<!\\),", text)
    return tuple(part.replace("\\,", ",").strip() for part in parts if part.strip())


def _unique_ids(path: Path, layers: list[Layer]) -> dict[int, Layer]:
    by_id: dict[int, Layer] = {}
    for layer in layers:
        if layer.id in by_id:
            raise IrConversionError(f"{path}: two layers have the id {layer.id}")
        by_id[layer.id] = layer
    return by_id


def _edges(path: Path, element: ET.Element, by_id: Mapping[int, Layer]) -> dict[PortRef, PortRef]:
    """(to-layer, to-port) -> (from-layer, from-port), checked: both ends exist, shapes agree,
    every input port is fed exactly once."""
    sources: dict[PortRef, PortRef] = {}
    for edge in element.iter("edge"):
        ends = [
            _integer(path, edge.get(key), f"edge {key}") for key in ("from-layer", "from-port", "to-layer", "to-port")
        ]
        source, target = (ends[0], ends[1]), (ends[2], ends[3])
        from_port = _find_port(by_id, source, outputs=True)
        to_port = _find_port(by_id, target, outputs=False)
        if from_port is None or to_port is None:
            raise IrConversionError(f"{path}: edge {source} -> {target} names a layer or port that does not exist")
        if from_port.dims != to_port.dims:
            raise IrConversionError(
                f"{path}: edge {source} -> {target}: shapes disagree ({list(from_port.dims)} vs {list(to_port.dims)})"
            )
        if target in sources:
            raise IrConversionError(f"{path}: input port {target} is fed by two edges")
        sources[target] = source
    for layer in by_id.values():
        for port in layer.inputs:
            if (layer.id, port.id) not in sources:
                raise IrConversionError(f"{path}: {layer.describe()}: input port {port.id} is not connected")
    return sources


def _find_port(by_id: Mapping[int, Layer], ref: PortRef, outputs: bool) -> Port | None:
    layer = by_id.get(ref[0])
    if layer is None:
        return None
    return next((port for port in (layer.outputs if outputs else layer.inputs) if port.id == ref[1]), None)


def _constant(path: Path, layer: Layer, weights: bytes) -> npt.NDArray[Any]:
    attributes = layer.attributes
    element_type = attributes.get("element_type", "")
    if element_type not in ELEMENT_TYPES:
        raise IrConversionError(
            f"{path}: {layer.describe()}: constants of element type {element_type!r} are not supported"
        )
    dtype = ELEMENT_TYPES[element_type]
    shape_text = attributes.get("shape", "").strip()
    shape = (
        tuple(_integer(path, v, f"{layer.describe()}: a shape entry") for v in shape_text.split(","))
        if shape_text
        else ()
    )
    offset = _integer(path, attributes.get("offset"), f"{layer.describe()}: offset")
    size = _integer(path, attributes.get("size"), f"{layer.describe()}: size")
    count = math.prod(shape)
    if size != count * dtype.itemsize or offset < 0 or offset + size > len(weights):
        raise IrConversionError(
            f"{path}: {layer.describe()}: {size} bytes at offset {offset} do not hold {list(shape)} {element_type} "
            f"within the {len(weights)}-byte .bin file"
        )
    if len(layer.outputs) != 1 or layer.outputs[0].dims != shape:
        raise IrConversionError(f"{path}: {layer.describe()}: the output port does not have the shape {list(shape)}")
    return np.frombuffer(weights, dtype=dtype, count=count, offset=offset).reshape(shape)


def _topological(path: Path, layers: list[Layer], sources: Mapping[PortRef, PortRef]) -> tuple[Layer, ...]:
    """Kahn's order, ties kept in file order (deterministic output); a cycle is an error."""
    position = {layer.id: index for index, layer in enumerate(layers)}
    waiting = {layer.id: len(layer.inputs) for layer in layers}
    consumers: dict[int, list[int]] = {layer.id: [] for layer in layers}
    for (target, _), (source, _) in sources.items():
        consumers[source].append(target)
    ready = deque(sorted((i for i, count in waiting.items() if count == 0), key=position.__getitem__))
    ordered: list[Layer] = []
    while ready:
        layer_id = ready.popleft()
        ordered.append(layers[position[layer_id]])
        for consumer in consumers[layer_id]:
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                ready.append(consumer)
    if len(ordered) != len(layers):
        stuck = sorted(i for i, count in waiting.items() if count > 0)[:5]
        raise IrConversionError(f"{path}: the graph has a cycle (through layers {stuck})")
    return tuple(ordered)
