"""HDNet (Lin & Lee, ECCV 2020, "HDNet: Human Depth Estimation for Multi-Person Camera-Space
Localization"), as released in jiahaoLjh/HumanDepth (model.py, common/models/fpn.py).

State-dict names match the released ``ckpt.pth.tar`` (450 entries, 27,401,614 parameters).
Differences from the released forward, none of which changes the numbers:

* the person mask uses -1e4 instead of -1e15 (which overflows FP16); the softmax weight of
  a masked cell is exp(-1e4) = 0 either way;
* heatmap-weighted pooling is a batched matrix product instead of ``repeat_interleave``;
* the adjacency is a non-persistent buffer (the release keeps a plain attribute, so it is
  absent from the checkpoint either way) split into its diagonal and off-diagonal parts.

The bin index is decoded to millimetres by :class:`hdnet_ros.nets.codecs.DepthBinCodec`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from hdnet_ros.nets.codecs import HDNET_BIN_CODEC, DepthBinCodec
from hdnet_ros.nets.joint_sets import H36M_17
from hdnet_ros.nets.resnet import FPN50

__all__ = ["HDNET_BIN_CODEC", "DepthBinCodec", "DepthGCN", "DepthGCNLayer", "HDNet", "row_normalized_adjacency"]

# Finite mask logit: exp(-1e4 - max) underflows to 0 in FP32 and FP16 alike.
MASK_LOGIT = -1e4


def row_normalized_adjacency(num_joints: int, edges: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Skeleton adjacency with self-loops, each row divided by its sum (A / sum_j A)."""
    adj = torch.eye(num_joints, dtype=torch.float32)
    for a, b in edges:
        adj[a, b] = adj[b, a] = 1.0
    return adj / adj.sum(dim=-1, keepdim=True)


class DepthGCNLayer(nn.Module):
    """out = (A*I) f_self(x) + (A*(1-I)) f_others(x), then BatchNorm1d and ReLU; x is [B,C,J]."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.layer_self = nn.Conv1d(in_channels, out_channels, kernel_size=1, bias=True)
        self.layer_others = nn.Conv1d(in_channels, out_channels, kernel_size=1, bias=True)
        self.bn = nn.BatchNorm1d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, att_self_t: torch.Tensor, att_others_t: torch.Tensor) -> torch.Tensor:
        # Features are [B, C, J]; aggregating over joints is a right-multiplication by A^T.
        out = self.layer_self(x) @ att_self_t + self.layer_others(x) @ att_others_t
        return self.relu(self.bn(out))


class DepthGCN(nn.Module):
    """Two GCN layers over the joints, then the mean over joints -> [B, C]."""

    att_self_t: torch.Tensor
    att_others_t: torch.Tensor

    def __init__(self, adjacency: torch.Tensor, channels: int = 256, num_layers: int = 2) -> None:
        super().__init__()
        self.gcn_layers = nn.ModuleList(DepthGCNLayer(channels, channels) for _ in range(num_layers))
        eye = torch.eye(adjacency.shape[0], dtype=adjacency.dtype)
        # Constants, not weights: kept out of state_dict like the release's plain tensor.
        self.register_buffer("att_self_t", (adjacency * eye).t().contiguous(), persistent=False)
        self.register_buffer("att_others_t", (adjacency * (1 - eye)).t().contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.gcn_layers:
            x = layer(x, self.att_self_t, self.att_others_t)
        return x.mean(dim=-1)


def _branch(upsample: int) -> nn.Sequential:
    """Conv1x1 256->128, BN, ReLU, [nearest x upsample], Conv3x3 128->64, BN, ReLU.

    The stride-4 branch has no Upsample module, so its second conv is index 3, not 4, as in
    the checkpoint (``layers_hm_2.3.weight`` but ``layers_hm_3.4.weight``).
    """
    layers: list[nn.Module] = [
        nn.Conv2d(256, 128, kernel_size=1, bias=False),
        nn.BatchNorm2d(128),
        nn.ReLU(inplace=True),
    ]
    if upsample > 1:
        layers.append(nn.Upsample(scale_factor=upsample, mode="nearest"))
    layers += [
        nn.Conv2d(128, 64, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
    ]
    return nn.Sequential(*layers)


class HDNet(nn.Module):
    """HDNet: FPN-50, heatmap and depth-feature branches, joint GCN, 61 log-depth bins.

    forward(img [B,3,256,256], coord_map [B,2,64,64], bbox_mask [B,64,64]) returns
    ``(heatmap [B,J,64,64], pose [B,2J], bins [B,N], bin_idx [B])``: the masked, softmaxed
    heatmaps; the 2D pose in normalised camera coordinates (x0, y0, x1, y1, ...); the bin
    probabilities; and the expected bin index.
    """

    bin_centers: torch.Tensor

    def __init__(
        self,
        num_joints: int = H36M_17.num_joints,
        num_bins: int = HDNET_BIN_CODEC.num_bins,
        edges: Sequence[tuple[int, int]] = H36M_17.edges,
    ) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.num_bins = num_bins
        self.fpn = FPN50()
        # Branch i reads P_i (stride 2^i) and brings it to stride 4 (64x64).
        self.layers_hm_2, self.layers_hm_3, self.layers_hm_4, self.layers_hm_5 = (_branch(s) for s in (1, 2, 4, 8))
        self.layers_dm_2, self.layers_dm_3, self.layers_dm_4, self.layers_dm_5 = (_branch(s) for s in (1, 2, 4, 8))
        self.out_heatmap = nn.Conv2d(256, num_joints, kernel_size=1, bias=True)
        self.depth_gcn = DepthGCN(row_normalized_adjacency(num_joints, edges), channels=256, num_layers=2)
        self.out_bins = nn.Linear(256, num_bins, bias=True)
        self.register_buffer("bin_centers", torch.arange(num_bins, dtype=torch.float32), persistent=False)

    def forward(
        self, img: torch.Tensor, coord_map: torch.Tensor, bbox_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        p2, p3, p4, p5 = self.fpn(img)
        hm_feat = torch.cat(
            (self.layers_hm_2(p2), self.layers_hm_3(p3), self.layers_hm_4(p4), self.layers_hm_5(p5)), dim=1
        )
        dm_feat = torch.cat(
            (self.layers_dm_2(p2), self.layers_dm_3(p3), self.layers_dm_4(p4), self.layers_dm_5(p5)), dim=1
        )
        logits = self.out_heatmap(hm_feat)  # [B, J, H, W]
        batch, joints, height, width = logits.shape

        # Masked spatial softmax: cells outside the person's box get a finite -1e4 logit.
        logits = logits.masked_fill(bbox_mask.unsqueeze(1) < 0.5, MASK_LOGIT)
        heat = functional.softmax(logits.flatten(2), dim=-1)  # [B, J, HW]

        # Heatmap-attention pooling as matrix products over the HW cells.
        pose = heat @ coord_map.flatten(2).transpose(1, 2)  # [B, J, 2]
        depth_feat = dm_feat.flatten(2) @ heat.transpose(1, 2)  # [B, C, J]

        bins = functional.softmax(self.out_bins(self.depth_gcn(depth_feat)), dim=-1)  # [B, N]
        bin_idx = bins @ self.bin_centers  # [B]
        return heat.view(batch, joints, height, width), pose.reshape(batch, 2 * joints), bins, bin_idx
