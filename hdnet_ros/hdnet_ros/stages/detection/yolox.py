"""YOLOX's decoding (raw grid outputs, as Megvii's YOLOX-Nano ONNX gives them).

Pre- and post-processing follow the model's SOURCE.md exactly: BGR 0..255 without
normalisation, aspect-preserving resize pasted top-left on a 114-grey canvas, grid/stride
box decoding, objectness x class score; NMS afterwards (:mod:`.boxes`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.inference.backend import Arrays, Backend

PAD_VALUE = 114
STRIDES = (8, 16, 32)
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed in the network input (scale only: pasted top-left)."""

    scale: float
    input_height: int
    input_width: int


def letterbox(
    rgb: npt.NDArray[np.uint8], height: int, width: int, out: npt.NDArray[np.float32] | None = None
) -> tuple[npt.NDArray[np.float32], Letterbox]:
    """The YOLOX input tensor [1,3,H,W] (BGR, 0..255) and the transform that made it;
    ``out``: a C-contiguous float32 [1,3,H,W] buffer to write it into (the decoding's, reused
    frame after frame: no fresh 2 MB to fault in), else a new one."""
    h, w = rgb.shape[:2]
    scale = min(height / h, width / w)
    resized_w, resized_h = int(w * scale), int(h * scale)
    resized = cv2.resize(rgb, (resized_w, resized_h), interpolation=cv2.INTER_LINEAR)
    tensor = np.empty((1, 3, height, width), dtype=np.float32) if out is None else out
    # Channels first, BGR and float32 straight into the C-contiguous tensor the backend takes
    # as it is: OpenCV splits the resized image's channels, each plane is converted in its
    # place and the 114-grey canvas is written only where the image is not (one pass over
    # the tensor; a uint8 canvas, its BGR copy and numpy's transposed float32 copy were three,
    # 0.9 -> 0.3 ms at 416x416). The values are the same small integers either way.
    red, green, blue = cv2.split(resized)
    for plane, channel in zip((blue, green, red), tensor[0], strict=True):
        channel[:resized_h, :resized_w] = plane
        channel[:resized_h, resized_w:] = PAD_VALUE
        channel[resized_h:] = PAD_VALUE
    return tensor, Letterbox(scale, height, width)


@functools.lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Cell offsets [N,2] and strides [N,1] for YOLOX's three output levels (made once per
    input size; read-only)."""
    cells, strides = [], []
    for stride in STRIDES:
        gh, gw = height // stride, width // stride
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        cells.append(np.stack((xs, ys), axis=-1).reshape(-1, 2))
        strides.append(np.full((gh * gw, 1), stride))
    grid = np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)
    for array in grid:
        array.flags.writeable = False
    return grid


def decode_yolox(
    raw: npt.NDArray[np.float32], box: Letterbox, person_class: int, floor: float
) -> tuple[FloatArray, FloatArray]:
    """Person boxes in image pixels [N,4] (unclipped) and scores [N] at or above ``floor``
    from the raw [cells, 5 + classes] YOLOX output."""
    cells, strides = _grid(box.input_height, box.input_width)
    if raw.shape[0] != cells.shape[0]:
        raise ValueError(f"detector output has {raw.shape[0]} cells, expected {cells.shape[0]}")
    scores = raw[:, 4] * raw[:, 5 + person_class]
    keep = np.flatnonzero(scores >= floor)  # a few cells of thousands: gathered by index once each
    centres = (raw[keep, :2] + cells[keep]) * strides[keep]
    sizes = np.exp(raw[keep, 2:4]) * strides[keep]
    xyxy = np.concatenate((centres - sizes / 2, centres + sizes / 2), axis=1) / box.scale
    return xyxy.astype(np.float64), scores[keep].astype(np.float64)


class YoloxDecoding:
    """A YOLOX network with its raw grid output [1, cells, 5 + classes]."""

    name = "YOLOX grid outputs (letterbox BGR 0..255, grid decoding, NMS)"

    def __init__(self, backend: Backend, person_class: int) -> None:
        (spec,) = backend.inputs
        self.input_name = spec.name
        self.height, self.width = _fixed_size(spec.shape, spec.describe())
        self.person_class = person_class
        self._input = np.empty((1, 3, self.height, self.width), dtype=np.float32)  # letterbox's, reused

    @staticmethod
    def matches(backend: Backend) -> bool:
        outputs = backend.outputs
        return len(backend.inputs) == 1 and len(outputs) == 1 and len(outputs[0].shape) == 3

    def prepare(self, rgb: npt.NDArray[np.uint8]) -> tuple[dict[str, npt.NDArray[np.float32]], Letterbox]:
        tensor, box = letterbox(rgb, self.height, self.width, self._input)
        return {self.input_name: tensor}, box

    def boxes(self, outputs: Arrays, box: Letterbox, floor: float) -> tuple[FloatArray, FloatArray]:
        (raw,) = outputs.values()
        return decode_yolox(np.asarray(raw[0], dtype=np.float32), box, self.person_class, floor)


def _fixed_size(shape: tuple[int | None, ...], what: str) -> tuple[int, int]:
    """(height, width) of an NCHW image input, which must be fixed."""
    _, _, height, width = shape
    if height is None or width is None:
        raise ValueError(f"detector input {what} needs a fixed image size")
    return int(height), int(width)
