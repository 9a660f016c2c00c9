"""The node's camera poses from TF (CameraPoses): what each frame gets, and how long a lookup
may wait: a stale transform (late odometry) is waited for, a missing frame only once."""

from __future__ import annotations

import numpy as np
from hdnet_ros.camera import CameraModel
from hdnet_ros.node.camera_poses import CameraPoses
from hdnet_ros.node.transport import TransformUnavailableError
from hdnet_ros.people import Frame
from hdnet_ros.transform_buffer import Transform

CAMERA = CameraModel.from_fov(64, 48, 70.0)
TIMEOUT_S = 0.05


class ScriptedTF:
    """Answers each lookup with the next scripted outcome ('ok', 'missing', 'stale') and
    records (target, timeout) of every call."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes
        self.calls: list[tuple[str, float]] = []

    def __call__(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> Transform:
        self.calls.append((target, timeout_s))
        outcome = self.outcomes.pop(0)
        if outcome != "ok":
            raise TransformUnavailableError(f"{target} -> {source}: {outcome}", stale=outcome == "stale")
        return Transform(np.eye(3), np.array([1.0, 2.0, 3.0]), stamp_ns)


def frame(stamp_ns: int = 10) -> Frame:
    return Frame(np.zeros((48, 64, 3), np.uint8), None, CAMERA, stamp_ns, "camera_optical")


def test_each_configured_frame_is_looked_up_and_an_empty_one_is_not() -> None:
    tf = ScriptedTF(["ok", "missing"])
    poses = CameraPoses(tf, "base_footprint", "odom", TIMEOUT_S)
    looked = frame()
    poses(looked)
    assert [target for target, _ in tf.calls] == ["base_footprint", "odom"]
    assert looked.floor_pose is not None and looked.floor_pose.matrix is not None
    np.testing.assert_allclose(looked.floor_pose.matrix[:3, 3], (1.0, 2.0, 3.0))
    assert looked.fixed_pose is not None and looked.fixed_pose.matrix is None
    assert looked.fixed_pose.reason == "missing" and "odom" in looked.fixed_pose.message
    only_fixed = ScriptedTF(["stale"])
    unasked = frame()
    CameraPoses(only_fixed, "", "odom", TIMEOUT_S)(unasked)
    assert unasked.floor_pose is None and unasked.fixed_pose is not None and unasked.fixed_pose.reason == "stale"
    assert only_fixed.calls == [("odom", TIMEOUT_S)]


def test_a_missing_frame_is_waited_for_once_and_a_stale_one_every_time() -> None:
    """A frame nobody publishes (a static camera without odometry) would cost the whole
    timeout on every image; once found missing it is asked without waiting, until it is
    found or turns stale (known, not yet at the stamp: worth the wait again)."""
    outcomes = ["missing", "missing", "missing", "ok", "stale", "stale", "missing", "missing"]
    tf = ScriptedTF(list(outcomes))
    poses = CameraPoses(tf, "", "odom", TIMEOUT_S)
    for stamp in range(len(outcomes)):
        poses(frame(stamp + 1))
    waits = [timeout for _, timeout in tf.calls]
    assert waits == [TIMEOUT_S, 0.0, 0.0, 0.0, TIMEOUT_S, TIMEOUT_S, TIMEOUT_S, 0.0]
