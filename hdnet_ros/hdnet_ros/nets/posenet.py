"""3DMPPE PoseNet (Moon et al., ICCV 2019), as released in mks0601/3DMPPE_POSENET_RELEASE.

State-dict names match ``snapshot_N.pth.tar`` once ``module.`` is stripped (338 entries).
The joint count follows the training set: 18 for Human3.6M models (34,291,392 parameters),
21 for MuCo models (34,340,736). The final 1x1 layer reads the 256-channel deconv output.
Mapping the soft-argmax back to pixels and millimetres is in :mod:`hdnet_ros.nets.codecs`
(``output_to_image``, ``posenet_to_camera``, re-exported here).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from hdnet_ros.nets.codecs import POSENET_DEPTH_DIM, output_to_image, posenet_to_camera
from hdnet_ros.nets.joint_sets import H36M_18, MUCO_21
from hdnet_ros.nets.resnet import ResNet50
from hdnet_ros.nets.rootnet import make_deconv_layers

__all__ = [
    "PoseHead",
    "PoseNet",
    "output_to_image",
    "posenet_h36m",
    "posenet_muco",
    "posenet_to_camera",
    "soft_argmax_3d",
]


def soft_argmax_3d(heatmaps: torch.Tensor, num_joints: int, depth_dim: int = POSENET_DEPTH_DIM) -> torch.Tensor:
    """[B, J*D, H, W] logits -> [B, J, 3] expected (x, y, z) in voxel units.

    Softmax over all D*H*W voxels of each joint, then the expectation of each marginal.
    The softmax runs in float32 even for half inputs (262,144 terms), and the index
    vectors come from ``arange`` on the input's device: no ``.cuda()``, so it exports.
    """
    batch, _, height, width = heatmaps.shape
    logits = heatmaps.float().reshape(batch, num_joints, depth_dim * height * width)
    prob = functional.softmax(logits, dim=-1).reshape(batch, num_joints, depth_dim, height, width)
    x = prob.sum(dim=(2, 3)) @ torch.arange(width, dtype=prob.dtype, device=prob.device)
    y = prob.sum(dim=(2, 4)) @ torch.arange(height, dtype=prob.dtype, device=prob.device)
    z = prob.sum(dim=(3, 4)) @ torch.arange(depth_dim, dtype=prob.dtype, device=prob.device)
    return torch.stack((x, y, z), dim=-1)


class PoseHead(nn.Module):
    """Deconvs (2048->256, 8x8->64x64), then ``final_layer`` 1x1 256 -> J*64 depth bins."""

    def __init__(self, num_joints: int, depth_dim: int = POSENET_DEPTH_DIM) -> None:
        super().__init__()
        self.deconv_layers = make_deconv_layers()
        self.final_layer = nn.Conv2d(256, num_joints * depth_dim, kernel_size=1)

    def forward(self, c5: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.final_layer(self.deconv_layers(c5))
        return out


class PoseNet(nn.Module):
    """forward(img [B,3,256,256]) -> [B,J,3]: x, y in the 64x64 grid, z in 64 root-relative bins."""

    def __init__(self, num_joints: int, depth_dim: int = POSENET_DEPTH_DIM) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.depth_dim = depth_dim
        self.backbone = ResNet50()
        self.head = PoseHead(num_joints, depth_dim)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return soft_argmax_3d(self.head(self.backbone(img)), self.num_joints, self.depth_dim)


def posenet_h36m() -> PoseNet:
    """PoseNet as trained on Human3.6M (+MPII): 18 joints, ``joint_sets.H36M_18``."""
    return PoseNet(H36M_18.num_joints)


def posenet_muco() -> PoseNet:
    """PoseNet as trained on MuCo-3DHP (+COCO): 21 joints, ``joint_sets.MUCO_21``."""
    return PoseNet(MUCO_21.num_joints)
