"""The package's log records reach the application's handlers after ROS 2's launch.logging
was imported, whichever test or module came first.

``launch.logging`` (ros2/launch, Humble to Rolling) ends its import with ``reset()``: it
removes the handlers of the loggers it made, sets the root level to INFO and installs
``LaunchLogger`` as the logger class, whose ``__init__`` sets ``propagate = False``. A logger
created afterwards no longer passes records to the root's handlers, where the command
line's ``basicConfig`` and pytest's caplog listen. ``launch_like_logging`` does exactly that
here (or imports the real module where ROS is installed), and undoes it.
"""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import installed

from hdnet_ros import logs

PACKAGE = Path(__file__).resolve().parents[1] / "hdnet_ros"
LAUNCH_LIKE_LOGGING = '''
import logging

class LaunchLogger(logging.getLoggerClass()):
    """launch.logging.LaunchLogger: every logger made after the import stops propagating."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.propagate = False

logging.root.setLevel(logging.INFO)
logging.setLoggerClass(LaunchLogger)
'''


@pytest.fixture
def launch_like_logging() -> Iterator[None]:
    """The logger class launch.logging installs, for this test only."""
    before = logging.getLoggerClass()
    exec(compile(LAUNCH_LIKE_LOGGING, "launch_like_logging", "exec"), {})
    try:
        yield
    finally:
        logging.setLoggerClass(before)


def test_the_simulation_stops_propagation_as_launch_does(launch_like_logging: None) -> None:
    plain = logging.getLogger("hdnet_ros.test_logs.plain")
    assert not plain.propagate, "the stand-in must reproduce the failure it guards against"


def test_a_package_logger_made_after_launch_reaches_caplog(
    launch_like_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logs.get_logger("hdnet_ros.test_logs.fresh")
    with caplog.at_level(logging.INFO):
        logger.info("seen by the application's handlers")
    assert [r.getMessage() for r in caplog.records] == ["seen by the application's handlers"]


def test_no_module_of_the_package_makes_its_logger_otherwise() -> None:
    """Every logger of the package comes from logs.get_logger (read with ast: nothing imported)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "logs.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "getLogger":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == [], f"use hdnet_ros.logs.get_logger: {offenders}"


def test_the_command_line_logs_through_its_handler_after_launch(tmp_path: Path) -> None:
    """A fresh interpreter imports launch's logging first (the real one where ROS is), then
    runs a replay that fails on a missing model: the error comes through basicConfig's
    format, not as logging's bare last-resort line."""
    prelude = "import launch" if installed("launch") else LAUNCH_LIKE_LOGGING
    code = (
        f"{prelude}\n"
        "import sys\n"
        "from hdnet_ros.cli import main\n"
        f"sys.exit(main(['replay', {str(tmp_path / 'in.bag')!r}, '--output', {str(tmp_path / 'out')!r},"
        f" '--models-dir', {str(tmp_path / 'empty')!r}, '--no-progress']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert any(line.startswith("ERROR hdnet_ros.") for line in result.stderr.splitlines()), result.stderr
