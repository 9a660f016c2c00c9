"""A constant-velocity Kalman filter on one 3D point: each track's root."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


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
        """RMS position standard deviation over the three axes."""
        return float(np.sqrt(np.trace(self.P[:3, :3]) / 3.0))

    def predict(self, dt: float, acceleration_sigma: float) -> None:
        if dt <= 0:
            return
        F = np.eye(6)
        F[:3, 3:] = np.eye(3) * dt
        q = acceleration_sigma**2
        Q = np.zeros((6, 6))
        Q[:3, :3] = np.eye(3) * q * dt**3 / 3.0
        Q[:3, 3:] = Q[3:, :3] = np.eye(3) * q * dt**2 / 2.0
        Q[3:, 3:] = np.eye(3) * q * dt
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + Q

    def predicted_after(self, dt: float) -> FloatArray:
        return self.x[:3] + self.x[3:] * max(dt, 0.0)

    def update(self, measurement: FloatArray, sigma: float) -> None:
        H = np.zeros((3, 6))
        H[:, :3] = np.eye(3)
        R = np.eye(3) * sigma**2
        S = H @ self.P @ H.T + R
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = self.x + K @ (np.asarray(measurement, dtype=np.float64) - H @ self.x)
        self.P = (np.eye(6) - K @ H) @ self.P
