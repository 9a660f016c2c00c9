"""What the installed TensorRT's builder offers, and how a precision is built with it.

The backend uses only API that TensorRT 10 and 11 both have (tensor-name I/O:
``num_io_tensors``, ``get_tensor_name``, ``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``; ``build_serialized_network``; optimisation profiles;
``set_memory_pool_limit``; ``IProgressMonitor``). What differs is precision:

* TensorRT 10 builds weakly typed networks: ``BuilderFlag.FP16`` / ``BuilderFlag.INT8`` let
  it lower a float32 ONNX file itself, INT8 with scales from an ``IInt8EntropyCalibrator2``
  (implicit quantisation, deprecated since 10.1).
* TensorRT 11 removed weak typing: no ``BuilderFlag.FP16`` / ``INT8``, no
  ``IInt8Calibrator``, ``int8_calibrator`` or ``set_calibration_profile``; every network is
  strongly typed (``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` is deprecated and ignored),
  so an engine computes in the types its ONNX file states. fp16 needs an fp16 (or mixed)
  file, int8 one with Q/DQ nodes (explicit quantisation).

The surface is detected on the module (the flags and the calibrator class), not guessed
from the version string; the version only refuses what predates the tensor-name API.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdnet_ros.inference.engine_cache import EngineCacheError
from hdnet_ros.logs import get_logger

LOGGER = get_logger(__name__)
FIRST_MAJOR = 10  # the tensor-name API (execute_async_v3) and build_serialized_network
TESTED_MAJORS = (10, 11)
QDQ_LAYERS = ("QUANTIZE", "DEQUANTIZE")


class PrecisionUnavailableError(EngineCacheError, ValueError):
    """The installed TensorRT cannot build the asked precision from this ONNX file; the
    message says why and what to do instead."""


@dataclass(frozen=True)
class TensorRTApi:
    """The parts of the builder API that differ between TensorRT 10 and 11."""

    version: str
    major: int
    weak_typing: bool  # BuilderFlag.FP16 / INT8 exist (10)
    implicit_int8: bool  # IInt8EntropyCalibrator2 and IBuilderConfig.int8_calibrator exist (10)

    @classmethod
    def of(cls, trt: Any) -> TensorRTApi:
        flags = trt.BuilderFlag
        return cls(
            version=str(trt.__version__),
            major=int(str(trt.__version__).split(".")[0]),
            weak_typing=hasattr(flags, "FP16") and hasattr(flags, "INT8"),
            implicit_int8=hasattr(trt, "IInt8EntropyCalibrator2"),
        )


@dataclass(frozen=True)
class PrecisionPlan:
    """How to build an engine of one precision: builder flags to set, whether to calibrate."""

    flags: tuple[str, ...]
    calibrate: bool


def network_precisions(trt: Any, network: Any) -> frozenset[str]:
    """The reduced precisions a parsed network states itself: "int8" for Q/DQ layers
    (explicit quantisation), "fp16" for float16 tensors (an fp16 or mixed-precision file)."""
    found = set()
    qdq = {getattr(trt.LayerType, name) for name in QDQ_LAYERS}
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        if layer.type in qdq:
            found.add("int8")
        if any(layer.get_output(k).dtype == trt.DataType.HALF for k in range(layer.num_outputs)):
            found.add("fp16")
    return frozenset(found)


def precision_plan(api: TensorRTApi, precision: str, stated: frozenset[str], onnx_path: Path) -> PrecisionPlan:
    """Flags and calibration for ``precision``, given what the network states (``stated``);
    raises PrecisionUnavailableError where this TensorRT cannot build it from this file."""
    if api.weak_typing:
        if precision == "fp32":
            return PrecisionPlan((), calibrate=False)
        # fp16 with int8 too: layers without a fast int8 kernel fall back to fp16, not fp32.
        flags = ("FP16",) if precision == "fp16" else ("FP16", "INT8")
        calibrate = precision == "int8" and "int8" not in stated  # Q/DQ scales need no calibration
        if calibrate and not api.implicit_int8:
            raise PrecisionUnavailableError(_needs_qdq(api, onnx_path, "has no implicit INT8 calibration"))
        return PrecisionPlan(flags, calibrate)
    if precision == "int8" and "int8" not in stated:
        raise PrecisionUnavailableError(
            _needs_qdq(api, onnx_path, "removed implicit INT8 calibration (IInt8Calibrator, BuilderFlag.INT8)")
        )
    if precision == "fp16" and "fp16" not in stated:
        raise PrecisionUnavailableError(
            f"{onnx_path.name}: precision fp16 needs an fp16 ONNX file on TensorRT {api.version}: TensorRT 11 "
            "builds strongly typed networks only (BuilderFlag.FP16 is gone), and this file computes in float32. "
            f"Convert it, e.g. with NVIDIA ModelOpt AutoCast (python -m modelopt.onnx.autocast --onnx_path "
            f"{onnx_path.name} --output_path {onnx_path.stem}.fp16.onnx), and build from that file; or use "
            "precision fp32; TensorRT 10 still lowers a float32 file to fp16 itself."
        )
    if precision == "fp32" and stated:
        LOGGER.warning(
            "%s states %s itself: TensorRT %s builds the file's own types, so this fp32 engine computes in them",
            onnx_path.name,
            " and ".join(sorted(stated)),
            api.version,
        )
    return PrecisionPlan((), calibrate=False)


def _needs_qdq(api: TensorRTApi, onnx_path: Path, what: str) -> str:
    return (
        f"{onnx_path.name}: precision int8 needs an explicitly quantized ONNX file on TensorRT {api.version}, which "
        f"{what}, and this file has no Q/DQ (QuantizeLinear/DequantizeLinear) nodes. Quantize it first, e.g. with "
        "onnxruntime's quantize_static(..., quant_format=QuantFormat.QDQ) or NVIDIA ModelOpt (python -m "
        f"modelopt.onnx.quantization --quantize_mode int8 --onnx_path {onnx_path.name}), and build from that "
        "file; or use precision fp16 or fp32; TensorRT 10 still calibrates a float32 file implicitly."
    )
