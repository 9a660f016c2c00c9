"""The node's parameters come from the Settings tree: one per setting, with its type, range and
description; the generated config/default.yaml and the docs' table stay equal to the code."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hdnet_ros.node.parameters import (
    INT64_MAX,
    INT64_MIN,
    NODE_NAME,
    TABLE_BEGIN,
    TABLE_END,
    default_parameters_yaml,
    main,
    parameter_specs,
    parameter_table_markdown,
    ros_type_name,
    settings_from_parameters,
    with_parameter_table,
)

from hdnet_ros.config import Settings, SettingsError, flatten, iter_parameters, load_settings

PACKAGE = Path(__file__).resolve().parents[1]
REGENERATE = "regenerate it: python3 -m hdnet_ros.node.parameters write"
PYTHON_TYPE = {"PARAMETER_BOOL": bool, "PARAMETER_INTEGER": int, "PARAMETER_DOUBLE": float, "PARAMETER_STRING": str}


def specs_by_name() -> dict:
    return {spec.name: spec for spec in parameter_specs()}


def test_every_setting_is_one_parameter_with_its_description_and_default() -> None:
    infos = list(iter_parameters())
    specs = parameter_specs()
    assert [s.name for s in specs] == [i.name for i in infos]
    for spec, info in zip(specs, infos, strict=True):
        assert spec.description == info.description != ""
        assert spec.default == info.default


def test_settings_tree_has_the_node_section() -> None:
    names = set(specs_by_name())
    expected = {
        "node.rgb_reliability",
        "node.rgb_qos_depth",
        "node.depth_reliability",
        "node.camera_info_qos_depth",
        "node.rgb_compressed",
        "node.target_frame",
        "node.tf_timeout_s",
        "node.publish_debug_image",
        "node.sync_timeout_s",
    }
    assert expected <= names, "config.Settings needs `node: NodeConfig = field(default_factory=NodeConfig)`"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (bool, "PARAMETER_BOOL"),
        (int, "PARAMETER_INTEGER"),
        (float, "PARAMETER_DOUBLE"),
        (str, "PARAMETER_STRING"),
        (list[float], "PARAMETER_DOUBLE_ARRAY"),
        (list[str], "PARAMETER_STRING_ARRAY"),
    ],
)
def test_python_types_map_to_ros_parameter_types(kind: type, expected: str) -> None:
    assert ros_type_name(kind) == expected


def test_a_type_ros_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError, match="no ROS parameter type"):
        ros_type_name(dict)


def test_ranges_come_from_min_and_max() -> None:
    specs = specs_by_name()
    assert specs["input.slop"].type_name == "PARAMETER_DOUBLE"
    assert specs["input.slop"].float_range == (0.0, 10.0)
    assert specs["input.queue_size"].integer_range == (1, 1000)
    assert specs["detector.max_people"].integer_range == (1, INT64_MAX)  # only a minimum
    assert specs["input.depth_units_divisor"].float_range == (0.0, math.inf)
    assert specs["models.models_dir"].float_range is None and specs["models.models_dir"].integer_range is None
    for info in iter_parameters():
        spec = specs[info.name]
        bounds = spec.float_range or spec.integer_range
        if info.minimum is None and info.maximum is None:
            assert bounds is None, info.name
            continue
        assert bounds is not None, info.name
        open_low, open_high = (-math.inf, math.inf) if info.type is float else (INT64_MIN, INT64_MAX)
        assert bounds[0] == (info.minimum if info.minimum is not None else open_low)
        assert bounds[1] == (info.maximum if info.maximum is not None else open_high)


def test_defaults_have_exactly_the_declared_type() -> None:
    # rclpy refuses to declare a double parameter with an integer default (and vice versa).
    for spec in parameter_specs():
        assert type(spec.default) is PYTHON_TYPE[spec.type_name], spec.name


def test_parameter_values_become_settings() -> None:
    values = {spec.name: spec.default for spec in parameter_specs()}
    assert settings_from_parameters(values) == Settings()
    changed = settings_from_parameters({**values, "input.slop": 0.5, "node.target_frame": "base_link"})
    assert changed.input.slop == 0.5
    assert changed.node.target_frame == "base_link"


def test_unknown_reliability_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match=r"node\.depth_reliability must be one of best_effort, reliable"):
        settings_from_parameters({"node.depth_reliability": "sometimes"})


def test_out_of_range_value_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"input\.slop"):
        settings_from_parameters({"input.slop": -1.0})


def test_default_yaml_is_generated_from_the_settings() -> None:
    path = PACKAGE / "config" / "default.yaml"
    text = path.read_text()
    assert text == default_parameters_yaml(), f"config/default.yaml is stale; {REGENERATE}"
    tree = yaml.safe_load(text)
    assert list(tree) == [NODE_NAME]
    values = flatten(tree[NODE_NAME]["ros__parameters"])
    assert values == {spec.name: spec.default for spec in parameter_specs()}
    for spec in parameter_specs():
        assert type(values[spec.name]) is type(spec.default), spec.name  # 1.0 stays a double
    assert load_settings(path) == Settings()


def test_docs_parameter_table_is_generated_from_the_settings() -> None:
    document = (PACKAGE.parent / "docs" / "ros_node.md").read_text()
    assert TABLE_BEGIN in document and TABLE_END in document
    table = document.split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0].strip("\n") + "\n"
    assert table == parameter_table_markdown(), f"the table in docs/ros_node.md is stale; {REGENERATE}"
    assert table.count("\n") == len(parameter_specs()) + 2


def test_table_replacement_keeps_the_rest_of_the_document() -> None:
    document = f"intro\n{TABLE_BEGIN}\nold table\n{TABLE_END}\nafter\n"
    assert with_parameter_table(document) == f"intro\n{TABLE_BEGIN}\n{parameter_table_markdown()}{TABLE_END}\nafter\n"
    with pytest.raises(ValueError, match="no <!-- parameters:begin -->"):
        with_parameter_table("no markers")


def test_command_line_prints_yaml_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["yaml"]) == 0
    assert capsys.readouterr().out == default_parameters_yaml()
    assert main(["table"]) == 0
    assert capsys.readouterr().out == parameter_table_markdown()
    assert main(["json"]) == 2
    assert main(["write", "extra"]) == 2
