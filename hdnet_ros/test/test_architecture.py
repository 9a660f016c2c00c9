"""The package's import graph is its architecture: layers that only point down, no cycles.

Read with the standard library's ``ast`` (every import statement, also those inside
functions), so the test needs none of the optional runtimes. The layers, bottom up:

=============  ======================================================================
shared         the data and geometry everything uses (people, camera, joints, ...)
networks       ``nets/``: the networks as PyTorch modules and their codecs
runtimes       ``inference/``: onnxruntime, TensorRT, torch and LiteRT behind one API
stages         ``stages/``: the pipeline's stages, one module or package each
product        the settings tree, the message builders and the pipeline
tools          ``synthetic/``, ``training/``, ``evaluation/``: may use the product, never the reverse
transports     the replay tool, the ROS node and the command line, on top
=============  ======================================================================
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hdnet_ros"
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "shared",
        (
            "people",
            "camera",
            "joints",
            "skeleton",
            "size_prior",
            "image_codec",
            "settings_field",
            "model_files",
            "timing",
            "ros_types",
            "frame_input",
            "depth_fault",
            "metrics",
            "logs",
            "transform_buffer",
            "",  # the package's own __init__
        ),
    ),
    ("networks", ("nets",)),
    ("runtimes", ("inference",)),
    ("stages", ("stages",)),
    ("product", ("config", "outputs", "pipeline")),
    ("tools", ("synthetic", "training", "evaluation")),
    ("transports", ("replay", "node", "commands", "cli", "assets", "msg_convert", "numpy_abi", "__main__")),
)
NOT_CORE = ("synthetic", "training", "evaluation", "replay", "node", "commands", "cli")
# Imports only a ROS installation has; the core runs without them.
ROS_ONLY = ("rclpy", "message_filters", "cv_bridge", "tf2_ros", "launch", "launch_ros", "rosidl_runtime_py")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; a from-import may name a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {i for i in imports_of(path) if i in files and i != name} for name, path in files.items()}


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for index, (_, prefixes) in enumerate(LAYERS):
        if top in prefixes:
            return index
    raise AssertionError(f"{module} belongs to no layer: add its folder to LAYERS (and the README's table)")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycles() -> None:
    found = cycles(graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_layers_only_point_down() -> None:
    wrong = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {other} ({LAYERS[layer_of(other)][0]})"
        for module, targets in sorted(graph().items())
        for other in sorted(targets)
        if layer_of(other) > layer_of(module)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_core_imports_neither_tools_nor_transports_nor_ros() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        if module.split(".")[1:2] and module.split(".")[1] in NOT_CORE:
            continue
        for other in sorted(imports_of(path)):
            parts = other.split(".")
            if parts[0] == "hdnet_ros" and len(parts) > 1 and parts[1] in NOT_CORE:
                wrong.append(f"{module} imports {other}")
            if parts[0] in ROS_ONLY:
                wrong.append(f"{module} imports the ROS-only {other}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "edges, expected",
    [
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(edges) == expected


def test_files_are_short_or_say_why() -> None:
    """Nothing much over 400 lines without a reason written at its top."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > 420 and "Why this file is long" not in text[:3000]:
            long.append(f"{path.relative_to(PACKAGE.parent)} ({len(text.splitlines())} lines)")
    assert not long, "long files without a reason at their top: " + ", ".join(long)
