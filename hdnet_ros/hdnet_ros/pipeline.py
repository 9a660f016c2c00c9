"""The pipeline: one frame in, a list of people out. Every stage is visible here.

    detect people -> 2D keypoints -> [root depth network] -> [3D pose network]
        -> lift to 3D with the depth image -> track

Each stage is a small typed unit in its own module; this file only wires them and times
them. The replay tool and the ROS node both call :meth:`Pipeline.process`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hdnet_ros.config import Settings, SettingsError
from hdnet_ros.inference.runtime import movenet_int8_decoding, movenet_onnx, movenet_torch, open_backend
from hdnet_ros.joints import NUM_JOINTS
from hdnet_ros.model_files import resolve_model_file
from hdnet_ros.people import Frame, Person
from hdnet_ros.stages.depth import DepthLifter, NetworkEstimates
from hdnet_ros.stages.detection import PersonDetector
from hdnet_ros.stages.keypoints2d import KeypointEstimator, MoveNetBatched, MoveNetLiteRT, movenet_arithmetic
from hdnet_ros.stages.networks import (
    FloatArray,
    PoseNetStage,
    RootDepth,
    RootDepthStage,
    build_pose_stage,
    build_root_depth_stage,
)
from hdnet_ros.stages.tracking import Tracker
from hdnet_ros.timing import StageTimer

LOG = logging.getLogger(__name__)


@dataclass
class FrameResult:
    """The people found in one frame and how long each stage took for it [ms]."""

    frame: Frame
    people: list[Person]
    stage_ms: dict[str, float] = field(default_factory=dict)


def open_keypoint_model(path: Path, settings: Settings) -> KeypointEstimator:
    """MoveNet as published (LiteRT, int8) on the CPU path, else its rebuild on the runtime.

    The rebuild runs in ``keypoints.arithmetic`` (see :func:`movenet_arithmetic`) and its
    head tensors are decoded in the same arithmetic. A user's ``.onnx`` keypoint model is
    taken to be a float network.
    """
    inference = settings.inference
    if inference.backend == "onnxruntime" and path.suffix == ".tflite":
        return MoveNetLiteRT(path, settings.keypoints, threads=settings.models.threads)
    if path.suffix != ".tflite":
        LOG.info("2D keypoints: %s taken as a float MoveNet network (float decoding)", path)
        return MoveNetBatched(
            open_backend(path, inference, settings.models.threads), settings.keypoints, inference.max_batch
        )
    arithmetic = movenet_arithmetic(settings.keypoints, inference.precision)
    LOG.info(
        "2D keypoints: MoveNet rebuilt with %s arithmetic (keypoints.arithmetic %s, inference.precision %s): %s",
        arithmetic,
        settings.keypoints.arithmetic,
        inference.precision,
        "LiteRT's keypoints exactly" if arithmetic == "int8" else "float network, close to LiteRT's keypoints",
    )
    if inference.backend == "torch":
        backend = movenet_torch(path, inference, arithmetic, settings.models.threads)
    else:
        backend = open_backend(movenet_onnx(path, inference, arithmetic), inference, settings.models.threads)
    decoding = movenet_int8_decoding(path) if arithmetic == "int8" else None
    return MoveNetBatched(backend, settings.keypoints, inference.max_batch, int8=decoding)


@dataclass
class Stages:
    """The units the pipeline runs; the optional network stages are None when off."""

    detector: PersonDetector
    keypoints: KeypointEstimator
    lifter: DepthLifter
    tracker: Tracker
    root_depth: RootDepthStage | None = None
    pose_3d: PoseNetStage | None = None


def build_stages(settings: Settings) -> Stages:
    """Load every model named in ``settings``; ModelFileError says which file is wrong."""
    models_dir = settings.models.models_dir or None
    threads = settings.models.threads
    detector_path = resolve_model_file(settings.detector.model, models_dir)
    keypoint_path = resolve_model_file(settings.keypoints.model, models_dir)
    LOG.info("person detector: %s (%s)", detector_path, settings.inference.backend)
    LOG.info("2D keypoints: %s", keypoint_path)
    networks = settings.networks

    def network_path(name: str, model: str, what: str) -> Path | None:
        if not name:
            LOG.info("%s network: off (networks.%s not set); depth comes from the sensor and the skeleton", what, what)
            return None
        if not model:
            raise SettingsError(f"networks.{what} is {name!r} but networks.{what}_model names no file")
        path = resolve_model_file(model, models_dir)
        LOG.info("%s network: %s from %s", what, name, path)
        return path

    root_path = network_path(networks.root_depth, networks.root_depth_model, "root_depth")
    pose_path = network_path(networks.pose_3d, networks.pose_3d_model, "pose_3d")
    return Stages(
        detector=PersonDetector(open_backend(detector_path, settings.inference, threads), settings.detector),
        keypoints=open_keypoint_model(keypoint_path, settings),
        lifter=DepthLifter(settings.lifting),
        tracker=Tracker(settings.tracking),
        root_depth=build_root_depth_stage(networks, settings.inference, root_path, threads),
        pose_3d=build_pose_stage(networks, settings.inference, pose_path, threads),
    )


def network_estimates(roots: list[RootDepth | None], poses: list[FloatArray | None]) -> NetworkEstimates:
    """The network stages' per-person outputs as the depth stage's arrays (NaN: none)."""
    root_z = np.array([r[0] if r is not None else np.nan for r in roots], dtype=np.float64)
    root_sigma = np.array([r[1] if r is not None else np.nan for r in roots], dtype=np.float64)
    relative = None
    if any(pose is not None for pose in poses):
        relative = np.stack([pose if pose is not None else np.full((NUM_JOINTS, 3), np.nan) for pose in poses])
    return NetworkEstimates(root_z, root_sigma, relative)


class Pipeline:
    """The stages, built once from the settings, run in order on each frame."""

    def __init__(self, settings: Settings, stages: Stages) -> None:
        self.settings = settings
        self.stages = stages
        self.timer = StageTimer()

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        return cls(settings, build_stages(settings))

    @property
    def detector(self) -> PersonDetector:
        return self.stages.detector

    @property
    def keypoints(self) -> KeypointEstimator:
        return self.stages.keypoints

    @property
    def lifter(self) -> DepthLifter:
        return self.stages.lifter

    def reset_tracking(self) -> None:
        """Forget all tracks (a new recording, or time jumped back)."""
        self.stages.tracker.reset()

    def process(self, frame: Frame) -> FrameResult:
        """All people in ``frame`` with 2D keypoints, 3D joints where they can be had, and
        track ids."""
        stages, timer = self.stages, self.timer
        stage_ms: dict[str, float] = {}

        def timed(name: str) -> StageTimer.Stage:
            return timer.stage(name, stage_ms)

        with timed("detection"):
            detections = stages.detector(frame.rgb)
        with timed("keypoints_2d"):
            keypoints = stages.keypoints(frame.rgb, detections)
        people = [Person(d, k.pixels, k.scores) for d, k in zip(detections, keypoints, strict=True)]
        roots: list[RootDepth | None] = [None] * len(people)
        if stages.root_depth is not None:
            with timed("root_depth"):
                roots = stages.root_depth(frame, people)
        poses: list[FloatArray | None] = [None] * len(people)
        if stages.pose_3d is not None:
            with timed("pose_3d"):
                poses = stages.pose_3d(frame, people, roots)
        with timed("depth_lifting"):
            stages.lifter(people, frame.depth_m, frame.camera, network_estimates(roots, poses))
        minimum = self.settings.output.min_valid_joints
        people = [p for p in people if p.num_valid >= minimum]
        with timed("tracking"):
            people = stages.tracker.update(people, frame.stamp_ns, frame.camera)
        stage_ms["total"] = sum(stage_ms.values())
        timer.samples_ms["total"].append(stage_ms["total"])
        return FrameResult(frame=frame, people=people, stage_ms=stage_ms)
