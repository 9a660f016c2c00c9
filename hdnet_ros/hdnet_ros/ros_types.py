"""ROS message types without ROS: a rosbags type store with hdnet_ros_msgs registered.

The ``.msg`` files of hdnet_ros_msgs are the single source of truth. They are read from the
source tree when running from a checkout, from the ROS install (share/hdnet_ros_msgs/msg)
when sourced, or from the copy bundled into this package at build time.

The peers' messages the node can also publish (people_msgs for social navigation, hri_msgs
for REP-155) are optional ROS dependencies, so their definitions are kept here as the exact
upstream text (:data:`PEER_DEFINITIONS`, each with the git blob id of the file it was
taken from; a test recomputes the ids) and registered the same way.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

MSG_PACKAGE = "hdnet_ros_msgs"
MSG_DIR_ENV = "HDNET_ROS_MSG_DIR"


def _ament_msg_dir() -> Path | None:
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(MSG_PACKAGE)) / "msg"
    except PackageNotFoundError:
        return None


def message_definition_dir(package_dir: Path | None = None) -> Path:
    """The directory holding hdnet_ros_msgs' .msg files, first found of: $HDNET_ROS_MSG_DIR,
    the source tree beside the package (a checkout), the ROS install's share/ (sourced),
    the copy bundled into the package. ``package_dir``: where hdnet_ros is (this one's)."""
    here = package_dir or Path(__file__).resolve().parent
    candidates = [
        Path(os.environ[MSG_DIR_ENV]) if MSG_DIR_ENV in os.environ else None,
        here.parent.parent / MSG_PACKAGE / "msg",  # source checkout
        _ament_msg_dir(),
        here / "msg",  # bundled by setup.py
    ]
    for candidate in candidates:
        if candidate is not None and any(candidate.glob("*.msg")):
            return candidate
    raise FileNotFoundError(f"no {MSG_PACKAGE} .msg files found (looked in {candidates})")


@dataclass(frozen=True)
class PeerDefinition:
    """A message of another ROS package, verbatim: ``text`` is the file at ``source``."""

    text: str
    source: str  # repository, branch, commit and path of the file
    git_blob: str  # `git rev-parse <commit>:<path>`: the sha1 of "blob <size>\0<text>"


PEOPLE_MSGS_SOURCE = "wg-perception/people, branch ros2 @0ae47f6e (people_msgs 1.3.0, 2019), people_msgs/msg/"
HRI_MSGS_SOURCE = "ros4hri/hri_msgs, branch humble-devel @4e7c1765 (hri_msgs 2.0.0), msg/"
PEER_DEFINITIONS: dict[str, PeerDefinition] = {
    "people_msgs/msg/Person": PeerDefinition(
        "string              name\n"
        "geometry_msgs/Point position\n"
        "geometry_msgs/Point velocity\n"
        "float64             reliability\n"
        "string[]            tagnames\n"
        "string[]            tags\n"
        "\n",
        PEOPLE_MSGS_SOURCE + "Person.msg",
        "c3a4a522b3d2cca111ffaf473a1e9a91a576d948",
    ),
    "people_msgs/msg/People": PeerDefinition(
        "std_msgs/Header header\npeople_msgs/Person[] people\n",
        PEOPLE_MSGS_SOURCE + "People.msg",
        "6367800b7cbbe68b87656339f2f930b512996d37",
    ),
    "hri_msgs/msg/IdsList": PeerDefinition(
        "# This message encodes a list of ROS4HRI IDs (eg face ids, body ids, person\n"
        "# ids...).\n"
        "# It is for instance published on /humans/faces/tracked to access the list of\n"
        "# currently detected faces.\n"
        "std_msgs/Header header\n"
        "string[] ids\n",
        HRI_MSGS_SOURCE + "IdsList.msg",
        "cb80145624c949c1f1ffb52fa07b5aff12167674",
    ),
}


def message_definitions() -> dict[str, str]:
    """{'hdnet_ros_msgs/msg/Name': definition text} for every .msg file."""
    directory = message_definition_dir()
    return {f"{MSG_PACKAGE}/msg/{path.stem}": path.read_text() for path in sorted(directory.glob("*.msg"))}


@functools.lru_cache(maxsize=1)
def typestore() -> Typestore:
    """ROS 2 Humble's standard types plus hdnet_ros_msgs and the peers' messages (cached:
    build once per process)."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = {}
    definitions = message_definitions() | {name: peer.text for name, peer in PEER_DEFINITIONS.items()}
    for name, text in definitions.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store
