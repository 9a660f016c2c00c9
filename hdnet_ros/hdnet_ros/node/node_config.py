"""Settings only the live node has (the ``node.*`` parameters): QoS, target frame, debug image.

They sit in the same Settings tree as the pipeline's, so the node declares them with the
same machinery and a parameter file for the node still loads in the replay tool (which
ignores them).
"""

from __future__ import annotations

from dataclasses import dataclass

from hdnet_ros.settings_field import setting

RELIABILITIES = ("best_effort", "reliable")

_RELIABILITY_HELP = "QoS reliability of the {} subscription: best_effort (sensor-data profile) or reliable"
_DEPTH_HELP = "QoS history depth of the {} subscription"


@dataclass(frozen=True)
class NodeConfig:
    # Best effort matches both best-effort and reliable publishers; a reliable subscriber
    # would silently receive nothing from a best-effort camera driver.
    rgb_reliability: str = setting("best_effort", _RELIABILITY_HELP.format("RGB"), choices=RELIABILITIES)
    rgb_qos_depth: int = setting(5, _DEPTH_HELP.format("RGB"), min=1, max=1000)
    depth_reliability: str = setting("best_effort", _RELIABILITY_HELP.format("depth"), choices=RELIABILITIES)
    depth_qos_depth: int = setting(5, _DEPTH_HELP.format("depth"), min=1, max=1000)
    camera_info_reliability: str = setting(
        "best_effort", _RELIABILITY_HELP.format("camera_info"), choices=RELIABILITIES
    )
    camera_info_qos_depth: int = setting(5, _DEPTH_HELP.format("camera_info"), min=1, max=1000)
    rgb_compressed: bool = setting(
        False, "subscribe to sensor_msgs/CompressedImage on <input.rgb_topic>/compressed (image_transport's name)"
    )
    target_frame: str = setting(
        "", "frame of ~/people (e.g. base_link or map), looked up in TF at the image stamp; '' = the camera frame"
    )
    tf_timeout_s: float = setting(0.05, "longest wait for the transform to target_frame [s]", min=0.0, max=10.0)
    publish_debug_image: bool = setting(True, "publish ~/debug_image (drawn only while someone subscribes)")
    sync_timeout_s: float = setting(
        5.0, "warn when no synchronized RGB/depth/camera_info triplet arrived for this long [s]", min=0.5
    )


def check_node_config(config: NodeConfig) -> list[str]:
    """Problems the type and range checks cannot see (choices); empty when all is well."""
    problems = []
    for role in ("rgb", "depth", "camera_info"):
        value = getattr(config, f"{role}_reliability")
        if value not in RELIABILITIES:
            problems.append(f"node.{role}_reliability must be one of {', '.join(RELIABILITIES)}, got {value!r}")
    return problems
