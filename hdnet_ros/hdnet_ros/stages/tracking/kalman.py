"""A constant-velocity Kalman filter on one 3D point: each track's root."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@lru_cache(maxsize=16)
def _motion(dt: float, acceleration_sigma: float) -> tuple[FloatArray, FloatArray]:
    """The transition F and process noise Q of a step of ``dt`` seconds, read-only: frames
    come at one rate, so every track of every frame shares the same two matrices."""
    F = np.eye(6)
    F[:3, 3:] = np.eye(3) * dt
    q = acceleration_sigma**2
    Q = np.zeros((6, 6))
    Q[:3, :3] = np.eye(3) * q * dt**3 / 3.0
    Q[:3, 3:] = Q[3:, :3] = np.eye(3) * q * dt**2 / 2.0
    Q[3:, 3:] = np.eye(3) * q * dt
    F.flags.writeable = False
    Q.flags.writeable = False
    return F, Q


def _floor_motion(dt: float, across: float, up: FloatArray, along: float) -> tuple[FloatArray, FloatArray]:
    """:func:`_motion` with the acceleration's density ``along`` the unit vector ``up`` and
    ``across`` it: Q's blocks are S = across^2 (I - u u^T) + along^2 u u^T times dt^3/3,
    dt^2/2 and dt."""
    F, _ = _motion(dt, across)
    u = np.asarray(up, dtype=np.float64).reshape(3)
    vertical = np.outer(u, u)
    S = across**2 * (np.eye(3) - vertical) + along**2 * vertical
    Q = np.block([[S * dt**3 / 3.0, S * dt**2 / 2.0], [S * dt**2 / 2.0, S * dt]])
    return F, Q


class RootKalman:
    """Constant-velocity Kalman filter on a 3D point: state (x, y, z, vx, vy, vz)."""

    def __init__(self, position: FloatArray, position_sigma: float, velocity_sigma: float) -> None:
        self.x = np.concatenate((np.asarray(position, dtype=np.float64), np.zeros(3)))
        self.P = np.diag([position_sigma**2] * 3 + [velocity_sigma**2] * 3)

    @property
    def position(self) -> FloatArray:
        return self.x[:3].copy()

    @property
    def velocity(self) -> FloatArray:
        return self.x[3:].copy()

    @property
    def position_sigma(self) -> float:
        """RMS position standard deviation over the three axes (np.trace's sum, in its order,
        on Python floats: a gate per track and frame)."""
        xx, yy, zz = self.P.diagonal()[:3].tolist()
        return math.sqrt(((xx + yy) + zz) / 3.0)

    @property
    def velocity_sigma(self) -> float:
        """RMS velocity standard deviation over the three axes [m/s]."""
        vx, vy, vz = self.P.diagonal()[3:].tolist()
        return math.sqrt(((vx + vy) + vz) / 3.0)

    def sigma_along(self, direction: FloatArray) -> float:
        """The position's standard deviation along ``direction`` (any length; a viewing ray) [m]."""
        unit = np.asarray(direction, dtype=np.float64) / max(float(np.linalg.norm(direction)), 1e-12)
        return math.sqrt(max(float(unit @ self.P[:3, :3] @ unit), 0.0))

    def predict(self, dt: float, acceleration_sigma: float) -> None:
        if dt <= 0:
            return
        F, Q = _motion(dt, acceleration_sigma)
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + Q

    def position_after(self, dt: float, acceleration_sigma: float) -> FloatArray:
        """The position :meth:`predict` would move to (the same arithmetic), the filter unchanged."""
        if dt <= 0:
            return self.position
        F, _ = _motion(dt, acceleration_sigma)
        return (F @ self.x)[:3]

    def predicted_after(self, dt: float) -> FloatArray:
        return self.x[:3] + self.x[3:] * max(dt, 0.0)

    def update(self, measurement: FloatArray, sigma: float) -> None:
        """The measured position with its ``sigma`` [m] on every axis. The measurement picks
        the position out of the state (H = [I 0]), so H P H^T, P H^T and (I - K H) P are
        blocks of P: taken as slices, not as products with H (a track's update is a few
        microseconds, and a crowd updates every track each frame)."""
        S = self.P[:3, :3] + np.eye(3) * sigma**2
        K = self.P[:, :3] @ np.linalg.inv(S)
        self.x = self.x + K @ (np.asarray(measurement, dtype=np.float64) - self.x[:3])
        self.P = self.P - K @ self.P[:3, :]


def predict_all(
    filters: list[RootKalman],
    dt: float,
    acceleration_sigma: float,
    up: FloatArray | None = None,
    vertical_sigma: float = 0.0,
) -> None:
    """:meth:`RootKalman.predict` of every filter, as one stacked product each (numpy's
    matmul multiplies each stacked matrix as it would a single one: the same numbers to the
    bit, ``test_tracking``). ``up`` (a unit vector in the filters' frame): the acceleration's
    density is ``vertical_sigma`` along it and ``acceleration_sigma`` across it (people walk
    on a floor), else ``acceleration_sigma`` on every axis."""
    if dt <= 0 or not filters:
        return
    F, Q = _motion(dt, acceleration_sigma) if up is None else _floor_motion(dt, acceleration_sigma, up, vertical_sigma)
    states = (F @ np.array([f.x for f in filters])[:, :, None])[..., 0]
    covariances = F @ np.array([f.P for f in filters]) @ F.T + Q
    for kalman, x, P in zip(filters, states, covariances, strict=True):
        kalman.x, kalman.P = x, P


def positions_after(filters: list[RootKalman], dt: float, acceleration_sigma: float) -> FloatArray:
    """:meth:`RootKalman.position_after` of every filter [T,3], as one stacked product (the
    same numbers to the bit, as :func:`predict_all`)."""
    states = np.array([f.x for f in filters], dtype=np.float64).reshape(-1, 6)
    if dt <= 0:
        return states[:, :3].copy()
    F, _ = _motion(dt, acceleration_sigma)
    return (F @ states[:, :, None])[:, :3, 0]


def update_all(filters: list[RootKalman], measurements: FloatArray, sigmas: FloatArray) -> None:
    """:meth:`RootKalman.update` of every filter with its measurement [T,3] and sigma [T],
    stacked (one inverse of all innovations: 20 single 3x3 inverses cost ~0.1 ms, mostly
    numpy's call overhead); the same numbers to the bit."""
    if not filters:
        return
    states = np.array([f.x for f in filters])
    covariances = np.array([f.P for f in filters])
    innovation = covariances[:, :3, :3] + np.eye(3) * (np.asarray(sigmas, dtype=np.float64) ** 2)[:, None, None]
    gains = covariances[:, :, :3] @ np.linalg.inv(innovation)
    residuals = np.asarray(measurements, dtype=np.float64).reshape(-1, 3) - states[:, :3]
    states = states + (gains @ residuals[:, :, None])[..., 0]
    covariances = covariances - gains @ covariances[:, :3, :]
    for kalman, x, P in zip(filters, states, covariances, strict=True):
        kalman.x, kalman.P = x, P


def move_all(filters: list[RootKalman], motion: FloatArray) -> None:
    """Every filter re-expressed in another frame by the rigid ``motion`` [4,4] (``p' = R p +
    t``): the position moves, the velocity turns with R, the covariance is J P J^T with J =
    diag(R, R). The tracker's use: the camera moved, the people did not have to."""
    if not filters:
        return
    rotation, translation = motion[:3, :3], motion[:3, 3]
    turn = np.zeros((6, 6))
    turn[:3, :3] = turn[3:, 3:] = rotation
    states = np.array([f.x for f in filters]) @ turn.T
    states[:, :3] += translation
    covariances = turn @ np.array([f.P for f in filters]) @ turn.T
    for kalman, x, P in zip(filters, states, covariances, strict=True):
        kalman.x, kalman.P = x, P
