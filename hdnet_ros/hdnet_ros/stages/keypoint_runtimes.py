"""The 2D network's runtimes on the CPU and the choice between them (``keypoints.runtime``):
MoveNet's below; a network stored as ONNX or OpenVINO IR (PP-TinyPose, the default) has
onnxruntime and OpenVINO, and PP-TinyPose also OpenVINO in bf16 where the CPU computes it
natively (:func:`open_keypoint_network`, :mod:`hdnet_ros.inference.model_file_runtimes`).

The published network is an int8 TFLite file. Where the CPU multiplies int8 pairs in one
instruction (x86-64 VNNI, aarch64 dot product) LiteRT runs it fastest; where it does not,
LiteRT's int8 kernels lose most of their speed (20 ms per crop on a 2-core AVX2 machine,
4.7 ms here: issue 19) and the float rebuild on onnxruntime may be faster. The candidates:

* ``litert_int8``: the file on LiteRT (XNNPACK's int8 kernels): the published network;
* ``onnx_float``: the float rebuild's ONNX export on onnxruntime, a batch per call: its
  keypoints lie a median 1.5 px, p90 3 px of the 192 px crop from the published ones
  (docs/inference.md);
* ``onnx_int8``: the int8 rebuild (LiteRT's int8 arithmetic in float32) on onnxruntime:
  the published keypoints on the verified CPUs; only when named (it does the float
  network's work and more, so ``auto`` never picks it);
* ``openvino``: the float rebuild's ONNX export on OpenVINO in float32 (the same network
  as ``onnx_float``, its keypoints within float32 rounding of it).

``auto`` times them on the loaded networks at start-up
(:func:`hdnet_ros.inference.runtime_choice.choose_runtime`). The ONNX exports are made once
with torch and cached beside the engines; without torch (and no cached export) only LiteRT
runs, as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hdnet_ros.inference.backend import Backend
from hdnet_ros.inference.model_file_runtimes import choose_model_file_runtime, finish_openvino, open_openvino
from hdnet_ros.inference.runtime import (
    InferenceConfig,
    choice_store,
    movenet_int8_decoding,
    movenet_onnx,
    open_backend,
)
from hdnet_ros.inference.runtime_choice import Candidate, choose_runtime
from hdnet_ros.people import Detection
from hdnet_ros.stages.keypoints2d import KeypointConfig, KeypointEstimator, MoveNetBatched, MoveNetLiteRT

# The 2D networks whose bf16 keypoints were scored against annotated people (OKS and PCK
# the same as float32's: docs/inference.md): ``openvino_bf16`` is a candidate for these.
BF16_MEASURED = ("pp_tinypose_128x96", "pp_tinypose_256x192")
# The probe's frame: a VGA image with this many people (the crops a busy frame runs).
PROBE_PEOPLE = 4
PROBE_SIZE = (480, 640)


def probe_frame(people: int) -> tuple[np.ndarray, list[Detection]]:
    """A fixed random RGB image and ``people`` standing-person boxes across it: the cost of
    cropping, the network and decoding does not depend on the pixels."""
    height, width = PROBE_SIZE
    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    step = width / (people + 1)
    boxes = [np.array([step * (i + 0.5), 60.0, step * (i + 1.5), 440.0]) for i in range(people)]
    return rgb, [Detection(box, 0.9) for box in boxes]


def movenet_candidates(
    path: Path, config: KeypointConfig, inference: InferenceConfig, threads: int
) -> list[Candidate[KeypointEstimator]]:
    """MoveNet's CPU runtimes (see the module doc), the published file first."""
    rgb, detections = probe_frame(min(PROBE_PEOPLE, inference.max_batch))

    def call(estimator: KeypointEstimator) -> object:
        return estimator(rgb, detections)

    def close(estimator: KeypointEstimator) -> None:
        if isinstance(estimator, MoveNetBatched):
            estimator.backend.close()

    def on_openvino() -> KeypointEstimator:
        onnx_path = movenet_onnx(path, inference, "float")
        backend = open_openvino(
            onnx_path, inference, threads, max_batch=inference.max_batch, first_batches=(len(detections),)
        )
        return MoveNetBatched(backend, config, inference.max_batch)

    def finish(estimator: KeypointEstimator) -> None:
        if isinstance(estimator, MoveNetBatched):
            finish_openvino(estimator.backend)

    def rebuilt(arithmetic: str) -> KeypointEstimator:
        backend = open_backend(movenet_onnx(path, inference, arithmetic), inference, threads)
        decoding = movenet_int8_decoding(path) if arithmetic == "int8" else None
        return MoveNetBatched(backend, config, inference.max_batch, int8=decoding)

    return [
        Candidate(
            "litert_int8",
            "the published int8 file on LiteRT",
            lambda: MoveNetLiteRT(path, config, threads),
            call,
            close,
            int8=True,
            outputs="int8",
        ),
        Candidate(
            "onnx_float",
            "the float rebuild on onnxruntime: median 1.5 px from the published keypoints",
            lambda: rebuilt("float"),
            call,
            close,
            outputs="float",
        ),
        Candidate(
            "openvino",
            "the float rebuild on OpenVINO, float32: onnx_float's keypoints within float32 rounding",
            on_openvino,
            call,
            close,
            finish=finish,
            outputs="float",
        ),
        # The float network's work plus ~90 float ops for the int8 roundings: slower than
        # onnx_float on every CPU (4x on the Xeon, 2.6-3x here), so auto never opens it.
        Candidate(
            "onnx_int8",
            "the int8 rebuild on onnxruntime (LiteRT's int8 arithmetic in float32): the published keypoints",
            lambda: rebuilt("int8"),
            call,
            close,
            automatic=False,
            outputs="int8",
        ),
    ]


def open_movenet_on_cpu(
    path: Path, config: KeypointConfig, inference: InferenceConfig, threads: int
) -> KeypointEstimator:
    """MoveNet on the runtime ``keypoints.runtime`` names, or the fastest here (``auto``)."""
    choice = choose_runtime(
        "2D keypoints (MoveNet)",
        movenet_candidates(path, config, inference, threads),
        config.runtime,
        rounds=inference.runtime_probe_rounds,
        remember=(str(path.resolve()), repr(config), repr(inference), threads),
        store=choice_store(inference),
        files=(path,),
    )
    estimator = choice.runtime
    estimator.runtime = choice.name
    return estimator


def open_keypoint_network(path: Path, config: KeypointConfig, inference: InferenceConfig, threads: int) -> Backend:
    """A 2D network stored as ONNX or OpenVINO IR (PP-TinyPose) on the runtime
    ``keypoints.runtime`` names, or the fastest here (``auto``); all of a frame's crops go
    in one call (``inference.heatmap_max_batch``). bf16 is a candidate for the networks
    whose accuracy in it was measured against annotated people (:data:`BF16_MEASURED`)."""
    return choose_model_file_runtime(
        "2D keypoints",
        config.model,
        path,
        inference,
        threads,
        config.runtime,
        inference.heatmap_max_batch,
        reduced_precision=config.model in BF16_MEASURED,
    ).runtime
