"""Depth as the teacher of a person's size: one person walks away from the camera, from
2 m to 8 m, and the depth sensor's range ends at 4.5 m.

The renders have no BlazePose, so the monocular cue is an oracle with a realistic scale
error: the network's skeleton is the person's true root-relative joints (camera frame)
divided by ``scale_error`` (1.08: the person is 8 % taller than the skeleton the network
gives, the spread of adult stature). The pipeline's own placement fit (stages.placement)
fits it to the oracle's 2D keypoints (3 px noise); the depth stage (DepthLifter) measures
the person where the sensor reaches and fuses the two; the tracker keeps the track; the
placement learns the person's scale from the sensor's roots (``placement.learn_scale``).
Everything but the network is the product's code. The floor is not given (no TF, no floor
from the people), so only the scale is tested.

Measured per frame: the published root against the truth. Reported: the mean root error
while the sensor measures the person and beyond its range, and the jump where the sensor's
root ends (the root's step at that frame minus the true step).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import NUM_COCO_JOINTS, ROOT
from hdnet_ros.people import DepthSource, Person
from hdnet_ros.stages.depth import DepthLifter, LiftingConfig, NetworkEstimates
from hdnet_ros.stages.placement import FloorConfig, MonocularPlacement, PlacementConfig
from hdnet_ros.stages.tracking import Tracker, TrackingConfig
from hdnet_ros.synthetic import make_frame
from hdnet_ros.synthetic.body import BodyShape, place_body, pose_body, walking_pose
from hdnet_ros.synthetic.oracle import OracleConfig
from hdnet_ros.synthetic.render import RayGrid
from hdnet_ros.synthetic.scene import CameraSetup, Scene, ScenePerson, floor_plane, to_camera, world_to_camera
from hdnet_ros.synthetic.sensor import SENSOR_PRESETS

FloatArray = npt.NDArray[np.float64]
MEASURED = (int(DepthSource.SENSOR), int(DepthSource.FUSED))


@dataclass(frozen=True)
class WalkAwayConfig:
    start_m: float = 2.0
    end_m: float = 8.0
    sensor_range_m: float = 4.5
    speed_mps: float = 1.2
    frame_rate_hz: float = 15.0
    camera_height_m: float = 1.2
    camera_pitch_deg: float = 5.0
    stature_m: float = 1.75
    scale_error: float = 1.08  # the person is this much bigger than the oracle network's skeleton
    keypoint_noise_px: float = 3.0
    camera: CameraSetup = field(default_factory=CameraSetup)


@dataclass
class WalkAwayResult:
    depths: FloatArray  # true pelvis depth per frame
    errors: FloatArray  # |published root - truth| per frame (NaN: no root)
    measured: npt.NDArray[np.bool_]  # the sensor placed the root (SENSOR / FUSED)
    steps: FloatArray  # |root step - true step| from the previous frame

    @property
    def inside_m(self) -> float:
        return float(np.nanmean(self.errors[self.measured]))

    @property
    def beyond_m(self) -> float:
        return float(np.nanmean(self.errors[~self.measured]))

    @property
    def jump_m(self) -> float:
        """The root's extra step where the sensor's root ends (the first unmeasured frame
        after a measured one)."""
        ends = np.flatnonzero(self.measured[:-1] & ~self.measured[1:]) + 1
        return float(np.nanmax(self.steps[ends])) if len(ends) else float("nan")


def walk_away(config: WalkAwayConfig, learn_scale: bool, seed: int = 0) -> WalkAwayResult:
    """Run the sequence through the depth stage, the placement and the tracker."""
    rng = np.random.default_rng(seed)
    camera = config.camera.camera()
    rotation, translation = world_to_camera(config.camera_height_m, config.camera_pitch_deg)
    sensor = dataclasses.replace(SENSOR_PRESETS["kinect"], max_range_m=config.sensor_range_m)
    oracle = OracleConfig(pixel_noise_px=config.keypoint_noise_px)
    lifter = DepthLifter(LiftingConfig())
    tracker = Tracker(TrackingConfig())
    placement = MonocularPlacement(
        FloorConfig(frame="", from_people=False), PlacementConfig(learn_scale=learn_scale), 3.0, 0.07
    )
    shape = BodyShape(stature=config.stature_m)
    grid = RayGrid(camera)
    dt = 1.0 / config.frame_rate_hz
    frames = int((config.end_m - config.start_m) / (config.speed_mps * dt)) + 1
    depths, errors, measured, roots, truths = [], [], [], [], []
    for index in range(frames):
        distance = config.start_m + index * config.speed_mps * dt
        pose = walking_pose(2.0 * np.pi * distance / (0.83 * config.stature_m))  # two steps of 0.415 H a cycle
        body = to_camera(place_body(pose_body(shape, pose), 0.0, distance, 0.0), rotation, translation)
        planes = [floor_plane(rotation, config.camera_height_m)]
        scene = Scene(
            camera, config.camera_height_m, config.camera_pitch_deg, [ScenePerson(0, shape, pose, body)], [], planes
        )
        stamp = int(round(index * dt * 1e9))
        synthetic = make_frame(scene, sensor, oracle, rng, grid, stamp)
        people = synthetic.people
        for person, truth in zip(people, synthetic.truths, strict=True):
            _give_network_pose(person, truth.joints, config.scale_error)
        frame = synthetic.frame()
        expected = tracker.expected(people, stamp)
        networks, placed = placement(frame, people, NetworkEstimates.none(len(people)), expected, lambda: None)
        lifter(people, frame.depth_m, camera, networks)
        placement.learn(people, expected, placed)
        people = tracker.update(people, stamp, camera)
        truth_root = body.joints[ROOT]
        published = people[0] if people else None
        root = published.positions[ROOT] if published is not None and published.valid[ROOT] else np.full(3, np.nan)
        depths.append(truth_root[2])
        errors.append(float(np.linalg.norm(root - truth_root)))
        measured.append(published is not None and int(published.depth_sources[ROOT]) in MEASURED)
        roots.append(root)
        truths.append(truth_root)
    root_steps = np.diff(np.array(roots), axis=0)
    true_steps = np.diff(np.array(truths), axis=0)
    steps = np.concatenate(([np.nan], np.linalg.norm(root_steps - true_steps, axis=1)))
    return WalkAwayResult(np.array(depths), np.array(errors), np.array(measured), steps)


def _give_network_pose(person: Person, joints: FloatArray, scale_error: float) -> None:
    """The oracle network's skeleton: the true joints relative to the pelvis, shrunk by the
    scale error; no feet."""
    relative = (joints - joints[ROOT]) / scale_error
    pose = np.full_like(relative, np.nan)
    pose[:NUM_COCO_JOINTS] = relative[:NUM_COCO_JOINTS]
    pose[ROOT] = 0.0
    person.network_pose = pose
    person.network_feet = None
