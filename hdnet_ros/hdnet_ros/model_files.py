"""Finding model files: a configurable models directory, never a hub download at run time."""

from __future__ import annotations

import os
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
}


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
