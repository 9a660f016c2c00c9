"""Reading RGB, depth and camera_info from ROS 1 bags and rosbag2 (mcap or sqlite3).

Messages come out as ROS 2 type-store objects whatever the bag's ROS version, with their
CDR bytes (for copying inputs into the output bag).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.interfaces import Connection

from hdnet_ros.frame_input import stamp_to_ns
from hdnet_ros.ros_types import typestore

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"
ROLES = ("rgb", "depth", "camera_info")
# The transform topics, as the node would receive them from ``ros2 bag play`` (static: latched).
TF_TOPICS = {"/tf": "tf", "/tf_static": "tf_static"}


class BagInputError(RuntimeError):
    """A bag that cannot be opened or lacks the topics the pipeline needs."""


@dataclass(frozen=True)
class InputTopics:
    rgb: str
    depth: str | None
    camera_info: str

    def as_dict(self) -> dict[str, str | None]:
        return {"rgb": self.rgb, "depth": self.depth, "camera_info": self.camera_info}


@dataclass(frozen=True)
class BagMessage:
    role: str
    topic: str
    msgtype: str
    log_time_ns: int
    cdr: bytes
    message: Any | None  # None when the payload could not be deserialized
    error: str | None = None

    @property
    def stamp_ns(self) -> int:
        """The header stamp (only for messages that deserialized)."""
        if self.message is None:
            raise ValueError(f"message on {self.topic} could not be read: {self.error}")
        return stamp_to_ns(self.message.header.stamp)


def bag_path(path: Path) -> Path:
    """What rosbags opens: a .bag file, or a rosbag2 directory (also given as its file)."""
    if path.is_file() and path.suffix in (".mcap", ".db3", ".yaml") and (path.parent / "metadata.yaml").is_file():
        return path.parent
    return path


def _open(path: Path) -> AnyReader:
    if not path.exists():
        raise BagInputError(f"{path}: no such bag file or directory")
    try:
        reader = AnyReader([bag_path(path)], default_typestore=typestore())
        reader.open()
    except Exception as error:  # rosbags raises several unrelated error types for bad bags
        raise BagInputError(f"{path}: cannot open bag ({type(error).__name__}: {error})") from error
    return reader


def _parent(topic: str) -> str:
    return topic.rsplit("/", 1)[0]


def _looks_like_depth(topic: str) -> bool:
    return "depth" in topic.lower()


def discover_topics(connections: list[Connection], overrides: dict[str, str | None], use_depth: bool) -> InputTopics:
    """The RGB, depth and camera_info topics: flags win, otherwise chosen by type and name
    (depth topics mention depth; the camera_info beside the RGB image belongs to it).

    A bag without a depth topic gives ``depth`` None (it replays RGB only); a bag with several
    depth topics is refused until ``--depth-topic`` names one, because picking one would be
    a guess (a raw and a registered depth look alike by name).
    """
    by_type: dict[str, list[str]] = {}
    for connection in connections:
        by_type.setdefault(connection.msgtype, []).append(connection.topic)
    images = sorted(set(by_type.get(IMAGE, [])) | set(by_type.get(COMPRESSED_IMAGE, [])))
    infos = sorted(set(by_type.get(CAMERA_INFO, [])))
    available = sorted({c.topic for c in connections})

    def override(role: str) -> str | None:
        wanted = overrides.get(role)
        if wanted and wanted not in available:
            raise BagInputError(f"{role} topic {wanted} is not in the bag (topics: {', '.join(available)})")
        return wanted or None

    def pick(role: str, candidates: list[str]) -> str:
        wanted = override(role)
        if wanted:
            return wanted
        if not candidates:
            raise BagInputError(f"no {role} topic found in the bag (topics: {', '.join(available) or 'none'})")
        return candidates[0]

    rgb = pick("rgb", [t for t in images if not _looks_like_depth(t)])
    depth = _pick_depth(override("depth"), [t for t in images if _looks_like_depth(t)]) if use_depth else None
    beside_rgb = [t for t in infos if _parent(t) == _parent(rgb)] + [t for t in infos if not _looks_like_depth(t)]
    camera_info = pick("camera_info", beside_rgb or infos)
    return InputTopics(rgb=rgb, depth=depth, camera_info=camera_info)


def _pick_depth(wanted: str | None, candidates: list[str]) -> str | None:
    if wanted or len(candidates) <= 1:
        return wanted or (candidates[0] if candidates else None)
    raise BagInputError(
        f"several depth topics in the bag ({', '.join(candidates)}): name the one registered to the RGB "
        "camera with --depth-topic (or replay RGB only with --no-depth)"
    )


class BagInput:
    """One input bag, opened, with its topics chosen."""

    def __init__(self, path: Path, overrides: dict[str, str | None], use_depth: bool = True) -> None:
        self.path = path
        self.reader = _open(path)
        try:
            self.topics = discover_topics(list(self.reader.connections), overrides, use_depth)
        except BagInputError as error:
            self.reader.close()
            raise BagInputError(f"{path}: {error}") from error
        self._roles = {topic: role for role, topic in self.topics.as_dict().items() if topic}
        transforms = [c.topic for c in self.reader.connections if c.topic in TF_TOPICS and c.msgtype == TF_MESSAGE]
        self._roles.update({topic: TF_TOPICS[topic] for topic in transforms})
        self.is_ros1 = self.path.suffix == ".bag"

    def __enter__(self) -> BagInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reader.close()

    def message_counts(self) -> dict[str, int]:
        return {
            role: sum(c.msgcount for c in self.reader.connections if c.topic == topic)
            for topic, role in self._roles.items()
        }

    def messages(self) -> Iterator[BagMessage]:
        """The input topics' messages (and /tf, /tf_static: roles ``tf``, ``tf_static``) in
        recording order. A payload that does not deserialize is yielded with ``message``
        None and the error, not raised."""
        connections = [c for c in self.reader.connections if c.topic in self._roles]
        store = typestore()
        for connection, log_time, raw in self.reader.messages(connections=connections):
            role = self._roles[connection.topic]
            try:
                cdr = bytes(store.ros1_to_cdr(raw, connection.msgtype)) if self.is_ros1 else bytes(raw)
                message = store.deserialize_cdr(cdr, connection.msgtype)
            except Exception as error:  # corrupt payloads raise assorted struct/serde errors
                yield BagMessage(
                    role, connection.topic, connection.msgtype, log_time, b"", None, f"{type(error).__name__}: {error}"
                )
                continue
            yield BagMessage(role, connection.topic, connection.msgtype, log_time, cdr, message)
