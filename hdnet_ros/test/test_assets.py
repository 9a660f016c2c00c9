"""`hdnet-ros assets` against a local file:// mirror (nothing can be downloaded here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hdnet_ros.assets import ASSETS, Asset, AssetError, fetch, sha256_of
from hdnet_ros.cli import main


def test_model_hashes_are_the_ones_in_source_md(models_dir: Path) -> None:
    for asset in (a for a in ASSETS if a.kind == "models"):
        source = (models_dir / asset.relative_path).parent / "SOURCE.md"
        recorded = re.search(r"sha256:\s*([0-9a-f]{64})", source.read_text())
        assert recorded and recorded.group(1) == asset.sha256, asset.relative_path


def test_shared_files_match_the_manifest(models_dir: Path, data_dir: Path) -> None:
    for asset in ASSETS:
        root = models_dir if asset.kind == "models" else data_dir
        assert sha256_of(root / asset.relative_path) == asset.sha256, asset.relative_path


def test_download_from_mirror_verifies_and_is_idempotent(models_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "models").symlink_to(models_dir)
    (mirror / "data").symlink_to(data_dir)
    args = [
        "assets",
        "--models-dir",
        str(tmp_path / "m"),
        "--data-dir",
        str(tmp_path / "d"),
        "--mirror",
        mirror.as_uri(),
        "--no-progress",
    ]
    assert main(args) == 0
    for asset in ASSETS:
        root = tmp_path / ("m" if asset.kind == "models" else "d")
        assert sha256_of(root / asset.relative_path) == asset.sha256
    asset = ASSETS[0]
    assert fetch(asset, tmp_path / "m" / asset.relative_path, mirror.as_uri(), progress=False) is False


def test_wrong_content_is_refused_and_not_left_behind(tmp_path: Path) -> None:
    served = tmp_path / "served.onnx"
    served.write_bytes(b"tampered")
    asset = Asset("models", "x/model.onnx", served.as_uri(), "0" * 64, "test")
    target = tmp_path / "out" / "model.onnx"
    with pytest.raises(AssetError, match="differs from the recorded"):
        fetch(asset, target, progress=False)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_unreachable_source_is_reported(tmp_path: Path) -> None:
    asset = Asset("models", "x/model.onnx", (tmp_path / "absent.onnx").as_uri(), "0" * 64, "test")
    with pytest.raises(AssetError, match="download failed"):
        fetch(asset, tmp_path / "model.onnx", progress=False)
