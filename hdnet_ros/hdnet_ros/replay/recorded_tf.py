"""The camera's poses in the replay: the input bag's ``/tf`` and ``/tf_static`` in a
transform buffer, looked up at each image's stamp, as the node's tf2 buffer would be fed by
``ros2 bag play``: over the floor (``floor.frame``, the placement's) and in the frame that
does not move with the robot (``tracking.fixed_frame``, the tracker's).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hdnet_ros.logs import get_logger
from hdnet_ros.people import CameraPose, Frame
from hdnet_ros.transform_buffer import ExtrapolationError, TransformBuffer, TransformError

LOG = get_logger(__name__)


class RecordedTransforms:
    """A recording's transforms; :meth:`pose_frames` for each frame (module doc)."""

    def __init__(self, floor_frame: str, fixed_frame: str = "") -> None:
        self.floor_frame = floor_frame
        self.fixed_frame = fixed_frame
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

    def pose_frames(self, frame: Frame) -> None:
        """Set the frame's ``floor_pose`` and ``fixed_pose`` (None where that frame is not configured)."""
        frame.floor_pose = self.camera_pose(self.floor_frame, frame.frame_id, frame.stamp_ns)
        frame.fixed_pose = self.camera_pose(self.fixed_frame, frame.frame_id, frame.stamp_ns)

    def camera_pose(self, target: str, camera_frame: str, stamp_ns: int) -> CameraPose | None:
        """The optical frame's pose in ``target`` at ``stamp_ns`` (None: ``target`` empty, not
        configured); a failed lookup is a CameraPose without a pose, saying why."""
        if not target:
            return None
        try:
            pose = self.buffer.lookup_transform(target, camera_frame, stamp_ns)
        except ExtrapolationError as error:
            return CameraPose(None, "stale", str(error))
        except TransformError as error:
            return CameraPose(None, "missing", str(error))
        return CameraPose(pose.matrix)
