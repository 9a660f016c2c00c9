"""ONNX export of a rebuilt network with a dynamic batch axis (the person crops of a frame)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

ONNX_OPSET = 17
# The most crops one call may hold in the exported graph (TensorRT's profile picks within it).
MAX_EXPORT_BATCH = 1024


def export_onnx(
    model: nn.Module,
    onnx_path: str | Path,
    input_shape: Sequence[int],
    input_name: str,
    output_names: Sequence[str],
    opset: int = ONNX_OPSET,
) -> Path:
    """Export ``model`` (one float32 input of ``[N, *input_shape]``) to one ONNX file.

    Every input and output gets a dynamic batch axis. torch's dynamo exporter where it
    exists (torch >= 2.5): it writes opset 18 and its own conversion to 17 trips over Pad
    before its optimiser has folded the pads into the convolutions, so the optimised graph
    is converted here. Older torch: the TorchScript exporter, which writes the requested
    opset directly.
    """
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()  # the outermost module: every submodule in inference mode
    example = torch.zeros((2, *input_shape), dtype=torch.float32)
    parameters = frozenset(inspect.signature(torch.onnx.export).parameters)
    if "dynamic_shapes" in parameters:
        _export_dynamo(model, example, onnx_path, input_name, output_names, opset)
    else:
        # torch 2.5..2.8 also take dynamo=; without it they would pick the dynamo exporter.
        legacy: dict[str, Any] = {"dynamo": False} if "dynamo" in parameters else {}
        torch.onnx.export(
            model,
            (example,),
            str(onnx_path),
            input_names=[input_name],
            output_names=list(output_names),
            opset_version=opset,
            dynamic_axes={name: {0: "batch"} for name in (input_name, *output_names)},
            **legacy,
        )
    return onnx_path


def _export_dynamo(
    model: nn.Module, example: torch.Tensor, onnx_path: Path, input_name: str, output_names: Sequence[str], opset: int
) -> None:
    import onnx

    batch = torch.export.Dim("batch", min=1, max=MAX_EXPORT_BATCH)
    # dynamic_shapes is keyed by forward's parameter name.
    argument = next(iter(inspect.signature(model.forward).parameters))
    program = torch.onnx.export(
        model,
        (example,),
        None,
        input_names=[input_name],
        output_names=list(output_names),
        opset_version=max(opset, 18),
        dynamo=True,
        dynamic_shapes={argument: {0: batch}},
        verbose=False,
    )
    if program is None:
        raise RuntimeError("torch.onnx.export returned no program")
    proto = program.model_proto
    if opset < 18:
        proto = onnx.version_converter.convert_version(proto, opset)
    onnx.save(proto, str(onnx_path))
