"""The floor in the camera's optical frame, where a standing person's feet are, and where
it comes from: the robot's TF (the camera's pose over ``floor.frame``), the depth image's
own plane, or the standing people (people_floor.py).

A robot knows where its floor is: REP-103/105 put ``base_footprint`` on it, z up. The pose
of the image's optical frame in that frame gives the floor plane in the camera: its up
normal is the frame's z axis seen from the camera, and the camera is the pose's z
translation above it. A pose that cannot be a camera over a floor (below it, absurdly
high, or a floor frame whose up points away from the image's up by more than
``floor.max_tilt_deg``: a wrong frame or a camera upside down) is refused with the reason,
never used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.settings_field import setting

FloatArray = npt.NDArray[np.float64]
IMAGE_UP = np.array([0.0, -1.0, 0.0])  # the optical frame's up (y points down in the image)
# What a floor from TF is trusted to: a URDF's camera height and mounting angle are
# measured or CAD values, good to about a centimetre and half a degree.
TF_SIGMA_OFFSET_M = 0.01
TF_SIGMA_TILT_RAD = float(np.deg2rad(0.5))
# The depth stage's RANSAC plane (stages.depth.floor): its inliers lie within 2 cm plus
# the sensor noise; a least-squares plane through hundreds of them is good to ~1 cm.
DEPTH_SIGMA_OFFSET_M = 0.02
DEPTH_SIGMA_TILT_RAD = float(np.deg2rad(1.0))


@dataclass(frozen=True)
class FloorConfig:
    frame: str = setting(
        "base_footprint",
        "TF frame on the floor (z up, the floor at z = 0, REP-103/105); the camera's pose over it places "
        "standing people ('' = do not look it up)",
    )
    from_people: bool = setting(
        True,
        "without TF or depth, estimate the floor from the standing people of each frame and over time (their "
        "trunks, feet and hip heights; a static camera)",
    )
    min_camera_height_m: float = setting(
        0.2, "a camera lower than this over the TF floor is refused (logged, counted) [m]", min=0.0
    )
    max_camera_height_m: float = setting(
        10.0, "a camera higher than this over the TF floor is refused (logged, counted) [m]", min=0.1
    )
    max_tilt_deg: float = setting(
        70.0,
        "largest angle between the floor's up and the image's up; more is refused as a wrong floor frame "
        "(a camera looking down 50 deg is at 50 deg)",
        min=1.0,
        max=89.0,
    )


@dataclass(frozen=True)
class Floor:
    """A floor plane in the optical frame: points X with ``normal . X = offset``; ``normal``
    is the unit up vector, so the camera is ``-offset`` metres above the floor. ``source``:
    ``tf``, ``depth`` or ``people``; the sigmas are the plane's 1-sigma uncertainty (an
    infinite offset sigma: only the up direction is known).

    ``covariance`` [3,3] (optional) is the plane's full uncertainty over (its tilt about
    ``tangent_basis(normal)[0]`` and ``[1]`` in radians, the offset): a floor seen from people
    is known best where they stand, not under the camera, and :meth:`height_sigma` says how
    well at any point. Without it the tilt and the offset are independent (a pose from TF)."""

    normal: FloatArray
    offset: float
    source: str
    sigma_offset_m: float
    sigma_tilt_rad: float
    covariance: FloatArray | None = None

    @property
    def camera_height(self) -> float:
        return -self.offset

    @property
    def height_known(self) -> bool:
        return bool(np.isfinite(self.sigma_offset_m))

    def parameter_covariance(self) -> FloatArray:
        """[3,3] over (tilt, tilt, offset); the diagonal of the sigmas without a full one."""
        if self.covariance is not None:
            return self.covariance
        return np.diag([self.sigma_tilt_rad**2, self.sigma_tilt_rad**2, self.sigma_offset_m**2])

    def height_sigma(self, point: FloatArray) -> float:
        """1-sigma [m] of the floor's height under ``point`` [3] (camera frame): the offset's
        and the tilts' uncertainty there, with their correlation (inf: height unknown)."""
        if not self.height_known:
            return float("inf")
        basis = tangent_basis(self.normal)
        jacobian = np.array([basis[0] @ point, basis[1] @ point, -1.0])
        return float(np.sqrt(max(jacobian @ self.parameter_covariance() @ jacobian, 0.0)))

    def heights(self, points: FloatArray) -> FloatArray:
        """Height of points [...,3] above the floor [m]."""
        return np.asarray(points @ self.normal - self.offset)

    def hits(self, rays: FloatArray, level: float | FloatArray = 0.0) -> FloatArray:
        """Where rays [N,3] from the camera meet the floor raised by ``level`` [m] (NaN
        rows for rays that never reach it: pointing level or up)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.offset + np.asarray(level, dtype=np.float64)) / (rays @ self.normal)
        t = np.where(np.isfinite(t) & (t > 0), t, np.nan)
        return np.asarray(rays * np.asarray(t)[..., None])


def tangent_basis(up: FloatArray) -> FloatArray:
    """Two unit vectors [2,3] perpendicular to ``up`` and to each other (the axes a floor's
    tilt is measured about)."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    first = _cross(up, helper)
    first /= np.linalg.norm(first)
    return np.stack((first, _cross(up, first)))


def _cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """The cross product of two 3-vectors (np.cross costs ~10 us in its axis handling; the
    placement makes a few per person and frame)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


@dataclass(frozen=True)
class FloorRefusal:
    """Why a camera pose over the floor frame was not used as the floor."""

    reason: str  # a counter key: "below_floor", "too_high", "tilted"
    message: str


def floor_from_pose(camera_in_floor: npt.ArrayLike, config: FloorConfig) -> Floor | FloorRefusal:
    """The floor from the pose of the optical frame in the floor frame (4x4: ``p_floor =
    T p_camera``), or why that pose is not a camera over a floor (module doc)."""
    pose = np.asarray(camera_in_floor, dtype=np.float64).reshape(4, 4)
    rotation, height = pose[:3, :3], float(pose[2, 3])
    normal = rotation.T @ np.array([0.0, 0.0, 1.0])  # the floor's z axis in camera coordinates
    if height < config.min_camera_height_m:
        where = "below" if height < 0 else "on"
        return FloorRefusal(
            "below_floor",
            f"the camera is {height:.2f} m over the floor frame ({where} the floor; floor.min_camera_height_m "
            f"{config.min_camera_height_m} m)",
        )
    if height > config.max_camera_height_m:
        return FloorRefusal(
            "too_high",
            f"the camera is {height:.2f} m over the floor frame (floor.max_camera_height_m "
            f"{config.max_camera_height_m} m)",
        )
    tilt = float(np.degrees(np.arccos(np.clip(normal @ IMAGE_UP, -1.0, 1.0))))
    if tilt > config.max_tilt_deg:
        return FloorRefusal(
            "tilted",
            f"the floor frame's up is {tilt:.0f} deg from the image's up (floor.max_tilt_deg {config.max_tilt_deg}): "
            "not the floor under this camera, or the camera is mounted upside down",
        )
    return Floor(normal, -height, "tf", TF_SIGMA_OFFSET_M, TF_SIGMA_TILT_RAD)


def floor_from_plane(normal: FloatArray, offset: float) -> Floor:
    """The depth stage's fitted plane (its normal already points up) as a floor."""
    normal = np.asarray(normal, dtype=np.float64)
    return Floor(normal, float(offset), "depth", DEPTH_SIGMA_OFFSET_M, DEPTH_SIGMA_TILT_RAD)
