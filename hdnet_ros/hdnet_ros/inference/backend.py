"""One interface over the inference runtimes: onnxruntime, TensorRT and PyTorch.

A backend takes named numpy arrays and returns named numpy arrays; what runs underneath
(CPU or GPU, fp32/fp16/int8) is chosen once, in :func:`hdnet_ros.inference.factory.create_backend`. This module imports
numpy only: each runtime is imported by its backend, when that backend is created, so a
CPU install never needs torch or TensorRT.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
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
    # Outputs this backend leaves uncomputed when a caller skips them (run's ``skip``).
    skippable: frozenset[str] = frozenset()

    @property
    @abstractmethod
    def inputs(self) -> tuple[TensorSpec, ...]: ...

    @property
    @abstractmethod
    def outputs(self) -> tuple[TensorSpec, ...]: ...

    @abstractmethod
    def _run(self, inputs: Arrays) -> Arrays:
        """Run on inputs already checked and converted to the declared dtypes."""

    def run(self, inputs: Mapping[str, npt.ArrayLike], skip: Collection[str] = ()) -> Arrays:
        """The outputs for ``inputs``. ``skip``: outputs the caller will not read; a backend
        that can leave them uncomputed (:meth:`_run_without`) returns the others only, the
        rest compute and return them all."""
        if self._closed:
            raise RuntimeError(f"{self.kind} backend is closed")
        prepared = self.prepare_inputs(inputs)
        return self._run_without(prepared, frozenset(skip)) if skip else self._run(prepared)

    def _run_without(self, inputs: Arrays, skip: frozenset[str]) -> Arrays:
        """:meth:`_run` for a caller that reads no output named in ``skip``; runtimes that can
        leave outputs uncomputed override it (OpenVINO: ``skippable``)."""
        return self._run(inputs)

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


def split_batches(array_count: int, batch: int) -> Iterable[slice]:
    """Slices of at most ``batch`` items covering ``array_count`` items."""
    for start in range(0, array_count, batch):
        yield slice(start, min(start + batch, array_count))


def run_batched(backend: Backend, inputs: dict[str, npt.NDArray[Any]], output: str, max_batch: int) -> npt.NDArray[Any]:
    """One output of ``backend`` over all rows of ``inputs``, in batches of ``max_batch``."""
    count = len(next(iter(inputs.values())))
    parts = [backend.run({k: v[s] for k, v in inputs.items()})[output] for s in split_batches(count, max_batch)]
    return np.concatenate(parts)
