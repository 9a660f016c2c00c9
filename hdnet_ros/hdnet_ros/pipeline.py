"""The pipeline: one frame in, a list of people out. Every stage is visible here.

    detect people -> 2D keypoints -> crowd rules -> 3D networks -> lift to 3D with the depth image -> track

The 3D networks are BlazePose GHUM 3D by default (a metric root-relative skeleton, a monocular
root and a mask per person, run per track on a schedule within a budget of crops per frame:
:mod:`hdnet_ros.stages.blazepose.schedule`), or RootNet/HDNet root depth and PoseNet pose from
their published checkpoints. Each stage is a small typed unit in its own module (:mod:`hdnet_ros.stages`);
this file only wires them and times them. The replay tool and the ROS node call :meth:`Pipeline.process`.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from hdnet_ros.config import Settings, SettingsError
from hdnet_ros.inference.runtime import (
    movenet_int8_decoding,
    movenet_onnx,
    movenet_torch,
    open_backend,
)
from hdnet_ros.joints import NUM_JOINTS
from hdnet_ros.logs import get_logger
from hdnet_ros.model_files import DEFAULT_MODEL_FILES, ModelFileError, resolve_model_file
from hdnet_ros.outputs.network_report import stage_runtimes
from hdnet_ros.people import Detection, Frame, Person
from hdnet_ros.stages.blazepose import BlazePoseStage, BodyEstimate, open_blazepose_stage
from hdnet_ros.stages.blazepose.per_track import estimate_bodies, landmarks_as_keypoints
from hdnet_ros.stages.blazepose.schedule import BlazePoseSchedule
from hdnet_ros.stages.crowd import CrowdStage
from hdnet_ros.stages.depth import DepthLifter, NetworkEstimates
from hdnet_ros.stages.detection import FrameDetections, PersonDetector, open_person_detector
from hdnet_ros.stages.keypoint_runtimes import open_keypoint_network, open_movenet_on_cpu
from hdnet_ros.stages.keypoints2d import KeypointEstimator, MoveNetBatched, movenet_arithmetic
from hdnet_ros.stages.networks import (
    FloatArray,
    NetworksConfig,
    PoseNetStage,
    RootDepth,
    RootDepthStage,
    build_pose_stage,
    build_root_depth_stage,
)
from hdnet_ros.stages.placement import FloorChoice, FloorConfig, MonocularPlacement
from hdnet_ros.stages.topdown_heatmap import HeatmapKeypoints, is_heatmap_network
from hdnet_ros.stages.tracking import Tracker
from hdnet_ros.timing import StageTimer

LOG = get_logger(__name__)


@dataclass
class FrameResult:
    """The people found in one frame and how long each stage took for it [ms]."""

    frame: Frame
    people: list[Person]
    stage_ms: dict[str, float] = field(default_factory=dict)


def open_keypoint_model(path: Path, settings: Settings) -> KeypointEstimator:
    """A top-down heatmap network (PP-TinyPose) with its codec; or MoveNet as published
    (LiteRT, int8) on the CPU path, else its rebuild on the runtime.

    The rebuild runs in ``keypoints.arithmetic`` (see :func:`movenet_arithmetic`) and its
    head tensors are decoded in the same arithmetic. A user's ``.onnx`` keypoint model
    with one [N,17,h,w] output is a heatmap network, any other a float MoveNet network.
    """
    inference = settings.inference
    if inference.backend == "onnxruntime" and path.suffix == ".tflite":
        return open_movenet_on_cpu(path, settings.keypoints, inference, settings.models.threads)
    if path.suffix != ".tflite":
        backend = open_keypoint_network(path, settings.keypoints, inference, settings.models.threads)
        if is_heatmap_network(backend):
            return HeatmapKeypoints(backend, settings.keypoints, inference.heatmap_max_batch)
        LOG.info("2D keypoints: %s taken as a float MoveNet network (float decoding)", path)
        return MoveNetBatched(backend, settings.keypoints, inference.max_batch)
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
    """The units the pipeline runs; the optional network stages are None when off.

    ``keypoints`` is None when BlazePose's own 2D landmarks are the 2D keypoints
    (``keypoints.model: blazepose_ghum_full``); ``blazepose_root``: BlazePose's monocular
    root is the network root (``networks.root_depth``).
    """

    detector: PersonDetector
    keypoints: KeypointEstimator | None
    crowd: CrowdStage
    lifter: DepthLifter
    tracker: Tracker
    blazepose: BlazePoseStage | None = None
    blazepose_root: bool = False
    root_depth: RootDepthStage | None = None
    pose_3d: PoseNetStage | None = None
    placement: MonocularPlacement | None = None  # the joint fit of BlazePose's skeleton, the floor and the scale
    floors: FloorChoice = field(default_factory=lambda: FloorChoice(FloorConfig()))  # the fit's and the priors'
    networks_in_use: dict[str, str] = field(default_factory=dict)  # setting -> network that runs ('' off)


def build_stages(settings: Settings) -> Stages:
    """Load every model named in ``settings``; ModelFileError says which file is wrong."""
    models_dir = settings.models.models_dir or None
    threads = settings.models.threads
    detector_path = resolve_model_file(settings.detector.model, models_dir)
    detector = open_person_detector(settings.detector, detector_path, settings.inference, threads)
    pose_3d, root_depth = resolve_networks(settings)
    blazepose_keypoints = _is_blazepose(settings.keypoints.model, settings)
    keypoints = None
    if not blazepose_keypoints:
        keypoint_path = resolve_model_file(settings.keypoints.model, models_dir)
        keypoints = open_keypoint_model(keypoint_path, settings)
        LOG.info("2D keypoints: %s: %s (%s)", settings.keypoints.model, _describe(keypoints), keypoint_path)
    blazepose = None
    if pose_3d == "blazepose" or root_depth == "blazepose" or blazepose_keypoints:
        blazepose = open_blazepose_stage(
            settings.blazepose, settings.inference, models_dir, threads, masks_read=settings.input.use_depth
        )
    networks = settings.networks

    def network_path(name: str, model: str, what: str) -> Path | None:
        if name in ("", "blazepose"):
            return None
        if not model:
            raise SettingsError(f"networks.{what} is {name!r} but networks.{what}_model names no file")
        path = resolve_model_file(model, models_dir)
        LOG.info("%s network: %s from %s", what, name, path)
        return path

    checkpoints = replace_networks(networks, pose_3d, root_depth)
    root_path = network_path(root_depth, networks.root_depth_model, "root_depth")
    pose_path = network_path(pose_3d, networks.pose_3d_model, "pose_3d")
    placement = None
    floors = FloorChoice(settings.floor, settings.placement.learn_scale)
    if root_depth == "blazepose" and settings.placement.enabled:
        sigmas = settings.lifting.keypoint_sigma_px, settings.blazepose.root_relative_sigma
        placement = MonocularPlacement(settings.floor, settings.placement, *sigmas, floors)
    return Stages(
        detector=detector,
        keypoints=keypoints,
        crowd=CrowdStage(settings.crowd),
        lifter=DepthLifter(settings.lifting),
        tracker=Tracker(settings.tracking),
        blazepose=blazepose,
        blazepose_root=root_depth == "blazepose",
        root_depth=build_root_depth_stage(checkpoints, settings.inference, root_path, threads),
        pose_3d=build_pose_stage(checkpoints, settings.inference, pose_path, threads),
        placement=placement,
        floors=floors,
        networks_in_use={
            "detector": settings.detector.model,
            "keypoints_2d": settings.keypoints.model,
            "pose_3d": pose_3d,
            "root_depth": root_depth,
        },
    )


def _describe(keypoints: KeypointEstimator) -> str:
    if isinstance(keypoints, HeatmapKeypoints):
        return keypoints.description
    return f"MoveNet SinglePose, square crops ({keypoints.runtime})"


def resolve_networks(settings: Settings) -> tuple[str, str]:
    """The 3D networks that run: (pose_3d, root_depth), with ``auto`` decided.

    ``pose_3d: auto`` is BlazePose when its model file is in the models directory (else
    off, said once); ``root_depth: auto`` is BlazePose's monocular root when BlazePose runs.
    An explicit ``blazepose`` with the file missing is the ModelFileError naming it.
    """
    networks = settings.networks
    pose_3d = networks.pose_3d
    if pose_3d == "auto":
        try:
            path = resolve_model_file(settings.blazepose.model, settings.models.models_dir or None)
        except ModelFileError as error:
            LOG.warning("3D pose network: off (networks.pose_3d auto: %s)", error)
            pose_3d = ""
        else:
            LOG.info("3D pose network: BlazePose GHUM 3D (%s)", path)
            pose_3d = "blazepose"
    root_depth = networks.root_depth
    if root_depth == "auto":
        root_depth = "blazepose" if pose_3d == "blazepose" else ""
    if not pose_3d and not root_depth:
        LOG.info("3D networks: off; depth comes from the sensor and the skeleton")
    return pose_3d, root_depth


def replace_networks(networks: NetworksConfig, pose_3d: str, root_depth: str) -> NetworksConfig:
    """The network settings with BlazePose and ``auto`` taken out: what the checkpoint
    stages (RootNet, HDNet, PoseNet) are built from."""
    return dataclasses.replace(
        networks,
        pose_3d="" if pose_3d == "blazepose" else pose_3d,
        root_depth="" if root_depth == "blazepose" else root_depth,
    )


def _is_blazepose(model: str, settings: Settings) -> bool:
    """Whether ``keypoints.model`` names the BlazePose file (its 2D landmarks as keypoints)."""
    names = {DEFAULT_MODEL_FILES.get(settings.blazepose.model, settings.blazepose.model), settings.blazepose.model}
    return model in names or DEFAULT_MODEL_FILES.get(model, model) in names


def freeze_loaded_objects() -> None:
    """Take every object alive now out of the cycle collector's sight (``gc.freeze`` after a
    full collection), once the pipeline is built and before frames flow.

    The loaded networks and libraries are about 140,000 tracked Python objects that never
    become garbage; a full collection walks all of them, and one that fell in the middle of
    building a frame's messages paused it for 168 ms (frozen: 10 ms at most;
    docs/benchmarks.md). Frames' own objects are collected as before. Global to the
    process: :func:`thaw_loaded_objects` when the pipeline is dropped.
    """
    gc.collect()
    gc.freeze()


def thaw_loaded_objects() -> None:
    """Give the frozen objects back to the collector (the pipeline is being dropped)."""
    gc.unfreeze()


def network_estimates(roots: list[RootDepth | None], poses: list[FloatArray | None]) -> NetworkEstimates:
    """The checkpoint stages' per-person outputs as the depth stage's arrays (NaN: none)."""
    root_z = np.array([r[0] if r is not None else np.nan for r in roots], dtype=np.float64)
    root_sigma = np.array([r[1] if r is not None else np.nan for r in roots], dtype=np.float64)
    return NetworkEstimates(root_z, root_sigma, relative_pose=NetworkEstimates.stacked(poses))


class Pipeline:
    """The stages, built once from the settings, run in order on each frame."""

    def __init__(self, settings: Settings, stages: Stages) -> None:
        self.settings = settings
        self.stages = stages
        self.timer = StageTimer()
        # Whom BlazePose runs on each frame, and when each track last ran (this pipeline's tracks).
        self.schedule = BlazePoseSchedule(settings.blazepose)

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        return cls(settings, build_stages(settings))

    @property
    def detector(self) -> PersonDetector:
        return self.stages.detector

    @property
    def keypoints(self) -> KeypointEstimator | None:
        return self.stages.keypoints

    @property
    def lifter(self) -> DepthLifter:
        return self.stages.lifter

    def network_report(self) -> dict[str, Any]:
        """Which networks run on which runtimes (``auto`` decided), the crowd stage's counts, what
        BlazePose did (crops run, rejected for low presence, people without a monocular root,
        crops without their mask), the floors that placed people and the tracks' frame."""
        body = self.stages.blazepose
        report: dict[str, Any] = dict(self.stages.networks_in_use, crowd=dict(self.stages.crowd.counts))
        report["runtimes"] = stage_runtimes(self.stages.detector, self.stages.keypoints, body)
        if body is not None:
            report["blazepose"] = {
                key: int(body.counts.get(key, 0)) for key in ("crops", "low_presence", "no_root", "without_mask")
            } | {"every_frames": self.settings.blazepose.every_frames, "schedule": dict(self.schedule.counts)}
        placement = self.stages.placement  # without it, the floor the priors had
        report["placement"] = placement.report() if placement is not None else dict(self.stages.floors.counts)
        report["tracking"] = self.stages.tracker.report()
        return report

    def reset_tracking(self) -> None:
        """Forget all tracks and the floor seen from the people (a new recording, or time
        jumped back)."""
        self.stages.tracker.reset()
        self.schedule.reset()
        self.stages.floors.reset()

    def process(self, frame: Frame) -> FrameResult:
        """All people in ``frame`` with 2D keypoints, 3D joints where they can be had, and
        track ids."""
        stages, timer = self.stages, self.timer
        stage_ms: dict[str, float] = {}

        def timed(name: str) -> StageTimer.Stage:
            return timer.stage(name, stage_ms)

        if stages.tracker.outlived(frame.stamp_ns):  # a pause longer than any track coasts
            stages.tracker.reset()
            self.schedule.reset()  # else its memory of boxes would hand the people before it on
        stages.tracker.follow_camera(frame.fixed_pose, frame.stamp_ns)  # the robot's motion, out of the tracks'
        with timed("detection"):
            found = stages.detector.detect(frame.rgb)
        with timed("keypoints_2d"):
            people, bodies, expected = self.people_of(frame, found)
        networks = self.networks_of(frame, people, bodies, timed, expected)
        placement = stages.placement
        if placement is not None:
            with timed("placement"):
                plane = partial(stages.lifter.floor_plane, frame.depth_m, frame.camera)
                networks, placed = placement(frame, people, networks, expected, plane)
        with timed("depth_lifting"):
            known = stages.floors.for_priors(frame, placed_it=placement is not None)
            stages.lifter(people, frame.depth_m, frame.camera, networks, known)
        if placement is not None:
            placement.learn(people, expected, placed)
        minimum = self.settings.output.min_valid_joints
        people = [p for p in people if p.num_valid >= minimum]
        with timed("tracking"):
            people = stages.tracker.update(people, frame.stamp_ns, frame.camera)
        stage_ms["total"] = sum(stage_ms.values())
        timer.add("total", stage_ms["total"])
        return FrameResult(frame=frame, people=people, stage_ms=stage_ms)

    def people_of(
        self, frame: Frame, found: FrameDetections
    ) -> tuple[list[Person], list[BodyEstimate | None], list[Person | None]]:
        """The detected people with their 2D keypoints after the crowd rules (low-score
        candidates where the 2D network keypoints its crops), BlazePose's estimates when its
        landmarks are the keypoints, and their tracks' last persons (``Tracker.expected``)."""
        stages = self.stages
        if stages.keypoints is None:  # BlazePose's landmarks: no candidates, no crowd rules
            people, bodies = self.keypoints_of(frame, found.confident)
            return people, bodies, stages.tracker.expected(people, frame.stamp_ns)
        everyone, _ = self.keypoints_of(frame, found.confident + found.candidates)
        candidate = [i >= len(found.confident) for i in range(len(everyone))]
        expected = stages.tracker.expected(everyone, frame.stamp_ns, candidate)
        people = stages.crowd(everyone, candidate, [e is not None for e in expected])
        if len(people) != len(everyone):  # someone dropped may have held a track in the assignment
            low = {id(person) for person, low in zip(everyone, candidate, strict=True) if low}
            expected = stages.tracker.expected(people, frame.stamp_ns, [id(person) in low for person in people])
        return people, [None] * len(people), expected

    def keypoints_of(self, frame: Frame, detections: list[Detection]) -> tuple[list[Person], list[BodyEstimate | None]]:
        """The detected people with their 2D keypoints (and BlazePose's estimates, when its
        landmarks are the keypoints)."""
        stages = self.stages
        if stages.keypoints is not None:
            keypoints = stages.keypoints(frame.rgb, detections)
            people = [Person(d, k.pixels, k.scores) for d, k in zip(detections, keypoints, strict=True)]
            return people, [None] * len(people)
        assert stages.blazepose is not None
        unseen = [Person(d, np.full((NUM_JOINTS, 2), np.nan), np.zeros(NUM_JOINTS)) for d in detections]
        expected = stages.tracker.expected(unseen, frame.stamp_ns)
        bodies = landmarks_as_keypoints(stages.blazepose, frame, unseen, expected, self.settings.keypoints.min_score)
        return unseen, bodies

    def networks_of(
        self,
        frame: Frame,
        people: list[Person],
        bodies: list[BodyEstimate | None] | None = None,
        timed: Callable[[str], AbstractContextManager[object]] | None = None,
        expected: list[Person | None] | None = None,
    ) -> NetworkEstimates:
        """What the 3D networks say about ``people``: BlazePose's poses, roots and masks,
        and/or the checkpoint networks' root depths and poses. ``bodies``: BlazePose's estimates
        made for the keypoints; ``timed`` times each network; ``expected``: :meth:`people_of`'s."""
        stages = self.stages
        timed = timed or (lambda _: nullcontext())
        networks = NetworkEstimates.none(len(people))
        if stages.blazepose is not None:
            with timed("pose_3d"):
                # BlazePose made the keypoints (estimates for everyone), or it runs per track.
                made = stages.keypoints is None
                expected = expected if expected is not None else stages.tracker.expected(people, frame.stamp_ns)
                networks = estimate_bodies(
                    stages.blazepose,
                    self.schedule,
                    frame,
                    people,
                    [] if made else expected,
                    min_score=self.settings.keypoints.min_score,
                    network_root=stages.blazepose_root,
                    bodies=bodies if made else None,
                    motion=stages.tracker.camera_motion,
                )
        roots: list[RootDepth | None] = [None] * len(people)
        if stages.root_depth is not None:
            with timed("root_depth"):
                roots = stages.root_depth(frame, people)
            # The checkpoint network's root replaces BlazePose's; its pose and masks stay.
            root = network_estimates(roots, [])
            networks = dataclasses.replace(networks, root_z=root.root_z, root_sigma=root.root_sigma, root_point=None)
        if stages.pose_3d is not None:
            with timed("pose_3d"):
                poses = stages.pose_3d(frame, people, roots)
            networks = dataclasses.replace(networks, relative_pose=NetworkEstimates.stacked(poses))
        return networks
