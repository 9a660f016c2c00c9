"""Input health checks that warn once, clearly, about a misconfigured camera.

Each check looks at plain facts of the messages (stamps, frame ids, sizes, K) and returns
the warnings that are new; a problem is reported the first time it is seen and then stays
quiet (the per-frame skips are still counted in diagnostics). A synchronization stall is
reported once per stall and re-armed when triplets flow again. (Unusable depth is reported
per transition by the worker's :class:`hdnet_ros.depth_fault.DepthFaultWatch`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hdnet_ros.frame_input import stamp_to_ns

REGISTERED_DEPTH_HINT = (
    "subscribe to the depth registered to the RGB camera (realsense: aligned_depth_to_color, "
    "Azure Kinect: depth_to_rgb, Orbbec: depth_registration:=true, OpenNI: depth_registered, "
    "ZED: depth/depth_registered)"
)


@dataclass(frozen=True)
class MessageFacts:
    """What the checks need from one message (an Image, CompressedImage or CameraInfo)."""

    topic: str
    stamp_ns: int
    frame_id: str
    width: int | None = None  # None for CompressedImage (its size is inside the payload)
    height: int | None = None
    k: tuple[float, ...] | None = None  # CameraInfo only


def facts_of(msg: Any, topic: str) -> MessageFacts:
    """Facts of an rclpy or rosbags message (ROS 1 CameraInfo spells the matrix K)."""
    k = getattr(msg, "k", getattr(msg, "K", None))
    return MessageFacts(
        topic=topic,
        stamp_ns=stamp_to_ns(msg.header.stamp),
        frame_id=str(msg.header.frame_id),
        width=int(msg.width) if hasattr(msg, "width") else None,
        height=int(msg.height) if hasattr(msg, "height") else None,
        k=tuple(float(v) for v in k) if k is not None else None,
    )


class InputHealth:
    """Remembers which problems were already reported (:meth:`check_triplet` and
    :meth:`check_sync` run in the executor's callbacks)."""

    def __init__(self) -> None:
        self._reported: set[str] = set()
        self._stalled = False

    def _once(self, key: str, text: str) -> list[str]:
        if key in self._reported:
            return []
        self._reported.add(key)
        return [text]

    def check_triplet(self, rgb: MessageFacts, depth: MessageFacts | None, info: MessageFacts) -> list[str]:
        """New warnings about one synchronized triplet (``depth`` None in RGB-only mode)."""
        warnings = self._check_stamps(rgb, depth, info)
        if depth is not None:
            warnings += self._check_registration(rgb, depth)
        warnings += self._check_camera_info(rgb, info)
        return warnings

    def check_sync(self, stall: str | None) -> list[str]:
        """A stall explanation from SyncMonitor.stall (None: triplets flow) -> new warnings."""
        if stall is None:
            self._stalled = False
            return []
        if self._stalled:
            return []
        self._stalled = True
        return [stall]

    def _check_stamps(self, rgb: MessageFacts, depth: MessageFacts | None, info: MessageFacts) -> list[str]:
        inputs = [m for m in (rgb, depth, info) if m is not None]
        zero = [m.topic for m in inputs if m.stamp_ns == 0]
        if not zero:
            return []
        which = "all input stamps are zero" if len(zero) == len(inputs) else f"zero header stamps on {', '.join(zero)}"
        return self._once(
            "zero_stamps",
            f"{which}: the camera driver does not stamp its messages, so frames cannot be synchronized, "
            "placed in time or transformed with TF; every such frame is skipped (zero_stamp). "
            "Enable timestamps in the driver (or replay bags with their recorded stamps).",
        )

    def _check_registration(self, rgb: MessageFacts, depth: MessageFacts) -> list[str]:
        warnings = []
        if None not in (rgb.width, depth.width) and (rgb.width, rgb.height) != (depth.width, depth.height):
            warnings += self._once(
                "depth_size",
                f"depth on {depth.topic} is {depth.width}x{depth.height} but RGB on {rgb.topic} is "
                f"{rgb.width}x{rgb.height}: the depth is not registered to the RGB camera, so every frame is "
                f"processed from RGB only (depth fault size_mismatch); {REGISTERED_DEPTH_HINT}",
            )
        if depth.frame_id != rgb.frame_id:
            warnings += self._once(
                "depth_frame",
                f"depth frame_id '{depth.frame_id}' differs from RGB frame_id '{rgb.frame_id}': if the depth is "
                f"not registered to the RGB camera, 3D joints are wrong; {REGISTERED_DEPTH_HINT}. "
                "(Some drivers keep the depth frame_id on registered depth; then this warning is harmless.)",
            )
        return warnings

    def _check_camera_info(self, rgb: MessageFacts, info: MessageFacts) -> list[str]:
        warnings = []
        k = info.k
        if k is not None and len(k) == 9 and not (k[0] > 0 and k[4] > 0):
            warnings += self._once(
                "zero_k",
                f"camera_info on {info.topic} has no focal length (K = {list(k)}): the camera is not calibrated "
                "or the driver publishes an empty camera_info, so no 3D position can be computed and every frame "
                "is skipped (invalid_camera_info). Calibrate the camera or use the driver's calibrated camera_info.",
            )
        if None not in (rgb.width, info.width) and (rgb.width, rgb.height) != (info.width, info.height):
            warnings += self._once(
                "info_size",
                f"camera_info on {info.topic} describes a {info.width}x{info.height} image but RGB on {rgb.topic} "
                f"is {rgb.width}x{rgb.height}: is it the camera_info of another camera (e.g. the depth camera)?",
            )
        return warnings
