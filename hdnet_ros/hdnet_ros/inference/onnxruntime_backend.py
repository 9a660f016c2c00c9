"""onnxruntime backend: CPU by default, the CUDA provider when installed and asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hdnet_ros.inference.backend import Arrays, Backend, BackendUnavailable, TensorSpec, cuda_index
from hdnet_ros.logs import get_logger

LOGGER = get_logger(__name__)

# onnxruntime's type strings -> numpy.
_ORT_TYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"

# How a session's intra-op worker threads wait for their next piece of work
# (``inference.onnxruntime_spinning``; docs/inference.md, "Threads, spinning and batches"):
# ``off`` blocks on a futex at once (every parallel op wakes the workers again), ``in_call``
# spins while a call runs and stops spinning when it returns (onnxruntime's
# session.force_spinning_stop), ``on`` spins after each call too, for onnxruntime's
# default spin time, on the cores the next stage needs.
SPINNING_MODES = ("off", "in_call", "on")
_SPINNING_ENTRIES = {
    "off": {"session.intra_op.allow_spinning": "0"},
    "in_call": {"session.intra_op.allow_spinning": "1", "session.force_spinning_stop": "1"},
    "on": {"session.intra_op.allow_spinning": "1"},
}


def session_config_entries(threads: int | None, spinning: str) -> dict[str, str]:
    """The session config entries for a capped session (``threads``) in ``spinning`` mode;
    none without a cap (onnxruntime's defaults: every core, spinning)."""
    if spinning not in _SPINNING_ENTRIES:
        raise ValueError(f"spinning must be one of {', '.join(SPINNING_MODES)}, not {spinning!r}")
    return dict(_SPINNING_ENTRIES[spinning]) if threads is not None else {}


def choose_providers(device: str, available: list[str]) -> list[Any]:
    """Execution providers for ``device`` (cpu, cuda, cuda:N, auto) given those installed."""
    if device == "cpu":
        return [CPU_PROVIDER]
    has_cuda = CUDA_PROVIDER in available
    if device == "auto":
        return [CUDA_PROVIDER, CPU_PROVIDER] if has_cuda else [CPU_PROVIDER]
    index = cuda_index(device)
    if not has_cuda:
        raise BackendUnavailable(
            f"device {device!r} needs onnxruntime's {CUDA_PROVIDER} (the onnxruntime-gpu package); "
            f"this onnxruntime has {', '.join(available)}"
        )
    # CPU stays as the fallback for the few ops the CUDA provider lacks.
    return [(CUDA_PROVIDER, {"device_id": index}), CPU_PROVIDER]


class OnnxRuntimeBackend(Backend):
    kind = "onnxruntime"

    def __init__(
        self, model_path: Path, device: str = "cpu", threads: int | None = None, spinning: str = "off"
    ) -> None:
        import onnxruntime as ort

        if not model_path.is_file():
            raise FileNotFoundError(f"ONNX file {model_path} does not exist")
        entries = session_config_entries(threads, spinning)
        options = ort.SessionOptions()
        if threads is not None:
            # A robot shares its cores between nodes: cap what one session takes. (Spinning
            # workers, before commit b40ec69, slowed the next stage's LiteRT calls: the sample
            # frames' pipeline on 2 loaded cores took 151-173 ms a frame instead of 113-121.)
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        for key, value in entries.items():
            options.add_session_config_entry(key, value)
        options.log_severity_level = 3
        self.model_path = model_path
        self.config_entries = entries
        providers = choose_providers(device, ort.get_available_providers())
        self._session: Any = ort.InferenceSession(str(model_path), sess_options=options, providers=providers)
        self._inputs = tuple(_spec(node) for node in self._session.get_inputs())
        self._outputs = tuple(_spec(node) for node in self._session.get_outputs())
        LOGGER.debug("onnxruntime %s on %s", model_path, self._session.get_providers())

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    @property
    def providers(self) -> list[str]:
        return list(self._session.get_providers())

    def _run(self, inputs: Arrays) -> Arrays:
        names = list(self.output_names)
        return dict(zip(names, self._session.run(names, inputs), strict=True))

    def _release(self) -> None:
        self._session = None


def _spec(node: Any) -> TensorSpec:
    if node.type not in _ORT_TYPES:
        raise ValueError(f"tensor {node.name} has type {node.type}, which this backend does not map")
    # Symbolic or unknown dimensions (the batch) are strings or None in onnxruntime.
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in node.shape)
    return TensorSpec(node.name, shape, np.dtype(_ORT_TYPES[node.type]))
