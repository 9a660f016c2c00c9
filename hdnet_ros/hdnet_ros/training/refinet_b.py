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

from hdnet_ros.joints import PELVIS, ROOT
from hdnet_ros.stages.depth.refiner import (
    NUM_ITOP,
    SCALE,
    apply_offsets,
    build_model,
    encode,
    load_refiner,
    refine_people,
    to_itop,
)

__all__ = ["apply_offsets", "build_model", "encode", "load_refiner", "refine_people", "run_training", "to_itop"]

FloatArray = npt.NDArray[np.float64]


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
