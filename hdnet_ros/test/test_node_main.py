"""The node's entry point without ROS: a clear message and a non-zero exit, no traceback."""

from __future__ import annotations

import sys

import pytest
from hdnet_ros.node.main import EXIT_NO_ROS, main


def test_missing_ros_is_reported_plainly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "rclpy", None)  # importing it now raises ImportError, ROS or not
    assert main(["hdnet_node"]) == EXIT_NO_ROS
    error = capsys.readouterr().err
    assert error.startswith("hdnet_node needs ROS 2")
    assert "source /opt/ros/<distro>/setup.bash" in error.lower() and "hdnet-ros replay" in error
