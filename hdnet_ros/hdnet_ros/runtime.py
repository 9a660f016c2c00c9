"""Which runtime runs each model: the ``inference`` settings and the model openers.

The default CPU path runs the detector with onnxruntime and MoveNet with LiteRT (its int8
TFLite file as published). With ``inference.backend: tensorrt`` every model runs as a
TensorRT engine built from ONNX and cached; MoveNet's TFLite file is first rebuilt in
PyTorch and exported to ONNX once (torch is needed for that step only). ``torch`` runs the
PyTorch MoveNet directly (CPU or CUDA).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from hdnet_ros.inference.backend import Backend, BackendUnavailable, BatchProfile, create_backend
from hdnet_ros.model_files import ModelFileError
from hdnet_ros.settings_field import setting

LOG = logging.getLogger(__name__)
RUNTIMES = ("onnxruntime", "tensorrt", "torch")


@dataclass(frozen=True)
class InferenceConfig:
    backend: str = setting(
        "onnxruntime",
        "runtime of the networks: onnxruntime (CPU default; MoveNet via LiteRT), tensorrt or torch",
        choices=RUNTIMES,
    )
    device: str = setting("", "cpu, cuda or cuda:N ('' = cpu for onnxruntime/torch, cuda:0 for tensorrt)")
    precision: str = setting(
        "fp32", "fp32, fp16 or int8 (int8: TensorRT with a calibration cache)", choices=("fp32", "fp16", "int8")
    )
    engine_dir: str = setting(
        "", "where TensorRT engines and exported ONNX files are cached ('' = ~/.cache/hdnet_ros/engines)"
    )
    force_engine_update: bool = setting(False, "rebuild cached TensorRT engines even when they match")
    max_batch: int = setting(8, "most person crops run through a network in one call", min=1, max=64)


def engine_dir(config: InferenceConfig) -> Path:
    return (
        Path(config.engine_dir).expanduser() if config.engine_dir else Path.home() / ".cache" / "hdnet_ros" / "engines"
    )


def _file_tag(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def open_backend(onnx_path: Path, config: InferenceConfig, threads: int) -> Backend:
    """An ONNX model on the configured runtime; errors name the file and the reason."""
    kind = "onnxruntime" if config.backend == "torch" else config.backend
    engine = engine_dir(config) / f"{onnx_path.stem}-{_file_tag(onnx_path)}-{config.precision}.engine"
    try:
        return create_backend(
            kind,
            onnx_path,
            engine_file_path=engine if kind == "tensorrt" else None,
            precision=config.precision if kind == "tensorrt" else "fp32",
            device=config.device or None,
            force_engine_update=config.force_engine_update,
            threads=threads,
            batch_profile=BatchProfile(1, min(4, config.max_batch), config.max_batch),
        )
    except (BackendUnavailable, ValueError) as error:
        raise ModelFileError(f"model file {onnx_path} cannot run on {kind}: {error}") from error
    except Exception as error:  # runtimes raise their own types for unreadable models
        raise ModelFileError(f"model file {onnx_path} could not be loaded by {kind}: {error}") from error


def movenet_onnx(tflite_path: Path, config: InferenceConfig) -> Path:
    """The ONNX export of a MoveNet .tflite file, made once and cached beside the engines."""
    target = engine_dir(config) / f"movenet-{_file_tag(tflite_path)}.onnx"
    if target.is_file():
        return target
    try:
        from hdnet_ros.nets.movenet import export_movenet_onnx, load_movenet
    except ImportError as error:
        raise ModelFileError(f"{tflite_path}: exporting MoveNet to ONNX needs torch ({error})") from error
    target.parent.mkdir(parents=True, exist_ok=True)
    LOG.info("exporting %s to %s (once)", tflite_path, target)
    export_movenet_onnx(load_movenet(tflite_path), target)
    return target
