"""Stage 1: person detection with a YOLOX-family ONNX model (YOLOX-Nano by default).

Pre- and post-processing follow the model's SOURCE.md exactly: BGR 0..255 without
normalisation, aspect-preserving resize pasted top-left on a 114-grey canvas, grid/stride
box decoding, objectness x class score, NMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.inference.backend import Backend
from hdnet_ros.people import Detection
from hdnet_ros.settings_field import setting

PAD_VALUE = 114
STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class DetectorConfig:
    model: str = setting("yolox_nano", "person detector: a known model name or an ONNX path (relative to models_dir)")
    score_threshold: float = setting(0.3, "minimum person score (objectness x class)", min=0.0, max=1.0)
    nms_threshold: float = setting(0.45, "IoU above which overlapping boxes are merged", min=0.0, max=1.0)
    # Smaller people cannot give usable keypoints.
    min_box_height_px: float = setting(24.0, "ignore person boxes shorter than this [px]", min=0.0)
    max_people: int = setting(20, "keep at most this many people per frame (highest scores)", min=1)
    person_class: int = setting(0, "index of the person class in the detector's output", min=0)


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed in the network input (scale only: pasted top-left)."""

    scale: float
    input_height: int
    input_width: int


def letterbox(rgb: npt.NDArray[np.uint8], height: int, width: int) -> tuple[npt.NDArray[np.float32], Letterbox]:
    """The YOLOX input tensor [1,3,H,W] (BGR, 0..255) and the transform that made it."""
    h, w = rgb.shape[:2]
    scale = min(height / h, width / w)
    resized = cv2.resize(rgb, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((height, width, 3), PAD_VALUE, dtype=np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized[:, :, ::-1]  # RGB -> BGR
    tensor = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    return tensor, Letterbox(scale, height, width)


def _grid(height: int, width: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Cell offsets [N,2] and strides [N,1] for YOLOX's three output levels."""
    cells, strides = [], []
    for stride in STRIDES:
        gh, gw = height // stride, width // stride
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        cells.append(np.stack((xs, ys), axis=-1).reshape(-1, 2))
        strides.append(np.full((gh * gw, 1), stride))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def decode_yolox(
    raw: npt.NDArray[np.float32], box: Letterbox, config: DetectorConfig, image_size: tuple[int, int]
) -> list[Detection]:
    """Person detections in image pixels from the raw [N, 5 + classes] YOLOX output."""
    cells, strides = _grid(box.input_height, box.input_width)
    if raw.shape[0] != cells.shape[0]:
        raise ValueError(f"detector output has {raw.shape[0]} cells, expected {cells.shape[0]}")
    scores = raw[:, 4] * raw[:, 5 + config.person_class]
    keep = scores >= config.score_threshold
    if not np.any(keep):
        return []
    centres = (raw[keep, :2] + cells[keep]) * strides[keep]
    sizes = np.exp(raw[keep, 2:4]) * strides[keep]
    xyxy = np.concatenate((centres - sizes / 2, centres + sizes / 2), axis=1) / box.scale
    height, width = image_size
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width - 1)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height - 1)
    kept_scores = scores[keep]
    xywh = np.concatenate((xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]), axis=1)
    indices = cv2.dnn.NMSBoxes(xywh.tolist(), kept_scores.tolist(), config.score_threshold, config.nms_threshold)
    order = np.asarray(indices, dtype=int).reshape(-1)
    detections = [
        Detection(box=xyxy[i].astype(np.float64), score=float(kept_scores[i]))
        for i in order
        if xyxy[i, 3] - xyxy[i, 1] >= config.min_box_height_px
    ]
    detections.sort(key=lambda d: d.score, reverse=True)
    return detections[: config.max_people]


class PersonDetector:
    """YOLOX person detector over an ONNX model."""

    def __init__(self, backend: Backend, config: DetectorConfig) -> None:
        self.config = config
        self.backend = backend
        (spec,) = backend.inputs
        self.input_name = spec.name
        _, _, height, width = spec.shape
        if height is None or width is None:
            raise ValueError(f"detector input {spec.describe()} needs a fixed image size")
        self.input_height, self.input_width = int(height), int(width)

    def __call__(self, rgb: npt.NDArray[np.uint8]) -> list[Detection]:
        tensor, box = letterbox(rgb, self.input_height, self.input_width)
        (raw,) = self.backend.run({self.input_name: tensor}).values()
        return decode_yolox(np.asarray(raw[0], dtype=np.float32), box, self.config, rgb.shape[:2])
