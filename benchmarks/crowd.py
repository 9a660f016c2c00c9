"""A synthetic crowd of 1-20 people that the real models can be timed on.

The 3D side is the synthetic package's: capsule bodies standing in staggered rows facing
the camera (a class-photo layout, so that 20 people fit in a 640x480 view and each of them
is detected by the 2D oracle), the depth rendered and degraded by the Kinect-like sensor
model, detections and 2D keypoints from the oracle. The RGB image is composed from real
people: crops of the sample frames' person detections, resized to each oracle box and
pasted far to near, so that the networks that look at the image (BlazePose above all,
whose decoding only runs on crops it accepts) see people where the oracle put them.

The crowd of N people is the first N places of one fixed list, so every crowd holds the
smaller ones and t(N) grows by adding people, not by changing them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from hdnet_ros.people import Frame, Person
from hdnet_ros.synthetic import OracleConfig, make_frame
from hdnet_ros.synthetic.body import (
    arms_raised_pose,
    place_body,
    pose_body,
    sample_gait,
    sample_shape,
    standing_pose,
    walking_pose,
)
from hdnet_ros.synthetic.scene import (
    CameraSetup,
    Scene,
    ScenePerson,
    floor_plane,
    to_camera,
    wall_plane,
    world_to_camera,
)
from hdnet_ros.synthetic.sensor import SENSOR_PRESETS

# A raised camera (a head camera on a mast, or a wall camera) looking down on a crowd in
# three rows, like a class photo: each row stands higher in the image than the one in
# front, so that 20 people fit in a 640x480 view and the oracle reports every one of them.
CAMERA_HEIGHT_M = 2.0
CAMERA_PITCH_DEG = 17.0
WALL_Z_M = 6.5  # beyond the sensor's 5 m range: no depth there
GREY = 128
FloatArray = npt.NDArray[np.float64]
ROWS_M: tuple[tuple[float, int, float], ...] = ((2.6, 5, 24.0), (3.6, 6, 26.0), (4.6, 9, 27.0))  # z, people, +-deg


def _row_places(z_m: float, count: int, half_angle_deg: float) -> list[tuple[float, float]]:
    """``count`` floor places (x, z) at depth ``z_m``, evenly spread in viewing angle,
    ordered from the centre outwards."""
    angles = np.linspace(-half_angle_deg, half_angle_deg, count)
    places = [(round(float(z_m * np.tan(np.deg2rad(a))), 3), z_m) for a in angles]
    return sorted(places, key=lambda place: (abs(place[0]), place[0]))


def _interleaved(rows: list[list[tuple[float, float]]]) -> tuple[tuple[float, float], ...]:
    """Places taken from each row in turn, so that a small crowd has people at every depth."""
    order: list[tuple[float, float]] = []
    for rank in range(max(len(r) for r in rows)):
        order += [r[rank] for r in rows if rank < len(r)]
    return tuple(order)


# Floor places (world x, z) [m] in the order people join the crowd.
PLACES_M = _interleaved([_row_places(*row) for row in ROWS_M])
MAX_PEOPLE = len(PLACES_M)


@dataclass
class Crowd:
    """One crowd frame: what the pipeline sees, what the oracle says about it and the truth
    behind it."""

    frame: Frame  # composed RGB, the sensor model's depth
    people: list[Person]  # the oracle's detections and 2D keypoints, no 3D
    joints: FloatArray  # [N,J,3] each person's true joints, camera frame [m]
    label: npt.NDArray[np.int16]  # HxW: which person (index into ``people``) each pixel sees, -1 none


def crowd_scene(count: int, seed: int = 0) -> Scene:
    """``count`` people (1..MAX_PEOPLE) on the first places, facing the camera within
    +-25 degrees, standing, walking or with an arm raised."""
    if not 1 <= count <= MAX_PEOPLE:
        raise ValueError(f"a crowd has 1..{MAX_PEOPLE} people, not {count}")
    rng = np.random.default_rng(seed)
    camera = CameraSetup().camera()
    rotation, translation = world_to_camera(CAMERA_HEIGHT_M, CAMERA_PITCH_DEG)
    people = []
    for index, (x, z) in enumerate(PLACES_M):
        # Every place draws its person whatever ``count`` is, so crowds share their people.
        shape = sample_shape(rng)
        kind = rng.choice(3, p=[0.5, 0.35, 0.15])
        pose = (
            standing_pose(rng)
            if kind == 0
            else walking_pose(float(rng.uniform(0.0, 2.0 * np.pi)), sample_gait(rng))
            if kind == 1
            else arms_raised_pose(rng)
        )
        yaw = 180.0 + float(rng.uniform(-25.0, 25.0))
        if index < count:
            body = to_camera(place_body(pose_body(shape, pose), x, z, yaw), rotation, translation)
            people.append(ScenePerson(index, shape, pose, body))
    planes = [floor_plane(rotation, CAMERA_HEIGHT_M), wall_plane(rotation, WALL_Z_M, 0.0)]
    return Scene(camera, CAMERA_HEIGHT_M, CAMERA_PITCH_DEG, people, [], planes)


def person_crops(
    frames: list[Frame], boxes: list[list[FloatArray]], min_height_px: float = 90.0
) -> list[npt.NDArray[np.uint8]]:
    """The sample frames' people as RGB crops: ``boxes`` (per frame) at least
    ``min_height_px`` tall that do not touch the image's left or right edge (half people
    would paste as half people)."""
    crops = []
    for frame, frame_boxes in zip(frames, boxes, strict=True):
        width = frame.rgb.shape[1]
        for box in frame_boxes:
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            if y1 - y0 >= min_height_px and x0 > 2 and x1 < width - 3:
                crops.append(np.ascontiguousarray(frame.rgb[y0 : y1 + 1, x0 : x1 + 1]))
    if not crops:
        raise ValueError("no whole person in the sample frames to paste into the crowd")
    return crops


def body_box(scene: Scene, person_id: int) -> FloatArray:
    """The image box of a scene person's whole body (every capsule, hidden parts included)."""
    capsules = scene.people[person_id].body.capsules
    ends = np.array([end for a, b, _ in capsules for end in (a, b)])
    radius = max(r for _, _, r in capsules)
    pixels = scene.camera.project(ends)
    pad = radius * scene.camera.fx / float(np.min(ends[:, 2]))  # the capsules' thickness
    return np.array([*(pixels.min(axis=0) - pad), *(pixels.max(axis=0) + pad)])


def compose_rgb(
    shape: tuple[int, int], boxes: list[FloatArray], depths_m: list[float], crops: list[npt.NDArray[np.uint8]]
) -> npt.NDArray[np.uint8]:
    """A grey image with crop ``i % len(crops)`` scaled to the height of ``boxes[i]`` (its
    own aspect kept) and centred in it, pasted from the farthest person to the nearest
    (nearer people cover farther ones)."""
    height, width = shape
    rgb = np.full((height, width, 3), GREY, dtype=np.uint8)
    for index in sorted(range(len(boxes)), key=lambda i: -depths_m[i]):
        crop = crops[index % len(crops)]
        x0, y0, x1, y1 = (float(v) for v in boxes[index])
        rows = max(int(round(y1 - y0)), 2)
        cols = max(int(round(rows * crop.shape[1] / crop.shape[0])), 2)
        left, top = int(round((x0 + x1 - cols) / 2.0)), int(round(y0))
        scaled = cv2.resize(crop, (cols, rows), interpolation=cv2.INTER_AREA)
        # The part of the scaled crop that falls inside the image.
        a, b = max(-top, 0), max(-left, 0)
        c, d = min(rows, height - top), min(cols, width - left)
        if c > a and d > b:
            rgb[top + a : top + c, left + b : left + d] = scaled[a:c, b:d]
    return rgb


def make_crowd(count: int, crops: list[npt.NDArray[np.uint8]], seed: int = 0) -> Crowd:
    """The crowd of ``count`` people, rendered; raises when the oracle does not report all."""
    scene = crowd_scene(count, seed)
    rng = np.random.default_rng([seed, count])
    synthetic = make_frame(scene, SENSOR_PRESETS["kinect"], OracleConfig(), rng)
    if len(synthetic.people) != count:
        raise RuntimeError(f"the oracle reports {len(synthetic.people)} of the crowd's {count} people")
    depths = [float(truth.root[2]) for truth in synthetic.truths]
    boxes = [body_box(scene, truth.person_id) for truth in synthetic.truths]
    camera = scene.camera
    rgb = compose_rgb((camera.height, camera.width), boxes, depths, crops)
    frame = Frame(rgb=rgb, depth_m=synthetic.depth_m, camera=camera, stamp_ns=0, frame_id="camera")
    # The renderer labels pixels by the scene's list of people; the oracle lists its own order.
    scene_index = {person.person_id: index for index, person in enumerate(scene.people)}
    label = np.full(synthetic.rendering.label.shape, -1, dtype=np.int16)
    for index, truth in enumerate(synthetic.truths):
        label[synthetic.rendering.label == scene_index[truth.person_id]] = index
    joints = np.stack([truth.joints for truth in synthetic.truths])
    return Crowd(frame, synthetic.people, joints, label)
