"""The CPU runtimes of the networks stored as ONNX or OpenVINO IR (the person detectors,
PP-TinyPose) and the choice between them (``detector.runtime``, ``keypoints.runtime``).

* ``onnxruntime``: the ONNX file, or the IR's ONNX conversion
  (:func:`hdnet_ros.inference.runtime.open_model_file`);
* ``openvino``: the file as published (ONNX, or the IR's .xml and .bin read directly) on
  OpenVINO in float32 (:mod:`hdnet_ros.inference.openvino_backend`): the same network,
  outputs within float32 summation order of onnxruntime's (PP-TinyPose's heatmaps 4e-7,
  the detectors' outputs 1e-4; docs/inference.md).

``auto`` times both on the loaded networks at start-up
(:func:`hdnet_ros.inference.runtime_choice.choose_runtime`); OpenVINO not installed leaves
onnxruntime, said in the log. Off the CPU path (``inference.backend`` tensorrt or torch,
or a CUDA device) the configured runtime runs, as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hdnet_ros.inference.backend import Backend, BackendUnavailable
from hdnet_ros.inference.openvino_backend import OpenVinoBackend
from hdnet_ros.inference.runtime import InferenceConfig, choice_store, engine_dir, open_model_file
from hdnet_ros.inference.runtime_choice import AUTO, Candidate, Choice, choose_runtime
from hdnet_ros.logs import get_logger
from hdnet_ros.model_files import IR_CONVERSIONS, ModelFileError, weights_files

LOG = get_logger(__name__)
OPENVINO = "openvino"
# The probe's batch for networks that take person crops: the crops of a busy frame.
PROBE_CROPS = 4
# Both runtimes compute the one file in float32 (Candidate.outputs).
THE_FILE = "the file, float32"
MODEL_FILE_RUNTIMES = (AUTO, "onnxruntime", OPENVINO)


def on_cpu_path(inference: InferenceConfig) -> bool:
    """Whether the networks run on the CPU runtimes (where each has a runtime choice)."""
    return inference.backend == "onnxruntime" and inference.device in ("", "cpu")


def openvino_cache_dir(inference: InferenceConfig) -> Path:
    """OpenVINO's cache of compiled models, beside the engines and exports."""
    return engine_dir(inference) / "openvino"


def open_openvino(
    path: Path,
    inference: InferenceConfig,
    threads: int,
    *,
    max_batch: int | None,
    drop_outputs: tuple[str, ...] = (),
    names: dict[str, str] | None = None,
    first_batches: tuple[int, ...] | None = None,
    skippable: tuple[str, ...] = (),
) -> OpenVinoBackend:
    """``path`` on OpenVINO; a missing OpenVINO, a missing file or one OpenVINO cannot read
    is a ModelFileError naming the file, the runtime and the reason. ``first_batches``: the
    static shapes compiled now (a probe's), the others by :func:`finish_openvino`;
    ``skippable``: outputs callers may leave uncomputed (``OpenVinoBackend``)."""
    try:
        return OpenVinoBackend(
            path,
            threads=threads,
            max_batch=max_batch,
            drop_outputs=drop_outputs,
            names=names,
            cache_dir=openvino_cache_dir(inference),
            first_batches=first_batches,
            skippable=skippable,
        )
    except BackendUnavailable as error:
        raise ModelFileError(f"model file {path} cannot run on openvino: {error}") from error
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"model file {path} could not be loaded by openvino: {error}") from error


def finish_openvino(backend: Backend) -> None:
    """The static shapes an OpenVINO candidate left out for the probe, compiled once it is
    kept (a candidate that loses costs two compiles, not one per batch size)."""
    if isinstance(backend, OpenVinoBackend):
        backend.compile_static_shapes()


def model_file_candidates(
    name: str, path: Path, inference: InferenceConfig, threads: int, max_batch: int, probe_batch: int
) -> list[Candidate[Backend]]:
    """The network ``name`` stored at ``path`` on onnxruntime (first: the runtime it ran on
    before OpenVINO was a candidate) and on OpenVINO. A network whose crops are batched
    (an IR converted with a free batch) takes up to ``max_batch`` per call; the probe calls
    each with ``probe_batch`` random inputs."""
    conversion = IR_CONVERSIONS.get(name) if path.suffix == ".xml" else None
    batched = conversion is not None and conversion.dynamic_batch

    inputs: dict[int, dict[str, np.ndarray]] = {}  # made once per opened backend, outside the timed calls

    def call(backend: Backend) -> object:
        if id(backend) not in inputs:
            inputs[id(backend)] = random_inputs(backend, probe_batch)
        return backend.run(inputs[id(backend)])

    def close(backend: Backend) -> None:
        backend.close()

    drop = conversion.drop_outputs if conversion is not None else ()
    return [
        Candidate(
            "onnxruntime",
            "the ONNX file (an IR's ONNX conversion) on onnxruntime",
            lambda: open_model_file(name, path, inference, threads),
            call,
            close,
            outputs=THE_FILE,
        ),
        Candidate(
            OPENVINO,
            "the file as published on OpenVINO, float32: onnxruntime's outputs within float32 rounding",
            lambda: open_openvino(
                path,
                inference,
                threads,
                max_batch=max_batch if batched else None,
                drop_outputs=drop,
                first_batches=(probe_batch,),
            ),
            call,
            close,
            finish=finish_openvino,
            outputs=THE_FILE,
        ),
    ]


def choose_model_file_runtime(
    network: str, name: str, path: Path, inference: InferenceConfig, threads: int, runtime: str, max_batch: int = 1
) -> Choice[Backend]:
    """The network ``name`` (``path``) on the CPU runtime ``runtime`` names, or the fastest
    here (``auto``); off the CPU path, on the configured runtime (``runtime`` is then not
    used, as BlazePose's and MoveNet's are not: said in the log)."""
    if not on_cpu_path(inference):
        if runtime != AUTO:
            LOG.info(
                "%s: runtime %s is for the CPU path; inference.backend %s runs it", network, runtime, inference.backend
            )
        backend = open_model_file(name, path, inference, threads)
        return Choice(network, inference.backend, backend, f"inference.backend {inference.backend}")
    probe_batch = min(PROBE_CROPS, max_batch)
    candidates = model_file_candidates(name, path, inference, threads, max_batch, probe_batch)
    remember = (name, str(path.resolve()), repr(inference), threads, max_batch)
    return choose_runtime(
        network,
        candidates,
        runtime,
        rounds=inference.runtime_probe_rounds,
        remember=remember,
        store=choice_store(inference),
        files=weights_files(path),
    )


def random_inputs(backend: Backend, batch: int) -> dict[str, np.ndarray]:
    """Uniform random inputs of ``backend``'s shapes, ``batch`` rows where the batch is free
    (a network's time does not depend on the pixels)."""
    generator = np.random.default_rng(0)
    inputs = {}
    for spec in backend.inputs:
        shape = [batch if i == 0 and d is None else d for i, d in enumerate(spec.shape)]
        if any(d is None for d in shape):
            raise ModelFileError(f"{spec.describe()}: the probe needs fixed dimensions besides the batch")
        inputs[spec.name] = generator.random([int(d) for d in shape if d is not None]).astype(spec.dtype)
    return inputs
