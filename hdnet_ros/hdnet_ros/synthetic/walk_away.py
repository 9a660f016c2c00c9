"""Depth as the teacher of a person's size: one person walks away from the camera, from
2 m to 8 m, and the depth sensor's range ends at 4.5 m.

The renders have no BlazePose, so the monocular cue is an oracle with a realistic scale
error: the network's skeleton is the person's true root-relative joints (camera frame)
divided by ``scale_error`` (1.08: the person is 8 % taller than the skeleton the network
gives, the spread of adult stature). The pipeline's own placement fit (stages.placement)
fits it to the oracle's 2D keypoints (3 px noise); the depth stage (DepthLifter) measures
the person where the sensor reaches and fuses the two; the tracker keeps the track; the
placement learns the person's scale from the sensor's roots (``placement.learn_scale``).
Everything but the network is the product's code, wired as ``Pipeline.process`` wires it.

Where the floor comes from (``floor``), as a robot would run:

- ``"tf"``: the robot's TF gives the camera's pose over ``base_footprint`` (the camera's
  known mounting, on every frame's ``Frame.floor_pose``), taken by
  ``FloorChoice`` (the placement's floor) as the node and the replay give it;
- ``"depth"``: no TF; the depth stage's own floor plane (``DepthLifter.floor_plane``) of
  each rendered depth image, which shows the floor in front of the robot (0.5-4.5 m stays
  in range while the person walks beyond it);
- ``"none"``: no floor at all (no TF, the depth plane not offered, no floor from the
  people): only the scale acts; the worst case, kept as such.

Measured per frame: the published root against the truth. Reported: the mean root error
while the sensor measures the person and beyond its range, and the jump where the sensor's
root ends (the root's step at that frame minus the true step).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import NUM_COCO_JOINTS, ROOT
from hdnet_ros.people import MEASURED, CameraPose, Person
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
FLOORS = ("none", "depth", "tf")
# The synthetic world (y up, scene.world_to_camera) in REP-103's floor frame (x forward,
# y left, z up): a cyclic permutation of the axes, a proper rotation.
WORLD_TO_FLOOR = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


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
    floors: list[str] = field(default_factory=list)  # the placement's floor source per frame

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


def camera_in_floor(rotation: FloatArray, translation: FloatArray) -> FloatArray:
    """The optical frame's pose in the floor frame (4x4, ``p_floor = T p_camera``), as TF
    gives it from a robot's URDF, for a camera mounted by ``world_to_camera``."""
    pose = np.eye(4)
    pose[:3, :3] = WORLD_TO_FLOOR @ rotation.T
    pose[:3, 3] = WORLD_TO_FLOOR @ translation
    return pose


def walk_away(config: WalkAwayConfig, learn_scale: bool, seed: int = 0, floor: str = "none") -> WalkAwayResult:
    """Run the sequence through the depth stage, the placement and the tracker, with the
    floor from ``floor`` (module doc)."""
    if floor not in FLOORS:
        raise ValueError(f"floor must be one of {FLOORS}, not {floor!r}")
    rng = np.random.default_rng(seed)
    camera = config.camera.camera()
    rotation, translation = world_to_camera(config.camera_height_m, config.camera_pitch_deg)
    sensor = dataclasses.replace(SENSOR_PRESETS["kinect"], max_range_m=config.sensor_range_m)
    oracle = OracleConfig(pixel_noise_px=config.keypoint_noise_px)
    lifter = DepthLifter(LiftingConfig())
    tracker = Tracker(TrackingConfig())
    placement = MonocularPlacement(
        FloorConfig(frame="base_footprint" if floor == "tf" else "", from_people=False),
        PlacementConfig(learn_scale=learn_scale),
        3.0,
        0.07,
    )
    floor_pose = CameraPose(camera_in_floor(rotation, translation)) if floor == "tf" else None
    shape = BodyShape(stature=config.stature_m)
    grid = RayGrid(camera)
    dt = 1.0 / config.frame_rate_hz
    frames = int((config.end_m - config.start_m) / (config.speed_mps * dt)) + 1
    depths, errors, measured, roots, truths, floors = [], [], [], [], [], []
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
        frame = dataclasses.replace(synthetic.frame(), floor_pose=floor_pose)
        expected = tracker.expected(people, stamp)
        plane = partial(lifter.floor_plane, frame.depth_m, frame.camera) if floor == "depth" else _no_plane
        networks, placed = placement(frame, people, NetworkEstimates.none(len(people)), expected, plane)
        lifter(people, frame.depth_m, frame.camera, networks, placement.floors.known())
        placement.learn(people, expected, placed)
        floors.append(placement.floor.source if placement.floor is not None else "none")
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
    return WalkAwayResult(np.array(depths), np.array(errors), np.array(measured), steps, floors)


def _no_plane() -> None:
    """The depth plane not offered (the ``none`` variant)."""
    return None


def _give_network_pose(person: Person, joints: FloatArray, scale_error: float) -> None:
    """The oracle network's skeleton: the true joints relative to the pelvis, shrunk by the
    scale error; no feet."""
    relative = (joints - joints[ROOT]) / scale_error
    pose = np.full_like(relative, np.nan)
    pose[:NUM_COCO_JOINTS] = relative[:NUM_COCO_JOINTS]
    pose[ROOT] = 0.0
    person.network_pose = pose
    person.network_feet = None
