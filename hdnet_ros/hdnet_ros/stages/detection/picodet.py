"""PP-PicoDet's decoding (PaddleDetection, exported without NMS: boxes already decoded
from the distribution head, e.g. the PP-PicoDet-S pedestrian detector).

Preprocessing as its config's TestReader (SOURCE.md): **RGB**; the whole frame resized to
the input size *without* keeping the aspect ratio, bicubic; /255, ImageNet mean/std;
HWC -> CHW. Outputs: boxes [1,N,4] (x0, y0, x1, y1 in input pixels) and scores [1,1,N]
(one class). Decoding: scores at or above the floor, boxes scaled back per axis; NMS
afterwards (:mod:`.boxes`, the config's IoU is 0.6).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.inference.backend import Arrays, Backend, TensorSpec
from hdnet_ros.nets.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from hdnet_ros.stages.detection.yolox import _fixed_size

FloatArray = npt.NDArray[np.float64]
# (x / 255 - mean) / std as one multiply-add per channel.
_SCALE = (1.0 / (255.0 * np.asarray(IMAGENET_STD))).astype(np.float32)
_SHIFT = (-np.asarray(IMAGENET_MEAN) / np.asarray(IMAGENET_STD)).astype(np.float32)


@dataclass(frozen=True)
class Stretch:
    """How the image was resized to the input: one scale per axis (input px per image px)."""

    scale_x: float
    scale_y: float


def stretch_normalize(rgb: npt.NDArray[np.uint8], height: int, width: int) -> tuple[npt.NDArray[np.float32], Stretch]:
    """The PicoDet input [1,3,H,W] (RGB, ImageNet-normalised) and the resize that made it."""
    resized = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC)
    tensor = resized.astype(np.float32) * _SCALE + _SHIFT
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(tensor.transpose(2, 0, 1)[None]), Stretch(width / w, height / h)


def decode_picodet(
    boxes: npt.ArrayLike, scores: npt.ArrayLike, stretch: Stretch, floor: float
) -> tuple[FloatArray, FloatArray]:
    """Boxes in image pixels [N,4] and scores [N] at or above ``floor``."""
    xyxy = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    score = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(score) != len(xyxy):
        raise ValueError(f"detector gave {len(xyxy)} boxes but {len(score)} scores")
    keep = score >= floor
    scale = np.array([stretch.scale_x, stretch.scale_y, stretch.scale_x, stretch.scale_y])
    return xyxy[keep] / scale, score[keep]


def _is_boxes(spec: TensorSpec) -> bool:
    return len(spec.shape) == 3 and spec.shape[2] == 4


def _is_scores(spec: TensorSpec) -> bool:
    return len(spec.shape) == 3 and spec.shape[1] == 1


class PicoDetDecoding:
    """A one-class PP-PicoDet exported without NMS (``boxes`` [1,N,4], ``scores`` [1,1,N])."""

    name = "PP-PicoDet (stretched RGB, ImageNet normalisation, decoded boxes, NMS)"

    def __init__(self, backend: Backend, person_class: int) -> None:
        (spec,) = backend.inputs
        self.input_name = spec.name
        self.height, self.width = _fixed_size(spec.shape, spec.describe())
        self.boxes_name = next(s.name for s in backend.outputs if _is_boxes(s))
        self.scores_name = next(s.name for s in backend.outputs if _is_scores(s) and not _is_boxes(s))

    @staticmethod
    def matches(backend: Backend) -> bool:
        outputs = backend.outputs
        return (
            len(backend.inputs) == 1
            and len(outputs) == 2
            and any(_is_boxes(s) for s in outputs)
            and any(_is_scores(s) and not _is_boxes(s) for s in outputs)
        )

    def prepare(self, rgb: npt.NDArray[np.uint8]) -> tuple[dict[str, npt.NDArray[np.float32]], Stretch]:
        tensor, stretch = stretch_normalize(rgb, self.height, self.width)
        return {self.input_name: tensor}, stretch

    def boxes(self, outputs: Arrays, stretch: Stretch, floor: float) -> tuple[FloatArray, FloatArray]:
        return decode_picodet(outputs[self.boxes_name], outputs[self.scores_name], stretch, floor)
