"""Stage 1: person detection, one network over the whole image.

The detector's decoding is chosen by the network's outputs, one module per decoding:

============== ==========================================================================
``yolox``      raw YOLOX grid outputs [1, cells, 5 + classes] (Megvii's YOLOX-Nano)
``yolox_nms``  a YOLOX with NMS in its graph: ``dets`` + ``labels`` (YOLOX-Nano-HumanArt)
``picodet``    PP-PicoDet without NMS: decoded ``boxes`` + ``scores`` (PicoDet pedestrian)
============== ==========================================================================

Large frames are also cut into tiles (:mod:`.tiles`), so small people are seen at the
network's resolution.

Each turns the frame into the network's input and the outputs into boxes in image pixels;
:mod:`.boxes` makes the detections (clip, NMS, size, order). Boxes scored between
``low_score_floor`` and ``score_threshold`` come back as *candidates*: the crowd stage
keeps one only where the keypoints confirm a person or a track continues
(:mod:`hdnet_ros.stages.crowd`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from hdnet_ros.inference.backend import Arrays, Backend
from hdnet_ros.inference.model_file_runtimes import MODEL_FILE_RUNTIMES, choose_model_file_runtime
from hdnet_ros.inference.runtime import InferenceConfig
from hdnet_ros.logs import get_logger
from hdnet_ros.people import Detection
from hdnet_ros.settings_field import setting
from hdnet_ros.stages.detection.boxes import BoxFilter, to_detections
from hdnet_ros.stages.detection.picodet import PicoDetDecoding
from hdnet_ros.stages.detection.tiles import tile_grid, whole_in_tile
from hdnet_ros.stages.detection.yolox import Letterbox, YoloxDecoding, decode_yolox, letterbox
from hdnet_ros.stages.detection.yolox_nms import YoloxNmsDecoding

__all__ = [
    "DetectorConfig",
    "FrameDetections",
    "Letterbox",
    "PersonDetector",
    "decode_yolox",
    "letterbox",
    "open_person_detector",
]

FloatArray = npt.NDArray[np.float64]
LOG = get_logger(__name__)


@dataclass(frozen=True)
class DetectorConfig:
    model: str = setting("yolox_nano", "person detector: a known model name or a model path (relative to models_dir)")
    score_threshold: float = setting(0.3, "minimum person score", min=0.0, max=1.0)
    low_score_floor: float = setting(
        0.12,
        "boxes scored between this and score_threshold are kept only when the keypoints confirm a person there or "
        "they continue a track (counted); >= score_threshold: none",
        min=0.0,
        max=1.0,
    )
    tiles_from_px: int = setting(
        960,
        "also run the detector on overlapping tiles of frames whose shorter side has at least this many px "
        "(small people in large frames); 0 = never",
        min=0,
    )
    nms_threshold: float = setting(0.45, "IoU above which the lower-scored of two boxes is dropped", min=0.0, max=1.0)
    # Smaller people cannot give usable keypoints.
    min_box_height_px: float = setting(24.0, "ignore person boxes shorter than this [px]", min=0.0)
    # A crowd photo holds 50-60 detections; the people a robot must see may score lowest.
    max_people: int = setting(64, "keep at most this many people per frame (highest scores)", min=1)
    person_class: int = setting(0, "index of the person class in a multi-class detector's output", min=0)
    runtime: str = setting(
        "auto",
        "runtime on the CPU (inference.backend onnxruntime): onnxruntime (the ONNX file, an IR's ONNX conversion), "
        "openvino (the file as published on OpenVINO, float32), auto (the faster here, timed at start-up)",
        choices=MODEL_FILE_RUNTIMES,
    )


class Decoding(Protocol):
    """One network family's input preparation and output decoding."""

    name: str

    def prepare(self, rgb: npt.NDArray[np.uint8]) -> tuple[dict[str, npt.NDArray[np.float32]], Any]: ...

    def boxes(self, outputs: Arrays, transform: Any, floor: float) -> tuple[FloatArray, FloatArray]: ...


DECODINGS = (YoloxDecoding, YoloxNmsDecoding, PicoDetDecoding)


def choose_decoding(backend: Backend, person_class: int) -> Decoding:
    """The decoding whose output signature the network has; ValueError names what it has."""
    for decoding in DECODINGS:
        if decoding.matches(backend):
            chosen: Decoding = decoding(backend, person_class)
            return chosen
    outputs = ", ".join(spec.describe() for spec in backend.outputs)
    raise ValueError(
        f"unknown detector outputs ({outputs}): expected YOLOX's raw grid [1,cells,5+classes], "
        "in-graph NMS dets [1,N,5] + labels [1,N], or PicoDet's boxes [1,N,4] + scores [1,1,N]"
    )


@dataclass(frozen=True)
class FrameDetections:
    """A frame's people: ``confident`` (score >= threshold) and the low-score
    ``candidates`` above the floor, each best first."""

    confident: list[Detection]
    candidates: list[Detection]


class PersonDetector:
    """A person detector network with the decoding its outputs call for."""

    def __init__(self, backend: Backend, config: DetectorConfig, runtime: str = "") -> None:
        self.config = config
        self.backend = backend
        self.decoding = choose_decoding(backend, config.person_class)
        self.runtime = runtime or backend.kind  # the runtime chosen for the network (detector.runtime), for reports

    def __call__(self, rgb: npt.NDArray[np.uint8]) -> list[Detection]:
        """The confident detections (score >= ``score_threshold``)."""
        return self.detect(rgb).confident

    def detect(self, rgb: npt.NDArray[np.uint8]) -> FrameDetections:
        """Confident detections and low-score candidates (down to ``low_score_floor``)."""
        config = self.config
        floor = min(config.low_score_floor, config.score_threshold)
        xyxy, scores = self._boxes(rgb, floor)
        rules = BoxFilter(floor, config.nms_threshold, config.min_box_height_px, config.max_people)
        found = to_detections(xyxy, scores, (rgb.shape[0], rgb.shape[1]), rules)
        confident = [d for d in found if d.score >= config.score_threshold]
        return FrameDetections(confident, [d for d in found if d.score < config.score_threshold])

    def _boxes(self, rgb: npt.NDArray[np.uint8], floor: float) -> tuple[FloatArray, FloatArray]:
        """Boxes [N,4] and scores [N] of the whole frame and of its tiles (:mod:`.tiles`)."""
        boxes, scores = [], []
        height, width = rgb.shape[:2]
        for tile in [None, *tile_grid(height, width, self.config.tiles_from_px)]:
            image = (
                rgb
                if tile is None
                else np.ascontiguousarray(rgb[tile.y0 : tile.y0 + tile.side, tile.x0 : tile.x0 + tile.side])
            )
            inputs, transform = self.decoding.prepare(image)
            xyxy, score = self.decoding.boxes(self.backend.run(inputs), transform, floor)
            if tile is not None:
                whole = whole_in_tile(xyxy, tile, height, width)
                xyxy, score = xyxy[whole] + [tile.x0, tile.y0, tile.x0, tile.y0], score[whole]
            boxes.append(xyxy)
            scores.append(score)
        return np.concatenate(boxes), np.concatenate(scores)


def open_person_detector(
    config: DetectorConfig, path: Path, inference: InferenceConfig, threads: int
) -> PersonDetector:
    """The detector network at ``path`` on the runtime ``detector.runtime`` names, or the
    fastest here (``auto``: :mod:`hdnet_ros.inference.model_file_runtimes`), with its decoding."""
    choice = choose_model_file_runtime("person detector", config.model, path, inference, threads, config.runtime)
    try:
        detector = PersonDetector(choice.runtime, config, choice.name)
    except Exception:
        choice.runtime.close()
        raise
    LOG.info("person detector: %s: %s on %s (%s)", config.model, detector.decoding.name, detector.runtime, path)
    return detector
