"""Pinhole camera model built from a sensor_msgs/CameraInfo, with lens distortion."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# CameraInfo distortion models that OpenCV's undistortPoints understands directly.
SUPPORTED_DISTORTION_MODELS = ("", "none", "plumb_bob", "rational_polynomial")


class CameraModelError(ValueError):
    """A camera_info that cannot describe a usable camera."""


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of the RGB camera whose optical frame the outputs are expressed in."""

    width: int
    height: int
    K: FloatArray  # 3x3
    D: FloatArray = field(default_factory=lambda: np.zeros(0))
    distortion_model: str = "plumb_bob"

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "D", np.asarray(self.D, dtype=np.float64).ravel())
        if self.width <= 0 or self.height <= 0:
            raise CameraModelError(f"camera_info has an empty image size {self.width}x{self.height}")
        if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise CameraModelError(
                f"camera_info K has no valid focal length (fx={K[0, 0]}, fy={K[1, 1]}): "
                "the camera is not calibrated or the driver publishes a zero K"
            )
        if self.distortion_model not in SUPPORTED_DISTORTION_MODELS:
            raise CameraModelError(
                f"distortion model {self.distortion_model!r} is not supported "
                f"(supported: {', '.join(m for m in SUPPORTED_DISTORTION_MODELS if m)})"
            )

    @classmethod
    def from_camera_info(cls, msg: Any) -> CameraModel:
        """Build from any object with CameraInfo's fields (rclpy or rosbags message).

        ROS 1 spells the matrices K and D, ROS 2 k and d; both are accepted so ROS 1 bags
        replay without conversion.
        """
        K = msg.k if hasattr(msg, "k") else msg.K
        D = msg.d if hasattr(msg, "d") else msg.D
        return cls(
            width=int(msg.width),
            height=int(msg.height),
            K=np.asarray(K, dtype=np.float64),
            D=np.asarray(D, dtype=np.float64),
            distortion_model=str(msg.distortion_model),
        )

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov_deg: float) -> CameraModel:
        """A distortion-free camera with a given horizontal field of view (for synthetic data)."""
        f = 0.5 * width / np.tan(np.deg2rad(horizontal_fov_deg) / 2.0)
        K = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
        return cls(width=width, height=height, K=K)

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @property
    def has_distortion(self) -> bool:
        return self.D.size > 0 and bool(np.any(self.D != 0.0))

    def normalized_rays(self, pixels: npt.ArrayLike) -> FloatArray:
        """Undistorted normalized image coordinates (x/z, y/z) of pixel positions [N,2]."""
        uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        if not self.has_distortion:
            return np.stack(((uv[:, 0] - self.cx) / self.fx, (uv[:, 1] - self.cy) / self.fy), axis=1)
        out = np.full_like(uv, np.nan)
        finite = np.all(np.isfinite(uv), axis=1)
        if np.any(finite):
            undist = cv2.undistortPoints(uv[finite].reshape(-1, 1, 2), self.K, self.D)
            out[finite] = undist.reshape(-1, 2)
        return out

    def unit_rays(self, pixels: npt.ArrayLike) -> FloatArray:
        """Unit viewing rays [N,3] of pixel positions [N,2] (NaN rows for NaN pixels)."""
        xy = self.normalized_rays(pixels)
        rays = np.concatenate((xy, np.ones((len(xy), 1))), axis=1)
        return np.asarray(rays / np.linalg.norm(rays, axis=1, keepdims=True), dtype=np.float64)

    def back_project(self, pixels: npt.ArrayLike, depth_m: npt.ArrayLike) -> FloatArray:
        """3D points [N,3] in the optical frame from pixels [N,2] and their z-depth [N] in metres.

        NaN depth gives a NaN point: callers never see an invented position.
        """
        rays = self.normalized_rays(pixels)
        z = np.asarray(depth_m, dtype=np.float64).reshape(-1)
        return np.stack((rays[:, 0] * z, rays[:, 1] * z, z), axis=1)

    def project(self, points: npt.ArrayLike) -> FloatArray:
        """Pixels [N,2] of 3D points [N,3] in the optical frame (with distortion)."""
        xyz = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        if not self.has_distortion:
            with np.errstate(divide="ignore", invalid="ignore"):
                u = self.fx * xyz[:, 0] / xyz[:, 2] + self.cx
                v = self.fy * xyz[:, 1] / xyz[:, 2] + self.cy
            return np.stack((u, v), axis=1)
        pixels, _ = cv2.projectPoints(xyz.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), self.K, self.D)
        return pixels.reshape(-1, 2).astype(np.float64)
