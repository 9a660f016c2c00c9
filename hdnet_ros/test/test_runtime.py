"""The pipeline on the other runtimes: the PyTorch MoveNet rebuild (torch, and its ONNX
export through onnxruntime) gives the same people as the published LiteRT model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.frame_input import build_frame
from hdnet_ros.joints import TORSO_JOINTS
from hdnet_ros.keypoints2d import MoveNetBatched, MoveNetLiteRT
from hdnet_ros.model_files import ModelFileError
from hdnet_ros.people import Frame
from hdnet_ros.pipeline import Pipeline
from helpers import sample_messages

from hdnet_ros.config import load_settings

pytest.importorskip("torch", reason="the MoveNet rebuild needs torch")


@pytest.fixture(scope="module")
def frames(sample_bags: list[Path]) -> list[Frame]:
    result = []
    for bag in sample_bags:
        m = sample_messages(bag)
        result.append(build_frame(m["rgb"], m["depth"], m["camera_info"]))
    return result


@pytest.mark.parametrize("backend", ["torch", "onnxruntime-export"])
def test_rebuilt_movenet_finds_the_same_standing_person(
    backend: str, frames: list[Frame], models_dir: Path, tmp_path: Path
) -> None:
    base = {"models.models_dir": str(models_dir), "inference.engine_dir": str(tmp_path)}
    reference = Pipeline.from_settings(load_settings(overrides=base))
    if backend == "torch":
        overrides = {**base, "inference.backend": "torch"}
    else:  # export once through the torch backend's cache, then run the ONNX file on onnxruntime
        from hdnet_ros.runtime import movenet_onnx

        onnx = movenet_onnx(
            models_dir / "movenet_lightning_int8/movenet_singlepose_lightning_int8.tflite", reference.settings.inference
        )
        overrides = {**base, "keypoints.model": str(onnx)}
    rebuilt = Pipeline.from_settings(load_settings(overrides=overrides))
    assert isinstance(reference.keypoints, MoveNetLiteRT) and isinstance(rebuilt.keypoints, MoveNetBatched)
    for frame in frames:
        ours = max(rebuilt.process(frame).people, key=lambda p: p.detection.box[3] - p.detection.box[1])
        theirs = max(reference.process(frame).people, key=lambda p: p.detection.box[3] - p.detection.box[1])
        assert ours.num_valid >= 12
        both = np.all(np.isfinite(ours.pixels) & np.isfinite(theirs.pixels), axis=1)
        errors = np.linalg.norm(ours.pixels[both] - theirs.pixels[both], axis=1)
        # 1 px in the 192 px crop is about 2.4 px here (a 460 px tall person crop).
        assert np.median(errors) < 5.0, errors
        torso = [j for j in TORSO_JOINTS if ours.valid[j]]
        assert 1.6 <= float(np.median(ours.positions[torso, 2])) <= 2.1


def test_tensorrt_without_tensorrt_names_the_problem(models_dir: Path, tmp_path: Path) -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("TensorRT is installed here: this test is for machines without it")
    settings = load_settings(
        overrides={
            "models.models_dir": str(models_dir),
            "inference.backend": "tensorrt",
            "inference.engine_dir": str(tmp_path),
        }
    )
    with pytest.raises(ModelFileError, match=r"yolox_nano\.onnx cannot run on tensorrt"):
        Pipeline.from_settings(settings)
