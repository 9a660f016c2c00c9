"""The depth stage's settings as its compiled kernel takes them: a named tuple of plain
numbers (numba cannot read a dataclass), built in one place so that every call has the
same types and the kernel is compiled once."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from hdnet_ros.stages.depth.config import LiftingConfig, surface_offsets


class KernelSettings(NamedTuple):
    min_depth_m: float
    max_depth_m: float
    window_fraction: float
    min_window_px: int
    max_window_px: int
    person_depth_band_m: float
    cluster_gap_m: float
    min_support_px: int
    noise_coefficient: float
    window_radius_m: float
    prior_stature_m: float
    fx: float  # the camera's focal length [px]
    surface_offsets: npt.NDArray[np.float64]  # [J] per joint [m]


def kernel_settings(config: LiftingConfig, fx: float) -> KernelSettings:
    return KernelSettings(
        float(config.min_depth_m),
        float(config.max_depth_m),
        float(config.window_fraction),
        int(config.min_window_px),
        int(config.max_window_px),
        float(config.person_depth_band_m),
        float(config.cluster_gap_m),
        int(config.min_support_px),
        float(config.noise_coefficient),
        float(config.window_radius_m),
        float(config.prior_stature_m),
        float(fx),
        np.ascontiguousarray(surface_offsets(config), dtype=np.float64),
    )
