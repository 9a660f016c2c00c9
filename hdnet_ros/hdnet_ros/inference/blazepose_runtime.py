"""BlazePose GHUM 3D's runtimes: on the CPU the runtime ``blazepose.runtime`` names, or the
fastest here (:func:`choose_blazepose`: LiteRT as published, the PyTorch rebuild's ONNX
export on onnxruntime, or the published file on OpenVINO in float32;
:mod:`hdnet_ros.inference.runtime_choice`); the rebuild (exported to ONNX once) on the GPU
runtimes and on torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hdnet_ros.inference.backend import Backend, BackendUnavailable
from hdnet_ros.inference.model_file_runtimes import finish_openvino
from hdnet_ros.inference.runtime import (
    InferenceConfig,
    cached_export,
    choice_store,
    engine_dir,
    file_tag,
    open_backend,
    rebuilt_on_torch,
)
from hdnet_ros.inference.runtime_choice import Candidate, Choice, choose_runtime
from hdnet_ros.logs import get_logger
from hdnet_ros.model_files import ModelFileError

LOG = get_logger(__name__)

# BlazePose on the CPU (``inference.backend: onnxruntime`` on the CPU): LiteRT runs the
# file as published, one invoke per crop; the ONNX export of the rebuild runs on
# onnxruntime with the whole batch. Which is faster depends on the CPU (on the AVX-512 VNNI
# dev machine LiteRT: the export took 1.0x at batch 1 and 1.45x at batch 8); LiteRT resized
# to the whole batch was no faster than the loop (1.3x at batch 8) while its arena grows
# with the batch. An int8 static quantisation of the export was measured and refused: its
# landmarks moved by 16 px (median; docs/inference.md).
BLAZEPOSE_LITERT_BATCHING = "loop"
BLAZEPOSE_RUNTIMES = ("auto", "litert_fp32", "onnx_float", "openvino")
# The probe's batch: the crops a busy frame runs through BlazePose in one call.
PROBE_CROPS = 4
# Every candidate computes the published network in float32 (Candidate.outputs).
PUBLISHED = "the published network, float32"
# The outputs a crop may go without (``Backend.run``'s ``skip``): the person mask, which
# only the depth stage reads (stages/blazepose/per_track.py). OpenVINO then leaves its
# decoder branch uncomputed: 0.74x a crop's time on 2 AVX2 cores (docs/benchmarks.md, the
# eleventh session); the other runtimes compute it anyway.
SKIPPABLE = ("mask",)
# Where a depth stage reads the masks, a frame's crops run with the mask where the stage
# wants it and without it elsewhere (BlazePoseStage.infer). The share depends on the scene:
# 97 % of the sample sequence's crops wanted one (a seated row whose boxes meet), 19-47 % of
# the benchmark crowd's (people apart; still people keep their last mask). So the probe
# times a call with the mask and one without, alike: timed with the mask alone, it kept
# LiteRT on a Zen 4 where OpenVINO takes 1.09x its time with the mask and 0.70x without
# (docs/inference.md, "The mask where it is read").
MASK_MIX = ((), SKIPPABLE)


def open_blazepose(path: Path, inference: InferenceConfig, threads: int, runtime: str = "litert_fp32") -> Backend:
    """BlazePose GHUM 3D on the configured runtime, with the contract of
    :mod:`hdnet_ros.nets.blazepose`: ``{"image": float32 [N,256,256,3] RGB 0..1}`` in, the
    five named outputs (``landmarks``, ``presence``, ``mask``, ``heatmaps``,
    ``world_landmarks``) out.

    * ``onnxruntime`` on the CPU (the default): ``runtime`` (``blazepose.runtime``) picks
      LiteRT, the file as published, one invoke per crop (``litert_fp32``), the ONNX export
      of the rebuild on onnxruntime (``onnx_float``), the file as published on OpenVINO in
      float32 (``openvino``), or ``auto``, the fastest on this CPU (:func:`choose_blazepose`);
      with ``device: cuda[:N]`` or ``auto``, the ONNX
      export of the rebuild on onnxruntime's CUDA provider;
    * ``tensorrt``: the ONNX export as an engine (both cached beside the engines, keyed by
      the file's sha256) with a batch profile for the person crops (``inference.max_batch``);
    * ``torch``: the rebuilt module itself, CPU or CUDA, fp32 or fp16.

    A missing file, or one that is not the BlazePose landmark network, is a ModelFileError
    naming the file and what is wrong.
    """
    return choose_blazepose(path, inference, threads, runtime).runtime


def choose_blazepose(
    path: Path, inference: InferenceConfig, threads: int, runtime: str = "auto", skip: tuple[str, ...] = ()
) -> Choice[Backend]:
    """:func:`open_blazepose` with the choice it made: on the CPU the candidate named by
    ``runtime`` or chosen (``auto``) by :func:`runtime_choice.choose_runtime`, timed on the
    outputs the stage will read (``skip``: SKIPPABLE where no depth stage reads the masks;
    else a call with the mask and one without, :data:`MASK_MIX`); elsewhere the configured GPU
    or torch runtime (named ``inference.backend``)."""
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    if inference.backend == "onnxruntime" and inference.device in ("", "cpu"):
        return choose_runtime(
            "BlazePose GHUM 3D",
            blazepose_candidates(path, inference, threads, skip),
            runtime,
            rounds=inference.runtime_probe_rounds,
            remember=(str(path.resolve()), repr(inference), threads, probe_calls(skip)),
            store=choice_store(inference),
            files=(path,),
        )
    if inference.backend == "torch":
        backend = _blazepose_torch(path, inference, threads)
    else:
        backend = open_backend(blazepose_onnx(path, inference), inference, threads)
    return Choice("BlazePose GHUM 3D", inference.backend, backend, f"inference.backend {inference.backend}")


def blazepose_candidates(
    path: Path, inference: InferenceConfig, threads: int, skip: tuple[str, ...] = ()
) -> list[Candidate[Backend]]:
    """BlazePose's CPU runtimes, the published file first. All compute in float32 from the
    file's float16 weights: their outputs differ by float32 summation order only (landmarks
    2e-5, world 6e-5, mask 9e-4 relative; docs/inference.md). The probe's call runs the crops
    once per entry of :func:`probe_calls` (a runtime that can leave the skipped outputs
    uncomputed does)."""
    crops = np.random.default_rng(0).random((min(PROBE_CROPS, inference.max_batch), 256, 256, 3), dtype=np.float32)
    calls = probe_calls(skip)

    def call(backend: Backend) -> object:
        return [backend.run({"image": crops}, outputs_left_out) for outputs_left_out in calls]

    def close(backend: Backend) -> None:
        backend.close()

    return [
        Candidate(
            "litert_fp32",
            "the published file on LiteRT",
            lambda: _blazepose_litert(path, threads),
            call,
            close,
            outputs=PUBLISHED,
        ),
        Candidate(
            "onnx_float",
            "the rebuild's ONNX export on onnxruntime: the published outputs within float32 rounding",
            lambda: open_backend(blazepose_onnx(path, inference), inference, threads),
            call,
            close,
            outputs=PUBLISHED,
        ),
        Candidate(
            "openvino",
            "the published file on OpenVINO, float32: the published outputs within float32 rounding",
            lambda: _blazepose_openvino(path, inference, threads, first_batches=(len(crops),)),
            call,
            close,
            finish=finish_openvino,
            outputs=PUBLISHED,
        ),
    ]


def probe_calls(skip: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The outputs each of the probe's calls leaves out: ``skip`` alone where it covers the
    mask (no depth stage reads one), else :data:`MASK_MIX`."""
    return (skip,) if set(SKIPPABLE) <= set(skip) else MASK_MIX


def _blazepose_litert(path: Path, threads: int) -> Backend:
    from hdnet_ros.inference.litert_backend import LiteRTBackend, litert_signature
    from hdnet_ros.nets.blazepose import INPUT_NAME, BlazePoseFileError, match_signature

    try:
        input_name, outputs = match_signature(*litert_signature(path), source=path)
        names = {input_name: INPUT_NAME, **{file: contract for contract, file in outputs.items()}}
        return LiteRTBackend(path, threads=threads, batching=BLAZEPOSE_LITERT_BATCHING, names=names)
    except BlazePoseFileError as error:
        raise ModelFileError(str(error)) from error
    except (ValueError, RuntimeError) as error:  # LiteRT's own errors for an unreadable file
        raise ModelFileError(f"model file {path} could not be loaded by LiteRT: {error}") from error


def _blazepose_openvino(
    path: Path, inference: InferenceConfig, threads: int, first_batches: tuple[int, ...] | None = None
) -> Backend:
    """The published .tflite file read by OpenVINO (no rebuild, no export), a batch of up to
    ``inference.max_batch`` crops per call, its tensors named by the network's contract; the
    person mask can be skipped (SKIPPABLE)."""
    from hdnet_ros.inference.model_file_runtimes import open_openvino
    from hdnet_ros.inference.openvino_backend import openvino_signature
    from hdnet_ros.nets.blazepose import INPUT_NAME, BlazePoseFileError, match_signature

    try:
        input_name, outputs = match_signature(*openvino_signature(path), source=path)
    except BlazePoseFileError as error:
        raise ModelFileError(str(error)) from error
    except BackendUnavailable as error:
        raise ModelFileError(f"model file {path} cannot run on openvino: {error}") from error
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"model file {path} could not be loaded by openvino: {error}") from error
    names = {input_name: INPUT_NAME, **{file: contract for contract, file in outputs.items()}}
    return open_openvino(
        path,
        inference,
        threads,
        max_batch=inference.max_batch,
        names=names,
        first_batches=first_batches,
        skippable=SKIPPABLE,
    )


def _rebuild_blazepose(tflite_path: Path) -> Any:
    """The PyTorch BlazePose of a .tflite file; what stops the rebuild is a ModelFileError."""
    try:
        from hdnet_ros.nets.blazepose import load_blazepose
    except ImportError as error:
        raise ModelFileError(f"{tflite_path}: rebuilding BlazePose needs torch ({error})") from error
    try:
        return load_blazepose(tflite_path)
    except ValueError as error:  # not BlazePose, not a TFLite file, or an op the rebuild lacks
        raise ModelFileError(f"{tflite_path} cannot be rebuilt as BlazePose: {error}") from error


def blazepose_onnx(tflite_path: Path, config: InferenceConfig) -> Path:
    """The ONNX export of the BlazePose rebuild, made once and cached beside the engines
    (keyed by the .tflite file's sha256)."""

    def write(path: Path) -> None:
        model = _rebuild_blazepose(tflite_path)
        from hdnet_ros.nets.blazepose import export_blazepose_onnx

        export_blazepose_onnx(model, path)

    return cached_export(engine_dir(config) / f"blazepose-{file_tag(tflite_path)}.onnx", tflite_path, write)


def _blazepose_torch(path: Path, inference: InferenceConfig, threads: int) -> Backend:
    from hdnet_ros.inference.torch_backend import blazepose_specs

    return rebuilt_on_torch(path, _rebuild_blazepose(path), blazepose_specs(), inference, threads)
