"""The CMU Panoptic frames (``panoptic_dev``, SOURCE.md) as a robot would record them: one
rosbag2 per camera with its JPEG images (``sensor_msgs/CompressedImage``), camera_info
(K, zero distortion: the images are undistorted) and, in the "pose known" variant, the
camera's pose over the floor on ``/tf_static``.

The reference's world has the floor at y = 0 with y pointing down. A robot knows its
camera's pose over ``base_footprint`` (REP-103: x forward, y left, z up, the floor at
z = 0) from its URDF; here ``base_footprint`` is put under the camera, x along the
optical axis projected onto the floor, and the transform is published the way a URDF
gives it: ``base_footprint -> camera_link`` (the camera body, REP-103 axes) and the fixed
``camera_link -> camera_color_optical_frame`` rotation (z forward, x right, y down).
The images' stamps are the frames' own times (frame number / 29.97 Hz, offset to a
plausible epoch): the frames lie seconds to minutes apart, so no track carries over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from hdnet_ros.ros_types import typestore
from rosbags.rosbag2 import StoragePlugin, Writer

FloatArray = npt.NDArray[np.float64]
DATASET = "panoptic_dev"
FRAME_RATE_HZ = 29.97  # Panoptic's HD cameras
EPOCH_NS = 1_700_000_000 * 1_000_000_000
FLOOR_FRAME = "base_footprint"
BODY_FRAME = "camera_link"
OPTICAL_FRAME = "camera_color_optical_frame"
IMAGE_TOPIC = "/camera/color/image_raw/compressed"
INFO_TOPIC = "/camera/color/camera_info"
# camera_link (x forward, y left, z up) -> optical (x right, y down, z forward): the columns
# are the optical axes in camera_link coordinates.
LINK_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class PanopticCamera:
    name: str
    K: FloatArray
    width: int
    height: int
    world_to_camera: FloatArray  # [4,4] reference world (floor y = 0, y down) -> optical frame

    @property
    def floor_to_camera(self) -> FloatArray:
        """[4,4] pose of the optical frame in base_footprint (x_floor = T @ x_camera)."""
        rotation, translation = self.world_to_camera[:3, :3], self.world_to_camera[:3, 3]
        centre = -rotation.T @ translation
        up = np.array([0.0, -1.0, 0.0])
        forward = rotation[2] - (rotation[2] @ up) * up
        forward /= np.linalg.norm(forward)
        floor_from_world = np.stack((forward, np.cross(up, forward), up))  # rows: x, y, z in world coords
        pose = np.eye(4)
        pose[:3, :3] = floor_from_world @ rotation.T
        pose[:3, 3] = floor_from_world @ (centre - np.array([centre[0], 0.0, centre[2]]))
        return pose

    @property
    def height_m(self) -> float:
        return float(self.floor_to_camera[2, 3])

    @property
    def pitch_down_deg(self) -> float:
        """How far the optical axis points below the horizon."""
        axis = self.floor_to_camera[:3, 2]
        return float(np.degrees(np.arcsin(-axis[2])))


@dataclass(frozen=True)
class ReferencePerson:
    joints: FloatArray  # [17,3] camera frame, NaN where unknown
    pelvis: FloatArray  # [3] (NaN: none)
    scored: bool
    eligible: bool


@dataclass(frozen=True)
class Reference:
    joint_names: list[str]
    cameras: dict[str, PanopticCamera]
    frames: dict[int, dict[str, list[ReferencePerson]]]  # frame -> camera -> people

    def image(self, data_dir: Path, camera: str, frame: int) -> Path:
        return data_dir / DATASET / camera / f"{frame:08d}.jpg"


def _array(value: Any, shape: tuple[int, ...]) -> FloatArray:
    if value is None:
        return np.full(shape, np.nan)
    return np.array([[np.nan] * shape[-1] if v is None else v for v in value] if len(shape) == 2 else value, float)


def load_reference(data_dir: Path) -> Reference:
    path = data_dir / DATASET / "reference.json"
    if not path.is_file():
        raise SystemExit(f"no {path}: the Panoptic frames are not in the data directory")
    raw = json.loads(path.read_text())
    cameras = {}
    for name, item in raw["cameras"].items():
        pose = np.eye(4)
        pose[:3, :3] = np.array(item["R_world_to_camera"], dtype=float)
        pose[:3, 3] = np.array(item["t_world_to_camera_m"], dtype=float)
        cameras[name] = PanopticCamera(name, np.array(item["K"], float), int(item["width"]), int(item["height"]), pose)
    frames: dict[int, dict[str, list[ReferencePerson]]] = {}
    for frame, people in raw["frames"].items():
        frames[int(frame)] = {
            camera: [
                ReferencePerson(
                    _array(p["cameras"][camera]["joints_m"], (17, 3)),
                    _array(p["cameras"][camera]["pelvis_m"], (3,)),
                    bool(p["scored"]),
                    bool(p["cameras"][camera]["eligible"]),
                )
                for p in people
            ]
            for camera in cameras
        }
    return Reference(list(raw["joint_names"]), cameras, frames)


def frame_stamp_ns(frame: int) -> int:
    return EPOCH_NS + round(frame / FRAME_RATE_HZ * 1e9)


def _stamp(store: Any, ns: int) -> Any:
    return store.types["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def _header(store: Any, ns: int, frame_id: str) -> Any:
    return store.types["std_msgs/msg/Header"](stamp=_stamp(store, ns), frame_id=frame_id)


def _transform(store: Any, ns: int, parent: str, child: str, pose: FloatArray) -> Any:
    types = store.types
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(pose[:3, :3]).as_quat()
    return types["geometry_msgs/msg/TransformStamped"](
        header=_header(store, ns, parent),
        child_frame_id=child,
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](x=pose[0, 3], y=pose[1, 3], z=pose[2, 3]),
            rotation=types["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w),
        ),
    )


def static_transforms(store: Any, camera: PanopticCamera, ns: int) -> Any:
    """The tf2_msgs/TFMessage a robot's robot_state_publisher would latch on /tf_static."""
    optical_in_link = np.eye(4)
    optical_in_link[:3, :3] = LINK_FROM_OPTICAL
    link_in_floor = camera.floor_to_camera @ np.linalg.inv(optical_in_link)
    return store.types["tf2_msgs/msg/TFMessage"](
        transforms=[
            _transform(store, ns, FLOOR_FRAME, BODY_FRAME, link_in_floor),
            _transform(store, ns, BODY_FRAME, OPTICAL_FRAME, optical_in_link),
        ]
    )


def camera_info(store: Any, camera: PanopticCamera, ns: int) -> Any:
    K = camera.K
    P = np.concatenate((K, np.zeros((3, 1))), axis=1)
    return store.types["sensor_msgs/msg/CameraInfo"](
        header=_header(store, ns, OPTICAL_FRAME),
        height=camera.height,
        width=camera.width,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=K.reshape(-1),
        r=np.eye(3).reshape(-1),
        p=P.reshape(-1),
        binning_x=0,
        binning_y=0,
        roi=store.types["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    )


def write_bag(path: Path, reference: Reference, data_dir: Path, camera: str, with_pose: bool) -> Path:
    """One camera's frames as a rosbag2 (mcap) at ``path``; ``/tf_static`` when ``with_pose``."""
    store = typestore()
    spec = reference.cameras[camera]
    frames = sorted(reference.frames)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        image_conn = writer.add_connection(IMAGE_TOPIC, "sensor_msgs/msg/CompressedImage", typestore=store)
        info_conn = writer.add_connection(INFO_TOPIC, "sensor_msgs/msg/CameraInfo", typestore=store)
        if with_pose:
            tf_conn = writer.add_connection("/tf_static", "tf2_msgs/msg/TFMessage", typestore=store)
            start = frame_stamp_ns(frames[0]) - 1_000_000
            writer.write(tf_conn, start, store.serialize_cdr(static_transforms(store, spec, start), tf_conn.msgtype))
        for frame in frames:
            ns = frame_stamp_ns(frame)
            data = np.frombuffer(reference.image(data_dir, camera, frame).read_bytes(), dtype=np.uint8)
            image = store.types["sensor_msgs/msg/CompressedImage"](
                header=_header(store, ns, OPTICAL_FRAME), format="jpeg", data=data
            )
            writer.write(image_conn, ns, store.serialize_cdr(image, image_conn.msgtype))
            writer.write(info_conn, ns, store.serialize_cdr(camera_info(store, spec, ns), info_conn.msgtype))
    return path
