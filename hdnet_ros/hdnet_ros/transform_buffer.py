"""A transform tree over time, as tf2's buffer keeps it, without ROS.

tf2_ros is not on PyPI, so the replay (which reads ``/tf`` and ``/tf_static`` from a bag as
``ros2 bag play`` would hand them to the node) needs its own buffer. This is its core,
with tf2's semantics:

- each frame has one parent; a transform message gives the pose of ``child_frame_id`` in
  ``header.frame_id`` (``p_parent = T p_child``);
- static transforms hold at every time; dynamic ones are kept for ``cache_time_s`` behind the
  newest and looked up by interpolation between the two around the requested time
  (translation linearly, rotation by slerp);
- :meth:`TransformBuffer.lookup_transform` ``(target, source, stamp)`` gives the transform
  that maps points of ``source`` into ``target``, walking the tree through the frames' common
  ancestor; stamp 0 asks for the latest time every link of the chain has;
- a lookup that cannot be answered raises a :class:`TransformError` saying why: a frame
  nobody published (:class:`UnknownFrameError`), two frames in different trees
  (:class:`ConnectivityError`), or a time the buffer does not cover
  (:class:`ExtrapolationError`: too old, or newer than the newest transform, i.e. stale).

The node uses tf2_ros itself; this module is what the replay and the tests use.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
NS_PER_S = 1_000_000_000


class TransformError(LookupError):
    """A transform lookup that cannot be answered; the message says why."""


class UnknownFrameError(TransformError):
    """A frame no transform names."""


class ConnectivityError(TransformError):
    """Two frames that are not in one tree."""


class ExtrapolationError(TransformError):
    """A time the buffer has no transform for (older than its cache, or newer than its newest)."""


@dataclass(frozen=True)
class Transform:
    """A rigid transform: ``p_target = rotation @ p_source + translation`` (metres)."""

    rotation: FloatArray  # [3,3]
    translation: FloatArray  # [3]
    stamp_ns: int = 0

    @classmethod
    def identity(cls, stamp_ns: int = 0) -> Transform:
        return cls(np.eye(3), np.zeros(3), stamp_ns)

    @classmethod
    def from_quaternion(cls, translation: npt.ArrayLike, xyzw: npt.ArrayLike, stamp_ns: int = 0) -> Transform:
        return cls(quaternion_matrix(xyzw), np.asarray(translation, dtype=np.float64).reshape(3), stamp_ns)

    @classmethod
    def from_msg(cls, transform: Any, stamp_ns: int = 0) -> Transform:
        """From a geometry_msgs/Transform (rclpy or rosbags object)."""
        t, q = transform.translation, transform.rotation
        return cls.from_quaternion((t.x, t.y, t.z), (q.x, q.y, q.z, q.w), stamp_ns)

    @property
    def matrix(self) -> FloatArray:
        """The 4x4 homogeneous matrix."""
        out = np.eye(4)
        out[:3, :3], out[:3, 3] = self.rotation, self.translation
        return out

    def inverse(self) -> Transform:
        rotation = self.rotation.T
        return Transform(rotation, -rotation @ self.translation, self.stamp_ns)

    def __matmul__(self, other: Transform) -> Transform:
        """``self @ other``: first ``other``, then ``self``."""
        return Transform(
            self.rotation @ other.rotation,
            self.rotation @ other.translation + self.translation,
            max(self.stamp_ns, other.stamp_ns),
        )

    def apply(self, points: npt.ArrayLike) -> FloatArray:
        """Points [N,3] (or [3]) mapped through the transform."""
        p = np.asarray(points, dtype=np.float64)
        return np.asarray(p @ self.rotation.T + self.translation)

    def rotate(self, vectors: npt.ArrayLike) -> FloatArray:
        """Directions or velocities [N,3] (or [3]): rotated, never translated."""
        return np.asarray(np.asarray(vectors, dtype=np.float64) @ self.rotation.T)


def quaternion_matrix(xyzw: npt.ArrayLike) -> FloatArray:
    """The rotation matrix of a quaternion (x, y, z, w), normalised first; a zero or
    non-finite quaternion is a ValueError (tf2 rejects it too)."""
    q = np.asarray(xyzw, dtype=np.float64).reshape(4)
    norm = float(np.linalg.norm(q))
    if not np.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"quaternion {q.tolist()} is not a rotation")
    x, y, z, w = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_quaternion(rotation: FloatArray) -> FloatArray:
    """The unit quaternion (x, y, z, w) of a rotation matrix (Shepperd's method)."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = float(np.trace(m))
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4.0]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i] = s / 4.0
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
    out = np.asarray(q, dtype=np.float64)
    return np.asarray(out / np.linalg.norm(out))


def slerp(q0: FloatArray, q1: FloatArray, fraction: float) -> FloatArray:
    """Spherical linear interpolation of unit quaternions (x, y, z, w), the short way round."""
    dot = float(q0 @ q1)
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly equal: linear interpolation is exact to float precision
        q = q0 + fraction * (q1 - q0)
        return np.asarray(q / np.linalg.norm(q))
    angle = np.arccos(dot)
    return np.asarray((np.sin((1 - fraction) * angle) * q0 + np.sin(fraction * angle) * q1) / np.sin(angle))


@dataclass
class _Link:
    """A frame's transforms to its parent: one static, or dynamic ones sorted by time."""

    parent: str
    static: Transform | None = None
    stamps: list[int] = field(default_factory=list)
    translations: list[FloatArray] = field(default_factory=list)
    quaternions: list[FloatArray] = field(default_factory=list)

    def at(self, stamp_ns: int, child: str) -> Transform:
        if self.static is not None:
            return self.static
        if stamp_ns == 0:
            stamp_ns = self.stamps[-1]
        first, last = self.stamps[0], self.stamps[-1]
        if stamp_ns < first or stamp_ns > last:
            return self._extrapolation(stamp_ns, child)
        index = bisect.bisect_left(self.stamps, stamp_ns)
        if self.stamps[index] == stamp_ns:
            return Transform.from_quaternion(self.translations[index], self.quaternions[index], stamp_ns)
        t0, t1 = self.stamps[index - 1], self.stamps[index]
        fraction = (stamp_ns - t0) / (t1 - t0)
        translation = (1 - fraction) * self.translations[index - 1] + fraction * self.translations[index]
        quaternion = slerp(self.quaternions[index - 1], self.quaternions[index], fraction)
        return Transform.from_quaternion(translation, quaternion, stamp_ns)

    def _extrapolation(self, stamp_ns: int, child: str) -> Transform:
        first, last = self.stamps[0], self.stamps[-1]
        if stamp_ns > last:
            raise ExtrapolationError(
                f"lookup of {self.parent} -> {child} at {stamp_ns / NS_PER_S:.3f} s would extrapolate into the "
                f"future: the newest transform is {(stamp_ns - last) / NS_PER_S:.3f} s older (stale)"
            )
        raise ExtrapolationError(
            f"lookup of {self.parent} -> {child} at {stamp_ns / NS_PER_S:.3f} s would extrapolate into the past: "
            f"the oldest transform kept is {(first - stamp_ns) / NS_PER_S:.3f} s newer"
        )

    def latest(self) -> int:
        return 0 if self.static is not None else self.stamps[-1]


class TransformBuffer:
    """tf2's transform tree (module doc). ``cache_time_s``: how long dynamic transforms are kept."""

    def __init__(self, cache_time_s: float = 10.0) -> None:
        if cache_time_s <= 0:
            raise ValueError(f"cache_time_s must be positive, got {cache_time_s}")
        self.cache_ns = int(cache_time_s * NS_PER_S)
        self._links: dict[str, _Link] = {}

    def clear(self) -> None:
        self._links.clear()

    @property
    def frames(self) -> set[str]:
        """Every frame some transform names (as child or parent)."""
        return set(self._links) | {link.parent for link in self._links.values()}

    def set_transform(
        self,
        parent: str,
        child: str,
        stamp_ns: int,
        translation: npt.ArrayLike,
        rotation_xyzw: npt.ArrayLike,
        static: bool = False,
    ) -> None:
        """Add the pose of ``child`` in ``parent`` at ``stamp_ns``. A ValueError names a
        transform that cannot be kept: an empty or equal frame name, a non-finite value or
        a zero quaternion. A child that changes parent starts a new history (as tf2 does)."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise ValueError(f"transform {parent!r} -> {child!r} needs two different, non-empty frame names")
        translation = np.asarray(translation, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(translation)):
            raise ValueError(f"transform {parent} -> {child} has a non-finite translation {translation.tolist()}")
        quaternion = np.asarray(rotation_xyzw, dtype=np.float64).reshape(4)
        quaternion = matrix_quaternion(quaternion_matrix(quaternion))  # normalised, checked
        link = self._links.get(child)
        if link is None or link.parent != parent or static != (link.static is not None):
            link = self._links[child] = _Link(parent)
        if static:
            link.static = Transform.from_quaternion(translation, quaternion)
            return
        index = bisect.bisect_left(link.stamps, stamp_ns)
        if index < len(link.stamps) and link.stamps[index] == stamp_ns:
            link.translations[index], link.quaternions[index] = translation, quaternion
        else:
            link.stamps.insert(index, stamp_ns)
            link.translations.insert(index, translation)
            link.quaternions.insert(index, quaternion)
        keep = bisect.bisect_left(link.stamps, link.stamps[-1] - self.cache_ns)
        del link.stamps[:keep], link.translations[:keep], link.quaternions[:keep]

    def set_transform_message(self, message: Any, static: bool = False) -> None:
        """Add a geometry_msgs/TransformStamped (rclpy or rosbags object)."""
        stamp = message.header.stamp
        seconds = stamp.sec if hasattr(stamp, "sec") else stamp.secs
        nanoseconds = stamp.nanosec if hasattr(stamp, "nanosec") else stamp.nsecs
        t, q = message.transform.translation, message.transform.rotation
        self.set_transform(
            message.header.frame_id,
            message.child_frame_id,
            int(seconds) * NS_PER_S + int(nanoseconds),
            (t.x, t.y, t.z),
            (q.x, q.y, q.z, q.w),
            static,
        )

    def lookup_transform(self, target: str, source: str, stamp_ns: int = 0) -> Transform:
        """The transform mapping points in ``source`` to ``target`` at ``stamp_ns`` (0: the
        latest time the whole chain has); a TransformError says why there is none."""
        target, source = target.lstrip("/"), source.lstrip("/")
        for frame in (target, source):
            if frame not in self.frames:
                known = ", ".join(sorted(self.frames)) or "none"
                raise UnknownFrameError(f"frame {frame!r} does not exist (frames known: {known})")
        if target == source:
            return Transform.identity(stamp_ns)
        up_source, up_target = self._chain(source), self._chain(target)
        target_path = {target} | {parent for _, parent in up_target}
        source_path = [source] + [parent for _, parent in up_source]
        shared = next((frame for frame in source_path if frame in target_path), None)
        if shared is None:
            raise ConnectivityError(
                f"{target!r} and {source!r} are not connected: their trees end in "
                f"{self._root(target)!r} and {self._root(source)!r}"
            )
        source_links = self._links_to(up_source, source, shared)
        target_links = self._links_to(up_target, target, shared)
        if stamp_ns == 0:
            stamp_ns = min((link.latest() for _, link in source_links + target_links if link.latest()), default=0)
        source_in_shared = self._compose(source_links, stamp_ns)
        target_in_shared = self._compose(target_links, stamp_ns)
        result = target_in_shared.inverse() @ source_in_shared
        return Transform(result.rotation, result.translation, stamp_ns)

    def can_transform(self, target: str, source: str, stamp_ns: int = 0) -> bool:
        try:
            self.lookup_transform(target, source, stamp_ns)
        except TransformError:
            return False
        return True

    def _chain(self, frame: str) -> list[tuple[str, str]]:
        """(child, parent) pairs from ``frame`` up to its root."""
        chain, seen = [], {frame}
        while frame in self._links:
            parent = self._links[frame].parent
            if parent in seen:
                raise TransformError(f"the transform tree has a loop through {parent!r}")
            chain.append((frame, parent))
            seen.add(parent)
            frame = parent
        return chain

    def _root(self, frame: str) -> str:
        chain = self._chain(frame)
        return chain[-1][1] if chain else frame

    def _links_to(self, chain: list[tuple[str, str]], frame: str, ancestor: str) -> list[tuple[str, _Link]]:
        links = []
        for child, _ in chain:
            if child == ancestor:
                break
            links.append((child, self._links[child]))
        return links

    @staticmethod
    def _compose(links: list[tuple[str, _Link]], stamp_ns: int) -> Transform:
        """The pose of the chain's first frame in its last link's parent."""
        result = Transform.identity(stamp_ns)
        for child, link in links:
            result = link.at(stamp_ns, child) @ result
        return result
