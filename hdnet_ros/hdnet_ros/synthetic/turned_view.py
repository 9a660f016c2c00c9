"""A real frame as the same camera, turned about its optical centre, would have seen it.

A camera that only rotates (a robot turning in place, a head that pans) sees the same rays:
its new image is a homography of the old one (``K R^T K^-1``), and each depth pixel's point
is the same point re-expressed in the turned camera's axes. So a recorded RGB-D frame gives
an exact sequence of a turning camera, with the camera's pose in a fixed frame to go with
it, as TF gives a robot's ``odom`` (the benchmarks' and tests' turning sequences). Parts of
the new view that the old one did not see are black, without depth. Lens distortion is
left as it is (the sample frames' is small): the warp is a pinhole's.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.people import CameraPose, Frame

FloatArray = npt.NDArray[np.float64]
# The optical frame (x right, y down, z ahead) in a z-up fixed frame (x ahead, y left, z up;
# REP-103), the turned camera at its origin.
OPTICAL_IN_FIXED = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def yaw_turn(angle_rad: float) -> FloatArray:
    """The axes of a camera turned by ``angle_rad`` about its own y axis (down: a positive
    angle turns it to the right), in the unturned camera's axes."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def turned_frame(frame: Frame, turn: FloatArray) -> Frame:
    """``frame`` seen by its camera turned to the axes ``turn`` (3x3, in the frame's camera
    axes: ``p_old = turn p_new``), with ``fixed_pose`` the turned camera's pose in a z-up
    fixed frame (:data:`OPTICAL_IN_FIXED`)."""
    rotation = np.asarray(turn, dtype=np.float64)
    height, width = frame.rgb.shape[:2]
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    rays_new = np.stack((columns, rows, np.ones_like(columns)), axis=-1) @ np.linalg.inv(frame.camera.K).T
    rays_old = rays_new @ rotation.T  # each new pixel's ray in the old camera's axes
    ahead = rays_old[..., 2] > 1e-6
    source = rays_old @ frame.camera.K.T
    with np.errstate(divide="ignore", invalid="ignore"):
        map_x = np.where(ahead, source[..., 0] / source[..., 2], -1.0).astype(np.float32)
        map_y = np.where(ahead, source[..., 1] / source[..., 2], -1.0).astype(np.float32)
    rgb = cv2.remap(frame.rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    depth = None
    if frame.depth_m is not None:
        old_z = cv2.remap(
            frame.depth_m, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan")
        )
        # The point old_z * ray_old / ray_old.z has the new camera's depth old_z * ray_new.z / ray_old.z.
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = np.where(ahead, old_z * (rays_new[..., 2] / rays_old[..., 2]), np.nan).astype(np.float32)
    pose = np.eye(4)
    pose[:3, :3] = OPTICAL_IN_FIXED @ rotation
    return dataclasses.replace(
        frame, rgb=np.ascontiguousarray(rgb), depth_m=depth, depth_fault=None, fixed_pose=CameraPose(pose)
    )
