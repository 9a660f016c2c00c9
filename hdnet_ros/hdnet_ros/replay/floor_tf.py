"""The camera's pose over the floor in the replay: the input bag's ``/tf`` and
``/tf_static`` in a transform buffer, looked up at each image's stamp, as the node's tf2
buffer would be fed by ``ros2 bag play``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hdnet_ros.logs import get_logger
from hdnet_ros.people import FloorPose
from hdnet_ros.transform_buffer import ExtrapolationError, TransformBuffer, TransformError

LOG = get_logger(__name__)


class FloorTransforms:
    """A recording's transforms; :meth:`floor_pose` for each frame (module doc)."""

    def __init__(self, floor_frame: str) -> None:
        self.floor_frame = floor_frame
        self.buffer = TransformBuffer()
        self.counts: Counter[str] = Counter()  # transforms added, refused

    def add(self, message: Any, static: bool) -> None:
        """A tf2_msgs/TFMessage; a transform that cannot be kept is counted and said, not raised."""
        for transform in message.transforms:
            try:
                self.buffer.set_transform_message(transform, static)
            except ValueError as error:
                self.counts["refused"] += 1
                parent, child = transform.header.frame_id, transform.child_frame_id
                LOG.warning("transform %s -> %s ignored: %s", parent, child, error)
            else:
                self.counts["static" if static else "dynamic"] += 1

    def floor_pose(self, camera_frame: str, stamp_ns: int) -> FloorPose | None:
        """The optical frame's pose in the floor frame at ``stamp_ns`` (None: no floor frame
        configured); a failed lookup is a FloorPose without a pose, saying why."""
        if not self.floor_frame:
            return None
        try:
            pose = self.buffer.lookup_transform(self.floor_frame, camera_frame, stamp_ns)
        except ExtrapolationError as error:
            return FloorPose(None, "stale", str(error))
        except TransformError as error:
            return FloorPose(None, "missing", str(error))
        return FloorPose(pose.matrix)
