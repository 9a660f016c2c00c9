"""The camera's poses at each image stamp in the node, from tf2: over the floor
(``floor.frame``, the placement's), in the frame that does not move with the robot
(``tracking.fixed_frame``, the tracker's) and in ``node.target_frame`` (the people outputs').

tf2's lookup with a timeout waits for a transform that is late, which is the usual case for
a moving robot's odometry: it is published a few milliseconds after the image it belongs
to. But a frame that no transform names is waited for the whole timeout, on every frame, in
the worker: a static camera without TF would lose ``node.tf_timeout_s`` a frame for each
such frame. A chain found missing is therefore asked again without waiting until it is
found; a stale one (both frames known, not yet at this stamp) is waited for every time.
"""

from __future__ import annotations

from collections.abc import Callable

from hdnet_ros.node.transport import TransformUnavailableError
from hdnet_ros.people import CameraPose, Frame
from hdnet_ros.transform_buffer import Transform

# (target frame, source frame, stamp [ns], timeout [s]) -> the transform; raises
# TransformUnavailableError (the transport's lookup_transform).
Lookup = Callable[[str, str, int, float], Transform]


class CameraPoses:
    """Sets each frame's ``floor_pose`` and ``fixed_pose`` (None where that frame is not
    configured); a failed lookup is a CameraPose without a pose, saying why."""

    def __init__(self, lookup: Lookup, floor_frame: str, fixed_frame: str, timeout_s: float) -> None:
        self._lookup = lookup
        self.floor_frame = floor_frame
        self.fixed_frame = fixed_frame
        self.timeout_s = timeout_s
        self._missing: set[tuple[str, str]] = set()  # (target, camera frame) found missing: no wait

    def __call__(self, frame: Frame) -> None:
        frame.floor_pose = self.camera_pose(self.floor_frame, frame.frame_id, frame.stamp_ns)
        frame.fixed_pose = self.camera_pose(self.fixed_frame, frame.frame_id, frame.stamp_ns)

    def camera_pose(self, target: str, camera_frame: str, stamp_ns: int) -> CameraPose | None:
        if not target:
            return None
        try:
            transform = self.lookup(target, camera_frame, stamp_ns)
        except TransformUnavailableError as error:
            return CameraPose(None, "stale" if error.stale else "missing", str(error))
        return CameraPose(transform.matrix)

    def lookup(self, target: str, camera_frame: str, stamp_ns: int) -> Transform:
        """``camera_frame`` -> ``target`` at ``stamp_ns``, waiting as the module doc says (also
        the people outputs' transform to ``node.target_frame``); raises TransformUnavailableError."""
        chain = (target, camera_frame)
        wait = 0.0 if chain in self._missing else self.timeout_s
        try:
            transform = self._lookup(target, camera_frame, stamp_ns, wait)
        except TransformUnavailableError as error:
            if error.stale:
                self._missing.discard(chain)
            else:
                self._missing.add(chain)
            raise
        self._missing.discard(chain)
        return transform
