"""The .msg files are the single source of truth for the messages and their constants."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hdnet_ros.people import DepthSource, TrackingState
from hdnet_ros.ros_types import MSG_DIR_ENV as MSG_ENV
from hdnet_ros.ros_types import message_definition_dir, message_definitions, typestore
from rosbags.typesys import get_types_from_msg

from hdnet_ros import joints, ros_types

MSG_DIR = Path(__file__).resolve().parents[2] / "hdnet_ros_msgs" / "msg"


def test_registered_definitions_equal_the_msg_files() -> None:
    files = {f"hdnet_ros_msgs/msg/{p.stem}": p.read_text() for p in sorted(MSG_DIR.glob("*.msg"))}
    assert set(files) == {
        "hdnet_ros_msgs/msg/BoundingBox2D",
        "hdnet_ros_msgs/msg/Keypoint3D",
        "hdnet_ros_msgs/msg/Skeleton3D",
        "hdnet_ros_msgs/msg/Skeleton3DArray",
    }
    assert message_definitions() == files
    store = typestore()
    for name, text in files.items():
        expected = get_types_from_msg(text, name)[name]
        assert store.fielddefs[name] == expected


def test_msg_files_are_listed_in_cmake() -> None:
    cmake = (MSG_DIR.parent / "CMakeLists.txt").read_text()
    for path in MSG_DIR.glob("*.msg"):
        assert f'"msg/{path.name}"' in cmake


def test_bundled_copy_matches_when_present() -> None:
    """The copy setup.py bundles equals the checkout's files, and the definitions read are
    the checkout's: from the checkout itself when the package is imported from it, else (an
    installed package, e.g. colcon's install/ or a wheel) from wherever it found them."""
    package = Path(ros_types.__file__).resolve().parent
    for path in (package / "msg").glob("*.msg"):
        assert path.read_text() == (MSG_DIR / path.name).read_text(), f"stale bundled {path.name}: rebuild"
    found = message_definition_dir()
    if package.parent.parent == MSG_DIR.parents[1] and MSG_ENV not in os.environ:
        assert found.resolve() == MSG_DIR.resolve()
    assert {p.name: p.read_text() for p in found.glob("*.msg")} == {
        p.name: p.read_text() for p in MSG_DIR.glob("*.msg")
    }


def _msg_files(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "Skeleton3D.msg").write_text(text)
    return directory


def test_definitions_are_found_in_a_checkout_then_ros_then_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order of message_definition_dir on made-up layouts: a checkout (the package beside
    hdnet_ros_msgs/), a colcon install (share/ found through ament_index), a wheel (bundled)."""
    monkeypatch.delenv(MSG_ENV, raising=False)
    checkout = tmp_path / "ws" / "src" / "hdnet_ros"
    source = _msg_files(checkout / "hdnet_ros_msgs" / "msg", "source")
    bundled_in_checkout = _msg_files(checkout / "hdnet_ros" / "hdnet_ros" / "msg", "bundled")
    share = _msg_files(tmp_path / "ws" / "install" / "hdnet_ros_msgs" / "share" / "hdnet_ros_msgs" / "msg", "share")
    installed = tmp_path / "ws" / "install" / "hdnet_ros" / "lib" / "python3.10" / "site-packages" / "hdnet_ros"
    bundled = _msg_files(installed / "msg", "bundled")
    monkeypatch.setattr(ros_types, "_ament_msg_dir", lambda: share)
    assert message_definition_dir(bundled_in_checkout.parent) == source
    assert message_definition_dir(installed) == share
    monkeypatch.setattr(ros_types, "_ament_msg_dir", lambda: None)  # not sourced
    assert message_definition_dir(installed) == bundled
    monkeypatch.setenv(MSG_ENV, str(share))
    assert message_definition_dir(bundled_in_checkout.parent) == share
    monkeypatch.delenv(MSG_ENV)
    with pytest.raises(FileNotFoundError, match=r"no hdnet_ros_msgs \.msg files found"):
        message_definition_dir(tmp_path / "elsewhere" / "hdnet_ros")


def test_joint_constants_match_the_joint_set() -> None:
    skeleton = typestore().types["hdnet_ros_msgs/msg/Skeleton3D"]
    assert skeleton.NUM_KEYPOINTS == joints.NUM_JOINTS == 19
    for index, name in enumerate(joints.JOINT_NAMES):
        assert getattr(skeleton, name.upper()) == index
    assert skeleton.JOINT_SET_COCO19 == joints.JOINT_SET_NAME
    assert (joints.ROOT, joints.NECK) == (skeleton.PELVIS, skeleton.NECK)
    assert skeleton.NUM_FEET == joints.NUM_FEET == len(joints.FOOT_NAMES)
    for index, name in enumerate(joints.FOOT_NAMES):
        assert getattr(skeleton, f"FOOT_{name.upper()}") == index


def test_enum_constants_match_the_core() -> None:
    keypoint = typestore().types["hdnet_ros_msgs/msg/Keypoint3D"]
    skeleton = typestore().types["hdnet_ros_msgs/msg/Skeleton3D"]
    for source in DepthSource:
        assert getattr(keypoint, f"DEPTH_SOURCE_{source.name}") == source.value
    for state in TrackingState:
        assert getattr(skeleton, f"TRACKING_STATE_{state.name}") == state.value
