"""Annotated photos with people, every set's joints mapped to COCO-17.

``../shared/data/crowd_keypoints`` holds three sets in their own joint orders (its
SOURCE.md): AI Challenger (14 joints: shoulders to ankles, head top, neck), PoseTrack 2018
(COCO order, but indices 1-2 are head bottom and head top, not the eyes) and MHP (MPII's
16 joints); ``../shared/data/coco_keypoints`` is COCO-17. Only joints that exist in both
orders are kept (a head top or a neck has no COCO joint); a joint not in the set is
unlabelled. A person counts as annotated when at least one joint maps (COCO's
keypoint-less small boxes do not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import NUM_COCO_JOINTS

FloatArray = npt.NDArray[np.float64]

# Per set: the COCO-17 index of each of its joints (-1: no COCO joint).
AIC_TO_COCO = (6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, -1, -1)
POSETRACK_TO_COCO = (0, -1, -1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
MPII_TO_COCO = (16, 14, 12, 11, 13, 15, -1, -1, -1, -1, 10, 8, 6, 5, 7, 9)
COCO_TO_COCO = tuple(range(NUM_COCO_JOINTS))


@dataclass(frozen=True)
class AnnotatedSet:
    """One annotation file: its folder, file, joint mapping and how to find an image."""

    name: str
    folder: str  # relative to the data directory
    annotations: str
    to_coco: tuple[int, ...]
    flat_names: bool = False  # PoseTrack: images/val/<video>/000000.jpg stored as <video>_000000.jpg


CROWD_SETS: tuple[AnnotatedSet, ...] = (
    AnnotatedSet("aic", "crowd_keypoints/aic", "test_aic.json", AIC_TO_COCO),
    AnnotatedSet("posetrack18", "crowd_keypoints/posetrack18", "test_posetrack18_val.json", POSETRACK_TO_COCO, True),
    AnnotatedSet("mhp", "crowd_keypoints/mhp", "test_mhp.json", MPII_TO_COCO),
)
COCO_SET = AnnotatedSet("coco", "coco_keypoints", "person_keypoints.json", COCO_TO_COCO)
ALL_SETS = (*CROWD_SETS, COCO_SET)


@dataclass(frozen=True)
class AnnotatedPerson:
    """One annotated person in COCO-17: pixels [17,2] (NaN unlabelled), box (x0, y0, x1, y1),
    and the area OKS normalises by (the annotation's, else the box's)."""

    keypoints: FloatArray
    box: FloatArray
    area: float

    @property
    def labelled(self) -> npt.NDArray[np.bool_]:
        return np.all(np.isfinite(self.keypoints), axis=1)

    @property
    def diagonal(self) -> float:
        return float(np.hypot(self.box[2] - self.box[0], self.box[3] - self.box[1]))


@dataclass(frozen=True)
class AnnotatedPhoto:
    set_name: str
    name: str
    rgb: npt.NDArray[np.uint8]
    people: list[AnnotatedPerson]


def to_coco(values: list[float], mapping: tuple[int, ...]) -> FloatArray:
    """A set's flat (x, y, v) list -> COCO-17 pixels [17,2], NaN where unlabelled (v = 0)."""
    triples = np.asarray(values, dtype=np.float64).reshape(len(mapping), 3)
    pixels = np.full((NUM_COCO_JOINTS, 2), np.nan)
    for source, target in enumerate(mapping):
        if target >= 0 and triples[source, 2] > 0:
            pixels[target] = triples[source, :2]
    return pixels


def _person(annotation: dict[str, Any], mapping: tuple[int, ...]) -> AnnotatedPerson:
    x, y, w, h = (float(v) for v in annotation["bbox"])
    area = float(annotation.get("area") or w * h)
    return AnnotatedPerson(to_coco(annotation["keypoints"], mapping), np.array([x, y, x + w, y + h]), area)


def _image_path(folder: Path, image: dict[str, Any], flat: bool) -> Path:
    name = str(image["file_name"])
    if flat:  # images/val/<video>/000000.jpg -> <video>_000000.jpg
        parts = Path(name).parts
        name = f"{parts[-2]}_{parts[-1]}"
    return folder / name


def load_set(data_dir: Path, dataset: AnnotatedSet) -> list[AnnotatedPhoto]:
    """The set's photos (RGB) with their annotated people; FileNotFoundError names a missing file."""
    folder = data_dir / dataset.folder
    content = json.loads((folder / dataset.annotations).read_text())
    photos = []
    for image in content["images"]:
        path = _image_path(folder, image, dataset.flat_names)
        bgr = cv2.imread(str(path))
        if bgr is None:
            raise FileNotFoundError(f"cannot read image {path}")
        people = [_person(a, dataset.to_coco) for a in content["annotations"] if a["image_id"] == image["id"]]
        people = [p for p in people if np.any(p.labelled)]
        photos.append(AnnotatedPhoto(dataset.name, path.name, np.ascontiguousarray(bgr[:, :, ::-1]), people))
    return photos


def load_sets(data_dir: Path, datasets: tuple[AnnotatedSet, ...] = ALL_SETS) -> list[AnnotatedPhoto]:
    return [photo for dataset in datasets for photo in load_set(data_dir, dataset)]
