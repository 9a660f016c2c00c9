"""The CPU runtimes of the networks stored as ONNX or OpenVINO IR (the person detectors,
PP-TinyPose) and the choice between them (``detector.runtime``, ``keypoints.runtime``).

* ``onnxruntime``: the ONNX file, or the IR's ONNX conversion
  (:func:`hdnet_ros.inference.runtime.open_model_file`);
* ``openvino``: the file as published (ONNX, or the IR's .xml and .bin read directly) on
  OpenVINO in float32 (:mod:`hdnet_ros.inference.openvino_backend`): the same network,
  outputs within float32 summation order of onnxruntime's (PP-TinyPose's heatmaps 4e-7,
  the detectors' outputs 1e-4; docs/inference.md);
* ``openvino_bf16``: the same file on OpenVINO in bfloat16, for the 2D heatmap network
  only (``reduced_precision``) and only on CPUs that compute bf16 natively (AVX512_BF16,
  AMX): 1.2-1.7x faster than float32 there, its keypoints a little off float32's
  (:data:`BF16_KEYPOINTS`) at the same accuracy against annotated people (docs/inference.md).
  The detectors stay float32: a box moved moves every joint of its person.

``auto`` times them on the loaded networks at start-up
(:func:`hdnet_ros.inference.runtime_choice.choose_runtime`; bf16 must beat the faster
float32 runtime by the choice's margin); OpenVINO not installed leaves onnxruntime, said in
the log. Off the CPU path (``inference.backend`` tensorrt or torch,
or a CUDA device) the configured runtime runs, as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hdnet_ros.inference.backend import Backend, BackendUnavailable
from hdnet_ros.inference.openvino_backend import OpenVinoBackend, native_bf16
from hdnet_ros.inference.runtime import InferenceConfig, choice_store, engine_dir, open_model_file
from hdnet_ros.inference.runtime_choice import AUTO, Candidate, Choice, choose_runtime
from hdnet_ros.logs import get_logger
from hdnet_ros.model_files import IR_CONVERSIONS, ModelFileError, weights_files

LOG = get_logger(__name__)
OPENVINO = "openvino"
OPENVINO_BF16 = "openvino_bf16"
# The probe's batch for networks that take person crops: the crops of a busy frame.
PROBE_CROPS = 4
# Both runtimes compute the one file in float32 (Candidate.outputs).
THE_FILE = "the file, float32"
MODEL_FILE_RUNTIMES = (AUTO, "onnxruntime", OPENVINO)
# PP-TinyPose 128x96 in bf16 against float32 on the annotated photos' people (COCO and
# crowd sets, 32 people; docs/inference.md): the joints both score as seen, in px of the
# 128 px crop; OKS 0.828 -> 0.831 against the annotations.
BF16_KEYPOINTS = "keypoints a median 0.1 px (p90 0.6 px) of the crop from float32's, the same OKS"


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
    precision: str = "f32",
) -> OpenVinoBackend:
    """``path`` on OpenVINO; a missing OpenVINO, a missing file or one OpenVINO cannot read
    is a ModelFileError naming the file, the runtime and the reason, as is ``precision``
    bf16 on a CPU without native bf16. ``first_batches``: the static shapes compiled now (a
    probe's), the others by :func:`finish_openvino`; ``skippable``: outputs callers may
    leave uncomputed (``OpenVinoBackend``)."""
    try:
        if precision == "bf16" and not native_bf16():
            raise BackendUnavailable(
                "this CPU does not compute bfloat16 natively (OpenVINO lists no BF16 among its optimization "
                "capabilities; AVX512_BF16 or AMX is needed): run the float32 runtime, openvino"
            )
        return OpenVinoBackend(
            path,
            threads=threads,
            max_batch=max_batch,
            drop_outputs=drop_outputs,
            names=names,
            cache_dir=openvino_cache_dir(inference),
            first_batches=first_batches,
            skippable=skippable,
            precision=precision,
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
    name: str,
    path: Path,
    inference: InferenceConfig,
    threads: int,
    max_batch: int,
    probe_batch: int,
    reduced_precision: bool = False,
) -> list[Candidate[Backend]]:
    """The network ``name`` stored at ``path`` on onnxruntime (first: the runtime it ran on
    before OpenVINO was a candidate) and on OpenVINO; with ``reduced_precision`` (the 2D
    heatmap network) also on OpenVINO in bf16. A network whose crops are batched (an IR
    converted with a free batch) takes up to ``max_batch`` per call; the probe calls each
    with ``probe_batch`` random inputs."""
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

    def on_openvino(precision: str) -> Backend:
        return open_openvino(
            path,
            inference,
            threads,
            max_batch=max_batch if batched else None,
            drop_outputs=drop,
            first_batches=(probe_batch,),
            precision=precision,
        )

    bf16: Candidate[Backend] = Candidate(
        OPENVINO_BF16,
        f"the file as published on OpenVINO in bfloat16, native on this CPU: {BF16_KEYPOINTS}",
        lambda: on_openvino("bf16"),
        call,
        close,
        finish=finish_openvino,
        outputs="the file, bfloat16",
    )
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
            lambda: on_openvino("f32"),
            call,
            close,
            finish=finish_openvino,
            outputs=THE_FILE,
        ),
        *([bf16] if reduced_precision else []),
    ]


def choose_model_file_runtime(
    network: str,
    name: str,
    path: Path,
    inference: InferenceConfig,
    threads: int,
    runtime: str,
    max_batch: int = 1,
    reduced_precision: bool = False,
) -> Choice[Backend]:
    """The network ``name`` (``path``) on the CPU runtime ``runtime`` names, or the fastest
    here (``auto``; ``reduced_precision``: bf16 among the candidates, see the module doc);
    off the CPU path, on the configured runtime (``runtime`` is then not used, as
    BlazePose's and MoveNet's are not: said in the log)."""
    if not on_cpu_path(inference):
        if runtime != AUTO:
            LOG.info(
                "%s: runtime %s is for the CPU path; inference.backend %s runs it", network, runtime, inference.backend
            )
        backend = open_model_file(name, path, inference, threads)
        return Choice(network, inference.backend, backend, f"inference.backend {inference.backend}")
    probe_batch = min(PROBE_CROPS, max_batch)
    candidates = model_file_candidates(name, path, inference, threads, max_batch, probe_batch, reduced_precision)
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
