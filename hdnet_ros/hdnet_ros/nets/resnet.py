"""ResNet-50 with torchvision's state-dict names, and the FPN-50 used by HDNet.

torchvision is not a dependency: the ResNet here is written to load
``resnet50-19c8e357.pth`` and the 3DMPPE ``backbone.*`` weights unchanged (ResNet v1.5,
the stride sits on the 3x3 convolution of each bottleneck).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

# Blocks per stage of ResNet-50.
RESNET50_LAYERS: tuple[int, int, int, int] = (3, 4, 6, 3)
EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 bottleneck with torchvision's attribute names."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = planes * EXPANSION
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU(inplace=True)
        # A projection only where the shape changes, exactly as torchvision (and so the
        # checkpoints) have it: the first block of every stage.
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_planes != out_planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def make_stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """One ResNet stage (``layerN``): a strided first block, then identity blocks."""
    layers: list[nn.Module] = [Bottleneck(in_planes, planes, stride)]
    layers += [Bottleneck(planes * EXPANSION, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet50(nn.Module):
    """ResNet-50 without the classifier; ``forward`` returns C2..C5 (strides 4..32).

    State-dict keys are torchvision's minus ``fc.*`` (318 entries, 23,508,032 parameters).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = make_stage(64, 64, RESNET50_LAYERS[0], stride=1)
        self.layer2 = make_stage(256, 128, RESNET50_LAYERS[1], stride=2)
        self.layer3 = make_stage(512, 256, RESNET50_LAYERS[2], stride=2)
        self.layer4 = make_stage(1024, 512, RESNET50_LAYERS[3], stride=2)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return c2, c3, c4, c5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """C5 only: what the 3DMPPE heads consume ([B,2048,H/32,W/32])."""
        return self.features(x)[3]


class FPN50(nn.Module):
    """HDNet's FPN-50: ``resnet.*`` plus top-down layers, returning P2..P5 (256 channels).

    The lateral 1x1 convolutions are called ``flatlayer1-3`` in the official code (not
    ``latlayer``), and P5 is not smoothed; the top-down path adds the *unsmoothed* coarser
    map, as in the official forward.
    """

    def __init__(self) -> None:
        super().__init__()
        self.resnet = ResNet50()
        self.toplayer = nn.Conv2d(2048, 256, kernel_size=1)
        self.flatlayer1 = nn.Conv2d(1024, 256, kernel_size=1)
        self.flatlayer2 = nn.Conv2d(512, 256, kernel_size=1)
        self.flatlayer3 = nn.Conv2d(256, 256, kernel_size=1)
        self.smooth1 = nn.Conv2d(256, 256, kernel_size=3, padding=1)
        self.smooth2 = nn.Conv2d(256, 256, kernel_size=3, padding=1)
        self.smooth3 = nn.Conv2d(256, 256, kernel_size=3, padding=1)

    @staticmethod
    def _upsample_add(top: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
        # Nearest resize to the lateral's size (functional.upsample in the original; same result).
        return functional.interpolate(top, size=lateral.shape[-2:], mode="nearest") + lateral

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        c2, c3, c4, c5 = self.resnet.features(x)
        p5 = self.toplayer(c5)
        p4 = self._upsample_add(p5, self.flatlayer1(c4))
        p3 = self._upsample_add(p4, self.flatlayer2(c3))
        p2 = self._upsample_add(p3, self.flatlayer3(c2))
        return self.smooth3(p2), self.smooth2(p3), self.smooth1(p4), p5
