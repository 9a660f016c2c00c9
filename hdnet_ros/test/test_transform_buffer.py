"""The transform buffer the replay uses in place of tf2_ros: chains, time, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.transform_buffer import (
    ConnectivityError,
    ExtrapolationError,
    Transform,
    TransformBuffer,
    UnknownFrameError,
    matrix_quaternion,
    quaternion_matrix,
    slerp,
)
from scipy.spatial.transform import Rotation

S = 1_000_000_000


def _quat(euler_deg: tuple[float, float, float]) -> np.ndarray:
    return Rotation.from_euler("xyz", euler_deg, degrees=True).as_quat()


def _robot() -> TransformBuffer:
    """map -> odom (dynamic) -> base_footprint (dynamic) -> camera_link -> optical (static)."""
    buffer = TransformBuffer(cache_time_s=5.0)
    buffer.set_transform("base_footprint", "camera_link", 0, (0.1, 0.0, 1.2), _quat((0, 20, 0)), static=True)
    buffer.set_transform("camera_link", "optical", 0, (0, 0, 0), _quat((-90, 0, -90)), static=True)
    for second in range(4):
        buffer.set_transform("odom", "base_footprint", second * S, (second, 0, 0), _quat((0, 0, 10 * second)))
    buffer.set_transform("map", "odom", 0, (5, 5, 0), _quat((0, 0, 0)), static=True)
    return buffer


def test_quaternion_round_trip_and_rotation_matches_scipy() -> None:
    for euler in ((0, 0, 0), (10, -20, 30), (179, 5, -90), (0, 180, 0)):
        q = _quat(euler)
        np.testing.assert_allclose(quaternion_matrix(q), Rotation.from_quat(q).as_matrix(), atol=1e-12)
        back = matrix_quaternion(quaternion_matrix(q))
        assert min(np.abs(back - q).max(), np.abs(back + q).max()) < 1e-12


def test_slerp_is_the_geodesic_midpoint_and_takes_the_short_way() -> None:
    q0, q1 = _quat((0, 0, 0)), _quat((0, 0, 90))
    np.testing.assert_allclose(
        Rotation.from_quat(slerp(q0, q1, 0.5)).as_euler("xyz", degrees=True), (0, 0, 45), atol=1e-9
    )
    # -q1 is the same rotation: the interpolation must not go the long way round.
    np.testing.assert_allclose(
        Rotation.from_quat(slerp(q0, -q1, 0.25)).as_euler("xyz", degrees=True), (0, 0, 22.5), atol=1e-9
    )


def test_chain_lookup_equals_the_composed_matrices() -> None:
    buffer = _robot()
    stamp = 2 * S
    expected = np.eye(4)
    for parent, child in (
        ("map", "odom"),
        ("odom", "base_footprint"),
        ("base_footprint", "camera_link"),
        ("camera_link", "optical"),
    ):
        expected = expected @ buffer.lookup_transform(parent, child, stamp).matrix
    result = buffer.lookup_transform("map", "optical", stamp)
    np.testing.assert_allclose(result.matrix, expected, atol=1e-12)
    # The other way round is the inverse; a point goes there and back.
    back = buffer.lookup_transform("optical", "map", stamp)
    np.testing.assert_allclose((back @ result).matrix, np.eye(4), atol=1e-12)
    point = np.array([0.3, -0.2, 2.0])
    np.testing.assert_allclose(back.apply(result.apply(point)), point, atol=1e-12)


def test_lookup_between_siblings_goes_through_their_common_parent() -> None:
    buffer = TransformBuffer()
    buffer.set_transform("base", "left", 0, (0, 1, 0), _quat((0, 0, 0)), static=True)
    buffer.set_transform("base", "right", 0, (0, -1, 0), _quat((0, 0, 180)), static=True)
    left_in_right = buffer.lookup_transform("right", "left")
    # left's origin is 2 m along +y of base; right is turned half round, so it sees it at -y.
    np.testing.assert_allclose(left_in_right.apply([0, 0, 0]), (0, -2, 0), atol=1e-12)


def test_dynamic_transforms_interpolate_linearly_and_by_slerp() -> None:
    buffer = _robot()
    half = buffer.lookup_transform("odom", "base_footprint", int(1.5 * S))
    np.testing.assert_allclose(half.translation, (1.5, 0, 0), atol=1e-12)
    yaw = Rotation.from_matrix(half.rotation).as_euler("xyz", degrees=True)[2]
    assert yaw == pytest.approx(15.0, abs=1e-9)
    exact = buffer.lookup_transform("odom", "base_footprint", 3 * S)
    np.testing.assert_allclose(exact.translation, (3, 0, 0), atol=1e-12)


def test_stamp_zero_is_the_latest_common_time() -> None:
    buffer = _robot()
    latest = buffer.lookup_transform("map", "optical", 0)
    assert latest.stamp_ns == 3 * S
    np.testing.assert_allclose(latest.matrix, buffer.lookup_transform("map", "optical", 3 * S).matrix)


def test_static_transforms_hold_at_any_time() -> None:
    buffer = _robot()
    early = buffer.lookup_transform("base_footprint", "optical", 1)
    late = buffer.lookup_transform("base_footprint", "optical", 10**6 * S)
    np.testing.assert_allclose(early.matrix, late.matrix)


def test_stale_and_too_old_lookups_say_so() -> None:
    buffer = _robot()
    with pytest.raises(ExtrapolationError, match=r"future.*0\.500 s older"):
        buffer.lookup_transform("map", "optical", int(3.5 * S))
    with pytest.raises(ExtrapolationError, match="past"):
        buffer.lookup_transform("map", "optical", -S)
    assert not buffer.can_transform("map", "optical", int(3.5 * S))


def test_old_dynamic_transforms_leave_the_cache() -> None:
    buffer = _robot()  # cache 5 s
    buffer.set_transform("odom", "base_footprint", 9 * S, (9, 0, 0), _quat((0, 0, 0)))
    with pytest.raises(ExtrapolationError, match="past"):
        buffer.lookup_transform("odom", "base_footprint", 3 * S)
    assert buffer.can_transform("odom", "base_footprint", 9 * S)


def test_unknown_and_unconnected_frames_are_named() -> None:
    buffer = _robot()
    buffer.set_transform("world", "elsewhere", 0, (0, 0, 0), _quat((0, 0, 0)), static=True)
    with pytest.raises(UnknownFrameError, match="'nowhere' does not exist"):
        buffer.lookup_transform("map", "nowhere")
    with pytest.raises(ConnectivityError, match=r"not connected.*'world'.*'map'"):
        buffer.lookup_transform("elsewhere", "optical")


def test_bad_transforms_are_refused_with_their_reason() -> None:
    buffer = TransformBuffer()
    with pytest.raises(ValueError, match="not a rotation"):
        buffer.set_transform("a", "b", 0, (0, 0, 0), (0, 0, 0, 0))
    with pytest.raises(ValueError, match="non-finite"):
        buffer.set_transform("a", "b", 0, (np.nan, 0, 0), (0, 0, 0, 1))
    with pytest.raises(ValueError, match="two different"):
        buffer.set_transform("a", "a", 0, (0, 0, 0), (0, 0, 0, 1))
    assert buffer.frames == set()


def test_leading_slashes_are_ignored_as_tf2_does() -> None:
    buffer = TransformBuffer()
    buffer.set_transform("/base", "/cam", 0, (1, 2, 3), (0, 0, 0, 1), static=True)
    np.testing.assert_allclose(buffer.lookup_transform("base", "/cam").translation, (1, 2, 3))


def test_transform_messages_from_rosbags_types() -> None:
    from hdnet_ros.ros_types import typestore

    types = typestore().types
    message = types["geometry_msgs/msg/TransformStamped"](
        header=types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=7, nanosec=5), frame_id="a"),
        child_frame_id="b",
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](x=1.0, y=0.0, z=0.0),
            rotation=types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
        ),
    )
    buffer = TransformBuffer()
    buffer.set_transform_message(message)
    assert buffer.lookup_transform("a", "b", 7 * S + 5).translation[0] == 1.0
    with pytest.raises(ExtrapolationError):
        buffer.lookup_transform("a", "b", 8 * S)


def test_transform_algebra() -> None:
    a = Transform.from_quaternion((1, 2, 3), _quat((10, 20, 30)))
    b = Transform.from_quaternion((-1, 0, 2), _quat((-5, 40, 0)))
    np.testing.assert_allclose((a @ b).matrix, a.matrix @ b.matrix, atol=1e-12)
    np.testing.assert_allclose(a.inverse().matrix, np.linalg.inv(a.matrix), atol=1e-12)
