"""keypoints.arithmetic: which arithmetic the rebuilt MoveNet runs in (no torch or models needed).

The end-to-end checks (int8 gives LiteRT's keypoints exactly on the verified CPU families
and stays within stated bounds on any kernels, float stays close) are in test_runtime.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hdnet_ros.pipeline import open_keypoint_model
from hdnet_ros.stages.keypoints2d import KeypointConfig, MoveNetLiteRT, movenet_arithmetic

from hdnet_ros.config import SettingsError, load_settings


@pytest.mark.parametrize(
    ("setting", "precision", "expected"),
    [
        ("auto", "fp32", "int8"),
        ("auto", "fp16", "float"),
        ("auto", "int8", "float"),
        ("int8", "fp32", "int8"),
        ("float", "fp32", "float"),
        ("float", "fp16", "float"),
        ("float", "int8", "float"),
    ],
)
def test_arithmetic_resolution(setting: str, precision: str, expected: str) -> None:
    assert movenet_arithmetic(KeypointConfig(arithmetic=setting), precision) == expected


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_int8_arithmetic_below_fp32_is_a_settings_error_naming_both_settings(precision: str) -> None:
    with pytest.raises(SettingsError) as caught:
        movenet_arithmetic(KeypointConfig(arithmetic="int8"), precision)
    message = str(caught.value)
    assert "keypoints.arithmetic" in message and "inference.precision" in message
    assert repr(precision) in message and "fp16 cannot hold" in message


def test_default_is_auto_and_unknown_values_are_rejected() -> None:
    assert load_settings().keypoints.arithmetic == "auto"
    assert load_settings(overrides={"keypoints.arithmetic": "float"}).keypoints.arithmetic == "float"
    with pytest.raises(SettingsError, match=r"keypoints\.arithmetic must be one of auto, int8, float"):
        load_settings(overrides={"keypoints.arithmetic": "fp16"})


def test_int8_on_fp16_tensorrt_stops_before_any_export(tmp_path: Path) -> None:
    """The conflict is reported at start-up, before the (slow, torch-needing) ONNX export."""
    settings = load_settings(
        overrides={
            "inference.backend": "tensorrt",
            "inference.precision": "fp16",
            "inference.engine_dir": str(tmp_path / "engines"),
            "keypoints.arithmetic": "int8",
        }
    )
    with pytest.raises(SettingsError, match=r"keypoints\.arithmetic is 'int8' but inference\.precision is 'fp16'"):
        open_keypoint_model(tmp_path / "movenet.tflite", settings)  # the file is never read
    assert not (tmp_path / "engines").exists()


def test_litert_path_ignores_the_arithmetic(models_dir: Path) -> None:
    """On the CPU default MoveNet runs on LiteRT: int8 with fp16 is no conflict there."""
    pytest.importorskip("ai_edge_litert", reason="the CPU default runs MoveNet on LiteRT")
    settings = load_settings(
        overrides={"inference.precision": "fp16", "keypoints.arithmetic": "int8", "keypoints.runtime": "litert_int8"}
    )
    tflite = models_dir / "movenet_lightning_int8/movenet_singlepose_lightning_int8.tflite"
    assert isinstance(open_keypoint_model(tflite, settings), MoveNetLiteRT)
