"""Test helpers: sample messages as ROS 2 type-store objects, bags written from them, and
the steps MoveNet's keypoints move by."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hdnet_ros.inference.movenet_codec import GRID_SIZE, INT8_DECODING
from hdnet_ros.replay.bag_input import BagInput
from hdnet_ros.ros_types import typestore
from hdnet_ros.stages.keypoints2d import MOVENET_INPUT_SIZE
from rosbags.rosbag2 import StoragePlugin, Writer

RGB_TOPIC = "/hero/head_rgbd_sensor/rgb/image_raw"
DEPTH_TOPIC = "/hero/head_rgbd_sensor/depth_registered/image"
INFO_TOPIC = "/hero/head_rgbd_sensor/rgb/camera_info"

# What MoveNet's keypoints legitimately vary by, px of the 192 px crop: a heatmap cell (an
# arg-max over the coarse int8 heatmaps may pick the neighbouring cell when the arithmetic
# or the crop's grey levels change) and a step of the int8 offsets (0.2 cells).
CELL_PX = MOVENET_INPUT_SIZE / GRID_SIZE
OFFSET_STEP_PX = INT8_DECODING.offsets.scale * CELL_PX


def installed(*modules: str) -> bool:
    """Whether every named module is installed (found, not imported: no cost, no side effect).

    A bare directory of that name on sys.path is not: Python would import it as an empty
    namespace package (the package's own ``launch/`` folder of launch files is one when the
    checkout's ``hdnet_ros/`` is on the path, as in an editable install)."""
    try:
        specs = [importlib.util.find_spec(module) for module in modules]
    except (ImportError, ValueError):  # a dotted name whose parent is absent or blocked
        return False
    return all(spec is not None and spec.origin is not None for spec in specs)


def needs(*modules: str, why: str = "") -> pytest.MarkDecorator:
    """Skip the marked tests (or a module's, as ``pytestmark``), saying what is missing, when
    one of ``modules`` is not installed. Never skip at module level instead: ROS 2 Humble's
    launch_testing plugin imports every test module during collection, and a module-level
    skip there takes the whole directory with it (test_suite_collection.py)."""
    missing = [module for module in modules if not installed(module)]
    reason = f"{', '.join(missing)} not installed" + (f": {why}" if why else "")
    return pytest.mark.skipif(bool(missing), reason=reason)


def sample_messages(bag: Path) -> dict[str, Any]:
    """{'rgb': Image, 'depth': Image, 'camera_info': CameraInfo} of one sample bag."""
    with BagInput(bag, {}) as reader:
        return {item.role: item.message for item in reader.messages()}


def write_rosbag2(path: Path, messages: Iterable[tuple[str, Any]], storage: str = "mcap") -> Path:
    """A rosbag2 with (topic, message) pairs, timestamped with their header stamps."""
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    store = typestore()
    connections: dict[str, Any] = {}
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        for topic, msg in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=store)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            writer.write(connections[topic], stamp or 1, store.serialize_cdr(msg, msg.__msgtype__))
    return path


def triplet(messages: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(RGB_TOPIC, messages["rgb"]), (DEPTH_TOPIC, messages["depth"]), (INFO_TOPIC, messages["camera_info"])]


def run_replay(models_dir: Path, output: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> int:
    """``hdnet-ros replay`` as a user runs it (slop 0.5: the sample stamps are 0.32 s apart)."""
    from hdnet_ros.cli import main

    args = ["replay", *map(str, inputs), "--output", str(output), "--models-dir", str(models_dir)]
    return main([*args, "--slop", "0.5", "--no-progress", *extra])
