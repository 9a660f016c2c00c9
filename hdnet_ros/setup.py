"""hdnet_ros: an ament_python package that also installs with plain pip (no ROS)."""

from glob import glob
from pathlib import Path

import setuptools
from setuptools import find_packages, setup

PACKAGE = "hdnet_ros"
HERE = Path(__file__).resolve().parent
# The message definitions are the single source of truth; the core registers them with
# rosbags when ROS is absent, so they ship inside the Python package as data.
MSG_DIR = HERE.parent / "hdnet_ros_msgs" / "msg"
BUNDLED_MSG_DIR = HERE / PACKAGE / "msg"


def _bundle_messages() -> None:
    """Copy ../hdnet_ros_msgs/msg/*.msg into the Python package before building."""
    if not MSG_DIR.is_dir():  # building from an sdist: already bundled
        return
    BUNDLED_MSG_DIR.mkdir(exist_ok=True)
    for msg in MSG_DIR.glob("*.msg"):
        target = BUNDLED_MSG_DIR / msg.name
        if not target.exists() or target.read_bytes() != msg.read_bytes():
            target.write_bytes(msg.read_bytes())


_bundle_messages()

# What the tests need beyond the runtime. colcon runs a package's tests with pytest only when
# pytest is a declared test dependency (colcon-core's has_test_dependency: `tests_require`, or
# an extra named "test"); otherwise it runs unittest, which finds none of these tests. pytest 8
# and newer break the launch_testing plugin of ROS 2 Humble, the distribution on Python 3.10
# (Ubuntu 22.04 ships python3-pytest 6.2): there the extra stays below 8. Jazzy (Python 3.12)
# and plain pip installs on newer Pythons test with pytest 8 and 9.
TEST_REQUIRES = [
    'pytest>=6.2,<8; python_version < "3.11"',
    'pytest>=6.2; python_version >= "3.11"',
]
# setuptools 72 dropped `tests_require` (an unknown option there, with a warning); colcon on
# Humble (setuptools 59) and Jazzy (68) reads it, and the "test" extra everywhere.
LEGACY_TEST_OPTION = {"tests_require": TEST_REQUIRES} if int(setuptools.__version__.split(".")[0]) < 72 else {}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["msg/*.msg", "py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
    ],
    # ROS installs numpy/opencv/scipy from apt, which pip metadata cannot see: keep the hard
    # requirements empty so the ros2 run entry points never refuse to start, and name the
    # pip-only runtime in extras.
    install_requires=["setuptools"],
    extras_require={
        "cpu": [
            "numpy>=1.21",
            "numba>=0.55",  # the depth stage's compiled kernel (0.55: Ubuntu 22.04's, numpy 1.21)
            "opencv-python-headless>=4.5",
            "onnxruntime>=1.16",
            "ai-edge-litert>=1.0",
            "rosbags>=0.10",
            "scipy>=1.8",
            "tqdm>=4.60",
            "PyYAML>=5.4",
            # Converts the networks published as OpenVINO IR to ONNX (nets.openvino_ir).
            "onnx>=1.14",
            # A CPU runtime candidate of every network (inference/openvino_backend.py; imported
            # only when opened: without it the other runtimes run). 2024.0: the top-level
            # `openvino` API with share_inputs, the TFLite frontend out of preview, bounded
            # dynamic batches and the CPU plugin's compiled-model cache; wheels for Python
            # 3.10 with numpy 1.x on x86-64 and aarch64.
            "openvino>=2024.0",
        ],
        "nets": ["torch>=2.1,<3", "onnxscript>=0.1"],
        "test": TEST_REQUIRES,
        # openvino: the tests run each OpenVINO IR with OpenVINO itself as the converter's reference.
        "dev": [*TEST_REQUIRES, "mypy>=1.8", "ruff>=0.5", "types-PyYAML", "openvino>=2024.0"],
    },
    **LEGACY_TEST_OPTION,
    python_requires=">=3.10",
    zip_safe=True,
    maintainer="hdnet_ros maintainers",
    maintainer_email="maintainers@hdnet-ros.invalid",
    description="Tracked 3D human skeletons from RGB-D cameras for ROS 2.",
    license="MIT",
    entry_points={
        "console_scripts": [
            "hdnet-ros = hdnet_ros.cli:main",
            "hdnet_node = hdnet_ros.node.main:main",
            "hdnet_lifecycle_node = hdnet_ros.node.main:lifecycle_main",
        ],
    },
)
