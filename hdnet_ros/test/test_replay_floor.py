"""The replay takes the camera's pose over the floor from the bag's /tf_static, as the node
takes it from tf2: on the sample frames replayed RGB-only with a floor under the standing
person (where the sensor measured them), the roots are those the pipeline gives with the
same pose handed to it directly (the transform's direction and frames are tf2's). A missing
transform or a camera below the floor is a logged, counted fallback, never a crash. (The
sample frames do not show the floor, so the floor is put a hip height under the measured
pelvis; the accuracy of the placement on a floor is bench_panoptic's and test_placement's.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.frame_input import build_frame
from hdnet_ros.joints import LEFT_HIP, LEFT_SHOULDER, PELVIS, RIGHT_HIP, RIGHT_SHOULDER
from hdnet_ros.people import CameraPose
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.ros_types import typestore
from hdnet_ros.transform_buffer import matrix_quaternion
from helpers import INFO_TOPIC, RGB_TOPIC, run_replay, sample_messages
from rosbags.rosbag2 import StoragePlugin, Writer
from test_replay_samples import positions, read_topic, standing_person

from hdnet_ros.config import load_settings


def camera_in_floor(normal: np.ndarray, offset: float) -> np.ndarray:
    """The optical frame's pose over a floor plane seen in it (normal up, normal . X = offset):
    x forward along the optical axis on the floor, z up, the camera -offset above."""
    forward = np.array([0.0, 0.0, 1.0]) - normal[2] * normal
    forward /= np.linalg.norm(forward)
    pose = np.eye(4)
    pose[:3, :3] = np.stack((forward, np.cross(normal, forward), normal))
    pose[2, 3] = -offset
    return pose


def tf_static(frame_id: str, pose: np.ndarray, stamp: Any) -> Any:
    types = typestore().types
    x, y, z, w = matrix_quaternion(pose[:3, :3])
    transform = types["geometry_msgs/msg/TransformStamped"](
        header=types["std_msgs/msg/Header"](stamp=stamp, frame_id="base_footprint"),
        child_frame_id=frame_id,
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](x=pose[0, 3], y=pose[1, 3], z=pose[2, 3]),
            rotation=types["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w),
        ),
    )
    return types["tf2_msgs/msg/TFMessage"](transforms=[transform])


class _Stamped:
    """A TFMessage with a header stamp, so write_rosbag2 can time it (TFMessage has none)."""

    def __init__(self, message: Any, stamp: Any) -> None:
        self.message, self.header = message, type("Header", (), {"stamp": stamp})()
        self.__msgtype__ = message.__msgtype__


# Hip joint height of a 1.70 m adult (0.530 H, Drillis & Contini) in shoes: the floor under
# the sample's standing person, whose feet the camera does not see.
HIP_HEIGHT_M = 0.53 * 1.70 + 0.025


def floor_under(skeleton: Any) -> tuple[np.ndarray, float]:
    """The floor under a standing person measured by the sensor: up along their trunk, a hip
    height below their pelvis (normal . X = offset)."""
    points = positions(skeleton)
    up = (points[LEFT_SHOULDER] + points[RIGHT_SHOULDER] - points[LEFT_HIP] - points[RIGHT_HIP]) / 2.0
    up /= np.linalg.norm(up)
    return up, float(up @ points[PELVIS] - HIP_HEIGHT_M)


@pytest.fixture(scope="module")
def floor_setup(
    sample_bags: list[Path], sample_replay: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, list[Path]], list[np.ndarray]]:
    """The sample frames RGB-only, with the camera's pose over the floor under the standing
    person on /tf_static, with a camera 0.5 m below the floor, and without any transform."""
    folder = tmp_path_factory.mktemp("floor_bags")
    bags: dict[str, list[Path]] = {"tf": [], "below": [], "none": []}
    measured = read_topic(sample_replay / "bag", "/hdnet/skeletons")
    poses: list[np.ndarray] = []
    for index, (bag, array) in enumerate(zip(sample_bags, measured, strict=True)):
        messages = sample_messages(bag)
        frame = build_frame(messages["rgb"], messages["depth"], messages["camera_info"])
        pose = camera_in_floor(*floor_under(standing_person(array)))
        poses.append(pose)
        below = pose.copy()
        below[2, 3] = -0.5
        for kind, chosen in (("tf", pose), ("below", below), ("none", None)):
            items: list[tuple[str, Any]] = [(RGB_TOPIC, messages["rgb"]), (INFO_TOPIC, messages["camera_info"])]
            if chosen is not None:
                items.insert(0, ("/tf_static", tf_static(frame.frame_id, chosen, messages["rgb"].header.stamp)))
            bags[kind].append(_write(folder / f"{kind}_{index}", items, frame.stamp_ns))
    return bags, poses


@pytest.fixture(scope="module")
def floor_bags(floor_setup: tuple[dict[str, list[Path]], list[np.ndarray]]) -> dict[str, list[Path]]:
    return floor_setup[0]


@pytest.fixture(scope="module")
def poses(floor_setup: tuple[dict[str, list[Path]], list[np.ndarray]]) -> list[np.ndarray]:
    return floor_setup[1]


def _write(path: Path, items: list[tuple[str, Any]], stamp_ns: int) -> Path:
    """A rosbag2 of the items, all logged at the frame's stamp (the transform first)."""
    store = typestore()
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        for topic, message in items:
            connection = writer.add_connection(topic, message.__msgtype__, typestore=store)
            writer.write(connection, stamp_ns, store.serialize_cdr(message, message.__msgtype__))
    return path


# Both pipelines compared below run every network on the same runtime: ``auto`` times the
# candidates at start-up, and under load two pipelines can choose differently (their outputs
# agree within float32 rounding, which the fit turned into 0.13 mm at 7.4 m in a loaded
# full-suite run, 0.8 mm once the detector's and the 2D network's runtimes were chosen too),
# while this test compares the transform's path at 1e-5 m.
PINNED_RUNTIMES = {
    "detector.runtime": "onnxruntime",
    "keypoints.runtime": "onnxruntime",
    "blazepose.runtime": "litert_fp32",
}


@pytest.fixture(scope="module")
def replays(
    models_dir: Path, floor_bags: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("floor_replays")
    config = folder / "pinned_runtime.yaml"
    config.write_text(
        "".join(f"{name.split('.')[0]}:\n  runtime: {runtime}\n" for name, runtime in PINNED_RUNTIMES.items())
    )
    outputs = {}
    for kind, bags in floor_bags.items():
        outputs[kind] = folder / kind
        extra = ("--no-overlays", "--config", str(config))
        assert run_replay(models_dir, outputs[kind], *bags, extra=extra) == 0
    return outputs


def placement(output: Path) -> dict[str, int]:
    return json.loads((output / "summary.json").read_text())["networks"]["placement"]


def test_the_tf_floor_is_used_for_every_frame(replays: dict[str, Path]) -> None:
    counts = placement(replays["tf"])
    assert counts.get("floor_tf") == 3
    assert counts.get("standing", 0) >= 3  # the standing person of every frame stands on it


def test_the_floor_from_the_bag_is_the_floor_the_pipeline_gets_directly(
    replays: dict[str, Path], floor_bags: dict[str, list[Path]], poses: list[np.ndarray], models_dir: Path
) -> None:
    """The transform travels through the bag and the buffer with tf2's conventions: the
    replay's roots equal those of the pipeline handed the same pose directly."""
    overrides = {
        "models.models_dir": str(models_dir),
        "input.use_depth": False,
        **PINNED_RUNTIMES,
    }
    pipeline = Pipeline.from_settings(load_settings(None, overrides))
    replayed = read_topic(replays["tf"] / "bag", "/hdnet/skeletons")
    for bag, pose, array in zip(floor_bags["tf"], poses, replayed, strict=True):
        messages = sample_messages(bag)
        frame = build_frame(messages["rgb"], None, messages["camera_info"])
        frame.floor_pose = CameraPose(pose)
        pipeline.reset_tracking()
        people = pipeline.process(frame).people
        direct = sorted(p.positions[PELVIS, 2] for p in people if p.valid[PELVIS])
        through_bag = sorted(s.root_position.z for s in array.skeletons if s.root_valid)
        assert len(through_bag) >= 3
        np.testing.assert_allclose(through_bag, direct, atol=1e-5)


def test_a_camera_below_the_floor_and_a_missing_transform_are_counted_fallbacks(replays: dict[str, Path]) -> None:
    below, missing = placement(replays["below"]), placement(replays["none"])
    assert below.get("tf_below_floor") == 3 and "floor_tf" not in below
    assert missing.get("tf_missing") == 3 and "floor_tf" not in missing
    for output in (replays["below"], replays["none"]):
        summary = json.loads((output / "summary.json").read_text())
        assert summary["frames_processed"] == 3
        arrays = read_topic(output / "bag", "/hdnet/skeletons")
        assert all(standing_person(a).root_valid for a in arrays)
