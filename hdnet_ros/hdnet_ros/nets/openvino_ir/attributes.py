"""Reading a layer's ``<data>`` attributes: checked against what the converter understands.

An attribute the converter does not know, or a value it does not implement, is an error
naming the layer: a silently ignored attribute would be a silently different network.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from hdnet_ros.nets.openvino_ir.graph import IrGraph, Layer

# None: any value is understood; a collection: the values implemented.
Allowed = Mapping[str, Collection[str] | None]


def check_attributes(graph: IrGraph, layer: Layer, allowed: Allowed) -> None:
    for name, value in layer.attributes.items():
        if name not in allowed:
            raise graph.error(layer, f"unsupported attribute {name}={value!r}")
        values = allowed[name]
        if values is not None and value not in values:
            raise graph.error(layer, f"unsupported {name}={value!r} (supported: {', '.join(sorted(values))})")


def ints(graph: IrGraph, layer: Layer, name: str, default: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """A comma-separated integer list (``"1, 1"``); ``""`` is the empty list."""
    text = layer.attributes.get(name)
    if text is None:
        if default is None:
            raise graph.error(layer, f"attribute {name} is missing")
        return default
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise graph.error(layer, f"attribute {name}={text!r} is not a list of integers") from None


def integer(graph: IrGraph, layer: Layer, name: str, default: int | None = None) -> int:
    values = ints(graph, layer, name, None if default is None else (default,))
    if len(values) != 1:
        raise graph.error(layer, f"attribute {name} must be one integer")
    return values[0]


def number(graph: IrGraph, layer: Layer, name: str, default: float) -> float:
    text = layer.attributes.get(name)
    try:
        return default if text is None else float(text)
    except ValueError:
        raise graph.error(layer, f"attribute {name}={text!r} is not a number") from None


def flag(graph: IrGraph, layer: Layer, name: str, default: bool = False) -> bool:
    text = layer.attributes.get(name)
    if text is None:
        return default
    if text.lower() not in ("true", "false", "1", "0"):
        raise graph.error(layer, f"attribute {name}={text!r} is not a boolean")
    return text.lower() in ("true", "1")


def text(graph: IrGraph, layer: Layer, name: str, default: str) -> str:
    return layer.attributes.get(name, default)


def require_inputs(graph: IrGraph, layer: Layer, counts: Collection[int]) -> None:
    if len(layer.inputs) not in counts:
        expected = " or ".join(str(c) for c in sorted(counts))
        raise graph.error(layer, f"has {len(layer.inputs)} inputs, expected {expected}")
