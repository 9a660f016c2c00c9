"""hdnet_node on one camera, optionally with RViz, as a plain or a managed (lifecycle) node.

    ros2 launch hdnet_ros hdnet.launch.py camera:=realsense rviz:=true
    ros2 launch hdnet_ros hdnet.launch.py camera:=zed rgb_topic:=/zed/zed_node/rgb/color/rect/image
    ros2 launch hdnet_ros hdnet.launch.py config:=/path/to/my_params.yaml
    ros2 launch hdnet_ros hdnet.launch.py lifecycle:=true autostart:=false   # for a lifecycle manager

camera:= picks a parameter preset from this package's config/ (topics of that camera's
driver); config:= replaces it with your own file; rgb_topic:=, depth_topic:= and
camera_info_topic:= override the file's topics (e.g. for a camera in another namespace).
lifecycle:=true starts hdnet_lifecycle_node (same name, parameters and topics) and, with
autostart:=true, configures and then activates it; with autostart:=false it waits
unconfigured for `ros2 lifecycle set /hdnet_node configure` or a lifecycle manager
(nav2_lifecycle_manager with node_names: ['hdnet_node']).
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.action import Action
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

PACKAGE = "hdnet_ros"
NODE_NAME = "hdnet_node"
# The node's ~/<name> outputs, published as /hdnet/<name> (the names of the replay's bags).
OUTPUT_NAMES = ("skeletons", "markers", "debug_image", "people")
# Camera preset -> the optical frame its driver stamps the colour image with (RViz's fixed frame).
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


def _lifecycle_autostart(node: LifecycleNode) -> list[Action]:
    """Configure the node, then activate it once configure succeeded (and only then: a later
    deactivate is not undone)."""

    def transition(transition_id: int) -> EmitEvent:
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition_id))

    activate = OnStateTransition(
        target_lifecycle_node=node,
        start_state="configuring",
        goal_state="inactive",
        entities=[transition(Transition.TRANSITION_ACTIVATE)],
    )
    return [RegisterEventHandler(activate), transition(Transition.TRANSITION_CONFIGURE)]


def _launch_setup(context: LaunchContext) -> list[Action]:
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
    node_arguments = {
        "package": PACKAGE,
        "name": NODE_NAME,
        "output": "screen",
        "emulate_tty": True,
        "parameters": [config, overrides],
        # The node publishes on ~/<name>; launched, its outputs take the same names as the
        # replay tool's bags (/hdnet/<name>, people_msgs on /people), so one RViz config serves
        # both and social costmap layers find the people where they look by default.
        "remappings": [(f"~/{name}", f"/hdnet/{name}") for name in OUTPUT_NAMES]
        + [("~/people_nav", argument("people_topic"))],
    }
    actions: list[Action] = []
    if _is_true(argument("lifecycle")):
        managed = LifecycleNode(executable="hdnet_lifecycle_node", namespace="", **node_arguments)
        actions.append(managed)
        if _is_true(argument("autostart")):
            actions += _lifecycle_autostart(managed)
    else:
        actions.append(Node(executable="hdnet_node", **node_arguments))
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
            DeclareLaunchArgument(
                "people_topic",
                default_value="/people",
                description="people_msgs/People topic (when people_msgs is installed; "
                "social costmap layers read /people)",
            ),
            DeclareLaunchArgument(
                "lifecycle",
                default_value="false",
                description="start the managed hdnet_lifecycle_node instead of hdnet_node",
            ),
            DeclareLaunchArgument(
                "autostart",
                default_value="true",
                description="with lifecycle:=true: configure and activate at launch "
                "(false: wait for a lifecycle manager)",
            ),
            DeclareLaunchArgument("rviz", default_value="false", description="open RViz with config/hdnet.rviz"),
            DeclareLaunchArgument(
                "fixed_frame", default_value="", description="RViz fixed frame (default: the camera's optical frame)"
            ),
            OpaqueFunction(function=_launch_setup),
        ]
    )
