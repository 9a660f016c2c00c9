"""3DMPPE RootNet (Moon et al., ICCV 2019), as released in mks0601/3DMPPE_ROOTNET_RELEASE.

State-dict names match ``snapshot_N.pth.tar`` once the DataParallel ``module.`` prefix is
stripped (340 entries, 33,997,634 parameters). The depth is Z = gamma * k exactly as in the
released code: the network's ``depth_layer`` output gamma is used as is (no activation, no
square root), whatever the paper's wording. k and the mapping back to the camera frame are
numpy functions in :mod:`hdnet_ros.nets.codecs` (re-exported here).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from hdnet_ros.nets.codecs import rootnet_k_value, rootnet_to_camera
from hdnet_ros.nets.resnet import ResNet50

__all__ = ["RootHead", "RootNet", "make_deconv_layers", "rootnet_k_value", "rootnet_to_camera", "soft_argmax_2d"]


def make_deconv_layers(in_channels: int = 2048, channels: int = 256, num_layers: int = 3) -> nn.Sequential:
    """3 x (ConvTranspose 4x4 stride 2, no bias -> BN -> ReLU): 8x8 -> 64x64 (indices 0,1,3,4,6,7)."""
    layers: list[nn.Module] = []
    for i in range(num_layers):
        layers += [
            nn.ConvTranspose2d(in_channels if i == 0 else channels, channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


def soft_argmax_2d(logits: torch.Tensor) -> torch.Tensor:
    """Expected (x, y) of a softmax over the H*W cells of [B, 1, H, W] -> [B, 2] (cell units).

    The release multiplies the marginals by arange(1..W) and subtracts 1; since the
    marginals sum to one that is sum(p * arange(0..W-1)), computed here directly. The index
    vectors are built on the input's device (no ``.cuda()``), so the module exports.
    """
    batch, _, height, width = logits.shape
    prob = functional.softmax(logits.reshape(batch, height * width), dim=-1).reshape(batch, height, width)
    xs = torch.arange(width, dtype=prob.dtype, device=prob.device)
    ys = torch.arange(height, dtype=prob.dtype, device=prob.device)
    x = prob.sum(dim=1) @ xs
    y = prob.sum(dim=2) @ ys
    return torch.stack((x, y), dim=1)


class RootHead(nn.Module):
    """xy: deconvs -> ``xy_layer`` -> soft-argmax; depth: GAP(C5) -> ``depth_layer`` = gamma."""

    def __init__(self) -> None:
        super().__init__()
        self.deconv_layers = make_deconv_layers()
        self.xy_layer = nn.Conv2d(256, 1, kernel_size=1)
        self.depth_layer = nn.Conv2d(2048, 1, kernel_size=1)

    def forward(self, c5: torch.Tensor, k_value: torch.Tensor) -> torch.Tensor:
        xy = soft_argmax_2d(self.xy_layer(self.deconv_layers(c5)))
        gamma = self.depth_layer(c5.mean(dim=(2, 3), keepdim=True)).reshape(-1, 1)
        return torch.cat((xy, gamma * k_value.reshape(-1, 1)), dim=1)


class RootNet(nn.Module):
    """forward(img [B,3,256,256], k_value [B,1]) -> [B,3]: x, y in the 64x64 grid, Z in mm."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = ResNet50()
        self.root = RootHead()

    def forward(self, img: torch.Tensor, k_value: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.root(self.backbone(img), k_value)
        return result
