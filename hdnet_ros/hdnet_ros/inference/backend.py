"""One interface over the inference runtimes: onnxruntime, TensorRT and PyTorch.

A backend takes named numpy arrays and returns named numpy arrays; what runs underneath
(CPU or GPU, fp32/fp16/int8) is chosen once, in :func:`create_backend`. This module imports
numpy only: each runtime is imported by its backend, when that backend is created, so a
CPU install never needs torch or TensorRT.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

BACKEND_KINDS: tuple[str, ...] = ("onnxruntime", "tensorrt", "torch")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")

Arrays = dict[str, npt.NDArray[Any]]


class BackendUnavailable(RuntimeError):  # noqa: N818 (the interface's name for it)
    """The runtime a backend needs (a package, a GPU) is missing; the message names it."""


@dataclass(frozen=True)
class TensorSpec:
    """A named input or output: ``None`` marks a dimension that varies (the batch)."""

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype[Any]

    def describe(self) -> str:
        dims = ",".join("N" if d is None else str(d) for d in self.shape)
        return f"{self.name} [{dims}] {self.dtype}"


@dataclass(frozen=True)
class BatchProfile:
    """Batch sizes a TensorRT engine is built for: any in min..max runs, opt runs fastest."""

    min: int = 1
    opt: int = 4
    max: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise ValueError(f"batch profile needs 1 <= min <= opt <= max, got {self.min}/{self.opt}/{self.max}")


class Backend(ABC):
    """``run({input name: array}) -> {output name: array}``; arrays are batch-first."""

    kind: str = ""
    _closed: bool = False

    @property
    @abstractmethod
    def inputs(self) -> tuple[TensorSpec, ...]: ...

    @property
    @abstractmethod
    def outputs(self) -> tuple[TensorSpec, ...]: ...

    @abstractmethod
    def _run(self, inputs: Arrays) -> Arrays:
        """Run on inputs already checked and converted to the declared dtypes."""

    def run(self, inputs: Mapping[str, npt.ArrayLike]) -> Arrays:
        if self._closed:
            raise RuntimeError(f"{self.kind} backend is closed")
        return self._run(self.prepare_inputs(inputs))

    def close(self) -> None:
        """Release the runtime's resources (sessions, engines, GPU memory); idempotent."""
        if not self._closed:
            self._closed = True
            self._release()

    def _release(self) -> None:
        """What ``close`` frees; backends holding resources override it."""
        return

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.outputs)

    def prepare_inputs(self, inputs: Mapping[str, npt.ArrayLike]) -> Arrays:
        """Check names and shapes; convert to the declared dtypes (uint8 crops -> float32).

        The errors name the tensor and what was expected, so a caller mistake does not
        surface as a runtime's own message about an anonymous binding.
        """
        missing = [name for name in self.input_names if name not in inputs]
        unknown = sorted(set(inputs) - set(self.input_names))
        if missing or unknown:
            expected = ", ".join(spec.describe() for spec in self.inputs)
            raise ValueError(f"{self.kind}: missing inputs {missing}, unknown inputs {unknown}; expected {expected}")
        prepared: Arrays = {}
        batch_sizes = set()
        for spec in self.inputs:
            array = np.ascontiguousarray(inputs[spec.name], dtype=spec.dtype)
            _check_shape(self.kind, spec, array.shape)
            batch_sizes.add(array.shape[0] if array.ndim else None)
            prepared[spec.name] = array
        if len(batch_sizes) > 1:
            raise ValueError(f"{self.kind}: inputs disagree on the batch size: {sorted(map(str, batch_sizes))}")
        return prepared

    def __enter__(self) -> Backend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        ins = ", ".join(s.describe() for s in self.inputs)
        outs = ", ".join(s.describe() for s in self.outputs)
        return f"<{type(self).__name__} {ins} -> {outs}>"


def _check_shape(kind: str, spec: TensorSpec, shape: tuple[int, ...]) -> None:
    fixed_mismatch = any(want is not None and want != got for want, got in zip(spec.shape, shape, strict=False))
    if len(shape) != len(spec.shape) or fixed_mismatch:
        raise ValueError(f"{kind}: input {spec.name} has shape {list(shape)}, expected {spec.describe()}")


def default_device(kind: str) -> str:
    return "cuda:0" if kind == "tensorrt" else "cpu"


def cuda_index(device: str) -> int:
    """``cuda`` -> 0, ``cuda:1`` -> 1; anything else is an error."""
    if device == "cuda":
        return 0
    prefix, _, index = device.partition(":")
    if prefix != "cuda" or not index.isdigit():
        raise ValueError(f"device {device!r} is not 'cuda' or 'cuda:N'")
    return int(index)


def create_backend(
    kind: str,
    model_file_path: str | os.PathLike[str] | None = None,
    engine_file_path: str | os.PathLike[str] | None = None,
    precision: str = "fp32",
    device: str | None = None,
    force_engine_update: bool = False,
    *,
    threads: int | None = None,
    batch_profile: BatchProfile | None = None,
    calibration_cache_path: str | os.PathLike[str] | None = None,
    calibration_data: Mapping[str, npt.ArrayLike] | None = None,
    workspace_bytes: int = 1 << 30,
    module: Any = None,
    input_specs: Sequence[TensorSpec] | None = None,
    output_specs: Sequence[TensorSpec] | None = None,
) -> Backend:
    """A backend of ``kind`` (one of ``BACKEND_KINDS``).

    * ``onnxruntime``: ``model_file_path`` is an ONNX file; ``device`` ``cpu`` (default),
      ``cuda[:N]`` (needs onnxruntime-gpu) or ``auto``; ``threads``: intra-op threads.
    * ``tensorrt``: ``model_file_path`` is an ONNX file, built into an engine cached at
      ``engine_file_path`` (default: under ~/.cache/hdnet_ros/engines) and rebuilt when
      the ONNX file, TensorRT, the GPU, the precision or ``batch_profile`` changed, when
      the cached file is unreadable, or when ``force_engine_update`` is set. ``int8``
      needs ``calibration_data`` ({input name: [M,...] samples}) or an existing
      ``calibration_cache_path``. ``device``: ``cuda[:N]``.
    * ``torch``: ``module`` (an ``nn.Module``) with ``input_specs``/``output_specs``, or
      ``model_file_path`` a MoveNet ``.tflite`` file (rebuilt in PyTorch); ``device``
      ``cpu`` or ``cuda[:N]``; ``precision`` ``fp32`` or ``fp16``.
    """
    if kind not in BACKEND_KINDS:
        raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(BACKEND_KINDS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    device = device or default_device(kind)
    if kind == "onnxruntime":
        from hdnet_ros.inference.onnxruntime_backend import OnnxRuntimeBackend

        if precision != "fp32":
            raise ValueError("onnxruntime runs the ONNX file as it is stored: precision must be fp32")
        return OnnxRuntimeBackend(_required_path(model_file_path, kind), device=device, threads=threads)
    if kind == "tensorrt":
        from hdnet_ros.inference.tensorrt_backend import TensorRTBackend

        return TensorRTBackend(
            _required_path(model_file_path, kind),
            engine_file_path=Path(engine_file_path) if engine_file_path is not None else None,
            precision=precision,
            device=device,
            force_engine_update=force_engine_update,
            batch_profile=batch_profile or BatchProfile(),
            calibration_cache_path=Path(calibration_cache_path) if calibration_cache_path is not None else None,
            calibration_data=calibration_data,
            workspace_bytes=workspace_bytes,
        )
    from hdnet_ros.inference.torch_backend import TorchBackend, torch_backend_for_file

    if precision == "int8":
        raise ValueError("the torch backend runs fp32 or fp16")
    if module is not None:
        if input_specs is None or output_specs is None:
            raise ValueError("the torch backend needs input_specs and output_specs with a module")
        return TorchBackend(module, input_specs, output_specs, device=device, precision=precision, threads=threads)
    path = _required_path(model_file_path, kind)
    return torch_backend_for_file(path, device=device, precision=precision, threads=threads)


def _required_path(path: str | os.PathLike[str] | None, kind: str) -> Path:
    if path is None:
        raise ValueError(f"the {kind} backend needs model_file_path")
    return Path(path).expanduser()


def split_batches(array_count: int, batch: int) -> Iterable[slice]:
    """Slices of at most ``batch`` items covering ``array_count`` items."""
    for start in range(0, array_count, batch):
        yield slice(start, min(start + batch, array_count))


def run_batched(backend: Backend, inputs: dict[str, npt.NDArray[Any]], output: str, max_batch: int) -> npt.NDArray[Any]:
    """One output of ``backend`` over all rows of ``inputs``, in batches of ``max_batch``."""
    count = len(next(iter(inputs.values())))
    parts = [backend.run({k: v[s] for k, v in inputs.items()})[output] for s in split_batches(count, max_batch)]
    return np.concatenate(parts)
