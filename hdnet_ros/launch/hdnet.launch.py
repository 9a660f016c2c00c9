"""hdnet_node on one camera, optionally with RViz.

    ros2 launch hdnet_ros hdnet.launch.py camera:=realsense rviz:=true
    ros2 launch hdnet_ros hdnet.launch.py camera:=zed rgb_topic:=/zed/zed_node/rgb/color/rect/image
    ros2 launch hdnet_ros hdnet.launch.py config:=/path/to/my_params.yaml

camera:= picks a parameter preset from this package's config/ (topics of that camera's
driver); config:= replaces it with your own file; rgb_topic:=, depth_topic:= and
camera_info_topic:= override the file's topics (e.g. for a camera in another namespace).
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "hdnet_ros"
# Camera preset -> the optical frame its driver stamps the colour image with (RViz's fixed frame).
OUTPUT_NAMES = ("skeletons", "markers", "debug_image", "people")
CAMERAS = {
    "realsense": "camera_color_optical_frame",
    "azure_kinect": "rgb_camera_link",
    "femto": "camera_color_optical_frame",
    "zed": "zed_left_camera_optical_frame",
    "xtion": "camera_rgb_optical_frame",
    "hsr": "head_rgbd_sensor_rgb_frame",
}
TOPIC_ARGUMENTS = ("rgb_topic", "depth_topic", "camera_info_topic")


def _is_true(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "yes", "on")


def _launch_setup(context: LaunchContext) -> list[Node]:
    def argument(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    camera = argument("camera")
    if camera not in CAMERAS:
        raise ValueError(f"camera:={camera} is not a preset; use one of {', '.join(CAMERAS)} (or config:=FILE)")
    share = get_package_share_directory(PACKAGE)
    config = argument("config") or os.path.join(share, "config", f"{camera}.yaml")
    # Later parameter sources win: the file, then the explicit launch arguments.
    overrides: dict[str, str | bool] = {f"input.{name}": argument(name) for name in TOPIC_ARGUMENTS if argument(name)}
    if argument("models_dir"):
        overrides["models.models_dir"] = argument("models_dir")
    use_sim_time = _is_true(argument("use_sim_time"))
    overrides["use_sim_time"] = use_sim_time
    actions = [
        Node(
            package=PACKAGE,
            executable="hdnet_node",
            name="hdnet_node",
            output="screen",
            emulate_tty=True,
            parameters=[config, overrides],
            # The node publishes on ~/<name>; launched, its outputs take the same names as
            # the replay tool's bags (/hdnet/<name>), so one RViz config serves both.
            remappings=[(f"~/{name}", f"/hdnet/{name}") for name in OUTPUT_NAMES],
        )
    ]
    if _is_true(argument("rviz")):
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                output="screen",
                arguments=[
                    "-d",
                    os.path.join(share, "config", "hdnet.rviz"),
                    "-f",
                    argument("fixed_frame") or CAMERAS[camera],
                ],
                parameters=[{"use_sim_time": use_sim_time}],
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "camera", default_value="realsense", description=f"camera preset: {' | '.join(CAMERAS)}"
            ),
            DeclareLaunchArgument(
                "config", default_value="", description="parameter file (default: config/<camera>.yaml)"
            ),
            DeclareLaunchArgument("rgb_topic", default_value="", description="RGB image topic (default: from config)"),
            DeclareLaunchArgument(
                "depth_topic", default_value="", description="registered depth topic (default: from config)"
            ),
            DeclareLaunchArgument(
                "camera_info_topic", default_value="", description="RGB camera_info topic (default: from config)"
            ),
            DeclareLaunchArgument(
                "models_dir",
                default_value="",
                description="model directory (default: config, $HDNET_ROS_MODELS_DIR, ~/.cache/hdnet_ros/models)",
            ),
            DeclareLaunchArgument(
                "use_sim_time", default_value="false", description="follow /clock (true when replaying a bag)"
            ),
            DeclareLaunchArgument("rviz", default_value="false", description="open RViz with config/hdnet.rviz"),
            DeclareLaunchArgument(
                "fixed_frame", default_value="", description="RViz fixed frame (default: the camera's optical frame)"
            ),
            OpaqueFunction(function=_launch_setup),
        ]
    )
