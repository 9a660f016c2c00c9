"""RefiNet (D'Eusanio et al., ICPR 2020) modules, as released in aimagelab/RefiNet (src/models).

* A, ``Patch2DModel`` (``Patch_2D_Model``, data type "depth"): 15 depth patches of 40x40
  stacked as channels -> 2D offsets [B,15,2] (refined = kpts - out); 827,806 parameters.
* B, ``LinearModel`` (data type "base"): 45 normalised joint coordinates -> [B,15,3];
  4,301,869 parameters with the released config (1024 wide, BN, dropout, residual).
* C, ``PointPatch`` (data type "pcloud"): PointNet per joint over [B,15,N+1,3] point
  patches whose last row holds the valid-point count -> 3D offsets [B,15,3]; 2,935,244.

No weights were released; the state-dict names follow the code so that the authors'
``best_*.pth`` files (``module.``-prefixed) would load. Two release quirks are kept:
Patch2D's BasicBlock puts the stride on its second conv and applies ReLU before the
residual sum, and PointPatch's transformer networks max-pool over *all* N points, padding
included; only the final feature max is restricted to the valid points (the release loops
over the batch for that; here it is a masked max).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from hdnet_ros.nets.joint_sets import ITOP_15

__all__ = ["LinearModel", "Patch2DModel", "PointNetFeat", "PointPatch", "STN3d", "STNkd", "masked_max"]


# ---------------------------------------------------------------------------------------
# A: Patch_2D_Model


class RefiBasicBlock(nn.Module):
    """RefiNet's BasicBlock: conv3x3 -> BN -> ReLU -> conv3x3(stride) -> BN -> ReLU, + identity, ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))  # the release's extra ReLU before the sum
        return self.relu(out + identity)


class Patch2DModel(nn.Module):
    """Module A: [B, J, 40, 40] normalised depth patches -> [B, J, out_dims] offsets."""

    def __init__(self, num_joints: int = ITOP_15.num_joints, out_dims: int = 2) -> None:
        super().__init__()
        self.out_shape = (num_joints, out_dims)
        self.conv1 = nn.Conv2d(num_joints, 64, kernel_size=7, stride=2, padding=3)  # with bias
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.layer1 = nn.Sequential(RefiBasicBlock(64, 64), RefiBasicBlock(64, 64))
        self.layer2 = nn.Sequential(RefiBasicBlock(64, 128, stride=2), RefiBasicBlock(128, 128))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Sequential(
            nn.Linear(128, 256, bias=False),
            nn.BatchNorm1d(256),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
            nn.Linear(256, 256, bias=False),
            nn.BatchNorm1d(256),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
            nn.Linear(256, num_joints * out_dims, bias=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layer2(self.layer1(x))).flatten(1)
        return self.fc(x).reshape(-1, *self.out_shape)


# ---------------------------------------------------------------------------------------
# B: LinearModel


class Block(nn.Module):
    """Linear -> [BN] -> [activation] -> [Dropout 0.2], under ``features``."""

    def __init__(
        self, in_planes: int, out_planes: int, drop: bool, bn: bool, activation: type[nn.Module] | None
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(in_planes, out_planes)]
        if bn:
            layers.append(nn.BatchNorm1d(out_planes))
        if activation is nn.ReLU:
            layers.append(nn.ReLU(inplace=True))
        elif activation is not None:
            layers.append(activation())
        if drop:
            layers.append(nn.Dropout(0.2))
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.features(x)
        return out


class LinearModel(nn.Module):
    """Module B: flatten [B, J, 3] -> input block -> 2 residual pairs -> output [B, J, 3].

    Defaults are the released ITOP config (hypes/itop/vitruvian/train.json). ``attention``
    and ``bigskip`` are the code's optional variants (off in every released config).
    """

    def __init__(
        self,
        num_joints: int = ITOP_15.num_joints,
        dims: int = 3,
        linear_size: int = 1024,
        drop: bool = True,
        bn: bool = True,
        residual: bool = True,
        attention: bool = False,
        bigskip: bool = False,
    ) -> None:
        super().__init__()
        features = num_joints * dims
        self.shape = (num_joints, dims)
        self.residual = residual
        self.attention = attention
        self.bigskip = bigskip
        relu = nn.ReLU
        self.inputBlock = nn.Sequential(Block(features, linear_size, drop, bn, relu))
        self.Block1 = nn.Sequential(*(Block(linear_size, linear_size, drop, bn, relu) for _ in range(2)))
        self.Block2 = nn.Sequential(*(Block(linear_size, linear_size, drop, bn, relu) for _ in range(2)))
        self.outputBlock = nn.Sequential(Block(linear_size, features, False, False, None))
        if attention:
            self.attentionBlock = nn.Sequential(Block(linear_size, features, False, False, nn.Sigmoid))
        if bigskip:
            self.skipBlock = nn.Sequential(
                Block(2 * features, 2 * features, drop, bn, relu), Block(2 * features, features, False, False, None)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inp = x.flatten(1)
        x = self.inputBlock(inp)
        gate = self.attentionBlock(x) if self.attention else None
        for block in (self.Block1, self.Block2):
            x = block(x) + x if self.residual else block(x)
        x = self.outputBlock(x)
        if self.bigskip:
            x = self.skipBlock(torch.cat((x, inp), dim=1))
        if gate is not None:
            x = gate * x
        return x.reshape(-1, *self.shape)


# ---------------------------------------------------------------------------------------
# C: PointPatch (PointNet)


class STNkd(nn.Module):
    """PointNet's k-dimensional transformer: [N, k, P] -> [N, k, k] (identity added)."""

    identity: torch.Tensor

    def __init__(self, k: int = 64) -> None:
        super().__init__()
        self.k = k
        self.conv1 = nn.Conv1d(k, 64, 1)
        self.conv2 = nn.Conv1d(64, 128, 1)
        self.conv3 = nn.Conv1d(128, 1024, 1)
        self.fc1 = nn.Linear(1024, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, k * k)
        self.relu = nn.ReLU()
        self.bn1 = nn.BatchNorm1d(64)
        self.bn2 = nn.BatchNorm1d(128)
        self.bn3 = nn.BatchNorm1d(1024)
        self.bn4 = nn.BatchNorm1d(512)
        self.bn5 = nn.BatchNorm1d(256)
        self.register_buffer("identity", torch.eye(k).flatten(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = functional.relu(self.bn1(self.conv1(x)))
        x = functional.relu(self.bn2(self.conv2(x)))
        x = functional.relu(self.bn3(self.conv3(x)))
        x = x.amax(dim=2)  # over all points, padding included (release behaviour)
        x = functional.relu(self.bn4(self.fc1(x)))
        x = functional.relu(self.bn5(self.fc2(x)))
        return (self.fc3(x) + self.identity).reshape(-1, self.k, self.k)


class STN3d(STNkd):
    """The 3x3 input transformer (the release builds it as ``STNkd(3)``; same keys)."""

    def __init__(self) -> None:
        super().__init__(k=3)


def apply_transform(x: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
    """Row vectors times the transform: (x^T @ T)^T for x [N, k, P] and T [N, k, k]."""
    return torch.bmm(trans.transpose(1, 2), x)


def masked_max(features: torch.Tensor, valid_count: torch.Tensor) -> torch.Tensor:
    """Max over the first ``floor(count)`` points of [N, C, P]; all P points when count is 0.

    Replaces the release's per-sample Python loop (``int(count)`` points, or all when
    zero) with one masked reduction, so it traces and exports.
    """
    points = torch.arange(features.shape[2], device=features.device, dtype=valid_count.dtype)
    count = torch.floor(valid_count).unsqueeze(1)  # [N, 1]
    valid = (points.unsqueeze(0) < count) | (count == 0)  # [N, P]
    masked = features.masked_fill(~valid.unsqueeze(1), float("-inf"))
    return masked.amax(dim=2)


class PointNetFeat(nn.Module):
    """Input STN -> conv1 -> feature STN (k=64) -> conv2, conv3 -> masked max -> [N, 1024]."""

    def __init__(self) -> None:
        super().__init__()
        self.stn = STN3d()
        self.conv1 = nn.Conv1d(3, 64, 1)
        self.conv2 = nn.Conv1d(64, 128, 1)
        self.conv3 = nn.Conv1d(128, 1024, 1)
        self.bn1 = nn.BatchNorm1d(64)
        self.bn2 = nn.BatchNorm1d(128)
        self.bn3 = nn.BatchNorm1d(1024)
        self.fstn = STNkd(k=64)

    def forward(self, x: torch.Tensor, valid_count: torch.Tensor) -> torch.Tensor:
        x = apply_transform(x, self.stn(x))
        x = functional.relu(self.bn1(self.conv1(x)))
        x = apply_transform(x, self.fstn(x))
        x = functional.relu(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))  # no ReLU before the max, as released
        return masked_max(x, valid_count)


class PointPatch(nn.Module):
    """Module C: [B, J, N+1, 3] point patches (row N: valid count in column 0) -> [B, J, 3]."""

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self.feat = PointNetFeat()
        self.fc1 = nn.Linear(1024, 128, bias=False)
        self.fc2 = nn.Linear(128, 3, bias=True)
        self.dropout = nn.Dropout(p=dropout)
        self.bn1 = nn.BatchNorm1d(128)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, joints, rows, dims = x.shape
        x = x.reshape(batch * joints, rows, dims).transpose(1, 2)  # [B*J, 3, N+1]
        feat = self.feat(x[:, :, :-1], x[:, 0, -1])
        out = self.fc2(self.dropout(self.relu(self.bn1(self.fc1(feat)))))
        return out.reshape(batch, joints, 3)
