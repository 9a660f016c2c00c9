"""MoveNet SinglePose Lightning as a PyTorch module, rebuilt from the int8 TFLite file.

Why this exists: the released MoveNet is an int8 TFLite model. TensorRT cannot read TFLite
and ``tflite2onnx`` stops at the keypoint decoding inside the graph (ARG_MAX, GATHER_ND, ...).
The convolutional part is ordinary, so it is rebuilt from the file itself by the generic
TFLite rebuild (:mod:`hdnet_ros.nets.tflite`); this module holds what is MoveNet's:

* :func:`movenet_head_tensors` finds the four head tensors the in-graph decoding reads,
  from the graph's structure; :class:`MoveNet` runs the ops they need and stops there. It
  is an ordinary ``nn.Module``: ``.half()``, ``.cuda()``, ONNX export.
* ``arithmetic="float"``: float weights dequantised as ``(q - zero_point) * scale`` (per
  output channel where the file quantises per channel); ``arithmetic="int8"``
  (``load_movenet(path, arithmetic="int8")``): the int8 model's own integer arithmetic,
  as LiteRT's default kernels (XNNPACK) do it (:mod:`hdnet_ros.nets.tflite.int8_steps`),
  in float32: the head tensors are LiteRT's, to the bit on every CPU family where that was
  verified (docs/inference.md).
* The decoding lives outside the network, in numpy:
  :func:`hdnet_ros.inference.movenet_codec.decode_movenet` turns the head tensors into the
  TFLite model's [N,17,3] (y, x, score) output.

Network contract (the ONNX export keeps it):

* input ``image``: [N,192,192,3], RGB, channels last, values 0..255 (uint8, or float32
  holding the same integers). Not normalised: the network computes ``x / 127.5 - 1``
  itself, as the TFLite graph does.
* outputs, channels last on the 48x48 grid (cell i covers input pixels 4i..4i+3):

  - ``center_heatmap`` [N,48,48,1]: sigmoid score of the person centre,
  - ``keypoint_heatmaps`` [N,48,48,17]: sigmoid score per joint,
  - ``keypoint_offsets`` [N,48,48,34]: (dy, dx) per joint in grid cells, interleaved
    y0, x0, y1, x1, ...: the sub-cell position of a joint found in that cell,
  - ``center_regression`` [N,48,48,34]: (dy, dx) per joint in grid cells from that cell,
    read at the person centre.

In the float arithmetic the weights are the int8 weights dequantised and the activations
stay float where the int8 model rounds every activation to 8 bits. Each op, fed the int8
model's own input tensors, matches the int8 op's output within 0.75 of its int8 step
(tested); through the whole network the roundings add up and the keypoints differ from
LiteRT's by about 1.5 px (median). The int8 arithmetic has no such difference; see
docs/inference.md for the figures.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from hdnet_ros.logs import get_logger
from hdnet_ros.nets.tflite.graph import TfliteGraph, read_tflite_graph
from hdnet_ros.nets.tflite.module import ARITHMETICS, TfliteModule
from hdnet_ros.nets.tflite.onnx_export import ONNX_OPSET, export_onnx
from hdnet_ros.nets.tflite.schema import TfliteGraphError

LOGGER = get_logger(__name__)

MOVENET_INPUT_SIZE = 192
MOVENET_GRID_SIZE = 48
MOVENET_NUM_KEYPOINTS = 17
INPUT_NAME = "image"
OUTPUT_NAMES: tuple[str, ...] = ("center_heatmap", "keypoint_heatmaps", "keypoint_offsets", "center_regression")

__all__ = [
    "INPUT_NAME",
    "MOVENET_GRID_SIZE",
    "MOVENET_INPUT_SIZE",
    "MOVENET_NUM_KEYPOINTS",
    "OUTPUT_NAMES",
    "MoveNet",
    "MoveNetGraphError",
    "export_movenet_onnx",
    "load_movenet",
    "movenet_head_tensors",
]


class MoveNetGraphError(TfliteGraphError):
    """The TFLite file is not MoveNet SinglePose (or not a graph the rebuild reproduces)."""


def movenet_head_tensors(graph: TfliteGraph) -> dict[str, int]:
    """Tensor index of each output in ``OUTPUT_NAMES``, found from the graph's structure.

    The two sigmoids are the centre (1 channel) and joint (17 channels) heatmaps. Of the two
    34-channel maps the decoding gathers from, the first is read at the centre (the
    regression to the joints) and the second at each joint (the offsets).
    """
    sigmoids = {graph.tensors[op.outputs[0]].shape[-1]: op.outputs[0] for op in graph.ops if op.kind == "LOGISTIC"}
    gathered = [
        op.inputs[0]
        for op in graph.ops
        if op.kind == "GATHER_ND" and graph.tensors[op.inputs[0]].shape[-1] == 2 * MOVENET_NUM_KEYPOINTS
    ]
    if 1 not in sigmoids or MOVENET_NUM_KEYPOINTS not in sigmoids or len(gathered) != 2:
        raise MoveNetGraphError(f"{graph.path} does not look like MoveNet SinglePose (heads not found)")
    heads = {
        "center_heatmap": sigmoids[1],
        "keypoint_heatmaps": sigmoids[MOVENET_NUM_KEYPOINTS],
        "keypoint_offsets": gathered[1],
        "center_regression": gathered[0],
    }
    for name, index in heads.items():
        LOGGER.debug("MoveNet head %s = tensor %d (%s)", name, index, graph.tensors[index].name)
    return heads


class MoveNet(TfliteModule):
    """The convolutional part of MoveNet SinglePose, executed op by op from the TFLite graph.

    ``forward(image)`` takes [N,192,192,3] RGB 0..255 (see the module docstring) and returns
    the tuple of head tensors named by ``OUTPUT_NAMES``.

    ``arithmetic``:

    * ``"float"``: float weights (the int8 weights dequantised), float activations. For
      fp16 and TensorRT; the keypoints differ from LiteRT's by about 1.5 px (median).
    * ``"int8"``: the int8 model's own arithmetic as LiteRT's default (XNNPACK) kernels
      compute it (:mod:`hdnet_ros.nets.tflite.int8_steps`): the head tensors, and so the
      keypoints, are LiteRT's, to the bit on the verified CPUs (x86-64 SSE4 to AVX-512 VNNI,
      aarch64 NEON; docs/inference.md). fp32 only.
    """

    def __init__(self, graph: TfliteGraph, arithmetic: str = "float") -> None:
        if arithmetic not in ARITHMETICS:
            raise ValueError(f"arithmetic must be one of {ARITHMETICS}, not {arithmetic!r}")
        heads = movenet_head_tensors(graph)
        input_shape = graph.tensors[graph.input_index].shape
        if tuple(input_shape[1:]) != (MOVENET_INPUT_SIZE, MOVENET_INPUT_SIZE, 3):
            raise MoveNetGraphError(f"{graph.path}: input {input_shape} is not [1,192,192,3]")
        super().__init__(graph, [heads[name] for name in OUTPUT_NAMES], arithmetic=arithmetic)


def load_movenet(tflite_path: str | Path, arithmetic: str = "float") -> MoveNet:
    """MoveNet in eval mode, weights read from the int8 TFLite file.

    ``arithmetic``: ``"float"`` (fp16-capable) or ``"int8"`` (LiteRT's keypoints, to the bit
    on the verified CPUs, fp32 only); see :class:`MoveNet`.
    """
    return MoveNet(read_tflite_graph(tflite_path), arithmetic=arithmetic).eval()


def export_movenet_onnx(model: nn.Module, onnx_path: str | Path, opset: int = ONNX_OPSET) -> Path:
    """Export to ONNX with a dynamic batch axis (the person crops of a frame), one file:
    input ``image`` [N,192,192,3], the four heads of ``OUTPUT_NAMES``."""
    return export_onnx(model, onnx_path, (MOVENET_INPUT_SIZE, MOVENET_INPUT_SIZE, 3), INPUT_NAME, OUTPUT_NAMES, opset)
