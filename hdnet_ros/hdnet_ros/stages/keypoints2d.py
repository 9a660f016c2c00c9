"""Stage 2: 2D keypoints with MoveNet SinglePose Lightning, top-down on each person's crop.

MoveNet sees one person per input, so each detection becomes a square crop centred on its
box (padded with black where the crop leaves the image), resized to 192x192.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.inference.backend import Backend, split_batches
from hdnet_ros.inference.movenet_codec import Int8Decoding, decode_movenet_outputs
from hdnet_ros.joints import DERIVED_JOINTS, NUM_COCO_JOINTS, NUM_JOINTS
from hdnet_ros.model_files import ModelFileError
from hdnet_ros.nets.preprocessing import apply_affine, invert_affine
from hdnet_ros.people import Detection
from hdnet_ros.settings_field import SettingsError, setting

FloatArray = npt.NDArray[np.float64]
MOVENET_INPUT_SIZE = 192
# keypoints.arithmetic: "auto" or one of hdnet_ros.nets.movenet.ARITHMETICS (not imported
# here: that module needs torch).
MOVENET_ARITHMETICS = ("auto", "int8", "float")
# keypoints.runtime: how the 2D network runs on the CPU (MoveNet: stages/keypoint_runtimes.py; ONNX/IR
# networks: inference/model_file_runtimes.py).
KEYPOINT_RUNTIMES = ("auto", "litert_int8", "onnx_float", "onnx_int8", "openvino", "onnxruntime", "openvino_bf16")


@dataclass(frozen=True)
class KeypointConfig:
    # Chosen by benchmarks/bench_crowd_2d.py (docs/evaluation.md): PP-TinyPose 128x96 takes
    # mean OKS on the crowd photos from MoveNet's 0.62 to 0.81 at 1.1x its cost per person.
    model: str = setting(
        "pp_tinypose_128x96",
        "2D keypoint model: a known model name (pp_tinypose_128x96, pp_tinypose_256x192, movenet_lightning_int8, "
        "blazepose_ghum_full) or a path",
    )
    # MoveNet was trained on loose crops: some context around the box helps.
    crop_scale: float = setting(
        1.25,
        "crop size as a multiple of the box (MoveNet: of its longer side, square; heatmap networks: the box "
        "padded, then fitted to the input's aspect)",
        min=1.0,
        max=3.0,
    )
    min_score: float = setting(
        0.3, "MoveNet's and BlazePose's keypoints scored below this are treated as not seen", min=0.0, max=1.0
    )
    # Where PP-TinyPose's joints are right as often as wrong (PCK@0.1), fitted on people the
    # crowd benchmark does not score: 0.25 (90 % 0.20-0.30; benchmarks/bench_score_calibration.py).
    heatmap_min_score: float = setting(
        0.25,
        "top-down heatmap networks' (PP-TinyPose) keypoints scored below this are treated as not seen",
        min=0.0,
        max=1.0,
    )
    flip_test: bool = setting(
        False,
        "heatmap networks: also run each crop mirrored and average the heatmaps (twice the network's cost; "
        "no gain on the crowd benchmark)",
    )
    arithmetic: str = setting(
        "auto",
        "arithmetic of the rebuilt MoveNet on tensorrt/torch: int8 (LiteRT's int8 arithmetic: its keypoints to the bit "
        "on the verified CPUs, fp32 only), "
        "float (fp16-capable), auto (int8 at fp32 precision, else float)",
        choices=MOVENET_ARITHMETICS,
    )
    runtime: str = setting(
        "auto",
        "runtime of the 2D network on the CPU (inference.backend onnxruntime), auto (the fastest here, timed at "
        "start-up) or: MoveNet: litert_int8 (the published int8 file on LiteRT), onnx_float (the float rebuild on "
        "onnxruntime, ~1.5 px from the published keypoints), onnx_int8 (the int8 rebuild on onnxruntime: the "
        "published keypoints), openvino (the float rebuild on OpenVINO); PP-TinyPose and other ONNX/IR networks: "
        "onnxruntime (the IR's ONNX conversion), openvino (the IR as published on OpenVINO, float32); PP-TinyPose "
        "also openvino_bf16 (OpenVINO in bfloat16, on CPUs with AVX512_BF16 or AMX: faster, its keypoints ~0.1 px "
        "of the crop from float32's at the same accuracy)",
        choices=KEYPOINT_RUNTIMES,
    )


def movenet_arithmetic(keypoints: KeypointConfig, precision: str) -> str:
    """The rebuilt MoveNet's arithmetic ("int8" or "float") for ``inference.precision``.

    Only the rebuilt network has a choice (tensorrt/torch backends; LiteRT runs the file's
    own int8 arithmetic). int8 reproduces LiteRT's keypoints (to the bit on the CPUs where
    XNNPACK's kernels were verified, docs/inference.md) but its integer sums
    reach 2^24, which only fp32 holds: auto picks it at fp32 and the float network otherwise.
    Raises SettingsError for int8 asked for at another precision.
    """
    if keypoints.arithmetic == "auto":
        return "int8" if precision == "fp32" else "float"
    if keypoints.arithmetic == "int8" and precision != "fp32":
        raise SettingsError(
            f"keypoints.arithmetic is 'int8' but inference.precision is {precision!r}: MoveNet's int8 "
            "arithmetic needs fp32 (fp16 cannot hold its integer sums, which reach 2^24); set "
            "inference.precision to fp32, or keypoints.arithmetic to float or auto"
        )
    if keypoints.arithmetic not in ("int8", "float"):
        raise ValueError(f"keypoints.arithmetic must be one of {MOVENET_ARITHMETICS}, not {keypoints.arithmetic!r}")
    return keypoints.arithmetic


@dataclass(frozen=True)
class Keypoints2D:
    """Pixels [J,2] (NaN where not seen) and scores [J] in the output joint set."""

    pixels: FloatArray
    scores: FloatArray


def crop_transform(box: FloatArray, size: int, scale: float) -> FloatArray:
    """2x3 affine mapping image pixels to a size x size square crop around ``box``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * scale
    side = max(side, 1.0)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    s = size / side
    return np.array([[s, 0.0, size / 2.0 - s * cx], [0.0, s, size / 2.0 - s * cy]])


def crop_person(
    rgb: npt.NDArray[np.uint8], box: FloatArray, size: int, scale: float
) -> tuple[npt.NDArray[np.uint8], FloatArray]:
    """The person's crop and the affine that made it."""
    affine = crop_transform(box, size, scale)
    crop = cv2.warpAffine(
        rgb, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)
    )
    return np.asarray(crop, dtype=np.uint8), affine


def with_derived_joints(
    coco_pixels: FloatArray, coco_scores: FloatArray, min_score: float
) -> tuple[FloatArray, FloatArray]:
    """COCO-17 pixels [P,17,2] and scores [P,17] of P people extended to the output set
    ([P,J,2], [P,J]): pelvis and neck as midpoints of seen pairs; NaN below ``min_score``."""
    count = len(coco_pixels)
    pixels = np.full((count, NUM_JOINTS, 2), np.nan)
    scores = np.zeros((count, NUM_JOINTS))
    pixels[:, :NUM_COCO_JOINTS] = coco_pixels
    scores[:, :NUM_COCO_JOINTS] = coco_scores
    for joint, (a, b) in DERIVED_JOINTS.items():
        pixels[:, joint] = (coco_pixels[:, a] + coco_pixels[:, b]) / 2.0
        scores[:, joint] = np.minimum(coco_scores[:, a], coco_scores[:, b])
    pixels[scores < min_score] = np.nan
    return pixels, scores


def add_derived_joints(coco_pixels: FloatArray, coco_scores: FloatArray, min_score: float) -> Keypoints2D:
    """Extend COCO-17 to the output set: pelvis and neck as midpoints of seen pairs."""
    pixels, scores = with_derived_joints(coco_pixels[None], coco_scores[None], min_score)
    return Keypoints2D(pixels[0], scores[0])


class MoveNetLiteRT:
    """MoveNet through the LiteRT interpreter (the int8 TFLite model)."""

    runtime = "litert_int8"  # its keypoints.runtime name

    def __init__(self, model_path: Path, config: KeypointConfig, threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.config = config
        try:
            self._interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ModelFileError(f"model file {model_path} could not be loaded by LiteRT: {error}") from error
        model_input = self._interpreter.get_input_details()[0]
        self._input_index = model_input["index"]
        self._output_index = self._interpreter.get_output_details()[0]["index"]
        if tuple(model_input["shape"][1:]) != (MOVENET_INPUT_SIZE, MOVENET_INPUT_SIZE, 3):
            raise ModelFileError(f"{model_path} is not a MoveNet Lightning model (input {model_input['shape']})")

    def infer_crop(self, crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Raw MoveNet output for one 192x192 RGB crop: [17,3] = (y, x, score) in 0..1."""
        self._interpreter.set_tensor(self._input_index, crop[None])
        self._interpreter.invoke()
        return np.asarray(self._interpreter.get_tensor(self._output_index)).reshape(NUM_COCO_JOINTS, 3)

    def __call__(self, rgb: npt.NDArray[np.uint8], detections: list[Detection]) -> list[Keypoints2D]:
        # The int8 TFLite graph decodes keypoints in-graph for one crop at a time. All crops
        # are cut before the first call and decoded after the last: Python and OpenCV work
        # between two calls runs while LiteRT's worker threads still spin, and took about
        # five times as long there (0.5 ms per crop on 2 cores).
        if not detections:
            return []
        crops, affines = zip(
            *(crop_person(rgb, d.box, MOVENET_INPUT_SIZE, self.config.crop_scale) for d in detections), strict=True
        )
        raw = np.stack([self.infer_crop(crop) for crop in crops])
        return to_keypoints_batch(raw, np.stack(affines), self.config.min_score)


def to_keypoints_batch(raw: npt.NDArray[np.float32], affines: FloatArray, min_score: float) -> list[Keypoints2D]:
    """MoveNet's outputs of N crops [N,17,3] ((y, x, score) in crop-normalised coordinates)
    and the crops' affines [N,2,3] -> each crop's image keypoints."""
    crop_xy = raw[:, :, [1, 0]].astype(np.float64) * MOVENET_INPUT_SIZE
    image_xy = apply_affine(crop_xy, invert_affine(affines))
    pixels, scores = with_derived_joints(image_xy, raw[:, :, 2].astype(np.float64), min_score)
    return [Keypoints2D(p, s) for p, s in zip(pixels, scores, strict=True)]


class MoveNetBatched:
    """The PyTorch rebuild of MoveNet (ONNX / TensorRT / torch backend): all the frame's
    person crops in one batch, keypoint decoding in numpy outside the network.

    ``int8``: the decoding's arithmetic, which must match the network's: ``INT8_DECODING``
    for the int8 arithmetic (then the keypoints are LiteRT's, to the bit on the verified CPUs),
    ``None`` (float) for
    the float network.
    """

    def __init__(
        self, backend: Backend, config: KeypointConfig, max_batch: int = 8, int8: Int8Decoding | None = None
    ) -> None:
        self.backend = backend
        self.config = config
        self.max_batch = max_batch
        self.int8 = int8
        self.runtime = f"{backend.kind} {'int8' if int8 is not None else 'float'}"  # which network runs where

    def __call__(self, rgb: npt.NDArray[np.uint8], detections: list[Detection]) -> list[Keypoints2D]:
        if not detections:
            return []
        crops, affines = zip(
            *(crop_person(rgb, d.box, MOVENET_INPUT_SIZE, self.config.crop_scale) for d in detections), strict=True
        )
        batch = np.stack(crops)
        raw = np.concatenate(
            [
                decode_movenet_outputs(self.backend.run({"image": batch[part]}), int8=self.int8)
                for part in split_batches(len(batch), self.max_batch)
            ]
        )
        return to_keypoints_batch(raw, np.stack(affines), self.config.min_score)


class KeypointEstimator(Protocol):
    """A 2D keypoint network with its codec: MoveNet (above) or a top-down heatmap network
    (:mod:`hdnet_ros.stages.topdown_heatmap`). One call per frame, all its detections."""

    runtime: str  # which network runs where, for the logs and the reports

    def __call__(self, rgb: npt.NDArray[np.uint8], detections: list[Detection]) -> list[Keypoints2D]: ...
