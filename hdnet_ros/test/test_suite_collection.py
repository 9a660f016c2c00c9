"""The suite collects the same way inside and outside a sourced ROS 2, with or without the
optional runtimes: a test that needs something absent skips itself, and only itself.

ROS 2 Humble's launch_testing pytest plugin (launch_testing/pytest/hooks.py,
``pytest_pycollect_makemodule``) imports every test module itself while pytest collects the
directory, to look for ``generate_test_description``; it catches nothing but SyntaxError. A
module-level ``pytest.skip(..., allow_module_level=True)`` or ``pytest.importorskip`` raised
there is raised out of the directory's collection, so the whole directory is reported as one
skip (an ImportError as one error). These tests collect the suite in a fresh interpreter in
which the runtimes a ROS user may lack cannot be imported, with a plugin that imports every
module exactly as that hook does.
"""

from __future__ import annotations

import re
from pathlib import Path

from test_cli_missing_extras import run_module

TEST_DIR = Path(__file__).resolve().parent
# Absent on a ROS or CPU machine without the "nets" extra, TensorRT or ROS itself. The
# cpu extra (numpy, OpenCV, onnxruntime, onnx, LiteRT, rosbags, SciPy, numba, PyYAML) is the product's
# runtime and stays importable. The launch_testing plugins are absent too (under a sourced ROS
# their entry points would fail to load): ``LAUNCH_TESTING_IMPORT`` stands in for them.
ABSENT = (
    "torch",
    "torchvision",
    "onnxscript",
    "tensorrt",
    "pycuda",
    "cuda",
    "openvino",
    "rclpy",
    "launch",
    "launch_ros",
    "launch_testing",
    "launch_testing_ros",
    "launch_pytest",
    "ament_index_python",
    "message_filters",
    "cv_bridge",
    "tf2_ros",
    "hdnet_ros_msgs",
    "sensor_msgs",
    "diagnostic_msgs",
)
LAUNCH_TESTING_IMPORT = '''
"""launch_testing's collection hook (ROS 2 Humble, launch_testing/pytest/hooks.py): every
module is imported here, before pytest imports it, and nothing but SyntaxError is caught."""
import re

import pytest

VERSION = tuple(int(part) for part in re.findall(r"\\d+", pytest.__version__)[:2])

if VERSION >= (7, 0):
    from _pytest.pathlib import import_path

    def pytest_pycollect_makemodule(module_path, parent):
        try:
            if VERSION >= (8, 1):
                module = import_path(module_path, root=None, consider_namespace_packages=False)
            else:
                module = import_path(module_path, root=None)
        except SyntaxError:
            return None
        getattr(module, "generate_test_description", None)
        return None

else:  # pytest 6 (Ubuntu 22.04's python3-pytest): py.path arguments

    def pytest_pycollect_makemodule(path, parent):
        try:
            module = path.pyimport()
        except SyntaxError:
            return None
        getattr(module, "generate_test_description", None)
        return None
'''


def collect(tmp_path: Path, absent: tuple[str, ...], *args: str) -> tuple[int, str]:
    """(exit code, output) of ``pytest --collect-only -q`` of this directory, ``absent`` not importable."""
    (tmp_path / "shim").mkdir(exist_ok=True)
    (tmp_path / "shim" / "launch_testing_import.py").write_text(LAUNCH_TESTING_IMPORT)
    result = run_module(
        tmp_path,
        list(absent),
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "launch_testing_import",
        *args,
        str(TEST_DIR),
        env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    return result.returncode, result.stdout + result.stderr


def test_every_module_collects_without_ros_or_the_optional_runtimes(tmp_path: Path) -> None:
    code, output = collect(tmp_path, ABSENT)
    assert code == 0, output
    assert not re.search(r"^(SKIPPED|ERROR)", output, re.MULTILINE), f"a module raised while imported:\n{output}"
    collected = {line.split("::")[0].rsplit("/", 1)[-1] for line in output.splitlines() if "::" in line}
    modules = {path.name for path in TEST_DIR.glob("test_*.py")}
    assert collected == modules, f"modules with no collected test: {sorted(modules - collected)}"


def test_a_module_level_skip_would_take_the_directory(tmp_path: Path) -> None:
    """The stand-in for launch_testing's hook reproduces the failure it guards against: one
    module that skips at import hides every test of the directory (Humble's "1 skipped")."""
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "test_a.py").write_text("def test_one():\n    pass\n")
    (probe / "test_b.py").write_text(
        "import pytest\npytest.skip('absent', allow_module_level=True)\n\ndef test_two():\n    pass\n"
    )
    (tmp_path / "shim").mkdir(exist_ok=True)
    (tmp_path / "shim" / "launch_testing_import.py").write_text(LAUNCH_TESTING_IMPORT)
    plain = run_module(tmp_path, [], "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(probe))
    assert "test_a.py::test_one" in plain.stdout, plain.stdout + plain.stderr
    hooked = run_module(
        tmp_path,
        [],
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "launch_testing_import",
        "-ra",
        str(probe),
        env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert "test_a.py::test_one" not in hooked.stdout, hooked.stdout + hooked.stderr
    assert re.search(r"^SKIPPED \[1\] .*test_b\.py:2: absent$", hooked.stdout, re.MULTILINE), hooked.stdout
