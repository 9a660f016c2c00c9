"""The pipeline: one frame in, a list of people out. Every stage is visible here.

    detect people -> 2D keypoints per person -> lift with depth -> (track)

Each stage is a small typed unit in its own module; this file only wires them and times
them. The replay tool and the ROS node both call :meth:`Pipeline.process`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from hdnet_ros.config import Settings
from hdnet_ros.detector import PersonDetector
from hdnet_ros.keypoints2d import KeypointEstimator, MoveNetBatched, MoveNetLiteRT
from hdnet_ros.lifting import DepthLifter
from hdnet_ros.model_files import resolve_model_file
from hdnet_ros.people import Frame, Person
from hdnet_ros.runtime import movenet_onnx, open_backend
from hdnet_ros.timing import StageTimer

LOG = logging.getLogger(__name__)


@dataclass
class FrameResult:
    """The people found in one frame and how long each stage took for it [ms]."""

    frame: Frame
    people: list[Person]
    stage_ms: dict[str, float] = field(default_factory=dict)


def open_keypoint_model(path: Path, settings: Settings) -> KeypointEstimator:
    """MoveNet as published (LiteRT, int8) on the CPU path, else its rebuild on the runtime."""
    inference = settings.inference
    if inference.backend == "onnxruntime" and path.suffix == ".tflite":
        return MoveNetLiteRT(path, settings.keypoints, threads=settings.models.threads)
    onnx_path = movenet_onnx(path, inference) if path.suffix == ".tflite" else path
    backend = open_backend(onnx_path, inference, settings.models.threads)
    return MoveNetBatched(backend, settings.keypoints, inference.max_batch)


class Pipeline:
    """Detector, keypoint model and depth lifter, built once from the settings."""

    def __init__(
        self,
        settings: Settings,
        detector: PersonDetector,
        keypoints: KeypointEstimator,
        lifter: DepthLifter,
    ) -> None:
        self.settings = settings
        self.detector = detector
        self.keypoints = keypoints
        self.lifter = lifter
        self.timer = StageTimer()

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        """Load every model named in ``settings``; ModelFileError says which file is wrong."""
        models_dir = settings.models.models_dir or None
        detector_path = resolve_model_file(settings.detector.model, models_dir)
        keypoint_path = resolve_model_file(settings.keypoints.model, models_dir)
        LOG.info("person detector: %s (%s)", detector_path, settings.inference.backend)
        LOG.info("2D keypoints: %s", keypoint_path)
        threads = settings.models.threads
        detector = PersonDetector(open_backend(detector_path, settings.inference, threads), settings.detector)
        return cls(settings, detector, open_keypoint_model(keypoint_path, settings), DepthLifter(settings.lifting))

    def process(self, frame: Frame) -> FrameResult:
        """All people in ``frame`` with their 2D keypoints and, where depth allows, 3D joints."""
        stage_ms: dict[str, float] = {}
        with self.timer.stage("detection"):
            detections = self.detector(frame.rgb)
        with self.timer.stage("keypoints_2d"):
            keypoints = self.keypoints(frame.rgb, detections)
        people = [
            Person(detection=detection, pixels=kp.pixels, scores=kp.scores)
            for detection, kp in zip(detections, keypoints, strict=True)
        ]
        with self.timer.stage("depth_lifting"):
            if frame.depth_m is not None:
                for person in people:
                    self.lifter.lift(person, frame.depth_m, frame.camera)
        minimum = self.settings.output.min_valid_joints
        people = [p for p in people if p.num_valid >= minimum]
        for name in ("detection", "keypoints_2d", "depth_lifting"):
            stage_ms[name] = self.timer.samples_ms[name][-1]
        stage_ms["total"] = sum(stage_ms.values())
        self.timer.samples_ms["total"].append(stage_ms["total"])
        return FrameResult(frame=frame, people=people, stage_ms=stage_ms)
