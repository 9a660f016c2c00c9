"""The data that flows through the pipeline: a frame in, a list of people out."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.depth_fault import DepthFault
from hdnet_ros.joints import NUM_FEET, NUM_JOINTS, ROOT

FloatArray = npt.NDArray[np.floating]


class DepthSource(IntEnum):
    """Where a joint's depth came from (Keypoint3D.DEPTH_SOURCE_*)."""

    NONE = 0
    SENSOR = 1
    NETWORK = 2
    FUSED = 3
    INFERRED = 4


# The depths the sensor measured in their frame, alone or fused with a network's.
MEASURED = (DepthSource.SENSOR, DepthSource.FUSED)


class TrackingState(IntEnum):
    """Skeleton3D.TRACKING_STATE_*."""

    OFF = 0
    NEW = 1
    TRACKED = 2
    LOST = 3


@dataclass(frozen=True)
class CameraPose:
    """The camera's pose in a TF frame at the image stamp: ``matrix`` (4x4, ``p_frame = M
    p_camera``, the optical frame in that frame), or None with ``reason`` (``missing``,
    ``stale``) and ``message`` saying why the lookup failed."""

    matrix: npt.NDArray[np.float64] | None
    reason: str = ""
    message: str = ""


@dataclass
class Frame:
    """One synchronized RGB-D frame, already decoded.

    rgb: HxWx3 uint8 in RGB order. depth_m: HxW float32 z-depth in metres registered to the
    RGB image, NaN where invalid, or None in RGB-only mode. depth_fault: why a depth image
    that came with the frame (or should have) was set aside; None when depth_m is the
    sensor's or depth is off by choice.
    """

    rgb: npt.NDArray[np.uint8]
    depth_m: npt.NDArray[np.float32] | None
    camera: CameraModel
    stamp_ns: int
    frame_id: str
    depth_fault: DepthFault | None = None
    floor_pose: CameraPose | None = None  # in floor.frame; None: TF was not asked (no floor.frame, or no transport TF)
    fixed_pose: CameraPose | None = None  # in tracking.fixed_frame; None: TF was not asked (likewise)


@dataclass
class Detection:
    """A person box in image pixels (x_min, y_min, x_max, y_max) with its score."""

    box: npt.NDArray[np.float64]
    score: float


def _template(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """A read-only array whose copies are a Person's defaults: a copy costs a third of what
    ``np.full`` does (nine arrays a person, 20 people a frame)."""
    array.flags.writeable = False
    return array


_NAN_JOINTS_3D = _template(np.full((NUM_JOINTS, 3), np.nan))
_NAN_JOINTS = _template(np.full(NUM_JOINTS, np.nan))
_NO_JOINT_SOURCES = _template(np.zeros(NUM_JOINTS, dtype=np.uint8))
_NAN_VELOCITY = _template(np.full(3, np.nan))
_NAN_FEET_3D = _template(np.full((NUM_FEET, 3), np.nan))
_NAN_FEET = _template(np.full(NUM_FEET, np.nan))
_NO_FOOT_SOURCES = _template(np.zeros(NUM_FEET, dtype=np.uint8))
_NAN_FEET_2D = _template(np.full((NUM_FEET, 2), np.nan))
_ZERO_FEET = _template(np.zeros(NUM_FEET))


@dataclass
class Person:
    """One person's skeleton in the camera's optical frame.

    Arrays are indexed by the joint set in :mod:`hdnet_ros.joints`. A joint without a 3D
    position has ``valid`` False and NaN in ``positions``: never a made-up (0, 0, 0).
    """

    detection: Detection
    pixels: FloatArray  # [J,2] image pixels, NaN when the joint was not seen
    scores: FloatArray  # [J] 2D keypoint scores in [0, 1]
    positions: FloatArray = field(default_factory=_NAN_JOINTS_3D.copy)
    position_stddev: FloatArray = field(default_factory=_NAN_JOINTS.copy)
    depth_sources: npt.NDArray[np.uint8] = field(default_factory=_NO_JOINT_SOURCES.copy)
    track_id: int = 0
    tracking_state: TrackingState = TrackingState.OFF
    velocity: FloatArray = field(default_factory=_NAN_VELOCITY.copy)
    # A 3D network's root-relative pose [J,3] (metres, camera axes, NaN rows where it has no
    # joint) and how many frames ago the network made it (0: this frame; carried by the
    # tracker from an earlier frame otherwise). None: no network pose.
    network_pose: FloatArray | None = None
    network_pose_age: int = 0
    network_feet: FloatArray | None = None  # [4,3] the same network's feet, pelvis-relative
    # The same network's own 2D landmarks of this frame in the joint set [J,2] (NaN below its
    # visibility threshold) and their scores [J]: the points its skeleton's joints project
    # to. None where the network did not run on the person this frame (a carried pose).
    network_pixels: FloatArray | None = None
    network_scores: FloatArray | None = None
    # The feet (joints.FOOT_NAMES order): positions, 1-sigma, depth sources, pixels, scores.
    feet: FloatArray = field(default_factory=_NAN_FEET_3D.copy)
    feet_stddev: FloatArray = field(default_factory=_NAN_FEET.copy)
    feet_sources: npt.NDArray[np.uint8] = field(default_factory=_NO_FOOT_SOURCES.copy)
    feet_pixels: FloatArray = field(default_factory=_NAN_FEET_2D.copy)
    feet_scores: FloatArray = field(default_factory=_ZERO_FEET.copy)
    # The person's size relative to the network's skeleton, learned while the sensor measured
    # them (stages.placement.scale), and its 1-sigma; NaN until measured.
    scale: float = float("nan")
    scale_sigma: float = float("nan")

    @property
    def valid(self) -> npt.NDArray[np.bool_]:
        return np.all(np.isfinite(self.positions), axis=1)

    @property
    def num_valid(self) -> int:
        return int(np.count_nonzero(self.valid))

    @property
    def root(self) -> FloatArray:
        return self.positions[ROOT]
