"""The TFLite flatbuffer, read through the schema module that ships with ai-edge-litert.

The interpreter exposes tensors and the op list but not the ops' options (strides,
padding, fused activations, resize modes, pool sizes): they are read here, and normalised
to the few keys the torch steps use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class TfliteGraphError(ValueError):
    """The TFLite file is not a graph the rebuild can reproduce; the message says why."""


@dataclass(frozen=True)
class FileOp:
    """One operator as the flatbuffer stores it, options normalised (``normalise_options``)."""

    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any]


def tflite_schema() -> Any:
    """The flatbuffer schema reader: ai-edge-litert ships it; full TensorFlow has it too."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated
        except ImportError as error:
            raise TfliteGraphError(
                "reading op options needs the TFLite schema module of ai-edge-litert "
                "(ai_edge_litert.schema_py_generated) or TensorFlow; neither is importable"
            ) from error
    return schema_py_generated


def _model(schema: Any, content: bytes | bytearray) -> Any:
    get_root = getattr(schema.Model, "GetRootAs", None) or schema.Model.GetRootAsModel
    return schema.ModelT.InitFromObj(get_root(bytearray(content), 0))


def read_file_ops(path: Path) -> list[FileOp]:
    """The operators of the file's one subgraph, in the file's order."""
    schema = tflite_schema()
    model = _model(schema, path.read_bytes())
    if model.subgraphs is None or len(model.subgraphs) != 1:
        raise TfliteGraphError(f"{path}: expected one subgraph")
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
            FileOp(
                kind,
                tuple(int(i) for i in operator.inputs),
                tuple(int(i) for i in operator.outputs),
                normalise_options(raw, activations, paddings),
            )
        )
    return result


def _enum_names(enum_class: type) -> dict[int, str]:
    return {value: name for name, value in vars(enum_class).items() if not name.startswith("_")}


def normalise_options(
    raw: Mapping[str, Any], activations: Mapping[int, str], paddings: Mapping[int, str]
) -> dict[str, Any]:
    """Schema field names -> the few keys the torch steps read.

    ``activation`` always; ``stride``, ``dilation``, ``padding`` for convolutions and pools;
    ``filter`` (h, w) for pools; ``depth_multiplier``; ``align_corners`` /
    ``half_pixel_centers`` for resizes; ``axis`` for concatenations.
    """
    options: dict[str, Any] = {"activation": activations[int(raw.get("fusedActivationFunction", 0))]}
    if "strideH" in raw:
        options["stride"] = (int(raw["strideH"]), int(raw["strideW"]))
        options["dilation"] = (int(raw.get("dilationHFactor", 1)), int(raw.get("dilationWFactor", 1)))
        options["padding"] = paddings[int(raw["padding"])]
    if "filterHeight" in raw:
        options["filter"] = (int(raw["filterHeight"]), int(raw["filterWidth"]))
    if "depthMultiplier" in raw:
        options["depth_multiplier"] = int(raw["depthMultiplier"])
    if "alignCorners" in raw:
        options["align_corners"] = bool(raw["alignCorners"])
        options["half_pixel_centers"] = bool(raw.get("halfPixelCenters", False))
    if "axis" in raw:
        options["axis"] = int(raw["axis"])
    return options


def expose_tensors(tflite_bytes: bytes, tensors: Sequence[int]) -> bytes:
    """The same model with ``tensors`` added to its outputs, so LiteRT keeps and returns them.

    With the XNNPACK delegate the intermediate tensors live inside the delegate and cannot be
    read; as model outputs they are written back like any output, computed by the same
    kernels (the final output is unchanged: tested). For checking a rebuild only.
    """
    import flatbuffers

    model = _model(tflite_schema(), tflite_bytes)
    subgraph = model.subgraphs[0]
    outputs = [int(i) for i in subgraph.outputs]
    subgraph.outputs = outputs + [int(t) for t in tensors if t not in outputs]
    builder = flatbuffers.Builder(len(tflite_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
