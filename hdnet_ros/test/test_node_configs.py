"""The node's parameter files: every one loads in the replay tool's loader (no unknown names,
types and ranges checked), has values of the types the node declares, and each camera preset
subscribes to its driver's topics; the launch files declare their documented arguments;
the RViz config shows what the node publishes."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from hdnet_ros.node.parameters import NODE_NAME, parameter_specs
from hdnet_ros.replay.bag_output import OUTPUT_TOPICS

from hdnet_ros.config import flatten, load_settings

PACKAGE = Path(__file__).resolve().parents[1]
CONFIG = PACKAGE / "config"
LAUNCH = PACKAGE / "launch"
DOCS = PACKAGE.parent / "docs" / "ros_node.md"

# (rgb, depth, camera_info) per preset, as the drivers publish them (sources in each file).
PRESET_TOPICS = {
    "realsense": (
        "/camera/camera/color/image_raw",
        "/camera/camera/aligned_depth_to_color/image_raw",
        "/camera/camera/color/camera_info",
    ),
    "azure_kinect": ("/rgb/image_raw", "/depth_to_rgb/image_raw", "/rgb/camera_info"),
    "femto": ("/camera/color/image_raw", "/camera/depth/image_raw", "/camera/color/camera_info"),
    "zed": (
        "/zed/zed_node/rgb/image_rect_color",
        "/zed/zed_node/depth/depth_registered",
        "/zed/zed_node/rgb/camera_info",
    ),
    "xtion": ("/camera/rgb/image_raw", "/camera/depth_registered/image_raw", "/camera/rgb/camera_info"),
    "hsr": (
        "/hero/head_rgbd_sensor/rgb/image_raw",
        "/hero/head_rgbd_sensor/depth_registered/image",
        "/hero/head_rgbd_sensor/rgb/camera_info",
    ),
}
HDNET_LAUNCH_ARGUMENTS = {
    "camera",
    "config",
    "rgb_topic",
    "depth_topic",
    "camera_info_topic",
    "models_dir",
    "use_sim_time",
    "rviz",
    "fixed_frame",
    "people_topic",
    "lifecycle",
    "autostart",
}


@pytest.mark.parametrize("path", sorted(CONFIG.glob("*.yaml")), ids=lambda p: p.name)
def test_parameter_file_loads_in_node_and_replay(path: Path) -> None:
    tree = yaml.safe_load(path.read_text())
    assert list(tree) == [NODE_NAME] and list(tree[NODE_NAME]) == ["ros__parameters"]
    load_settings(path)  # unknown names, wrong types and out-of-range values raise
    declared = {spec.name: spec for spec in parameter_specs()}
    for name, value in flatten(tree[NODE_NAME]["ros__parameters"]).items():
        # rclpy refuses e.g. `slop: 1` for a double parameter, which the replay would accept.
        assert type(value) is type(declared[name].default), f"{path.name}: {name}: {value!r}"


@pytest.mark.parametrize(("camera", "topics"), PRESET_TOPICS.items())
def test_camera_preset_subscribes_to_its_driver_topics(camera: str, topics: tuple[str, str, str]) -> None:
    settings = load_settings(CONFIG / f"{camera}.yaml")
    assert (settings.input.rgb_topic, settings.input.depth_topic, settings.input.camera_info_topic) == topics
    assert settings.input.use_depth


def test_hsr_preset_synchronizes_the_sample_stamps() -> None:
    assert load_settings(CONFIG / "hsr.yaml").input.slop >= 0.32  # the samples' stamps are 0.32 s apart


def _module(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def declared_arguments(path: Path) -> dict[str, Any]:
    """{name: default_value (None when required)} of every DeclareLaunchArgument in a launch file."""
    arguments: dict[str, Any] = {}
    for node in ast.walk(_module(path)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "DeclareLaunchArgument":
            name = ast.literal_eval(node.args[0])
            keywords = {k.arg: k.value for k in node.keywords}
            assert "description" in keywords, f"{path.name}: argument {name} has no description"
            arguments[name] = ast.literal_eval(keywords["default_value"]) if "default_value" in keywords else None
    return arguments


def module_constant(path: Path, name: str) -> Any:
    for node in _module(path).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} defines no {name}")


def test_hdnet_launch_declares_its_arguments() -> None:
    arguments = declared_arguments(LAUNCH / "hdnet.launch.py")
    assert set(arguments) == HDNET_LAUNCH_ARGUMENTS
    assert arguments["camera"] == "realsense"
    assert arguments["use_sim_time"] == "false" and arguments["rviz"] == "false"
    assert arguments["lifecycle"] == "false" and arguments["autostart"] == "true"


def test_launch_runs_the_console_scripts_and_people_where_the_replay_writes_them() -> None:
    """Both executables the launch file starts are entry points; people_msgs goes to the topic
    the replay writes it to (and social costmap layers read)."""
    constants = {n.value for n in ast.walk(_module(LAUNCH / "hdnet.launch.py")) if isinstance(n, ast.Constant)}
    setup = (PACKAGE / "setup.py").read_text()
    for executable in ("hdnet_node", "hdnet_lifecycle_node"):
        assert executable in constants and f'"{executable} = hdnet_ros.node.main:' in setup
    assert {"~/people_nav", "configuring", "inactive"} <= constants
    people_topic = declared_arguments(LAUNCH / "hdnet.launch.py")["people_topic"]
    assert OUTPUT_TOPICS[people_topic] == "people_msgs/msg/People"
    assert "<exec_depend>lifecycle_msgs</exec_depend>" in (PACKAGE / "package.xml").read_text()


def test_every_launch_preset_has_a_parameter_file_and_a_frame() -> None:
    cameras = module_constant(LAUNCH / "hdnet.launch.py", "CAMERAS")
    assert set(cameras) == set(PRESET_TOPICS)
    assert {p.stem for p in CONFIG.glob("*.yaml")} == set(cameras) | {"default"}
    assert all(frame.endswith(("_frame", "_link")) for frame in cameras.values())


def test_replay_launch_plays_the_bag_with_clock_and_runs_the_node_on_sim_time() -> None:
    path = LAUNCH / "replay.launch.py"
    arguments = declared_arguments(path)
    assert arguments["bag"] is None  # required
    passed = set(module_constant(path, "NODE_ARGUMENTS"))
    assert passed == HDNET_LAUNCH_ARGUMENTS - {"use_sim_time"}
    assert passed <= set(arguments)
    constants = {n.value for n in ast.walk(_module(path)) if isinstance(n, ast.Constant)}
    assert {"ros2", "bag", "play", "--clock", "hdnet.launch.py", "use_sim_time", "true"} <= constants


def test_docs_mention_every_launch_argument_and_preset() -> None:
    document = DOCS.read_text()
    for name in HDNET_LAUNCH_ARGUMENTS | set(declared_arguments(LAUNCH / "replay.launch.py")):
        assert f"{name}:=" in document, name
    for camera in PRESET_TOPICS:
        assert f"camera:={camera}" in document, camera


def test_rviz_config_shows_markers_debug_image_and_tf() -> None:
    config = yaml.safe_load((CONFIG / "hdnet.rviz").read_text())
    manager = config["Visualization Manager"]
    displays = {d["Class"]: d for d in manager["Displays"]}
    # hdnet.launch.py remaps the node's ~/markers and ~/debug_image to these.
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "/hdnet/markers"
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == "/hdnet/debug_image"
    assert displays["rviz_default_plugins/TF"]["Enabled"]
    cameras = module_constant(LAUNCH / "hdnet.launch.py", "CAMERAS")
    assert manager["Global Options"]["Fixed Frame"] == cameras["realsense"]  # the default preset's optical frame


def test_launch_description_builds_where_ros_launch_is_installed() -> None:
    pytest.importorskip("launch_ros", reason="ROS 2 launch is not installed: the launch files are checked with ast")
    from launch.actions import DeclareLaunchArgument

    for path, expected in (
        (LAUNCH / "hdnet.launch.py", HDNET_LAUNCH_ARGUMENTS),
        (LAUNCH / "replay.launch.py", set(declared_arguments(LAUNCH / "replay.launch.py"))),
    ):
        spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        description = module.generate_launch_description()
        names = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
        assert names == expected
