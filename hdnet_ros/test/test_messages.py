"""The .msg files are the single source of truth for the messages and their constants."""

from __future__ import annotations

from pathlib import Path

from hdnet_ros.people import DepthSource, TrackingState
from hdnet_ros.ros_types import message_definition_dir, message_definitions, typestore
from rosbags.typesys import get_types_from_msg

from hdnet_ros import joints

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
    bundled = Path(joints.__file__).parent / "msg"
    for path in bundled.glob("*.msg"):
        assert path.read_text() == (MSG_DIR / path.name).read_text(), f"stale bundled {path.name}: rebuild"
    assert message_definition_dir().resolve() == MSG_DIR.resolve()


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
