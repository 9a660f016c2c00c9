"""hdnet_ros_msgs/Skeleton3DArray as CDR bytes, made from the people's arrays in one
structured numpy array instead of a message object per person, keypoint and Point.

The replay writes these bytes to its bag: they are the bytes rosbags' serialiser makes of
:func:`~.skeletons.skeleton_array_msg` (``test_skeleton_cdr`` checks it on real and
synthetic frames, invalid joints included). The layout is fixed because every Skeleton3D
has the same size: CDR (little endian) aligns each primitive to its own size, counted from
the end of the 4-byte encapsulation header; every Skeleton3D starts 8-aligned (its first
field is a uint64), so its fields and its NUM_JOINTS + NUM_FEET keypoints (each 42 bytes,
the next one 8-aligned: 48 apart) always sit at the offsets below. The node's rclpy
messages take no bytes: it converts the message objects as before.
"""

from __future__ import annotations

import numpy as np

from hdnet_ros.joints import JOINT_SET_NAME, NUM_FEET, NUM_JOINTS, ROOT
from hdnet_ros.people import DepthSource, Person

_KEYPOINT = np.dtype(
    {
        "names": ["position", "position_stddev", "confidence", "pixel", "valid", "depth_source"],
        "formats": [("<f8", 3), "<f4", "<f4", ("<f4", 2), "u1", "u1"],
        "offsets": [0, 24, 28, 32, 40, 41],
        "itemsize": 48,
    }
)
_KEYPOINT_BYTES = 42  # the last keypoint of a sequence ends here: no padding after it
_JOINT_SET = JOINT_SET_NAME.encode() + b"\0"
_KEYPOINTS_AT = 112
_FEET_COUNT_AT = _KEYPOINTS_AT + (NUM_JOINTS - 1) * 48 + _KEYPOINT_BYTES
_FEET_COUNT_AT += -_FEET_COUNT_AT % 4
_FEET_AT = _FEET_COUNT_AT + 4 + (-(_FEET_COUNT_AT + 4) % 8)
_SKELETON_BYTES = _FEET_AT + (NUM_FEET - 1) * 48 + _KEYPOINT_BYTES
_SKELETON = np.dtype(
    {
        "names": [
            "id", "tracking_state", "confidence", "joint_set_length", "joint_set", "root_position", "root_valid",
            "velocity", "velocity_valid", "bbox", "keypoint_count", "keypoints", "feet_count", "feet",
        ],
        "formats": [
            "<u8", "u1", "<f4", "<u4", f"S{len(_JOINT_SET)}", ("<f8", 3), "u1",
            ("<f8", 3), "u1", ("<f4", 4), "<u4", (_KEYPOINT, NUM_JOINTS), "<u4", (_KEYPOINT, NUM_FEET),
        ],
        "offsets": [0, 8, 12, 16, 20, 32, 56, 64, 88, 92, 108, _KEYPOINTS_AT, _FEET_COUNT_AT, _FEET_AT],
        "itemsize": _SKELETON_BYTES + (-_SKELETON_BYTES % 8),  # the next Skeleton3D is 8-aligned
    }
)  # fmt: skip


def _fill_keypoints(
    out: np.ndarray, positions: np.ndarray, stddev: np.ndarray, sources: np.ndarray, pixels: np.ndarray,
    scores: np.ndarray,
) -> None:  # fmt: skip
    """Keypoints as :func:`~.skeletons.keypoint_msgs` makes them: an invalid joint NaN with
    DEPTH_SOURCE_NONE and a NaN stddev."""
    valid = np.all(np.isfinite(positions), axis=-1)
    out["position"] = np.where(valid[..., None], positions, np.nan)
    out["position_stddev"] = np.where(valid, stddev, np.nan)
    out["confidence"] = scores
    out["pixel"] = pixels
    out["valid"] = valid
    out["depth_source"] = np.where(valid, sources, int(DepthSource.NONE))


def _aligned(offset: int, size: int) -> int:
    return offset + (-offset % size)


def skeleton_array_cdr(people: list[Person], stamp_ns: int, frame_id: str) -> bytes:
    """The CDR bytes (with their encapsulation header) of the frame's Skeleton3DArray."""
    frame = frame_id.encode() + b"\0"
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    head = bytearray(b"\x00\x01\x00\x00")
    head += np.array([sec], "<i4").tobytes() + np.array([nanosec, len(frame)], "<u4").tobytes() + frame
    head += bytes(_aligned(len(head) - 4, 4) - (len(head) - 4))
    head += np.array([len(people)], "<u4").tobytes()
    if not people:
        return bytes(head)
    head += bytes(_aligned(len(head) - 4, 8) - (len(head) - 4))
    skeletons = np.zeros(len(people), _SKELETON)
    skeletons["id"] = [int(p.track_id) for p in people]
    skeletons["tracking_state"] = [int(p.tracking_state) for p in people]
    skeletons["confidence"] = [float(p.detection.score) for p in people]
    skeletons["joint_set_length"] = len(_JOINT_SET)
    skeletons["joint_set"] = _JOINT_SET
    positions = np.stack([p.positions for p in people]).astype(np.float64)
    root = positions[:, ROOT]
    root_valid = np.all(np.isfinite(root), axis=1)
    skeletons["root_position"] = np.where(root_valid[:, None], root, np.nan)
    skeletons["root_valid"] = root_valid
    velocity = np.stack([p.velocity for p in people]).astype(np.float64)
    velocity_valid = np.all(np.isfinite(velocity), axis=1)
    skeletons["velocity"] = np.where(velocity_valid[:, None], velocity, np.nan)
    skeletons["velocity_valid"] = velocity_valid
    skeletons["bbox"] = np.stack([p.detection.box for p in people]).astype(np.float64)
    skeletons["keypoint_count"] = NUM_JOINTS
    skeletons["feet_count"] = NUM_FEET
    _fill_keypoints(
        skeletons["keypoints"],
        positions,
        np.stack([p.position_stddev for p in people]).astype(np.float64),
        np.stack([p.depth_sources for p in people]),
        np.stack([p.pixels for p in people]).astype(np.float64),
        np.stack([p.scores for p in people]).astype(np.float64),
    )
    _fill_keypoints(
        skeletons["feet"],
        np.stack([p.feet for p in people]).astype(np.float64),
        np.stack([p.feet_stddev for p in people]).astype(np.float64),
        np.stack([p.feet_sources for p in people]),
        np.stack([p.feet_pixels for p in people]).astype(np.float64),
        np.stack([p.feet_scores for p in people]).astype(np.float64),
    )
    body = skeletons.tobytes()
    return bytes(head) + body[: len(body) - (_SKELETON.itemsize - _SKELETON_BYTES)]
