"""BlazePose GHUM 3D (full): the landmark network's contract, and its rebuild in PyTorch.

The network is Google's ``pose_landmark_full.tflite`` (Apache-2.0, from the mediapipe
wheel; ``blazepose_ghum_full/SOURCE.md`` beside the file describes it). Whatever runs it
(LiteRT as published, the PyTorch rebuild, its ONNX export on onnxruntime or TensorRT)
keeps one contract:

* input ``image``: float32 [N,256,256,3], RGB, values 0..1: the person crop;
* outputs (the file's ``Identity`` .. ``Identity_4``, told apart by their shapes):

  - ``landmarks`` [N,195]: 39 x (x, y, z, visibility, presence), x, y in crop pixels
    (0..256), z relative depth on the same scale, visibility and presence logits;
  - ``presence`` [N,1]: the person presence score, 0..1 (a sigmoid inside the network);
  - ``mask`` [N,256,256,1]: the person segmentation logits on the crop;
  - ``heatmaps`` [N,64,64,39]: the heatmaps MediaPipe refines the 2D landmarks with;
  - ``world_landmarks`` [N,117]: 39 x (X, Y, Z) in metres around the hip centre, axes of
    the unrotated crop (x right, y down, z away from the camera).

Importing this module loads neither torch nor numpy: the contract is what the LiteRT path
(no torch) checks a file against. The rebuild (:func:`load_blazepose`) imports torch when
called.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from hdnet_ros.nets.tflite.graph import TfliteGraph
    from hdnet_ros.nets.tflite.module import TfliteModule

BLAZEPOSE_INPUT_SIZE = 256
BLAZEPOSE_NUM_LANDMARKS = 39  # 33 body landmarks, then 6 auxiliary points
INPUT_NAME = "image"
INPUT_SHAPE: tuple[int, ...] = (BLAZEPOSE_INPUT_SIZE, BLAZEPOSE_INPUT_SIZE, 3)  # after the batch axis
# Each output's shape after the batch axis; every shape is distinct, which is how the file's
# anonymous Identity..Identity_4 are told apart.
OUTPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "landmarks": (BLAZEPOSE_NUM_LANDMARKS * 5,),
    "presence": (1,),
    "mask": (BLAZEPOSE_INPUT_SIZE, BLAZEPOSE_INPUT_SIZE, 1),
    "heatmaps": (64, 64, BLAZEPOSE_NUM_LANDMARKS),
    "world_landmarks": (BLAZEPOSE_NUM_LANDMARKS * 3,),
}
OUTPUT_NAMES: tuple[str, ...] = tuple(OUTPUT_SHAPES)


class BlazePoseFileError(ValueError):
    """The file is not the BlazePose GHUM 3D landmark network; the message says what differs."""


def _describe(shapes: Mapping[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{name} {list(shape)}" for name, shape in shapes.items()) or "none"


def match_signature(
    inputs: Mapping[str, tuple[int, ...]], outputs: Mapping[str, tuple[int, ...]], source: str | Path
) -> tuple[str, dict[str, str]]:
    """The file's input name and ``{contract name: file output name}``, from the tensors' shapes.

    ``inputs`` / ``outputs``: the file's tensors with their shapes, batch axis included.
    Anything that does not fit the contract (another input, an output missing, extra or
    ambiguous) is a :class:`BlazePoseFileError` naming ``source`` and what was found.
    """
    wanted = f"one input [1,{','.join(map(str, INPUT_SHAPE))}]"
    if len(inputs) != 1 or tuple(next(iter(inputs.values()))[1:]) != INPUT_SHAPE:
        raise BlazePoseFileError(
            f"{source} is not the BlazePose GHUM 3D landmark network: expected {wanted}, found {_describe(inputs)}"
        )
    by_shape: dict[tuple[int, ...], list[str]] = {}
    for name, shape in outputs.items():
        by_shape.setdefault(tuple(shape[1:]), []).append(name)
    matched: dict[str, str] = {}
    problems = []
    for contract, shape in OUTPUT_SHAPES.items():
        found = by_shape.get(shape, [])
        if len(found) == 1:
            matched[contract] = found[0]
        else:
            problems.append(f"{len(found)} outputs of shape [N,{','.join(map(str, shape))}] for {contract}")
    if problems or len(outputs) != len(OUTPUT_SHAPES):
        expected = _describe({name: (1, *shape) for name, shape in OUTPUT_SHAPES.items()})
        raise BlazePoseFileError(
            f"{source} is not the BlazePose GHUM 3D landmark network: outputs {_describe(outputs)} "
            f"({'; '.join(problems) or 'extra outputs'}); expected {expected}"
        )
    return next(iter(inputs)), matched


# ----------------------------------------------------------------------------------------
# The rebuild (torch)
# ----------------------------------------------------------------------------------------


def blazepose_output_tensors(graph: TfliteGraph) -> dict[str, int]:
    """Tensor index of each output in ``OUTPUT_NAMES``: by shape, then checked by structure.

    The file's own output list gives the candidates; their shapes name them. The structure
    must agree: the presence score comes out of a sigmoid (so it is 0..1), the other four
    do not (landmarks, mask and heatmaps are raw convolution outputs; logits stay logits).
    """
    tensors = graph.tensors
    _, matched = match_signature(
        {tensors[graph.input_index].name: tensors[graph.input_index].shape},
        {tensors[i].name: tensors[i].shape for i in graph.output_indices},
        graph.path,
    )
    by_name = {tensors[i].name: i for i in graph.output_indices}
    result = {contract: by_name[name] for contract, name in matched.items()}
    ends_in_sigmoid = {name: _through_reshapes(graph, index) == "LOGISTIC" for name, index in result.items()}
    if not ends_in_sigmoid["presence"] or any(v for name, v in ends_in_sigmoid.items() if name != "presence"):
        raise BlazePoseFileError(
            f"{graph.path}: the output structure is not BlazePose's (sigmoid at {ends_in_sigmoid}; "
            "only presence should come out of a LOGISTIC)"
        )
    return result


def _through_reshapes(graph: TfliteGraph, index: int) -> str:
    """The kind of the op that computes ``index``, looking through RESHAPEs."""
    producer = {t: op for op in graph.ops for t in op.outputs}
    op = producer.get(index)
    while op is not None and op.kind == "RESHAPE":
        op = producer.get(op.inputs[0])
    return "" if op is None else op.kind


def load_blazepose(tflite_path: str | Path) -> TfliteModule:
    """The landmark network rebuilt in PyTorch from the TFLite file, in eval mode.

    ``forward(image)`` takes [N,256,256,3] float32 RGB 0..1 and returns the tuple of
    ``OUTPUT_NAMES``. Float weights (the file's fp16 weights, exactly widened), float32
    activations: an ordinary ``nn.Module`` (``.half()``, ``.cuda()``, ONNX export).
    A file that is not BlazePose's raises :class:`BlazePoseFileError`.
    """
    from hdnet_ros.nets.tflite.graph import read_tflite_graph
    from hdnet_ros.nets.tflite.module import TfliteModule

    graph = read_tflite_graph(tflite_path)
    outputs = blazepose_output_tensors(graph)
    return TfliteModule(graph, [outputs[name] for name in OUTPUT_NAMES], arithmetic="float").eval()


def export_blazepose_onnx(model: nn.Module, onnx_path: str | Path) -> Path:
    """ONNX export of the rebuild: input ``image``, the five named outputs, dynamic batch."""
    from hdnet_ros.nets.tflite.onnx_export import export_onnx

    return export_onnx(model, onnx_path, (BLAZEPOSE_INPUT_SIZE, BLAZEPOSE_INPUT_SIZE, 3), INPUT_NAME, OUTPUT_NAMES)


__all__ = [
    "BLAZEPOSE_INPUT_SIZE",
    "BLAZEPOSE_NUM_LANDMARKS",
    "INPUT_NAME",
    "INPUT_SHAPE",
    "OUTPUT_NAMES",
    "OUTPUT_SHAPES",
    "BlazePoseFileError",
    "blazepose_output_tensors",
    "export_blazepose_onnx",
    "load_blazepose",
    "match_signature",
]
