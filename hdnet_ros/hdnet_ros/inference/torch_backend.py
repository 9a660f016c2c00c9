"""PyTorch backend: an ``nn.Module`` on the CPU or a CUDA GPU, fp32 or fp16.

Useful where the ONNX/TensorRT path is not wanted (development, a GPU without TensorRT)
and as the reference the exported files are checked against. torch is imported when the
backend is created, never by ``hdnet_ros.inference`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hdnet_ros.inference.backend import Arrays, Backend, BackendUnavailable, TensorSpec, cuda_index
from hdnet_ros.logs import get_logger

LOGGER = get_logger(__name__)


def import_torch() -> Any:
    try:
        import torch
    except ImportError as error:
        raise BackendUnavailable(
            "this backend needs PyTorch (`pip install torch`, or the hdnet_ros[nets] extra), which is not installed"
        ) from error
    return torch


class TorchBackend(Backend):
    """Wraps a module whose ``forward`` takes the inputs in ``input_specs`` order and returns
    a tensor or a tuple of tensors in ``output_specs`` order."""

    kind = "torch"

    def __init__(
        self,
        module: Any,
        input_specs: Sequence[TensorSpec],
        output_specs: Sequence[TensorSpec],
        device: str = "cpu",
        precision: str = "fp32",
        threads: int | None = None,
    ) -> None:
        torch = import_torch()
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"the torch backend runs fp32 or fp16, not {precision}")
        if device != "cpu":
            cuda_index(device)  # validates the spelling
            if not torch.cuda.is_available():
                raise BackendUnavailable(
                    f"device {device!r}: torch sees no CUDA GPU (torch.cuda.is_available() is False)"
                )
        if threads is not None:
            torch.set_num_threads(threads)
        self._torch = torch
        self._device = torch.device(device)
        self._dtype = torch.float16 if precision == "fp16" else torch.float32
        # eval() on the outermost module: inference behaviour for every submodule.
        self._module = module.eval().to(device=self._device, dtype=self._dtype)
        self._inputs = tuple(input_specs)
        self._outputs = tuple(output_specs)

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    @property
    def module(self) -> Any:
        return self._module

    def _run(self, inputs: Arrays) -> Arrays:
        torch = self._torch
        tensors = []
        for spec in self._inputs:
            tensor = torch.from_numpy(inputs[spec.name]).to(self._device)
            # Floating inputs follow the module's precision; integer inputs stay as given.
            tensors.append(tensor.to(self._dtype) if tensor.is_floating_point() else tensor)
        with torch.inference_mode():
            result = self._module(*tensors)
        results = (result,) if isinstance(result, torch.Tensor) else tuple(result)
        if len(results) != len(self._outputs):
            raise RuntimeError(f"module returned {len(results)} outputs, output_specs name {len(self._outputs)}")
        return {
            spec.name: np.ascontiguousarray(value.detach().to("cpu").numpy(), dtype=spec.dtype)
            for spec, value in zip(self._outputs, results, strict=True)
        }

    def _release(self) -> None:
        self._module = None
        if self._device.type == "cuda":
            self._torch.cuda.empty_cache()


def movenet_specs() -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Input and output specs of the rebuilt MoveNet (see hdnet_ros.nets.movenet)."""
    from hdnet_ros.nets.movenet import INPUT_NAME, MOVENET_GRID_SIZE, MOVENET_INPUT_SIZE, OUTPUT_NAMES

    f32 = np.dtype(np.float32)
    grid = MOVENET_GRID_SIZE
    channels = dict(zip(OUTPUT_NAMES, (1, 17, 34, 34), strict=True))
    inputs = (TensorSpec(INPUT_NAME, (None, MOVENET_INPUT_SIZE, MOVENET_INPUT_SIZE, 3), f32),)
    outputs = tuple(TensorSpec(name, (None, grid, grid, channels[name]), f32) for name in OUTPUT_NAMES)
    return inputs, outputs


def blazepose_specs() -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Input and output specs of BlazePose GHUM 3D (see hdnet_ros.nets.blazepose)."""
    from hdnet_ros.nets.blazepose import INPUT_NAME, INPUT_SHAPE, OUTPUT_SHAPES

    f32 = np.dtype(np.float32)
    inputs = (TensorSpec(INPUT_NAME, (None, *INPUT_SHAPE), f32),)
    outputs = tuple(TensorSpec(name, (None, *shape), f32) for name, shape in OUTPUT_SHAPES.items())
    return inputs, outputs


def torch_backend_for_file(
    model_path: Path, device: str = "cpu", precision: str = "fp32", threads: int | None = None
) -> TorchBackend:
    """A torch backend for a model file: MoveNet ``.tflite`` files are rebuilt in PyTorch."""
    if model_path.suffix != ".tflite":
        raise ValueError(
            f"the torch backend builds modules from MoveNet .tflite files; for {model_path.name} pass module= and specs"
        )
    import_torch()
    from hdnet_ros.nets.movenet import load_movenet

    inputs, outputs = movenet_specs()
    return TorchBackend(load_movenet(model_path), inputs, outputs, device=device, precision=precision, threads=threads)
