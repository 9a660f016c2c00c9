"""Settings of the pipeline and its transports, one tree for both.

The node declares every leaf as a ROS parameter (dotted name, type, description, range) and
the replay tool reads the same names from a YAML file, either plain or in the node's
``<node>: {ros__parameters: ...}`` form. Unknown names and out-of-range values are errors.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hdnet_ros.inference.runtime import InferenceConfig
from hdnet_ros.settings_field import SettingsError, setting
from hdnet_ros.stages.blazepose import BlazePoseConfig
from hdnet_ros.stages.crowd import CrowdConfig
from hdnet_ros.stages.depth import LiftingConfig
from hdnet_ros.stages.detection import DetectorConfig
from hdnet_ros.stages.keypoints2d import KeypointConfig
from hdnet_ros.stages.networks import NetworksConfig
from hdnet_ros.stages.placement import FloorConfig, PlacementConfig
from hdnet_ros.stages.tracking import TrackingConfig


@dataclass(frozen=True)
class ModelsConfig:
    models_dir: str = setting(
        "", "directory of model files ('' = $HDNET_ROS_MODELS_DIR, else ~/.cache/hdnet_ros/models)"
    )
    threads: int = setting(2, "CPU threads per model", min=1, max=64)


@dataclass(frozen=True)
class InputConfig:
    rgb_topic: str = setting("/camera/color/image_raw", "RGB image topic (sensor_msgs/Image)")
    depth_topic: str = setting("/camera/aligned_depth_to_color/image_raw", "depth topic registered to the RGB camera")
    camera_info_topic: str = setting("/camera/color/camera_info", "camera_info of the RGB camera")
    use_depth: bool = setting(True, "subscribe to depth; false runs RGB-only (no sensor depth)")
    depth_units_divisor: float = setting(
        0.0, "raw depth value per metre (0 = by encoding: 16UC1 1000, 32FC1 1)", min=0.0
    )
    queue_size: int = setting(10, "approximate-time synchronizer queue size per topic", min=1, max=1000)
    slop: float = setting(0.1, "largest stamp difference inside one synchronized triplet [s]", min=0.0, max=10.0)


@dataclass(frozen=True)
class OutputConfig:
    body_frame_prefix: str = setting("body_", "TF frame of each person's pelvis: <prefix><id> (REP-155)")
    publish_joint_frames: bool = setting(False, "also broadcast one TF frame per valid joint: <joint>_<id>")
    marker_lifetime_frames: float = setting(3.0, "RViz marker lifetime in frame periods", min=0.5)
    nominal_frame_rate: float = setting(
        15.0, "frame rate used for marker lifetimes until one is measured [Hz]", min=0.1
    )
    min_valid_joints: int = setting(1, "publish a person only with at least this many valid 3D joints (0 = all)", min=0)


# Settings only the live node has (the ``node.*`` parameters): QoS, target frame, debug image.
# They sit in the same tree as the pipeline's, so the node declares them with the same
# machinery and a parameter file for the node still loads in the replay tool (which ignores
# them).
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
        "",
        "frame of ~/people and ~/people_nav (e.g. base_link or map), looked up in TF at the image stamp; "
        "'' = the camera frame",
    )
    tf_timeout_s: float = setting(
        0.05,
        "longest wait for a transform at the image stamp (to target_frame, floor.frame, tracking.fixed_frame) [s]",
        min=0.0,
        max=10.0,
    )
    publish_debug_image: bool = setting(True, "publish ~/debug_image (drawn only while someone subscribes)")
    sync_timeout_s: float = setting(
        5.0, "warn when no synchronized RGB/depth/camera_info triplet arrived for this long [s]", min=0.5
    )


@dataclass(frozen=True)
class Settings:
    models: ModelsConfig = field(default_factory=ModelsConfig)
    input: InputConfig = field(default_factory=InputConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    keypoints: KeypointConfig = field(default_factory=KeypointConfig)
    crowd: CrowdConfig = field(default_factory=CrowdConfig)
    networks: NetworksConfig = field(default_factory=NetworksConfig)
    blazepose: BlazePoseConfig = field(default_factory=BlazePoseConfig)
    lifting: LiftingConfig = field(default_factory=LiftingConfig)
    floor: FloorConfig = field(default_factory=FloorConfig)
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    node: NodeConfig = field(default_factory=NodeConfig)


@dataclass(frozen=True)
class ParameterInfo:
    """One leaf setting: what the node declares as a ROS parameter."""

    name: str  # dotted, e.g. "detector.score_threshold"
    type: type
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None


def _field_type(owner: type, item: dataclasses.Field[Any]) -> Any:
    return typing.get_type_hints(owner)[item.name]


def iter_parameters(owner: type = Settings, prefix: str = "") -> Iterator[ParameterInfo]:
    """Every leaf setting of ``owner`` in declaration order."""
    for item in dataclasses.fields(owner):
        kind = _field_type(owner, item)
        name = f"{prefix}{item.name}"
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            yield from iter_parameters(kind, f"{name}.")
            continue
        yield ParameterInfo(
            name=name,
            type=kind,
            default=item.default,
            description=str(item.metadata.get("description", "")),
            minimum=item.metadata.get("min"),
            maximum=item.metadata.get("max"),
            choices=item.metadata.get("choices"),
        )


def _coerce(info: ParameterInfo, value: Any) -> Any:
    """Check one value against its declared type and range."""
    kind = info.type
    if kind is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{info.name} must be true or false, got {value!r}")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{info.name} must be an integer, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{info.name} must be a number, got {value!r}")
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise SettingsError(f"{info.name} must be a string, got {value!r}")
    elif isinstance(kind, types.GenericAlias) and kind.__origin__ is list and not isinstance(value, list):
        raise SettingsError(f"{info.name} must be a list, got {value!r}")
    if info.choices is not None and value not in info.choices:
        raise SettingsError(f"{info.name} must be one of {', '.join(info.choices)}, got {value!r}")
    if info.minimum is not None and value < info.minimum:
        raise SettingsError(f"{info.name} must be at least {info.minimum}, got {value!r}")
    if info.maximum is not None and value > info.maximum:
        raise SettingsError(f"{info.name} must be at most {info.maximum}, got {value!r}")
    return value


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; dotted keys pass through."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _unwrap_ros_parameters(tree: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept the node's parameter file form ``{node_name: {ros__parameters: {...}}}``."""
    if len(tree) == 1:
        (inner,) = tree.values()
        if isinstance(inner, Mapping) and "ros__parameters" in inner:
            params = inner["ros__parameters"]
            return params if isinstance(params, Mapping) else {}
    if "/**" in tree and isinstance(tree["/**"], Mapping):
        return _unwrap_ros_parameters({"/**": tree["/**"]})
    return tree


def settings_from_dict(values: Mapping[str, Any]) -> Settings:
    """Settings from a (nested or dotted) mapping, validating names, types and ranges."""
    flat = flatten(_unwrap_ros_parameters(values))
    known = {info.name: info for info in iter_parameters()}
    unknown = sorted(set(flat) - set(known))
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
    checked = {name: _coerce(known[name], value) for name, value in flat.items()}
    return _build(Settings, checked, "")


def _build(owner: type, values: Mapping[str, Any], prefix: str) -> Any:
    kwargs: dict[str, Any] = {}
    for item in dataclasses.fields(owner):
        kind = _field_type(owner, item)
        name = f"{prefix}{item.name}"
        if dataclasses.is_dataclass(kind) and isinstance(kind, type):
            kwargs[item.name] = _build(kind, values, f"{name}.")
        elif name in values:
            kwargs[item.name] = values[name]
    return owner(**kwargs)


def load_settings(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings from an optional YAML file, then dotted overrides (command-line flags)."""
    tree: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as error:
            raise SettingsError(f"cannot read config {path}: {error}") from error
        if loaded is not None and not isinstance(loaded, Mapping):
            raise SettingsError(f"config {path} is not a mapping of settings")
        tree = flatten(_unwrap_ros_parameters(loaded or {}))
    tree.update(overrides or {})
    return settings_from_dict(tree)


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    """The nested plain-dict form (for summary.json and YAML)."""
    return dataclasses.asdict(settings)
