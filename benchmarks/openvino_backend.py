"""OpenVINO's runtime behind the project's ``Backend``: the benchmarks' stand-in for an IR
file the product cannot open yet (PP-TinyPose 128x96 has no ONNX file in ../shared/models).

A benchmark-only tool: openvino is a test dependency, never imported by the product. The
model is reshaped to a dynamic batch on its first axis, as the product's ONNX exports are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from hdnet_ros.inference.backend import Arrays, Backend, TensorSpec

_TYPES = {"f32": np.float32, "f16": np.float16, "i64": np.int64, "i32": np.int32, "u8": np.uint8}


def _spec(port: Any) -> TensorSpec:
    shape = tuple(None if d.is_dynamic else int(d.get_length()) for d in port.get_partial_shape())
    return TensorSpec(
        port.get_any_name(), shape, np.dtype(_TYPES.get(port.get_element_type().get_type_name(), np.float32))
    )


class OpenVinoBackend(Backend):
    """An OpenVINO IR (or ONNX) file on OpenVINO's CPU plugin, ``threads`` inference threads."""

    kind = "openvino"

    def __init__(self, model_path: Path, threads: int = 2, dynamic_batch: bool = True) -> None:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(model_path))
        if dynamic_batch:
            shapes = {}
            for port in model.inputs:
                shape = port.get_partial_shape()
                shape[0] = -1
                shapes[port.get_any_name()] = shape
            model.reshape(shapes)
        self._compiled = core.compile_model(
            model, "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
        )
        self._request = self._compiled.create_infer_request()
        self._inputs = tuple(_spec(p) for p in self._compiled.inputs)
        self._outputs = tuple(_spec(p) for p in self._compiled.outputs)

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def _run(self, inputs: Arrays) -> Arrays:
        results = self._request.infer(inputs)
        return {
            spec.name: np.asarray(results[port])
            for spec, port in zip(self._outputs, self._compiled.outputs, strict=True)
        }
