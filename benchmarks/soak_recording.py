"""The soak's recording: 30 Hz frames made from the sample triplets with faults at fixed
rates (``plan_frames``), encoded once per kind (``SoakMessages``) and written as a rosbag2
(``write_soak_bag``). What each fault must become is in bench_soak.EXPECTED_REASON."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from frame_timing import PERIOD_NS, START_NS
from hdnet_ros.frame_input import build_frame
from hdnet_ros.node.frame_processor import Triplet
from hdnet_ros.ros_types import typestore
from rosbags.rosbag2 import StoragePlugin, Writer

TOPICS = {
    "rgb": "/camera/color/image_raw/compressed",
    "depth": "/camera/aligned_depth_to_color/image_raw",
    "camera_info": "/camera/color/camera_info",
}
SCENE_FRAMES = 300  # 10 s per sample scene
# Faults per frame (one at most per frame); bench_soak.EXPECTED_REASON says what each must become.
FAULT_RATES = {"depth_missing": 0.01, "depth_zero": 0.01, "depth_size": 0.01, "rgb_size": 0.005, "zero_stamp": 0.005}
JUMP_EVERY = 2000  # a 5 s forward jump at 1000, 3000, ...; a 3 s backward jump at 2000, 4000, ...
JUMP_FORWARD_NS, JUMP_BACK_NS = 5_000_000_000, -3_000_000_000
BURST_EVERY, BURST_FRAMES = 500, 30  # how the node path is fed: 30 frames at once every 500


@dataclasses.dataclass(frozen=True)
class FramePlan:
    index: int
    scene: int
    stamp_ns: int  # header stamp (0 for a zero-stamp frame)
    receive_ns: int  # bag log time: always rising, as received
    fault: str | None


def plan_frames(
    frames: int, scenes: int, seed: int = 0, rates: dict[str, float] = FAULT_RATES, jump_every: int = JUMP_EVERY
) -> list[FramePlan]:
    """Which frame gets which fault, and its stamps (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    kinds = list(rates)
    draws = rng.random(frames)
    bounds = np.cumsum(list(rates.values()))
    offset, plan = 0, []
    for index in range(frames):
        if index and index % jump_every == jump_every // 2:
            offset += JUMP_FORWARD_NS
        elif index and index % jump_every == 0:
            offset += JUMP_BACK_NS
        slot = int(np.searchsorted(bounds, draws[index], side="right"))
        fault = kinds[slot] if slot < len(kinds) and index >= 3 else None  # the first frames are clean
        stamp = 0 if fault == "zero_stamp" else START_NS + index * PERIOD_NS + offset
        plan.append(FramePlan(index, (index // SCENE_FRAMES) % scenes, stamp, START_NS + index * PERIOD_NS, fault))
    return plan


class SoakMessages:
    """The payloads of every frame kind, encoded once (the bag repeats them with new headers)."""

    def __init__(self, triplets: list[Triplet]) -> None:
        store = typestore()
        self.types = store.types
        self.rgb_jpeg, self.rgb_small_jpeg, self.depth, self.depth_zero, self.depth_small = [], [], [], [], []
        self.infos = []
        for triplet in triplets:
            rgb = build_frame(triplet["rgb"], None, triplet["camera_info"]).rgb
            metres = build_frame(triplet["rgb"], triplet["depth"], triplet["camera_info"]).depth_m
            assert metres is not None
            millimetres = np.nan_to_num(metres * 1000.0, nan=0.0).clip(0, 65535).astype(np.uint16)
            self.rgb_jpeg.append(jpeg(rgb))
            self.rgb_small_jpeg.append(jpeg(cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2))))
            self.depth.append(millimetres)
            self.depth_zero.append(np.zeros_like(millimetres))
            self.depth_small.append(np.ascontiguousarray(millimetres[::2, ::2]))
            self.infos.append(triplet["camera_info"])

    def header(self, stamp_ns: int, frame_id: str) -> Any:
        sec, nanosec = divmod(stamp_ns, 1_000_000_000)
        stamp = self.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
        return self.types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def frame(self, plan: FramePlan) -> dict[str, Any]:
        """role -> message of one planned frame (no depth for a missing one)."""
        info = self.infos[plan.scene]
        header = self.header(plan.stamp_ns, info.header.frame_id)
        jpeg_bytes = (self.rgb_small_jpeg if plan.fault == "rgb_size" else self.rgb_jpeg)[plan.scene]
        messages = {
            "rgb": self.types["sensor_msgs/msg/CompressedImage"](
                header=header, format="rgb8; jpeg compressed bgr8", data=jpeg_bytes
            ),
            "camera_info": dataclasses.replace(info, header=header),
        }
        if plan.fault != "depth_missing":
            depth = {"depth_zero": self.depth_zero, "depth_size": self.depth_small}.get(plan.fault or "", self.depth)
            image = depth[plan.scene]
            messages["depth"] = self.types["sensor_msgs/msg/Image"](
                header=header,
                height=image.shape[0],
                width=image.shape[1],
                encoding="16UC1",
                is_bigendian=0,
                step=image.shape[1] * 2,
                data=image.reshape(-1).view(np.uint8),
            )
        return messages


def jpeg(rgb: np.ndarray) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return np.asarray(data, dtype=np.uint8).reshape(-1)


def write_soak_bag(path: Path, messages: SoakMessages, plan: list[FramePlan]) -> Path:
    """The recording: each frame's messages in the order a camera sends them, logged at the
    (always rising) receive time whatever their header stamps say."""
    store = typestore()
    msgtypes = {
        "rgb": "sensor_msgs/msg/CompressedImage",
        "depth": "sensor_msgs/msg/Image",
        "camera_info": "sensor_msgs/msg/CameraInfo",
    }
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {role: writer.add_connection(TOPICS[role], msgtypes[role], typestore=store) for role in TOPICS}
        for frame in plan:
            for role, msg in messages.frame(frame).items():
                writer.write(connections[role], frame.receive_ns, store.serialize_cdr(msg, msgtypes[role]))
    return path
