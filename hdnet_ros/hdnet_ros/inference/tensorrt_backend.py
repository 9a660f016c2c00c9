"""TensorRT 10 and 11 backend: ONNX -> cached engine -> ``execute_async_v3`` on a CUDA stream.

* Imports: ``tensorrt`` and ``torch`` are imported when a backend (or an engine build) is
  asked for, never at module import, and a missing one raises ``BackendUnavailable`` with
  what to install.
* Device memory and the stream: torch CUDA tensors and a ``torch.cuda.Stream`` (torch is
  already needed for the PyTorch networks; cuda-python would be a second CUDA binding to
  install and keep in step). The TensorRT context gets the tensors' ``data_ptr()`` via
  ``set_tensor_address`` and the stream's handle via ``execute_async_v3``.
* Engines: built with the API TensorRT 10 and 11 share (``build_serialized_network``,
  ``set_memory_pool_limit``, optimisation profiles for the batch of person crops) and
  cached by :mod:`hdnet_ros.inference.engine_cache`; precision, where the two differ, is
  decided by :mod:`hdnet_ros.inference.tensorrt_api`.

Why this file is long: it is one engine's whole life against one external API (build,
deserialise, bind, run, report), and every piece shares the TensorRT objects and their
error handling; split, the parts would only call each other.
* INT8: an ONNX file with Q/DQ nodes (explicit quantisation) on TensorRT 10 and 11; on
  TensorRT 10 also implicit quantisation of a float32 file with an entropy calibrator
  (``IInt8EntropyCalibrator2``) reading and writing a calibration cache file (deprecated in
  10.1, removed in 11: the build then says so and names the alternatives).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros.inference.backend import (
    Arrays,
    Backend,
    BackendUnavailable,
    BatchProfile,
    TensorSpec,
    cuda_index,
    split_batches,
)
from hdnet_ros.inference.engine_cache import (
    CacheDecision,
    EngineCacheError,
    EngineKey,
    atomic_write_bytes,
    file_sha256,
    load_or_build_engine,
    make_engine_key,
    require_onnx,
)
from hdnet_ros.inference.tensorrt_api import (
    FIRST_MAJOR,
    TESTED_MAJORS,
    TensorRTApi,
    network_precisions,
    precision_plan,
)
from hdnet_ros.logs import get_logger

LOGGER = get_logger(__name__)
DEFAULT_ENGINE_DIR = Path("~/.cache/hdnet_ros/engines")


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError as error:
        raise BackendUnavailable(
            "the TensorRT backend needs the `tensorrt` Python package (TensorRT 10 or 11: `pip install tensorrt`, "
            "or JetPack's python3-libnvinfer), which is not installed; use the onnxruntime backend on CPU"
        ) from error
    api = TensorRTApi.of(trt)
    if api.major < FIRST_MAJOR:
        raise BackendUnavailable(
            f"TensorRT {api.version} found; this backend needs TensorRT {FIRST_MAJOR} or newer (the tensor-name API)"
        )
    if api.major > TESTED_MAJORS[-1]:
        _warn_untested(api.version)
    return trt


@functools.cache
def _warn_untested(version: str) -> None:
    """Said once per process: a newer major may have removed API this backend uses."""
    LOGGER.warning("TensorRT %s: this backend is written for TensorRT 10 and 11; trying it", version)


def implicit_int8_available() -> bool:
    """Whether int8 can be calibrated from a float32 file here (TensorRT 10); True where
    TensorRT is absent, so that the error said first is the one TensorRT 10 needs."""
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        return True
    return TensorRTApi.of(import_tensorrt()).implicit_int8


def import_torch_cuda(device: str) -> tuple[Any, int]:
    """torch and the CUDA device index; torch provides the device buffers and the stream."""
    index = cuda_index(device)
    try:
        import torch
    except ImportError as error:
        raise BackendUnavailable(
            "the TensorRT backend uses PyTorch (with CUDA) for device memory and streams; torch is not installed"
        ) from error
    if not torch.cuda.is_available():
        raise BackendUnavailable(
            "the TensorRT backend needs a CUDA GPU, and torch sees none (torch.cuda.is_available() is False)"
        )
    if index >= torch.cuda.device_count():
        raise BackendUnavailable(f"device {device!r}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return torch, index


def default_engine_path(onnx_path: Path, precision: str, profile: BatchProfile) -> Path:
    """~/.cache/hdnet_ros/engines/<stem>-<sha12>.<precision>.b<min>-<opt>-<max>.engine.

    The model directory may be read-only; the hash keeps engines of equally named ONNX
    files apart, the precision and profile let several variants coexist.
    """
    digest = file_sha256(onnx_path)[:12]
    name = f"{onnx_path.stem}-{digest}.{precision}.b{profile.min}-{profile.opt}-{profile.max}.engine"
    return DEFAULT_ENGINE_DIR.expanduser() / name


def gpu_identity(torch: Any, index: int) -> tuple[str, str]:
    """GPU name and compute capability ("8.7"): an engine runs only where it was built."""
    major, minor = torch.cuda.get_device_capability(index)
    return str(torch.cuda.get_device_name(index)), f"{major}.{minor}"


# ----------------------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------------------


def _progress_monitor(trt: Any) -> Any | None:
    """A TensorRT IProgressMonitor that logs phases (None where TensorRT lacks the interface)."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None

    class LogProgress(base):  # type: ignore[misc, valid-type, unused-ignore]
        """Logs each phase and every tenth of its steps. TensorRT calls it from its threads."""

        def __init__(self) -> None:
            base.__init__(self)  # type: ignore[misc, unused-ignore]
            self._lock = threading.Lock()
            self._steps: dict[str, int] = {}
            self._depth: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self._lock:
                self._steps[phase_name] = max(int(num_steps), 1)
                self._depth[phase_name] = self._depth.get(parent_phase, -1) + 1 if parent_phase else 0
                LOGGER.info("%s%s (%d steps)", "  " * self._depth[phase_name], phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            with self._lock:
                total = self._steps.get(phase_name, 1)
                tenth = max(total // 10, 1)
                if total >= 20 and (step + 1) % tenth == 0:
                    indent = "  " * (self._depth.get(phase_name, 0) + 1)
                    LOGGER.info("%s%s: %d/%d", indent, phase_name, step + 1, total)
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            with self._lock:
                self._steps.pop(phase_name, None)
                self._depth.pop(phase_name, None)

    return LogProgress()


Batch = dict[str, npt.NDArray[np.float32]]


def calibration_batches(data: Mapping[str, npt.ArrayLike], batch: int) -> tuple[int, list[Batch]]:
    """Fixed-size float32 batches from ``{input name: [M, ...] samples}`` (the remainder is dropped).

    TensorRT calibrates at one shape (the calibration profile), so every batch has the
    same size: ``batch``, or M when fewer samples are given.
    """
    arrays = {name: np.asarray(values, dtype=np.float32) for name, values in data.items()}
    counts = {len(a) for a in arrays.values()}
    if len(counts) != 1 or 0 in counts:
        raise ValueError(f"calibration data needs the same non-zero sample count for every input, got {counts}")
    count = counts.pop()
    size = min(batch, count)
    slices = split_batches(count - count % size, size)
    batches = [{name: np.ascontiguousarray(a[s]) for name, a in arrays.items()} for s in slices]
    return size, batches


def _entropy_calibrator(
    trt: Any, torch: Any, device: Any, batch_size: int, batches: list[Batch], cache_path: Path
) -> Any:
    """An IInt8EntropyCalibrator2 over ``batches`` that reads/writes ``cache_path``."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc, unused-ignore]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._batches: Iterator[Batch] = iter(batches)
            self._device_tensors: list[Any] = []  # alive until TensorRT has read them

        def get_batch_size(self) -> int:
            return batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = next(self._batches, None)
            if batch is None:
                return None  # no more data: calibration ends
            self._device_tensors = [torch.from_numpy(batch[name]).to(device) for name in names]
            return [int(tensor.data_ptr()) for tensor in self._device_tensors]

        def read_calibration_cache(self) -> bytes | None:
            if cache_path.is_file():
                LOGGER.info("INT8 scales from calibration cache %s", cache_path)
                return cache_path.read_bytes()
            return None

        def write_calibration_cache(self, cache: Any) -> None:
            atomic_write_bytes(cache_path, bytes(cache))
            LOGGER.info("wrote calibration cache %s", cache_path)

    return EntropyCalibrator()


class TensorRTBuilder:
    """``engine_cache.EngineBuilder`` with TensorRT: ONNX parser, precision flags, profiles."""

    def __init__(
        self,
        trt: Any,
        torch: Any,
        device_index: int,
        profile: BatchProfile,
        workspace_bytes: int = 1 << 30,
        calibration_cache_path: Path | None = None,
        calibration_data: Mapping[str, npt.ArrayLike] | None = None,
    ) -> None:
        self._trt = trt
        self._torch = torch
        self._device_index = device_index
        self._profile = profile
        self._workspace_bytes = workspace_bytes
        self._calibration_cache_path = calibration_cache_path
        self._calibration_data = calibration_data
        self._logger = trt.Logger(trt.Logger.WARNING)

    def build_serialized_engine(self, onnx_path: Path, key: EngineKey) -> bytes:
        trt = self._trt
        builder = trt.Builder(self._logger)
        # Flags 0: networks are explicit-batch in 10 and strongly typed in 11 anyway.
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, self._logger)
        # parse_from_file, not parse(bytes): it finds external weight files next to the model.
        if not parser.parse_from_file(str(onnx_path)):
            errors = "\n  ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise EngineCacheError(f"TensorRT's ONNX parser rejected {onnx_path}:\n  {errors}")
        plan = precision_plan(TensorRTApi.of(trt), key.precision, network_precisions(trt, network), onnx_path)
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self._workspace_bytes)
        for flag in plan.flags:
            config.set_flag(getattr(trt.BuilderFlag, flag))
        profile = builder.create_optimization_profile()
        batch_inputs = self._set_batch_shapes(network, profile, self._profile)
        if batch_inputs:
            config.add_optimization_profile(profile)
        if plan.calibrate:
            config.int8_calibrator = self._calibrator(builder, network, config)
        elif key.precision == "int8" and (
            self._calibration_data is not None or self._calibration_cache_path is not None
        ):
            LOGGER.warning("%s is quantized (Q/DQ nodes): its scales are used, not calibration", onnx_path.name)
        monitor = _progress_monitor(trt)
        if monitor is not None:
            config.progress_monitor = monitor
        LOGGER.info(
            "building %s engine from %s (batch %d..%d; this takes minutes)",
            key.precision,
            onnx_path,
            key.min_batch,
            key.max_batch,
        )
        start = time.monotonic()
        with self._torch.cuda.device(self._device_index):
            serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise EngineCacheError(f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT log above)")
        LOGGER.info("engine built in %.0f s", time.monotonic() - start)
        return bytes(serialized)

    @staticmethod
    def _set_batch_shapes(network: Any, profile: Any, batch: BatchProfile, fixed: int | None = None) -> list[str]:
        """Profile shapes for inputs with a dynamic first (batch) dimension; others must be static."""
        names = []
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            shape = tuple(int(d) for d in tensor.shape)
            if any(d < 0 for d in shape[1:]):
                raise EngineCacheError(f"input {tensor.name} {list(shape)}: only the batch dimension may be dynamic")
            if shape and shape[0] < 0:
                rest = shape[1:]
                low, opt, high = (fixed, fixed, fixed) if fixed is not None else (batch.min, batch.opt, batch.max)
                profile.set_shape(tensor.name, (low, *rest), (opt, *rest), (high, *rest))
                names.append(tensor.name)
        return names

    def _calibrator(self, builder: Any, network: Any, config: Any) -> Any:
        cache_path = self._calibration_cache_path
        if cache_path is None:
            raise ValueError("int8 needs a calibration cache path (it is read if it exists, written otherwise)")
        batches: list[Batch] = []
        size = self._profile.opt
        if self._calibration_data is not None:
            size, batches = calibration_batches(self._calibration_data, self._profile.opt)
        elif not cache_path.is_file():
            raise ValueError(
                f"int8 needs calibration data, or an existing calibration cache ({cache_path} does not exist)"
            )
        calibration_profile = builder.create_optimization_profile()
        if self._set_batch_shapes(network, calibration_profile, self._profile, fixed=size):
            config.set_calibration_profile(calibration_profile)
        device = self._torch.device("cuda", self._device_index)
        return _entropy_calibrator(self._trt, self._torch, device, size, batches, cache_path)


class TensorRTRuntime:
    """``engine_cache.EngineRuntime`` with TensorRT."""

    def __init__(self, trt: Any, torch: Any, device_index: int) -> None:
        self._trt = trt
        self._torch = torch
        self._device_index = device_index
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))

    def deserialize_engine(self, data: bytes) -> Any | None:
        with self._torch.cuda.device(self._device_index):
            return self._runtime.deserialize_cuda_engine(data)


def _engine_key(
    trt: Any,
    torch: Any,
    index: int,
    onnx_path: Path,
    precision: str,
    profile: BatchProfile,
    calibration_cache_path: Path | None,
) -> EngineKey:
    gpu_name, capability = gpu_identity(torch, index)
    if not TensorRTApi.of(trt).implicit_int8:
        calibration_cache_path = None  # TensorRT 11 never reads it: it must not key the engine
    return make_engine_key(
        onnx_path,
        tensorrt_version=str(trt.__version__),
        gpu_name=gpu_name,
        compute_capability=capability,
        precision=precision,
        min_batch=profile.min,
        opt_batch=profile.opt,
        max_batch=profile.max,
        calibration_cache_path=calibration_cache_path,
    )


def prepare_engine(
    onnx_path: Path,
    engine_path: Path | None = None,
    precision: str = "fp32",
    device: str = "cuda:0",
    force_engine_update: bool = False,
    batch_profile: BatchProfile | None = None,
    calibration_cache_path: Path | None = None,
    calibration_data: Mapping[str, npt.ArrayLike] | None = None,
    workspace_bytes: int = 1 << 30,
) -> tuple[Any, Path, CacheDecision]:
    """The deserialized engine for ``onnx_path``, from the cache or freshly built."""
    if precision not in ("fp32", "fp16", "int8"):
        raise ValueError(f"unknown precision {precision!r}")
    trt = import_tensorrt()
    torch, index = import_torch_cuda(device)
    require_onnx(onnx_path, engine_path)
    profile = batch_profile or BatchProfile()
    engine_path = (engine_path or default_engine_path(onnx_path, precision, profile)).expanduser()

    def key() -> EngineKey:
        return _engine_key(trt, torch, index, onnx_path, precision, profile, calibration_cache_path)

    builder = TensorRTBuilder(trt, torch, index, profile, workspace_bytes, calibration_cache_path, calibration_data)
    runtime = TensorRTRuntime(trt, torch, index)
    engine, decision = load_or_build_engine(
        onnx_path, engine_path, key(), builder, runtime, force_engine_update, key_after_build=key
    )
    return engine, engine_path, decision


# ----------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------


class TensorRTBackend(Backend):
    kind = "tensorrt"

    def __init__(
        self,
        onnx_path: Path,
        engine_file_path: Path | None = None,
        precision: str = "fp32",
        device: str = "cuda:0",
        force_engine_update: bool = False,
        batch_profile: BatchProfile | None = None,
        calibration_cache_path: Path | None = None,
        calibration_data: Mapping[str, npt.ArrayLike] | None = None,
        workspace_bytes: int = 1 << 30,
    ) -> None:
        self._trt = import_tensorrt()
        self._torch, self._index = import_torch_cuda(device)
        self._engine, self.engine_path, self.cache_decision = prepare_engine(
            onnx_path,
            engine_file_path,
            precision,
            device,
            force_engine_update,
            batch_profile,
            calibration_cache_path,
            calibration_data,
            workspace_bytes,
        )
        torch = self._torch
        self._device = torch.device("cuda", self._index)
        with torch.cuda.device(self._index):
            self._context = self._engine.create_execution_context()
            self._stream = torch.cuda.Stream(device=self._device)
        if self._context is None:
            raise EngineCacheError(f"TensorRT could not create an execution context for {self.engine_path}")
        self._inputs, self._outputs, self._torch_dtypes = self._io_specs()
        self._max_batch = self._batch_limit()

    def _io_specs(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...], dict[str, Any]]:
        trt, engine = self._trt, self._engine
        inputs: list[TensorSpec] = []
        outputs: list[TensorSpec] = []
        torch_dtypes: dict[str, Any] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            shape = tuple(int(d) if d >= 0 else None for d in engine.get_tensor_shape(name))
            spec = TensorSpec(name, shape, dtype)
            torch_dtypes[name] = self._torch.from_numpy(np.empty(0, dtype=dtype)).dtype
            (inputs if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else outputs).append(spec)
        return tuple(inputs), tuple(outputs), torch_dtypes

    def _batch_limit(self) -> int:
        """Largest batch one execution takes: the profile's max, or the static batch."""
        limits = []
        for spec in self._inputs:
            if not spec.shape:
                continue
            first = spec.shape[0]
            if first is None:
                first = int(self._engine.get_tensor_profile_shape(spec.name, 0)[2][0])
            limits.append(first)
        return min(limits) if limits else 1

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def _run(self, inputs: Arrays) -> Arrays:
        batch = next(iter(inputs.values())).shape[0]
        # More crops than the profile's max batch: run in chunks rather than fail.
        parts = [self._run_chunk({n: a[s] for n, a in inputs.items()}) for s in split_batches(batch, self._max_batch)]
        if not parts:
            raise ValueError("tensorrt: empty batch")
        if len(parts) == 1:
            return parts[0]
        return {name: np.concatenate([p[name] for p in parts]) for name in self.output_names}

    def _run_chunk(self, inputs: Arrays) -> Arrays:
        torch, context = self._torch, self._context
        with torch.cuda.device(self._index), torch.cuda.stream(self._stream):
            device_inputs = []  # alive until the stream is done with them
            for spec in self._inputs:
                tensor = torch.from_numpy(inputs[spec.name]).to(self._device, non_blocking=True)
                device_inputs.append(tensor)
                if not context.set_input_shape(spec.name, tuple(tensor.shape)):
                    given = list(tensor.shape)
                    raise ValueError(f"tensorrt: shape {given} of {spec.name} is outside the engine's profile")
                context.set_tensor_address(spec.name, int(tensor.data_ptr()))
            device_outputs = {}
            for spec in self._outputs:
                shape = tuple(context.get_tensor_shape(spec.name))
                tensor = torch.empty(shape, dtype=self._torch_dtypes[spec.name], device=self._device)
                context.set_tensor_address(spec.name, int(tensor.data_ptr()))
                device_outputs[spec.name] = tensor
            if not context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError("tensorrt: execute_async_v3 failed (see the TensorRT log)")
            host = {name: tensor.to("cpu", non_blocking=True) for name, tensor in device_outputs.items()}
        self._stream.synchronize()
        return {name: tensor.numpy() for name, tensor in host.items()}

    def _release(self) -> None:
        self._context = None
        self._engine = None
        self._torch.cuda.empty_cache()
