"""hdnet_ros: an ament_python package that also installs with plain pip (no ROS)."""

from glob import glob
from pathlib import Path

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
        ],
        "nets": ["torch>=2.1,<3", "onnx>=1.14", "onnxscript>=0.1"],
        "dev": ["pytest>=7", "mypy>=1.8", "ruff>=0.5", "types-PyYAML"],
    },
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
        ],
    },
)
