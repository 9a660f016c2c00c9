"""Finding model files: a configurable models directory, never a hub download at run time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR_ENV = "HDNET_ROS_MODELS_DIR"
DATA_DIR_ENV = "HDNET_ROS_DATA_DIR"

# Default files of each model inside the models directory (the layout `hdnet-ros assets`
# creates and ../shared/models has).
DEFAULT_MODEL_FILES: dict[str, str] = {
    "yolox_nano": "yolox_nano/yolox_nano.onnx",
    "light_person_detector": "light_person_detector/light_person_detector.onnx",
    "movenet_lightning_int8": "movenet_lightning_int8/movenet_singlepose_lightning_int8.tflite",
    "blazepose_ghum_full": "blazepose_ghum_full/pose_landmark_full.tflite",
    # OpenVINO IR (.xml beside its .bin): converted to ONNX by nets.openvino_ir (IR_CONVERSIONS).
    "pp_tinypose_256x192": "pp_tinypose_256x192/openvino_ir_fp16_model.xml",
    "pp_tinypose_128x96": "pp_tinypose_128x96/openvino_ir_fp16_model.xml",
    "pp_picodet_s_320_pedestrian": "pp_picodet_s_320_pedestrian/openvino_ir_fp16_picodet_s_320_lcnet_pedestrian.xml",
    "yolox_nano_humanart": "yolox_nano_humanart/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx",
}


@dataclass(frozen=True)
class IrConversion:
    """How a model published as OpenVINO IR is converted to ONNX (``ir_to_onnx``'s options).

    One place for both users: ``hdnet-ros assets`` writes the conversion beside the IR with
    these options, and the opener (``inference.runtime.open_ir_network``) given the same
    options takes that file instead of converting again.
    """

    dynamic_batch: bool
    drop_outputs: tuple[str, ...] = ()


IR_CONVERSIONS: dict[str, IrConversion] = {
    # Person crops are batched; the in-graph argmax is dropped: the codec decodes the heatmaps.
    "pp_tinypose_256x192": IrConversion(dynamic_batch=True, drop_outputs=("argmax_0.tmp_0",)),
    "pp_tinypose_128x96": IrConversion(dynamic_batch=True, drop_outputs=("argmax_0.tmp_0",)),
    # One frame per call, as published.
    "pp_picodet_s_320_pedestrian": IrConversion(dynamic_batch=False),
}


def ir_conversion_path(xml_path: Path) -> Path:
    """Where ``hdnet-ros assets`` writes an IR model's ONNX conversion: beside it, ``<stem>.onnx``."""
    return xml_path.with_suffix(".onnx")


def weights_files(model_path: Path) -> list[Path]:
    """The files a model's arithmetic comes from: the file and, for OpenVINO IR (.xml), its
    weights (.bin beside it)."""
    return [model_path, model_path.with_suffix(".bin")] if model_path.suffix == ".xml" else [model_path]


class ModelFileError(FileNotFoundError):
    """A model file that is missing or unusable; the message says which file and why."""


def models_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """The models directory: the explicit setting, else $HDNET_ROS_MODELS_DIR, else ~/.cache."""
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "hdnet_ros" / "models"


def resolve_model_file(name_or_path: str, configured_dir: str | os.PathLike[str] | None = None) -> Path:
    """A model given as a known name (``yolox_nano``) or a path, checked to exist.

    Relative paths are taken relative to the models directory.
    """
    directory = models_dir(configured_dir)
    relative = DEFAULT_MODEL_FILES.get(name_or_path, name_or_path)
    path = Path(relative).expanduser()
    if not path.is_absolute():
        path = directory / path
    if not path.is_file():
        hint = (
            f"run `hdnet-ros assets --models-dir {directory}` to download the default models, "
            f"or set {MODELS_DIR_ENV} / models_dir"
        )
        raise ModelFileError(f"model file {path} does not exist ({hint})")
    return path
