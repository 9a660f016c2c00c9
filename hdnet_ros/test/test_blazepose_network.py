"""BlazePose GHUM 3D: the opener on each runtime, and the PyTorch rebuild against LiteRT.

Crops: the people of the three RGB-D sample frames (boxes drawn by hand around the
standing person and the people behind; the frames have no annotations), each a square
1.25x the box's longer side resized to 256x256, RGB 0..1 as the network takes it. The
reference is LiteRT running the published file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.inference.runtime import InferenceConfig, open_blazepose
from hdnet_ros.model_files import ModelFileError
from hdnet_ros.nets.blazepose import INPUT_NAME, OUTPUT_NAMES, OUTPUT_SHAPES, BlazePoseFileError, match_signature

cv2 = pytest.importorskip("cv2")
pytest.importorskip("ai_edge_litert")

SIZE = 256
# Hand-drawn person boxes (x0, y0, x1, y1) in the sample frames; the first is the standing person.
BAG_BOXES: dict[str, list[tuple[float, float, float, float]]] = {
    "2019-05-03-12-41-38.bag": [(235, 58, 380, 480), (45, 205, 125, 330), (0, 195, 75, 420)],
    "2019-05-03-12-42-18.bag": [(265, 28, 475, 480), (268, 222, 300, 312)],
    "2019-05-03-12-42-25.bag": [(265, 28, 475, 480), (595, 200, 640, 265)],
}
CPU = InferenceConfig()


def square_crop(image: np.ndarray, box: tuple[float, float, float, float], scale: float = 1.25) -> np.ndarray:
    """256x256 float32 RGB 0..1 crop of a square ``scale`` x the box's longer side, black outside."""
    x0, y0, x1, y1 = box
    s = SIZE / (max(x1 - x0, y1 - y0) * scale)
    affine = np.array([[s, 0, SIZE / 2 - s * (x0 + x1) / 2], [0, s, SIZE / 2 - s * (y0 + y1) / 2]])
    crop = cv2.warpAffine(image, affine, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return crop.astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def tflite(models_dir: Path) -> Path:
    path = models_dir / "blazepose_ghum_full" / "pose_landmark_full.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found (run `hdnet-ros assets`)")
    return path


@pytest.fixture(scope="module")
def crops(data_dir: Path) -> np.ndarray:
    """[7,256,256,3] person crops from the sample frames, via the transports' frame builder."""
    from hdnet_ros.frame_input import build_frame
    from helpers import sample_messages

    result = []
    for name, boxes in BAG_BOXES.items():
        messages = sample_messages(data_dir / "rgbd_hsr" / name)
        frame = build_frame(messages["rgb"], messages["depth"], messages["camera_info"])
        result += [square_crop(frame.rgb, box) for box in boxes]
    return np.stack(result)


@pytest.fixture(scope="module")
def litert_outputs(tflite: Path, crops: np.ndarray) -> dict[str, np.ndarray]:
    with open_blazepose(tflite, CPU, threads=2) as backend:
        return backend.run({INPUT_NAME: crops})


# --- the contract -----------------------------------------------------------------------


def test_cpu_default_gives_the_five_named_outputs(tflite: Path, litert_outputs: dict[str, np.ndarray]) -> None:
    with open_blazepose(tflite, CPU, threads=2) as backend:
        assert backend.input_names == (INPUT_NAME,)
        assert set(backend.output_names) == set(OUTPUT_NAMES)
        assert backend.inputs[0].shape == (None, SIZE, SIZE, 3)
    for name, shape in OUTPUT_SHAPES.items():
        assert litert_outputs[name].shape == (7, *shape), name
        assert litert_outputs[name].dtype == np.float32
    # The mapping by shape must also be the right one by meaning: the standing person (crop 0)
    # is present, and its landmarks lie on the crop, hips near the crop centre ...
    assert litert_outputs["presence"][0, 0] > 0.9
    assert np.all((litert_outputs["presence"] >= 0) & (litert_outputs["presence"] <= 1))
    landmarks = litert_outputs["landmarks"][0].reshape(39, 5)
    assert np.all((landmarks[:33, :2] > -SIZE * 0.1) & (landmarks[:33, :2] < SIZE * 1.1))
    hips = landmarks[[23, 24], :2].mean(axis=0)
    assert np.all(np.abs(hips - SIZE / 2) < SIZE * 0.25), hips
    # ... its world skeleton is in metres around the hip centre (hips 0.2-0.4 m apart) ...
    world = litert_outputs["world_landmarks"][0].reshape(39, 3)
    assert np.linalg.norm(world[[23, 24]].mean(axis=0)) < 0.05
    assert 0.15 < np.linalg.norm(world[23] - world[24]) < 0.45
    # ... and the mask logits are positive on the person's hip centre, negative in a corner.
    mask = litert_outputs["mask"][0, ..., 0]
    assert mask[int(hips[1]), int(hips[0])] > 0 > mask[2, 2]


def test_match_signature_names_what_is_wrong() -> None:
    good = {f"Identity_{i}": (1, *shape) for i, shape in enumerate(OUTPUT_SHAPES.values())}
    name, matched = match_signature({"input_1": (1, 256, 256, 3)}, good, "x.tflite")
    assert name == "input_1" and matched["heatmaps"] == "Identity_3" and matched["world_landmarks"] == "Identity_4"
    with pytest.raises(BlazePoseFileError, match=r"x\.tflite .*input_1 \[1, 192, 192, 3\]"):
        match_signature({"input_1": (1, 192, 192, 3)}, good, "x.tflite")
    missing = {k: v for k, v in good.items() if k != "Identity_1"}
    with pytest.raises(BlazePoseFileError, match="0 outputs of shape \\[N,1\\] for presence"):
        match_signature({"input_1": (1, 256, 256, 3)}, missing, "x.tflite")
    doubled = {**good, "extra": (1, 117)}
    with pytest.raises(BlazePoseFileError, match="2 outputs of shape \\[N,117\\] for world_landmarks"):
        match_signature({"input_1": (1, 256, 256, 3)}, doubled, "x.tflite")


def test_wrong_or_missing_file_is_a_model_file_error(models_dir: Path, tmp_path: Path) -> None:
    movenet = models_dir / "movenet_lightning_int8" / "movenet_singlepose_lightning_int8.tflite"
    with pytest.raises(ModelFileError, match=r"movenet_singlepose_lightning_int8\.tflite is not the BlazePose"):
        open_blazepose(movenet, CPU, threads=1)
    garbage = tmp_path / "pose_landmark_full.tflite"
    garbage.write_bytes(b"not a flatbuffer at all" * 10)
    with pytest.raises(ModelFileError, match=r"pose_landmark_full\.tflite"):
        open_blazepose(garbage, CPU, threads=1)
    with pytest.raises(ModelFileError, match="does not exist"):
        open_blazepose(tmp_path / "absent.tflite", CPU, threads=1)


def test_litert_batch_resize_equals_one_invoke_per_crop(
    tflite: Path, crops: np.ndarray, litert_outputs: dict[str, np.ndarray]
) -> None:
    """Both LiteRT batching modes run the same kernels on the same values: equal outputs."""
    from hdnet_ros.inference.litert_backend import LiteRTBackend, litert_signature

    input_name, matched = match_signature(*litert_signature(tflite), source=tflite)
    names = {input_name: INPUT_NAME, **{file: contract for contract, file in matched.items()}}
    with LiteRTBackend(tflite, threads=2, batching="resize", names=names) as batched:
        first = batched.run({INPUT_NAME: crops[:4]})
        second = batched.run({INPUT_NAME: crops[4:]})  # another batch size: resized again
        empty = batched.run({INPUT_NAME: crops[:0]})
    for name, shape in OUTPUT_SHAPES.items():
        np.testing.assert_array_equal(np.concatenate([first[name], second[name]]), litert_outputs[name])
        assert empty[name].shape == (0, *shape)


def test_open_blazepose_keeps_inference_settings(tflite: Path) -> None:
    """The CPU default is LiteRT whatever the thread count; a CUDA device is not LiteRT's."""
    with open_blazepose(tflite, dataclasses.replace(CPU, device="cpu"), threads=1) as backend:
        assert backend.kind == "litert"
