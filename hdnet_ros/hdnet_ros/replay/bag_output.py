"""The replay's output bag: rosbag2 in mcap storage with the node's topics.

The topics are the launched node's (hdnet.launch.py remaps ``~/<name>`` to ``/hdnet/<name>``
and ``~/people_nav`` to ``/people``, the topic social costmap layers subscribe to);
``/humans/bodies/tracked`` is REP-155's. The replay has no TF tree: ``/hdnet/people`` and
``/people`` are in the camera frame (the node's ``node.target_frame`` needs TF).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer

from hdnet_ros.ros_types import typestore

OUTPUT_TOPICS: dict[str, str] = {
    "/hdnet/skeletons": "hdnet_ros_msgs/msg/Skeleton3DArray",
    "/hdnet/markers": "visualization_msgs/msg/MarkerArray",
    "/hdnet/debug_image": "sensor_msgs/msg/Image",
    "/tf": "tf2_msgs/msg/TFMessage",
    "/hdnet/people": "geometry_msgs/msg/PoseArray",
    "/people": "people_msgs/msg/People",
    "/humans/bodies/tracked": "hri_msgs/msg/IdsList",
}


class OutputBag:
    """Writes messages to a new rosbag2 (mcap); connections are created on first use."""

    def __init__(self, path: Path) -> None:
        if path.exists():
            raise FileExistsError(f"output bag {path} already exists")
        self._writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: dict[str, Connection] = {}
        self.counts: dict[str, int] = {}

    def _connection(self, topic: str, msgtype: str) -> Connection:
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=typestore())
        return self._connections[topic]

    def write(self, topic: str, msg: Any, time_ns: int) -> None:
        msgtype = OUTPUT_TOPICS.get(topic) or msg.__msgtype__
        self.write_cdr(topic, msgtype, bytes(typestore().serialize_cdr(msg, msgtype)), time_ns)

    def write_cdr(self, topic: str, msgtype: str, cdr: bytes, time_ns: int) -> None:
        self._writer.write(self._connection(topic, msgtype), time_ns, cdr)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def close(self) -> None:
        self._writer.close()
