"""Which backend class runs a model: :func:`create_backend`.

Each runtime is imported here only when its backend is created, so a CPU install never
needs torch or TensorRT; the backends themselves import only the interface
(:mod:`hdnet_ros.inference.backend`), never this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy.typing as npt

from hdnet_ros.inference.backend import BACKEND_KINDS, PRECISIONS, Backend, BatchProfile, TensorSpec, default_device


def create_backend(
    kind: str,
    model_file_path: str | os.PathLike[str] | None = None,
    engine_file_path: str | os.PathLike[str] | None = None,
    precision: str = "fp32",
    device: str | None = None,
    force_engine_update: bool = False,
    *,
    threads: int | None = None,
    spinning: str = "off",
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
      ``cuda[:N]`` (needs onnxruntime-gpu) or ``auto``; ``threads``: intra-op threads;
      ``spinning``: how their workers wait (``off``, ``in_call``, ``on``:
      :data:`hdnet_ros.inference.onnxruntime_backend.SPINNING_MODES`).
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
        path = _required_path(model_file_path, kind)
        return OnnxRuntimeBackend(path, device=device, threads=threads, spinning=spinning)
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
