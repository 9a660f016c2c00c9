"""Replay a rosbag2 through hdnet_node inside ROS: `ros2 bag play --clock` plus the node on sim time.

    ros2 launch hdnet_ros replay.launch.py bag:=/path/to/rosbag2_dir camera:=hsr rviz:=true

The bag's /clock drives the node (use_sim_time), so latencies, TF lookups and marker
lifetimes follow the recorded time. ROS 1 bags: convert them first
(`rosbags-convert --src x.bag --dst x_ros2`). To run the pipeline over bags without ROS,
use `hdnet-ros replay`.
"""

from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    OpaqueFunction,
    TimerAction,
)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, ThisLaunchFileDir

# Passed through to hdnet.launch.py unchanged.
NODE_ARGUMENTS = (
    "camera",
    "config",
    "rgb_topic",
    "depth_topic",
    "camera_info_topic",
    "models_dir",
    "rviz",
    "fixed_frame",
    "people_topic",
    "lifecycle",
    "autostart",
)


def _play(context: LaunchContext) -> list[TimerAction]:
    def argument(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    command = ["ros2", "bag", "play", argument("bag"), "--clock", "--rate", argument("rate")]
    if argument("loop").strip().lower() in ("true", "1", "yes", "on"):
        command.append("--loop")
    # Wait for the node to load its models and subscribe, or the first frames are lost.
    return [TimerAction(period=float(argument("start_delay")), actions=[ExecuteProcess(cmd=command, output="screen")])]


def generate_launch_description() -> LaunchDescription:
    node = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([ThisLaunchFileDir(), "hdnet.launch.py"])),
        launch_arguments={
            **{name: LaunchConfiguration(name) for name in NODE_ARGUMENTS},
            "use_sim_time": "true",
        }.items(),
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument("bag", description="rosbag2 directory (or file) to play"),
            DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
            DeclareLaunchArgument("loop", default_value="false", description="play the bag in a loop"),
            DeclareLaunchArgument(
                "start_delay", default_value="3.0", description="seconds to wait for the node before playing"
            ),
            DeclareLaunchArgument(
                "camera", default_value="realsense", description="camera preset (see hdnet.launch.py)"
            ),
            DeclareLaunchArgument("config", default_value="", description="parameter file (default: the preset)"),
            DeclareLaunchArgument("rgb_topic", default_value="", description="RGB image topic (default: from config)"),
            DeclareLaunchArgument(
                "depth_topic", default_value="", description="registered depth topic (default: from config)"
            ),
            DeclareLaunchArgument(
                "camera_info_topic", default_value="", description="RGB camera_info topic (default: from config)"
            ),
            DeclareLaunchArgument("models_dir", default_value="", description="model directory (default: config)"),
            DeclareLaunchArgument("rviz", default_value="false", description="open RViz"),
            DeclareLaunchArgument("fixed_frame", default_value="", description="RViz fixed frame"),
            DeclareLaunchArgument("people_topic", default_value="/people", description="people_msgs/People topic"),
            DeclareLaunchArgument("lifecycle", default_value="false", description="the managed node"),
            DeclareLaunchArgument(
                "autostart", default_value="true", description="lifecycle:=true: configure and activate at launch"
            ),
            node,
            OpaqueFunction(function=_play),
        ]
    )
