"""Sequences of people walking on trajectories in front of a camera, for tracking.

Each walker heads for random waypoints in the camera's view, pauses now and then, and stops
rather than walk through another person (and picks a new goal when blocked for long).
Crossing paths make people hide each other, which is what a tracker has to survive.
The camera stands still, or pans about the vertical back and forth (``pan_amplitude_deg``:
a robot's head that scans, a robot that turns), as a robot's camera does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hdnet_ros.synthetic.body import (
    BodyShape,
    GaitStyle,
    place_body,
    pose_body,
    sample_gait,
    sample_shape,
    standing_pose,
    walking_pose,
)
from hdnet_ros.synthetic.scene import (
    CameraSetup,
    Capsule,
    Scene,
    ScenePerson,
    floor_plane,
    sample_objects,
    to_camera,
    wall_plane,
    world_to_camera,
)
from hdnet_ros.synthetic.turned_view import yaw_turn

FloatArray = npt.NDArray[np.float64]
# The scenes' world (x, y up, z) as a frame with z up, as REP-103 has odom: (z, x, y).
Z_UP = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class SequenceConfig:
    camera: CameraSetup = field(default_factory=CameraSetup)
    num_people: int = 4
    frames: int = 300
    frame_rate_hz: float = 15.0
    distance_range_m: tuple[float, float] = (1.5, 5.0)  # walking area, along the floor
    speed_range_mps: tuple[float, float] = (0.8, 1.5)
    pause_probability: float = 0.15  # at each waypoint
    pause_s: tuple[float, float] = (1.0, 3.0)
    personal_space_m: float = 0.6
    occlusion: bool = True  # occluding objects in the room
    # The camera turns about the vertical by this much each way, a sine of pan_period_s (0: still).
    pan_amplitude_deg: float = 0.0
    pan_period_s: float = 6.0


@dataclass
class _Walker:
    shape: BodyShape
    gait: GaitStyle
    position: FloatArray  # world floor (x, z)
    goal: FloatArray
    speed: float
    phase: float = 0.0
    pause_left_s: float = 0.0
    blocked_s: float = 0.0
    heading_deg: float = 0.0
    stand_seed: int = 0
    velocity: FloatArray = field(default_factory=lambda: np.zeros(2))


def _random_point(rng: np.random.Generator, config: SequenceConfig) -> FloatArray:
    z = rng.uniform(*config.distance_range_m)
    half = 0.75 * z * np.tan(np.deg2rad(config.camera.horizontal_fov_deg) / 2.0)
    return np.array([rng.uniform(-half, half), z])


def _step(walker: _Walker, others: list[_Walker], dt: float, config: SequenceConfig, rng: np.random.Generator) -> None:
    walker.velocity = np.zeros(2)
    if walker.pause_left_s > 0:
        walker.pause_left_s -= dt
        return
    to_goal = walker.goal - walker.position
    distance = float(np.linalg.norm(to_goal))
    if distance < 0.2:
        walker.goal = _random_point(rng, config)
        if rng.random() < config.pause_probability:
            walker.pause_left_s = rng.uniform(*config.pause_s)
            walker.stand_seed = int(rng.integers(1 << 30))
        return
    direction = to_goal / distance
    target = walker.position + direction * min(walker.speed * dt, distance)
    if any(np.linalg.norm(target - o.position) < config.personal_space_m for o in others):
        walker.blocked_s += dt
        if walker.blocked_s > 1.0:  # give way: walk somewhere else
            walker.goal = _random_point(rng, config)
            walker.blocked_s = 0.0
        return
    walker.blocked_s = 0.0
    walker.velocity = (target - walker.position) / dt
    walker.position = target
    walker.heading_deg = float(np.rad2deg(np.arctan2(direction[0], direction[1])))
    # One gait cycle is two steps of about 0.415 x stature.
    walker.phase += 2.0 * np.pi * walker.speed * dt / (0.83 * walker.shape.stature)


def walking_sequence(rng: np.random.Generator, config: SequenceConfig) -> Iterator[tuple[int, Scene]]:
    """(stamp_ns, scene) for each frame; person ids are stable across the sequence."""
    setup = config.camera
    camera = setup.camera()
    height = float(rng.uniform(*setup.height_range_m))
    pitch = float(rng.uniform(*setup.pitch_range_deg))
    rotation, translation = world_to_camera(height, pitch)
    walkers: list[_Walker] = []
    for _ in range(config.num_people):
        for _ in range(50):
            start = _random_point(rng, config)
            if all(np.linalg.norm(start - w.position) > 1.0 for w in walkers):
                break
        walkers.append(
            _Walker(
                shape=sample_shape(rng),
                gait=sample_gait(rng),
                position=start,
                goal=_random_point(rng, config),
                speed=float(rng.uniform(*config.speed_range_mps)),
                phase=float(rng.uniform(0, 2 * np.pi)),
                heading_deg=float(rng.uniform(-180, 180)),
                stand_seed=int(rng.integers(1 << 30)),
            )
        )
    far = config.distance_range_m[1] * 1.25
    planes = [floor_plane(rotation, height), wall_plane(rotation, far + rng.uniform(0.5, 2.0), 0.0)]
    dt = 1.0 / config.frame_rate_hz
    objects_rng = np.random.default_rng(int(rng.integers(1 << 30)))
    objects = None
    objects_world: list[Capsule] | None = None
    unpanned = (rotation, planes)  # the camera at the middle of its pan
    for frame in range(config.frames):
        if config.pan_amplitude_deg:
            rotation = _panned(unpanned[0], config, frame * dt)
            planes = [floor_plane(rotation, height), wall_plane(rotation, unpanned[1][1].offset, 0.0)]
        people = []
        for index, walker in enumerate(walkers):
            moving = bool(np.any(walker.velocity != 0))
            pose = (
                walking_pose(walker.phase, walker.gait)
                if moving or frame == 0
                else standing_pose(np.random.default_rng(walker.stand_seed))
            )
            local = pose_body(walker.shape, pose)
            body = to_camera(
                place_body(local, walker.position[0], walker.position[1], walker.heading_deg), rotation, translation
            )
            velocity_world = np.array([walker.velocity[0], 0.0, walker.velocity[1]])
            people.append(ScenePerson(index, walker.shape, pose, body, velocity=rotation @ velocity_world))
        if objects is None:
            objects = sample_objects(objects_rng, people, rotation, translation, 2) if config.occlusion else []
            objects_world = [(rotation.T @ a + translation, rotation.T @ b + translation, r) for a, b, r in objects]
        pose_in_world = None
        if config.pan_amplitude_deg:
            assert objects_world is not None
            objects = [(rotation @ (a - translation), rotation @ (b - translation), r) for a, b, r in objects_world]
            pose_in_world = np.eye(4)  # in a z-up frame, as odom is (REP-103)
            pose_in_world[:3, :3], pose_in_world[:3, 3] = Z_UP @ rotation.T, Z_UP @ translation
        yield (
            int(round(frame * dt * 1e9)),
            Scene(camera, height, pitch, people, objects, planes, camera_pose=pose_in_world),
        )
        for index, walker in enumerate(walkers):
            _step(walker, [w for i, w in enumerate(walkers) if i != index], dt, config, rng)


def _panned(rotation: FloatArray, config: SequenceConfig, time_s: float) -> FloatArray:
    """The world-to-camera rotation of a camera turned about the world's vertical (y) by the
    pan's angle at ``time_s``: p_camera = R Ry(yaw)^T (p_world - t)."""
    yaw = np.deg2rad(config.pan_amplitude_deg) * np.sin(2.0 * np.pi * time_s / config.pan_period_s)
    return rotation @ yaw_turn(float(yaw)).T
