"""The node's entry point without ROS: a clear message and a non-zero exit, no traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hdnet_ros.node.main import EXIT_MISSING_DEPENDENCY, EXIT_NO_ROS, main
from hdnet_ros.node.startup import PIP_ONLY
from test_cli_missing_extras import run_module


def test_missing_ros_is_reported_plainly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "rclpy", None)  # importing it now raises ImportError, ROS or not
    assert main(["hdnet_node"]) == EXIT_NO_ROS
    error = capsys.readouterr().err
    assert error.startswith("hdnet_node needs ROS 2")
    assert "source /opt/ros/<distro>/setup.bash" in error.lower() and "hdnet-ros replay" in error


def test_missing_core_dependency_is_named_not_blamed_on_ros(tmp_path: Path) -> None:
    result = run_module(tmp_path, ["yaml"], "hdnet_ros.node.main")
    assert result.returncode == EXIT_MISSING_DEPENDENCY
    assert "Traceback" not in result.stderr and "needs ROS 2" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("hdnet_node: PyYAML is not installed (No module named 'yaml')")
    assert "rosdep install" in line and f"pip install {PIP_ONLY}" in line
