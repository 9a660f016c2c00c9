"""A plain ``pip install hdnet_ros`` has no runtime (the hard requirements are empty for ROS):
the command line then says in one line which extra to install and exits with 2, never a
traceback. Each test runs the CLI in a fresh interpreter in which some modules are absent
(a sitecustomize on PYTHONPATH makes importing them fail exactly as for a module that is
not installed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hdnet_ros.cli import EXIT_MISSING_DEPENDENCY, missing_dependency_message

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # hdnet_ros/ (holds the hdnet_ros package)
TIMEOUT_S = 120  # a safety net for a hung interpreter; nothing here is timed

ABSENT_MODULES = """
import importlib.abc
import os
import sys

_ABSENT = set(os.environ["HDNET_TEST_ABSENT_MODULES"].split(","))


class _NotInstalled(importlib.abc.MetaPathFinder):
    \"\"\"Wraps a finder that stops finding the absent modules: the import system then says
    "No module named ..." and importlib.util.find_spec returns None, as for a module that was
    never installed.\"\"\"

    def __init__(self, finder):
        self._finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _ABSENT:
            return None
        return self._finder.find_spec(name, path, target)

    def invalidate_caches(self):
        getattr(self._finder, "invalidate_caches", lambda: None)()

    def __getattr__(self, name):  # find_distributions (importlib.metadata) and the rest
        return getattr(self._finder, name)


sys.meta_path[:] = [_NotInstalled(finder) for finder in sys.meta_path]
"""


def run_cli(tmp_path: Path, absent: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_module(tmp_path, absent, "hdnet_ros.cli", *args)


def run_module(
    tmp_path: Path,
    absent: list[str],
    module: str,
    *args: str,
    env: dict[str, str] | None = None,
    sitecustomize: str = ABSENT_MODULES,
) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` in an interpreter where the ``absent`` modules cannot be
    imported (``env``: more environment variables; ``sitecustomize``: another shim's source,
    run at the interpreter's start instead)."""
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(sitecustomize)
    path = [str(shim), str(PACKAGE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    # Not the outer run's PYTEST_ADDOPTS: colcon passes its junit file and selection there.
    variables = {name: value for name, value in os.environ.items() if name != "PYTEST_ADDOPTS"} | (env or {})
    variables |= {"PYTHONPATH": os.pathsep.join(path), "HDNET_TEST_ABSENT_MODULES": ",".join(absent)}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=variables,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


# A Python warning as the interpreter prints it: "file:line: SomeWarning: text", then the
# source line, indented (Ubuntu 22.04's SciPy 1.8 warns so at import under numpy 1.25+).
PYTHON_WARNING = re.compile(r"^\S+:\d+: \w*Warning: ")


def message_lines(stderr: str) -> list[str]:
    """``stderr``'s lines less blank ones, progress logging (INFO, ours and LiteRT's) and the
    Python warnings of the installed packages: what the program itself said went wrong."""
    lines: list[str] = []
    warning_source = False
    for line in stderr.splitlines():
        if PYTHON_WARNING.match(line):
            warning_source = True
            continue
        if warning_source and line.startswith(" "):
            continue
        warning_source = False
        if line.strip() and not line.startswith("INFO"):
            lines.append(line)
    return lines


def assert_one_line_naming(result: subprocess.CompletedProcess[str], package: str, extra: str) -> None:
    assert result.returncode == EXIT_MISSING_DEPENDENCY, result.stderr
    assert "Traceback" not in result.stderr
    lines = message_lines(result.stderr)
    assert len(lines) == 1, lines
    assert f"{package} is not installed" in lines[0]
    assert f'pip install "hdnet_ros[{extra}]"' in lines[0]


def test_the_shim_really_hides_the_module(tmp_path: Path) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(ABSENT_MODULES)
    env = {**os.environ, "PYTHONPATH": str(shim), "HDNET_TEST_ABSENT_MODULES": "yaml"}
    result = subprocess.run(
        [sys.executable, "-c", "import yaml"], env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert result.returncode == 1 and "ModuleNotFoundError: No module named 'yaml'" in result.stderr
    found = subprocess.run(
        [sys.executable, "-c", "import importlib.util; assert importlib.util.find_spec('yaml') is None"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert found.returncode == 0, found.stderr


@pytest.mark.parametrize(
    ("module", "package"), [("yaml", "PyYAML"), ("cv2", "opencv-python-headless"), ("numba", "numba")]
)
def test_replay_without_the_cpu_extra(module: str, package: str, tmp_path: Path) -> None:
    result = run_cli(tmp_path, [module], "replay", "in.bag", "--output", str(tmp_path / "out"))
    assert_one_line_naming(result, package, "cpu")
    assert f"No module named '{module}'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_runtime_missing_when_the_models_load_names_the_extra(
    sample_bags: list[Path], models_dir: Path, tmp_path: Path
) -> None:
    """onnxruntime is imported only when the detector opens (the loader wraps the error).
    OpenVINO, the detector's other CPU runtime, is hidden too: with it, ``auto`` runs the
    networks on OpenVINO alone (the first runtime's error is reported when none opens)."""
    output = tmp_path / "out"
    args = ("replay", str(sample_bags[0]), "--output", str(output), "--models-dir", str(models_dir))
    result = run_cli(tmp_path, ["onnxruntime", "openvino"], *args)
    assert_one_line_naming(result, "onnxruntime", "cpu")


def test_export_without_the_nets_extra(tmp_path: Path) -> None:
    result = run_cli(tmp_path, ["torch"], "export", "rootnet", "--output", str(tmp_path / "rootnet.onnx"))
    assert_one_line_naming(result, "torch", "nets")


def test_help_needs_no_extra(tmp_path: Path) -> None:
    result = run_cli(tmp_path, ["numpy", "cv2", "yaml", "torch"], "--help")
    assert result.returncode == 0 and "replay" in result.stdout and result.stderr == ""


def test_a_module_of_the_package_itself_is_not_blamed_on_an_extra() -> None:
    broken = ModuleNotFoundError("No module named 'hdnet_ros.replay.nope'", name="hdnet_ros.replay.nope")
    assert missing_dependency_message("replay", broken) is None
    unknown = ModuleNotFoundError("No module named 'flatbuffers'", name="flatbuffers")
    assert missing_dependency_message("export", unknown) == (
        "hdnet-ros export: flatbuffers is not installed (No module named 'flatbuffers'); "
        'install the network tools (PyTorch, ONNX) with: pip install "hdnet_ros[nets]"'
    )


def test_python_warnings_of_other_packages_are_not_taken_for_the_programs_message() -> None:
    stderr = (
        "/usr/lib/python3/dist-packages/scipy/__init__.py:146: UserWarning: A NumPy version >=1.17.3 and <1.25.0 "
        "is required for this version of SciPy (detected version 1.26.4\n"
        '  warnings.warn(f"A NumPy version >={np_minversion} and <{np_maxversion}"\n'
        "INFO hdnet_ros.replay: reading in.bag\n"
        "hdnet-ros replay: onnxruntime is not installed\n"
        "  an indented line of the program's own\n"
    )
    assert message_lines(stderr) == [
        "hdnet-ros replay: onnxruntime is not installed",
        "  an indented line of the program's own",
    ]
