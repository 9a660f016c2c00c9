"""An optional learned refiner of lifted skeletons: RefiNet module B (the skeleton stage).

The network is :class:`hdnet_ros.nets.refinet.LinearModel` (RefiNet's ``LinearModel``:
[B, 15, 3] -> flatten 45 -> Linear 1024 + BN + ReLU + Dropout -> 2 residual pairs ->
Linear 45). Joints in the ITOP-15 layout, filled from our COCO19 skeleton: Head = the mean
of the face keypoints, Neck, shoulders, elbows, Hand = wrist, Torso = the midpoint of neck
and pelvis, hips, knees, Foot = ankle. Coordinates are root-relative (pelvis) in the
camera frame, divided by ``SCALE``; missing joints are zeros. The network predicts a
root-relative offset, so the refiner changes the skeleton's shape and never its root.

This module is the small interface the product loads a trained refiner through (torch is
imported only then); its training lives in :mod:`hdnet_ros.training.refinet_b`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import (
    FACE_JOINTS,
    LEFT_ANKLE,
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NECK,
    PELVIS,
    RIGHT_ANKLE,
    RIGHT_ELBOW,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    ROOT,
)
from hdnet_ros.people import Person

FloatArray = npt.NDArray[np.float64]

SCALE = 0.5  # metres per unit of the network's input and output
HEAD, TORSO = 0, 8
# ITOP-15 slot -> our joint (Head and Torso are computed, see the module docstring).
ITOP_FROM_COCO: dict[int, int] = {
    1: NECK,
    2: RIGHT_SHOULDER,
    3: LEFT_SHOULDER,
    4: RIGHT_ELBOW,
    5: LEFT_ELBOW,
    6: RIGHT_WRIST,
    7: LEFT_WRIST,
    9: RIGHT_HIP,
    10: LEFT_HIP,
    11: RIGHT_KNEE,
    12: LEFT_KNEE,
    13: RIGHT_ANKLE,
    14: LEFT_ANKLE,
}
NUM_ITOP = 15


def to_itop(positions: npt.NDArray[np.floating]) -> FloatArray:
    """[J,3] COCO19 positions -> [15,3] ITOP layout (NaN where not available)."""
    out = np.full((NUM_ITOP, 3), np.nan)
    for slot, joint in ITOP_FROM_COCO.items():
        out[slot] = positions[joint]
    face = positions[list(FACE_JOINTS)]
    face = face[np.all(np.isfinite(face), axis=1)]
    if len(face):
        out[HEAD] = face.mean(axis=0)
    if np.all(np.isfinite(positions[[NECK, PELVIS]])):
        out[TORSO] = (positions[NECK] + positions[PELVIS]) / 2.0
    return out


def encode(positions: npt.NDArray[np.floating]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]] | None:
    """Network input [15,3] and its validity mask from COCO19 positions; None without root."""
    root = positions[ROOT]
    if not np.all(np.isfinite(root)):
        return None
    itop = (to_itop(positions) - root) / SCALE
    valid = np.all(np.isfinite(itop), axis=1)
    return np.where(valid[:, None], itop, 0.0).astype(np.float32), valid


def apply_offsets(positions: npt.NDArray[np.floating], offsets: FloatArray) -> FloatArray:
    """COCO19 positions moved by per-slot ITOP offsets [15,3] (metres): mapped joints move
    with their slot, face keypoints with Head; midpoints are recomputed."""
    out = positions.copy()
    for slot, joint in ITOP_FROM_COCO.items():
        out[joint] = positions[joint] + offsets[slot]
    for joint in FACE_JOINTS:
        out[joint] = positions[joint] + offsets[HEAD]
    out[PELVIS] = positions[PELVIS]  # the root stays where the lifter put it
    out[NECK] = (out[LEFT_SHOULDER] + out[RIGHT_SHOULDER]) / 2.0 if np.all(np.isfinite(out[[5, 6]])) else out[NECK]
    return out


def build_model(linear_size: int = 1024) -> Any:
    """RefiNet's LinearModel (module B) from hdnet_ros.nets.refinet."""
    from hdnet_ros.nets.refinet import LinearModel

    return LinearModel(num_joints=NUM_ITOP, dims=3, linear_size=linear_size)


def load_refiner(path: Path) -> Any:
    import torch

    # weights_only: a checkpoint is data; never run what a file contains.
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is not a refiner checkpoint written by train_refinet_b.py")
    if float(checkpoint.get("scale", SCALE)) != SCALE:
        raise ValueError(f"{path} was trained with another coordinate scale")
    model = build_model(int(checkpoint["linear_size"]))
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return model


def refine_people(model: Any, people: list[Person]) -> None:
    """Apply the refiner to each person with a root, in place. Joints without a position
    stay without one; refined joints keep their DepthSource (the refiner moves measured and
    inferred joints alike)."""
    batch, kept = [], []
    for index, person in enumerate(people):
        encoded = encode(person.positions)
        if encoded is not None:
            batch.append(encoded[0])
            kept.append(index)
    if not batch:
        return
    import torch

    with torch.no_grad():
        offsets = model(torch.from_numpy(np.stack(batch))).numpy().astype(np.float64) * SCALE
    for row, index in enumerate(kept):
        person = people[index]
        refined = apply_offsets(person.positions, offsets[row])
        keep = person.valid
        person.positions = np.where(keep[:, None], refined, np.nan)


class SkeletonRefiner:
    """A trained refiner checkpoint (written by ``scripts/train_refinet_b.py``), applied to
    the lifted skeletons of a frame; torch is imported only when one is loaded."""

    def __init__(self, path: str | Path) -> None:
        self._model = load_refiner(Path(path))

    def refine(self, people: list[Person]) -> None:
        """Replace the root-relative 3D of each person's positioned joints in place."""
        refine_people(self._model, people)
