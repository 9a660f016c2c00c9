from __future__ import annotations

from pathlib import Path

import pytest

from hdnet_ros.config import Settings, SettingsError, iter_parameters, load_settings, settings_from_dict


def test_every_setting_has_a_description_and_a_default() -> None:
    infos = list(iter_parameters())
    assert len({i.name for i in infos}) == len(infos)
    for info in infos:
        assert info.description, info.name
        assert isinstance(info.default, info.type), info.name


def test_node_parameter_file_and_plain_yaml_read_the_same(tmp_path: Path) -> None:
    ros = tmp_path / "ros.yaml"
    ros.write_text("hdnet_node:\n  ros__parameters:\n    input:\n      slop: 0.3\n    detector.score_threshold: 0.5\n")
    plain = tmp_path / "plain.yaml"
    plain.write_text("input: {slop: 0.3}\ndetector: {score_threshold: 0.5}\n")
    assert load_settings(ros) == load_settings(plain)
    settings = load_settings(ros, {"input.queue_size": 3})
    assert (settings.input.slop, settings.detector.score_threshold, settings.input.queue_size) == (0.3, 0.5, 3)
    assert settings.lifting == Settings().lifting


@pytest.mark.parametrize(
    "values, message",
    [
        ({"input": {"slopp": 0.1}}, "unknown setting.*input.slopp"),
        ({"input.slop": -1.0}, "input.slop must be at least 0"),
        ({"detector.score_threshold": "high"}, "must be a number"),
        ({"input.queue_size": 2.5}, "must be an integer"),
        ({"input.use_depth": "yes"}, "true or false"),
        ({"inference.onnxruntime_spinning": "always"}, "onnxruntime_spinning must be one of off, in_call, on"),
    ],
)
def test_bad_values_are_rejected_with_their_name(values: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from_dict(values)


def test_unreadable_config_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("input: [unclosed\n")
    with pytest.raises(SettingsError, match="cannot read config"):
        load_settings(path)
