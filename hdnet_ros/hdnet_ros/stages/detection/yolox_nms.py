"""The decoding of a YOLOX exported with its NMS inside the graph (MMDeploy's
``dets``/``labels`` outputs, e.g. OpenMMLab's YOLOX-Nano-HumanArt person detector).

Input as YOLOX's (:func:`.yolox.letterbox`: BGR 0..255, aspect kept, pasted top-left on
114 grey). Outputs: ``dets`` [1,N,5] = (x0, y0, x1, y1, score) in input pixels after the
graph's NMS, and ``labels`` [1,N] (int). Decoding keeps the person label at or above the
score floor and divides by the letterbox scale; the detector's own NMS (:mod:`.boxes`)
still runs at ``detector.nms_threshold``: the graph's IoU 0.65 lets two boxes on one
person through (seen on a group photo, SOURCE.md).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hdnet_ros.inference.backend import Arrays, Backend, TensorSpec
from hdnet_ros.stages.detection.yolox import Letterbox, _fixed_size, letterbox

FloatArray = npt.NDArray[np.float64]


def decode_nms_outputs(
    dets: npt.ArrayLike, labels: npt.ArrayLike, box: Letterbox, person_class: int, floor: float
) -> tuple[FloatArray, FloatArray]:
    """Person boxes in image pixels [N,4] and scores [N] at or above ``floor``."""
    rows = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
    classes = np.asarray(labels).reshape(-1)
    if len(classes) != len(rows):
        raise ValueError(f"detector gave {len(rows)} boxes but {len(classes)} labels")
    keep = (classes == person_class) & (rows[:, 4] >= floor)
    return rows[keep, :4] / box.scale, rows[keep, 4]


def _is_dets(spec: TensorSpec) -> bool:
    return len(spec.shape) == 3 and spec.shape[2] == 5 and spec.dtype.kind == "f"


def _is_labels(spec: TensorSpec) -> bool:
    return len(spec.shape) == 2 and spec.dtype.kind in "iu"


class YoloxNmsDecoding:
    """A YOLOX-style network whose graph ends in NMS (``dets`` + ``labels``)."""

    name = "YOLOX with in-graph NMS (letterbox BGR 0..255, dets/labels outputs)"

    def __init__(self, backend: Backend, person_class: int) -> None:
        (spec,) = backend.inputs
        self.input_name = spec.name
        self.height, self.width = _fixed_size(spec.shape, spec.describe())
        self.person_class = person_class
        self.dets = next(s.name for s in backend.outputs if _is_dets(s))
        self.labels = next(s.name for s in backend.outputs if _is_labels(s))
        self._input = np.empty((1, 3, self.height, self.width), dtype=np.float32)  # letterbox's, reused

    @staticmethod
    def matches(backend: Backend) -> bool:
        outputs = backend.outputs
        return (
            len(backend.inputs) == 1
            and len(outputs) == 2
            and any(_is_dets(s) for s in outputs)
            and any(_is_labels(s) for s in outputs)
        )

    def prepare(self, rgb: npt.NDArray[np.uint8]) -> tuple[dict[str, npt.NDArray[np.float32]], Letterbox]:
        tensor, box = letterbox(rgb, self.height, self.width, self._input)
        return {self.input_name: tensor}, box

    def boxes(self, outputs: Arrays, box: Letterbox, floor: float) -> tuple[FloatArray, FloatArray]:
        return decode_nms_outputs(outputs[self.dets], outputs[self.labels], box, self.person_class, floor)
