"""Shared fixtures: where the models and sample data are, and the replay of the sample bags.

Models and data are never part of the repository. They are found through
$HDNET_ROS_MODELS_DIR / $HDNET_ROS_DATA_DIR, defaulting to ../shared beside the checkout
(where CI has them); tests that need them skip, saying why, when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hdnet_ros.model_files import DATA_DIR_ENV, MODELS_DIR_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"


def _directory(env: str, default: Path) -> Path:
    return Path(os.environ[env]) if os.environ.get(env) else default


MODELS_DIR = _directory(MODELS_DIR_ENV, SHARED / "models")
DATA_DIR = _directory(DATA_DIR_ENV, SHARED / "data")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if not (MODELS_DIR / "yolox_nano" / "yolox_nano.onnx").is_file():
        pytest.skip(f"default models not found in {MODELS_DIR} (set HDNET_ROS_MODELS_DIR or run `hdnet-ros assets`)")
    return MODELS_DIR


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "rgbd_hsr").is_dir():
        pytest.skip(
            f"sample data not found in {DATA_DIR} (set HDNET_ROS_DATA_DIR or run `hdnet-ros assets --data-dir`)"
        )
    return DATA_DIR


@pytest.fixture(scope="session")
def sample_bags(data_dir: Path) -> list[Path]:
    bags = sorted((data_dir / "rgbd_hsr").glob("*.bag"))
    assert len(bags) == 3, f"expected the three sample bags in {data_dir / 'rgbd_hsr'}"
    return bags


@pytest.fixture(scope="session")
def sample_replay(models_dir: Path, sample_bags: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's main job: replay of the three sample bags (run once per session)."""
    from helpers import run_replay

    output = tmp_path_factory.mktemp("replay") / "out"
    assert run_replay(models_dir, output, *sample_bags, extra=("--include-inputs",)) == 0
    return output
