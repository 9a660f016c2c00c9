"""Which runtime runs each model: the ``inference`` settings and the model openers.

The default CPU path runs the detector with onnxruntime and MoveNet with LiteRT (its int8
TFLite file as published), or each network on the faster of its CPU candidates, OpenVINO
among them (``<network>.runtime``: :mod:`hdnet_ros.inference.model_file_runtimes`,
:mod:`hdnet_ros.stages.keypoint_runtimes`, :mod:`hdnet_ros.inference.blazepose_runtime`).
With ``inference.backend: tensorrt`` every model runs as a
TensorRT engine built from ONNX and cached; MoveNet's TFLite file is first rebuilt in
PyTorch and exported to ONNX once (torch is needed for that step only). ``torch`` runs the
PyTorch networks, MoveNet's rebuild among them, directly (CPU or CUDA); the detector stays
on onnxruntime. The rebuild runs in ``keypoints.arithmetic``: int8
(LiteRT's keypoints, to the bit on the verified CPUs, fp32 only) or float (fp16-capable);
each has its own export.

BlazePose GHUM 3D follows the same pattern with its float TFLite file
(:mod:`hdnet_ros.inference.blazepose_runtime`).

Networks published as OpenVINO IR (:func:`open_ir_network`) are converted to ONNX once
(:mod:`hdnet_ros.nets.openvino_ir`, numpy and onnx only) and run like any ONNX model: on
onnxruntime, as a TensorRT engine, and on onnxruntime also under ``backend: torch`` (the
converter writes ONNX only; a torch module would add nothing onnxruntime lacks on the CPU).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hdnet_ros.inference.backend import Backend, BackendUnavailable, BatchProfile, TensorSpec
from hdnet_ros.inference.engine_cache import file_sha256
from hdnet_ros.inference.factory import create_backend
from hdnet_ros.inference.movenet_codec import Int8Decoding
from hdnet_ros.inference.onnxruntime_backend import SPINNING_MODES
from hdnet_ros.inference.runtime_choice import DEFAULT_ROUNDS
from hdnet_ros.inference.runtime_choice_store import FILE_NAME as CHOICES_FILE
from hdnet_ros.inference.runtime_choice_store import ChoiceStore
from hdnet_ros.logs import get_logger
from hdnet_ros.model_files import IR_CONVERSIONS, ModelFileError, ir_conversion_path
from hdnet_ros.settings_field import setting

LOG = get_logger(__name__)
RUNTIMES = ("onnxruntime", "tensorrt", "torch")


@dataclass(frozen=True)
class InferenceConfig:
    backend: str = setting(
        "onnxruntime",
        "runtime of the networks: onnxruntime (CPU default; MoveNet and BlazePose via LiteRT), tensorrt or torch",
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
    # PP-TinyPose's work per crop does not grow with the batch (CPU time at 20 crops: batch 32
    # within 1 % of batch 8), while its calls with sleeping worker threads pay the wake-ups of
    # each parallel op once per call (quiet: 1.36 ms a crop in a call of 20, 1.69 at 8), so a
    # frame's crops go in one call. MoveNet's float rebuild costs more per crop in large
    # batches (1.29x at 32): it keeps max_batch. 128x96 crops at batch 32 take 46 MiB more
    # memory than at 8 (docs/inference.md, "Threads, spinning and batches").
    heatmap_max_batch: int = setting(
        32, "most person crops a top-down heatmap 2D network (PP-TinyPose) runs in one call", min=1, max=64
    )
    # off: the fastest whole frame on the 2-core dev machine under the load of other work
    # (benchmarks/bench_network_threads.py, load 5.6-8.3, frame time over off's at 1 / 7 / 20
    # people and the sample frames: in_call 1.50 / 1.58 / 2.14 / 1.77, on 2.79 / 3.22 / 2.80 /
    # 2.46; on also doubled the LiteRT BlazePose call after it), and it never burns a core
    # another node needs. Quiet and alone, spinning ran PP-TinyPose 1.4-1.7x faster: in_call
    # is for a computer that runs little else (docs/inference.md, "Threads, spinning and
    # batches").
    onnxruntime_spinning: str = setting(
        "off",
        "how onnxruntime's worker threads wait for work: off (sleep at once), in_call (spin while a call "
        "runs, sleep after it), on (also spin after each call, on cores other nodes need)",
        choices=SPINNING_MODES,
    )
    runtime_probe_rounds: int = setting(
        DEFAULT_ROUNDS,
        "timed rounds per candidate when a network's runtime is auto (0 = choose by the CPU's features alone)",
        min=0,
        max=100,
    )
    # A restarted node opens each chosen runtime alone: a new process's build 4.7 s against
    # 7.7 s probing on the 2-core dev machine (runtime_choice_store.py, bench_startup.py).
    remember_runtime_choices: bool = setting(
        True,
        "keep auto's runtime choices beside the engines (runtime_choices.json) and reuse them while the CPU, "
        "model files, settings and runtime versions are the same (false: probe at every start)",
    )


def engine_dir(config: InferenceConfig) -> Path:
    return (
        Path(config.engine_dir).expanduser() if config.engine_dir else Path.home() / ".cache" / "hdnet_ros" / "engines"
    )


def choice_store(config: InferenceConfig) -> ChoiceStore | None:
    """Where ``auto``'s runtime choices are kept across starts (None: not kept)."""
    return ChoiceStore(engine_dir(config) / CHOICES_FILE) if config.remember_runtime_choices else None


def file_tag(path: Path) -> str:
    """The first 12 hex digits of the file's sha256: cached exports and engines are keyed by it."""
    return file_sha256(path)[:12]


def cached_export(target: Path, what: object, write: Callable[[Path], object]) -> Path:
    """``target``, made by ``write(path)`` on first use. Written under a temporary name and
    renamed, so a second process or an interrupted export never leaves a half-written file
    that a later start would take for the export."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    LOG.info("exporting %s to %s (once)", what, target)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.stem}-") as workdir:
        written = Path(workdir) / target.name
        write(written)
        os.replace(written, target)
    return target


def open_backend(onnx_path: Path, config: InferenceConfig, threads: int) -> Backend:
    """An ONNX model on the configured runtime; errors name the file and the reason."""
    kind = "onnxruntime" if config.backend == "torch" else config.backend
    engine = None
    if kind == "tensorrt":  # engines are keyed by the ONNX file's hash; other runtimes need none
        engine = engine_dir(config) / f"{onnx_path.stem}-{file_tag(onnx_path)}-{config.precision}.engine"
    try:
        return create_backend(
            kind,
            onnx_path,
            engine_file_path=engine,
            precision=config.precision if kind == "tensorrt" else "fp32",
            device=config.device or None,
            force_engine_update=config.force_engine_update,
            threads=threads,
            spinning=config.onnxruntime_spinning,
            batch_profile=BatchProfile(1, min(4, config.max_batch), config.max_batch),
        )
    except (BackendUnavailable, ValueError) as error:
        raise ModelFileError(f"model file {onnx_path} cannot run on {kind}: {error}") from error
    except Exception as error:  # runtimes raise their own types for unreadable models
        raise ModelFileError(f"model file {onnx_path} could not be loaded by {kind}: {error}") from error


def _rebuild_movenet(tflite_path: Path, arithmetic: str) -> Any:
    """The PyTorch MoveNet of a .tflite file; what stops the rebuild is a ModelFileError."""
    try:
        from hdnet_ros.nets.movenet import load_movenet
    except ImportError as error:
        raise ModelFileError(f"{tflite_path}: rebuilding MoveNet needs torch ({error})") from error
    try:
        return load_movenet(tflite_path, arithmetic=arithmetic)
    except ValueError as error:  # not a MoveNet graph, or one the int8 arithmetic cannot reproduce
        raise ModelFileError(f"{tflite_path} cannot be rebuilt with {arithmetic} arithmetic: {error}") from error


def movenet_onnx(tflite_path: Path, config: InferenceConfig, arithmetic: str) -> Path:
    """The ONNX export of a MoveNet .tflite file in ``arithmetic`` ("int8" or "float"; see
    :func:`hdnet_ros.stages.keypoints2d.movenet_arithmetic`), made once and cached beside the engines.

    The arithmetic is part of the cached file's name: the two exports are different networks.
    """
    target = engine_dir(config) / f"movenet-{file_tag(tflite_path)}-{arithmetic}.onnx"

    def write(path: Path) -> None:
        model = _rebuild_movenet(tflite_path, arithmetic)
        from hdnet_ros.nets.movenet import export_movenet_onnx

        export_movenet_onnx(model, path)

    return cached_export(target, f"{tflite_path} ({arithmetic} arithmetic)", write)


def movenet_torch(tflite_path: Path, config: InferenceConfig, arithmetic: str, threads: int) -> Backend:
    """The MoveNet rebuild run in PyTorch itself (``inference.backend: torch``), CPU or CUDA."""
    from hdnet_ros.inference.torch_backend import movenet_specs

    return rebuilt_on_torch(tflite_path, _rebuild_movenet(tflite_path, arithmetic), movenet_specs(), config, threads)


def rebuilt_on_torch(
    path: Path,
    model: Any,
    specs: tuple[Sequence[TensorSpec], Sequence[TensorSpec]],
    config: InferenceConfig,
    threads: int,
) -> Backend:
    """A network rebuilt from ``path`` run by PyTorch itself; what stops it names the file."""
    inputs, outputs = specs
    try:
        return create_backend(
            "torch",
            module=model,
            input_specs=inputs,
            output_specs=outputs,
            device=config.device or None,
            precision=config.precision,
            threads=threads,
        )
    except (BackendUnavailable, ValueError) as error:
        raise ModelFileError(f"model file {path} cannot run on torch: {error}") from error


def movenet_int8_decoding(tflite_path: Path) -> Int8Decoding:
    """The int8 decoding with the file's own tensor grids (each MoveNet file has its own)."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(tflite_path)).get_tensor_details()
    grids = {str(d["name"]): (float(d["quantization"][0]), int(d["quantization"][1])) for d in details}
    try:
        return Int8Decoding.from_tensor_grids(grids)
    except KeyError as error:
        raise ModelFileError(f"{tflite_path} is not a MoveNet SinglePose file: {error}") from error


def _specs(arrays: list[Any], names: tuple[str, ...]) -> list[TensorSpec]:
    return [TensorSpec(n, (None, *a.shape[1:]), np.dtype(np.float32)) for n, a in zip(names, arrays, strict=True)]


def open_network(name: str, path: Path, inference: InferenceConfig, threads: int) -> Backend:
    """A published network from its ONNX export or its official checkpoint.

    A checkpoint is loaded with the strict official-format loader; then the torch runtime
    runs the module directly, and the other runtimes get an ONNX export made once and cached
    beside the engines (keyed by the checkpoint's sha256).
    """
    if path.suffix == ".onnx":
        return open_backend(path, inference, threads)
    try:
        import torch

        from hdnet_ros.nets.checkpoints import CheckpointError, load_checkpoint
        from hdnet_ros.nets.export import create, export_onnx
    except ImportError as error:
        raise ModelFileError(f"{path}: loading a PyTorch checkpoint needs torch ({error})") from error
    item = create(name)
    try:
        load_checkpoint(item.module, path)
    except CheckpointError as error:
        raise ModelFileError(str(error)) from error
    item.module.eval()
    if inference.backend == "torch":
        example = item.make_inputs(1, torch.Generator().manual_seed(0))
        with torch.no_grad():
            outputs = item.module(*example)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return create_backend(
            "torch",
            module=item.module,
            input_specs=_specs(list(example), item.input_names),
            output_specs=_specs(list(outputs), item.output_names),
            device=inference.device or None,
            precision="fp16" if inference.precision == "fp16" else "fp32",
            threads=threads,
        )
    onnx_path = cached_export(
        engine_dir(inference) / f"{name}-{file_tag(path)}.onnx",
        f"{name} ({path})",
        lambda target: export_onnx(item.module, item.make_inputs, target, item.input_names, item.output_names),
    )
    return open_backend(onnx_path, inference, threads)


def ir_onnx(xml_path: Path, inference: InferenceConfig, *, dynamic_batch: bool, drop_outputs: Sequence[str]) -> Path:
    """The ONNX conversion of an OpenVINO IR with these options.

    The file ``hdnet-ros assets`` wrote beside the IR (``<stem>.onnx``) when its conversion
    key matches (same converter version, options, .xml and .bin: the models directory may be
    read-only and is never written here); else a conversion made once into the export cache
    (``inference.engine_dir``), named by that key and written atomically. A malformed IR or
    one with an op the converter lacks is a ModelFileError naming the layer.
    """
    from hdnet_ros.nets.openvino_ir.convert import (
        ConversionOptions,
        conversion_key,
        ir_to_onnx,
        save_onnx,
        stored_conversion_key,
    )
    from hdnet_ros.nets.openvino_ir.graph import IrConversionError

    options = ConversionOptions(dynamic_batch, tuple(drop_outputs))
    try:
        key = conversion_key(xml_path, options)
    except OSError as error:
        raise ModelFileError(f"model file {xml_path} or its .bin cannot be read ({error})") from error
    beside = ir_conversion_path(xml_path)
    if beside.is_file() and stored_conversion_key(beside) == key:
        return beside
    target = engine_dir(inference) / f"{xml_path.parent.name}-{xml_path.stem}-{key[:12]}.onnx"

    def write(path: Path) -> None:
        try:
            model = ir_to_onnx(xml_path, dynamic_batch=dynamic_batch, drop_outputs=drop_outputs)
        except IrConversionError as error:
            raise ModelFileError(f"model file {xml_path} cannot be converted to ONNX: {error}") from error
        save_onnx(model, path)

    return cached_export(target, f"{xml_path} ({options.describe()})", write)


def open_ir_network(
    path: Path,
    inference: InferenceConfig,
    threads: int,
    *,
    dynamic_batch: bool = False,
    drop_outputs: Sequence[str] = (),
) -> Backend:
    """A network published as OpenVINO IR (``path``: the ``.xml``, its ``.bin`` beside it) on
    the configured runtime, through its ONNX conversion (:func:`ir_onnx`).

    Inputs keep the IR's names and outputs are named after the IR's tensors (e.g. PP-TinyPose:
    ``image`` -> ``conv2d_441.tmp_1``); ``dynamic_batch`` makes their leading axis free (the
    TensorRT engine then gets the ``inference.max_batch`` profile), ``drop_outputs`` removes
    outputs by name. ``model_files.IR_CONVERSIONS`` holds the options of the default models.
    Converting needs the onnx package (the ``cpu`` extra); its absence is a ModuleNotFoundError,
    which the command line reports with the extra to install.
    """
    if path.suffix != ".xml":
        raise ModelFileError(f"model file {path} is not an OpenVINO IR .xml file")
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    onnx_path = ir_onnx(path, inference, dynamic_batch=dynamic_batch, drop_outputs=drop_outputs)
    return open_backend(onnx_path, inference, threads)


def open_model_file(name: str, path: Path, inference: InferenceConfig, threads: int) -> Backend:
    """A detector's or 2D network's file on the configured runtime: an OpenVINO IR through
    its ONNX conversion (a known model ``name`` with its ``model_files.IR_CONVERSIONS``
    options, any other IR as published), anything else as ONNX."""
    if path.suffix == ".xml":
        conversion = IR_CONVERSIONS.get(name)
        dynamic = conversion.dynamic_batch if conversion is not None else False
        drop = conversion.drop_outputs if conversion is not None else ()
        return open_ir_network(path, inference, threads, dynamic_batch=dynamic, drop_outputs=drop)
    return open_backend(path, inference, threads)
