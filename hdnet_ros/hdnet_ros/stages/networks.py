"""Optional network stages: root depth (RootNet or HDNet) and root-relative 3D pose (PoseNet).

Each stage runs all the people of a frame through its network in batches (never one call
per person) on the configured runtime, and hands the lifter plain numbers: per person a
root depth with its uncertainty, and a root-relative pose in the output joint set. With
depth they fill what the sensor lacks (far people, holes, glass, sunlight); without a depth
topic they give the whole monocular 3D result. A stage whose network is not configured is
off; the pipeline logs that once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.inference.backend import Backend, run_batched
from hdnet_ros.inference.runtime import InferenceConfig, open_network
from hdnet_ros.logs import get_logger
from hdnet_ros.nets.codecs import HDNET_BIN_CODEC, posenet_to_camera, rootnet_k_value
from hdnet_ros.nets.joint_sets import H36M_18, MUCO_21, JointSet
from hdnet_ros.nets.preprocessing import prepare_3dmppe, prepare_hdnet, xyxy_to_xywh
from hdnet_ros.people import Frame, Person
from hdnet_ros.settings_field import setting
from hdnet_ros.size_prior import bone_prior_depth

LOG = get_logger(__name__)
FloatArray = npt.NDArray[np.float64]
RootDepth = tuple[float, float]  # (z [m], sigma [m])
POSE_JOINT_SETS: dict[str, JointSet] = {"posenet_muco": MUCO_21, "posenet_h36m": H36M_18}
# Depth used to scale PoseNet's x/y offsets when neither a network nor the skeleton prior
# gives one; only the relative pose's scale depends on it.
NOMINAL_DEPTH_M = 3.0


@dataclass(frozen=True)
class NetworksConfig:
    root_depth: str = setting(
        "auto",
        "root-depth network: 'auto' (BlazePose's monocular root when BlazePose runs, else off), '' (off), "
        "'blazepose', 'rootnet' or 'hdnet'",
        choices=("auto", "", "blazepose", "rootnet", "hdnet"),
    )
    root_depth_model: str = setting(
        "",
        "rootnet/hdnet: the official checkpoint (snapshot_N.pth.tar / ckpt.pth.tar) or exported ONNX, "
        "relative to models_dir (blazepose: see blazepose.model)",
    )
    # RootNet's published MRPE is 120 mm on Human3.6M but 386 mm on 3DPW: in the wild a
    # relative sigma of about 15 % of the depth is honest for both networks.
    root_depth_relative_sigma: float = setting(
        0.15, "1-sigma of a network root depth as a fraction of that depth", min=0.01, max=1.0
    )
    pose_3d: str = setting(
        "auto",
        "root-relative 3D pose network: 'auto' (BlazePose GHUM 3D when blazepose.model is in the models "
        "directory, else off), '' (off), 'blazepose', 'posenet_muco' (21 joints) or 'posenet_h36m' (18)",
        choices=("auto", "", "blazepose", "posenet_muco", "posenet_h36m"),
    )
    pose_3d_model: str = setting(
        "", "posenet_*: the official checkpoint or exported ONNX, relative to models_dir (blazepose: blazepose.model)"
    )


def _boxes_xywh(people: list[Person]) -> FloatArray:
    return xyxy_to_xywh(np.stack([p.detection.box for p in people]))


class RootNetStage:
    """RootNet: Z = gamma * k per person box (k from the extended box and the focal lengths)."""

    def __init__(self, backend: Backend, relative_sigma: float, max_batch: int) -> None:
        self.backend, self.relative_sigma, self.max_batch = backend, relative_sigma, max_batch

    def __call__(self, frame: Frame, people: list[Person]) -> list[RootDepth | None]:
        result: list[RootDepth | None] = [None] * len(people)
        if not people:
            return result
        inputs = prepare_3dmppe(frame.rgb, _boxes_xywh(people))
        if len(inputs.indices) == 0:
            return result
        k = rootnet_k_value(inputs.boxes, frame.camera.fx, frame.camera.fy).astype(np.float32)
        roots = run_batched(self.backend, {"img": inputs.images, "k_value": k}, "root", self.max_batch)
        for row, z_mm in zip(inputs.indices, roots[:, 2], strict=True):
            z = float(z_mm) / 1000.0
            result[int(row)] = (z, self.relative_sigma * z) if np.isfinite(z) and z > 0 else None
        return result


class HDNetStage:
    """HDNet: soft-argmax over 61 log-depth bins, decoded with sqrt(fx*fy); one person mask
    per box selects whose depth the shared principal-point crop answers."""

    def __init__(self, backend: Backend, relative_sigma: float, max_batch: int) -> None:
        self.backend, self.relative_sigma, self.max_batch = backend, relative_sigma, max_batch

    def __call__(self, frame: Frame, people: list[Person]) -> list[RootDepth | None]:
        if not people:
            return []
        camera = frame.camera
        inputs = prepare_hdnet(frame.rgb, _boxes_xywh(people), camera.fx, camera.fy, camera.cx, camera.cy)
        feeds = {"img": inputs.images, "coord_map": inputs.coord_maps, "bbox_mask": inputs.masks}
        bins = run_batched(self.backend, feeds, "bin_idx", self.max_batch).reshape(-1)
        depths_m = HDNET_BIN_CODEC.index_to_depth(bins, camera.fx, camera.fy) / 1000.0
        return [(float(z), self.relative_sigma * float(z)) if np.isfinite(z) and z > 0 else None for z in depths_m]


class PoseNetStage:
    """PoseNet: the 64^3 volumetric soft-argmax, mapped to the camera with a root depth and
    returned root-relative in metres, in the output joint set (NaN where it has no joint)."""

    def __init__(self, backend: Backend, joint_set: JointSet, max_batch: int) -> None:
        self.backend, self.joint_set, self.max_batch = backend, joint_set, max_batch

    def __call__(self, frame: Frame, people: list[Person], roots: list[RootDepth | None]) -> list[FloatArray | None]:
        result: list[FloatArray | None] = [None] * len(people)
        if not people:
            return result
        inputs = prepare_3dmppe(frame.rgb, _boxes_xywh(people))
        if len(inputs.indices) == 0:
            return result
        coords = run_batched(self.backend, {"img": inputs.images}, "coords", self.max_batch)
        depth_mm = [1000.0 * self._scale_depth(people[i], roots[i], frame.camera) for i in inputs.indices]
        c = frame.camera
        joints_mm = posenet_to_camera(coords, inputs.boxes, np.array(depth_mm), c.fx, c.fy, c.cx, c.cy)
        relative = (joints_mm - joints_mm[:, self.joint_set.root : self.joint_set.root + 1]) / 1000.0
        for row, pose in zip(inputs.indices, relative, strict=True):
            result[int(row)] = self.joint_set.to_coco19(pose)
        return result

    @staticmethod
    def _scale_depth(person: Person, root: RootDepth | None, camera: CameraModel) -> float:
        if root is not None:
            return root[0]
        prior = bone_prior_depth(person.pixels, camera)
        return prior[0] if prior is not None else NOMINAL_DEPTH_M


RootDepthStage = Callable[[Frame, list[Person]], list[RootDepth | None]]


def build_root_depth_stage(
    config: NetworksConfig, inference: InferenceConfig, path: Path | None, threads: int
) -> RootDepthStage | None:
    if not config.root_depth or path is None:
        return None
    backend = open_network(config.root_depth, path, inference, threads)
    stage = RootNetStage if config.root_depth == "rootnet" else HDNetStage
    return stage(backend, config.root_depth_relative_sigma, inference.max_batch)


def build_pose_stage(
    config: NetworksConfig, inference: InferenceConfig, path: Path | None, threads: int
) -> PoseNetStage | None:
    if not config.pose_3d or path is None:
        return None
    backend = open_network(config.pose_3d, path, inference, threads)
    return PoseNetStage(backend, POSE_JOINT_SETS[config.pose_3d], inference.max_batch)
