"""Scenes with known 3D joints: a camera on a robot, a floor, a wall, people and occluders.

World frame: y up, the floor is y = 0, the camera stands at (0, height, 0) looking along +z,
pitched down. Everything a scene hands out (joints, capsules, planes) is already in the
camera's optical frame (x right, y down, z forward), like the pipeline's outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import PELVIS
from hdnet_ros.synthetic.body import (
    BodyShape,
    Capsule,
    Pose,
    PosedBody,
    place_body,
    pose_body,
    sample_pose,
    sample_shape,
)
from hdnet_ros.synthetic.render import OBJECT, Plane, Shape

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CameraSetup:
    """Intrinsics and mounting of the depth camera."""

    width: int = 640
    height: int = 480
    horizontal_fov_deg: float = 70.0  # Kinect-like
    height_range_m: tuple[float, float] = (0.9, 1.5)  # mounting height above the floor
    pitch_range_deg: tuple[float, float] = (0.0, 12.0)  # tilted down

    def camera(self) -> CameraModel:
        return CameraModel.from_fov(self.width, self.height, self.horizontal_fov_deg)


@dataclass(frozen=True)
class SceneConfig:
    camera: CameraSetup = field(default_factory=CameraSetup)
    people_range: tuple[int, int] = (1, 4)  # people per scene, inclusive
    distance_range_m: tuple[float, float] = (0.8, 5.0)  # of each person's pelvis (camera z)
    occlusion: bool = True  # occluding objects, and people free to hide one another
    max_objects: int = 2
    wall_behind_m: tuple[float, float] = (0.8, 3.0)  # wall distance behind the farthest person
    min_separation_m: float = 0.7  # between people's pelvises on the floor


def world_to_camera(height: float, pitch_deg: float) -> tuple[FloatArray, FloatArray]:
    """(R, t) with p_camera = R @ (p_world - t). Rows of R are the optical axes in world
    coordinates; x is -world x so that the frame stays right-handed."""
    p = np.deg2rad(pitch_deg)
    rotation = np.array(
        [
            [-1.0, 0.0, 0.0],
            [0.0, -np.cos(p), -np.sin(p)],
            [0.0, -np.sin(p), np.cos(p)],
        ]
    )
    return rotation, np.array([0.0, height, 0.0])


@dataclass
class ScenePerson:
    """One person with ground truth in the camera frame."""

    person_id: int
    shape: BodyShape
    pose: Pose
    body: PosedBody  # camera frame
    velocity: FloatArray = field(default_factory=lambda: np.zeros(3))  # of the pelvis, camera frame [m/s]

    @property
    def joints(self) -> FloatArray:
        return self.body.joints

    @property
    def root(self) -> FloatArray:
        return self.body.joints[PELVIS]


@dataclass
class Scene:
    camera: CameraModel
    camera_height: float
    camera_pitch_deg: float
    people: list[ScenePerson]
    objects: list[Capsule]  # camera frame
    planes: list[Plane]  # camera frame: floor, wall
    # The optical frame's pose in the world, in a z-up frame as odom is (p = M p_camera),
    # where the camera moves (a panning sequence): what TF gives a tracker that follows it.
    camera_pose: FloatArray | None = None

    def shapes(self) -> list[Shape]:
        shapes = [Shape(a, b, r, index) for index, person in enumerate(self.people) for a, b, r in person.body.capsules]
        shapes += [Shape(a, b, r, OBJECT) for a, b, r in self.objects]
        return shapes

    @property
    def floor(self) -> Plane:
        return self.planes[0]


def floor_plane(rotation: FloatArray, height: float) -> Plane:
    """World y = 0 in the camera frame: (R e_y) . p = -height."""
    return Plane(normal=rotation @ np.array([0.0, 1.0, 0.0]), offset=-height)


def wall_plane(rotation: FloatArray, distance: float, yaw_deg: float) -> Plane:
    """A vertical wall facing the camera at world distance ``distance`` (rotated by yaw)."""
    a = np.deg2rad(yaw_deg)
    normal_world = np.array([np.sin(a), 0.0, np.cos(a)])
    # n_w . p_w = D with p_w = R^T p_c + t and n_w . t = 0 (t is vertical).
    return Plane(normal=rotation @ normal_world, offset=distance)


def to_camera(body: PosedBody, rotation: FloatArray, translation: FloatArray) -> PosedBody:
    return body.transformed(rotation, -rotation @ translation)


def _pelvis_in_view(camera: CameraModel, root: FloatArray, margin_px: float) -> bool:
    if root[2] <= 0.3:
        return False
    u, v = camera.project(root[None])[0]
    return bool(margin_px <= u < camera.width - margin_px and margin_px <= v < camera.height - margin_px)


def _image_box(camera: CameraModel, body: PosedBody) -> FloatArray:
    points = np.array([p for a, b, r in body.capsules for p in (a, b)])
    pixels = camera.project(points)
    return np.array([pixels[:, 0].min(), pixels[:, 1].min(), pixels[:, 0].max(), pixels[:, 1].max()])


def _boxes_overlap(a: FloatArray, b: FloatArray) -> bool:
    return bool(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def sample_person(
    rng: np.random.Generator,
    person_id: int,
    camera: CameraModel,
    rotation: FloatArray,
    translation: FloatArray,
    distance_range: tuple[float, float],
    horizontal_fov_deg: float,
) -> ScenePerson | None:
    """A random person whose pelvis is in view at a camera z inside ``distance_range``."""
    shape = sample_shape(rng)
    pose = sample_pose(rng)
    local = pose_body(shape, pose)
    for _ in range(20):
        z = rng.uniform(*distance_range)
        half_width = z * np.tan(np.deg2rad(horizontal_fov_deg) / 2.0)
        x = rng.uniform(-0.9 * half_width, 0.9 * half_width)
        body = to_camera(place_body(local, x, z, rng.uniform(-180.0, 180.0)), rotation, translation)
        root = body.joints[PELVIS]
        if distance_range[0] <= root[2] <= distance_range[1] and _pelvis_in_view(camera, root, 10.0):
            return ScenePerson(person_id, shape, pose, body)
    return None


def sample_objects(
    rng: np.random.Generator, people: list[ScenePerson], rotation: FloatArray, translation: FloatArray, count: int
) -> list[Capsule]:
    """Poles and bars between the camera and some of the people (camera frame)."""
    objects: list[Capsule] = []
    for _ in range(count):
        if not people:
            break
        target = people[int(rng.integers(len(people)))]
        # Work on the floor (world frame): the pelvis' floor position scaled towards the camera.
        root_world = rotation.T @ target.root + translation
        fraction = rng.uniform(0.35, 0.8)
        base = np.array([root_world[0], 0.0, root_world[2]]) * fraction
        if base[2] < 0.6:
            continue
        base[0] += rng.uniform(-0.35, 0.35)
        if rng.random() < 0.5:  # pole
            top = base + np.array([0.0, rng.uniform(1.0, 2.2), 0.0])
            capsule = (base, top, float(rng.uniform(0.04, 0.15)))
        else:  # bar, like a table edge or a railing
            centre = base + np.array([0.0, rng.uniform(0.5, 1.1), 0.0])
            half = np.array([rng.uniform(0.3, 0.8), 0.0, 0.0])
            capsule = (centre - half, centre + half, float(rng.uniform(0.04, 0.12)))
        a, b, r = capsule
        objects.append((rotation @ (a - translation), rotation @ (b - translation), r))
    return objects


def sample_scene(rng: np.random.Generator, config: SceneConfig) -> Scene:
    """A random scene: people placed apart on the floor, objects, a wall behind them."""
    setup = config.camera
    camera = setup.camera()
    height = float(rng.uniform(*setup.height_range_m))
    pitch = float(rng.uniform(*setup.pitch_range_deg))
    rotation, translation = world_to_camera(height, pitch)
    wanted = int(rng.integers(config.people_range[0], config.people_range[1] + 1))
    people: list[ScenePerson] = []
    boxes: list[FloatArray] = []
    for _ in range(6 * wanted):
        if len(people) == wanted:
            break
        person = sample_person(
            rng, len(people), camera, rotation, translation, config.distance_range_m, setup.horizontal_fov_deg
        )
        if person is None:
            continue
        feet = [rotation.T @ p.root + translation for p in people]
        here = rotation.T @ person.root + translation
        if any(np.hypot(here[0] - f[0], here[2] - f[2]) < config.min_separation_m for f in feet):
            continue
        box = _image_box(camera, person.body)
        if not config.occlusion and any(_boxes_overlap(box, other) for other in boxes):
            continue
        people.append(person)
        boxes.append(box)
    objects = []
    if config.occlusion:
        objects = sample_objects(rng, people, rotation, translation, int(rng.integers(0, config.max_objects + 1)))
    yaw = float(rng.uniform(-15.0, 15.0))
    normal_world = np.array([np.sin(np.deg2rad(yaw)), 0.0, np.cos(np.deg2rad(yaw))])
    # The wall stands behind everyone: its distance along its normal exceeds every pelvis'.
    farthest = max(
        (float(normal_world @ (rotation.T @ p.root + translation)) for p in people),
        default=config.distance_range_m[1],
    )
    wall = wall_plane(rotation, farthest + rng.uniform(*config.wall_behind_m), yaw)
    return Scene(
        camera=camera,
        camera_height=height,
        camera_pitch_deg=pitch,
        people=people,
        objects=objects,
        planes=[floor_plane(rotation, height), wall],
    )
