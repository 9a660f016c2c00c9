"""RefiNet module B (the skeleton refiner) trained on lifted synthetic skeletons.

The network is :class:`hdnet_ros.nets.refinet.LinearModel` (RefiNet's ``LinearModel``:
[B, 15, 3] -> flatten 45 -> Linear 1024 + BN + ReLU + Dropout -> 2 residual pairs ->
Linear 45), trained from scratch: RefiNet released no weights, and its ITOP training data
(a top/side Kinect, mm, ITOP's own joint definitions) is not ours.

Joints in the ITOP-15 layout, filled from our COCO19 skeleton: Head = the mean of the face
keypoints, Neck, shoulders, elbows, Hand = wrist, Torso = the midpoint of neck and pelvis,
hips, knees, Foot = ankle. Coordinates are root-relative (pelvis) in the camera frame,
divided by ``SCALE``; missing joints are zeros. The network predicts a root-relative offset,
so the refiner changes the skeleton's shape and never its root (MRPE is unaffected).
Training input: the DepthLifter's output on generated frames; target: the ground truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_EAR,
    LEFT_ELBOW,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NECK,
    NOSE,
    PELVIS,
    RIGHT_ANKLE,
    RIGHT_EAR,
    RIGHT_ELBOW,
    RIGHT_EYE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    ROOT,
)
from hdnet_ros.people import Person

FloatArray = npt.NDArray[np.float64]

SCALE = 0.5  # metres per unit of the network's input and output
FACE = (NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR)
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
    face = positions[list(FACE)]
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
    for joint in FACE:
        out[joint] = positions[joint] + offsets[HEAD]
    out[PELVIS] = positions[PELVIS]  # the root stays where the lifter put it
    out[NECK] = (out[LEFT_SHOULDER] + out[RIGHT_SHOULDER]) / 2.0 if np.all(np.isfinite(out[[5, 6]])) else out[NECK]
    return out


def build_model(linear_size: int = 1024) -> nn.Module:
    """RefiNet's LinearModel (module B) from hdnet_ros.nets.refinet."""
    from hdnet_ros.nets.refinet import LinearModel

    return LinearModel(num_joints=NUM_ITOP, dims=3, linear_size=linear_size)


@dataclass
class Dataset:
    inputs: npt.NDArray[np.float32]  # [N,15,3]
    targets: npt.NDArray[np.float32]  # [N,15,3] root-relative truth / SCALE
    masks: npt.NDArray[np.bool_]  # [N,15] slots valid in both

    def __len__(self) -> int:
        return len(self.inputs)

    def split(self, fraction: float) -> tuple[Dataset, Dataset]:
        cut = int(round(len(self) * (1.0 - fraction)))
        return (
            Dataset(self.inputs[:cut], self.targets[:cut], self.masks[:cut]),
            Dataset(self.inputs[cut:], self.targets[cut:], self.masks[cut:]),
        )


def pairs_to_dataset(pairs: list[tuple[FloatArray, FloatArray]]) -> Dataset:
    """(lifted positions, true positions) per person -> training arrays."""
    inputs, targets, masks = [], [], []
    for lifted, truth in pairs:
        encoded = encode(lifted)
        if encoded is None:
            continue
        x, valid = encoded
        target = (to_itop(truth) - lifted[ROOT]) / SCALE  # the truth relative to the *lifted* root
        valid = valid & np.all(np.isfinite(target), axis=1)
        inputs.append(x)
        targets.append(np.where(valid[:, None], target, 0.0).astype(np.float32))
        masks.append(valid)
    if not inputs:
        return Dataset(
            np.zeros((0, NUM_ITOP, 3), np.float32),
            np.zeros((0, NUM_ITOP, 3), np.float32),
            np.zeros((0, NUM_ITOP), bool),
        )
    return Dataset(np.stack(inputs), np.stack(targets), np.stack(masks))


def synthetic_dataset(frames: int, seed: int, width: int = 320, height: int = 240) -> Dataset:
    """Lift the benchmark's default scene distribution (another seed than the evaluation's)
    and pair every person's lifted skeleton with its ground truth (reported joints only)."""
    from hdnet_ros.synthetic.benchmark import default_settings, run_setting

    setting = next(s for s in default_settings(frames, width, height) if s.name == "default")
    result = run_setting(setting, seed)
    pairs = []
    for record in result.records:
        truth = np.where(record.truth.reported[:, None], record.truth.joints, np.nan)
        truth[PELVIS] = record.truth.joints[PELVIS]
        pairs.append((record.positions, truth))
    return pairs_to_dataset(pairs)


def masked_mse(model: nn.Module, data: Dataset) -> float:
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(data.inputs)
        pred = x + model(x)
        err = ((pred - torch.from_numpy(data.targets)) ** 2).sum(-1)
        mask = torch.from_numpy(data.masks)
        return float((err * mask).sum() / mask.sum().clamp(min=1))


def train(
    model: nn.Module,
    data: Dataset,
    epochs: int = 40,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> list[float]:
    """Adam on the masked MSE of (input + offset) against the target, like RefiNet's
    alpha * masked MSE (its vitruvian and forcing terms are 0 in the released training
    config). Returns the training loss per epoch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x_all = torch.from_numpy(data.inputs)
    y_all = torch.from_numpy(data.targets)
    m_all = torch.from_numpy(data.masks)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    history = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(data), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(order) - 1, batch_size):
            index = order[start : start + batch_size]
            if len(index) < 2:  # BatchNorm needs two samples
                continue
            x, y, m = x_all[index], y_all[index], m_all[index]
            err = ((x + model(x) - y) ** 2).sum(-1)
            loss = (err * m).sum() / m.sum().clamp(min=1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
            count += len(index)
        schedule.step()
        history.append(total / max(count, 1))
        if log:
            log(f"epoch {epoch + 1}/{epochs}: loss {history[-1]:.5f}")
    model.eval()
    return history


def save_refiner(model: nn.Module, path: Path, linear_size: int, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "linear_size": linear_size, "scale": SCALE, **meta}, path)


def load_refiner(path: Path) -> nn.Module:
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


def refine_people(model: nn.Module, people: list[Person]) -> None:
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
    with torch.no_grad():
        offsets = model(torch.from_numpy(np.stack(batch))).numpy().astype(np.float64) * SCALE
    for row, index in enumerate(kept):
        person = people[index]
        refined = apply_offsets(person.positions, offsets[row])
        keep = person.valid
        person.positions = np.where(keep[:, None], refined, np.nan)


def run_training(
    frames: int,
    epochs: int,
    seed: int,
    out: Path,
    linear_size: int = 1024,
    width: int = 320,
    height: int = 240,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Generate data, train, save; returns timings and the validation MSE before/after."""
    start = time.perf_counter()
    data = synthetic_dataset(frames, seed, width, height)
    generated = time.perf_counter()
    train_set, val_set = data.split(0.15)
    log(f"{len(train_set)} training and {len(val_set)} validation skeletons in {generated - start:.1f} s")
    model = build_model(linear_size)
    identity = float(((val_set.inputs - val_set.targets) ** 2).sum(-1)[val_set.masks].mean())
    history = train(model, train_set, epochs=epochs, seed=seed, log=log)
    trained = time.perf_counter()
    val = masked_mse(model, val_set)
    save_refiner(model, out, linear_size, {"frames": frames, "epochs": epochs, "seed": seed})
    scale2 = SCALE**2
    log(
        f"validation mean squared joint error: {identity * scale2 * 1e4:.1f} cm^2 as lifted, "
        f"{val * scale2 * 1e4:.1f} cm^2 refined; training took {trained - generated:.1f} s"
    )
    return {
        "samples": float(len(data)),
        "generate_s": generated - start,
        "train_s": trained - generated,
        "val_mse_lifted_m2": identity * scale2,
        "val_mse_refined_m2": val * scale2,
        "final_loss": history[-1] if history else float("nan"),
    }
