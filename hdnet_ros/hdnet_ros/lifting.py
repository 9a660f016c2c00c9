"""Stage 3: depth lifting. 2D keypoints + registered depth -> 3D joints in metres.

A joint's depth is never a plain median of a window: on real frames a window around a
wrist often reaches past the arm into a wall metres behind it. Instead every window keeps
only pixels consistent with this person (within a band around the person's torso depth)
and takes the nearest well-supported depth cluster in it (an arm in front of the torso is
nearer than the torso behind it). Joints without such support stay invalid (NaN), never
(0, 0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import DERIVED_JOINTS, NUM_JOINTS, TORSO_JOINTS
from hdnet_ros.people import DepthSource, Person
from hdnet_ros.settings_field import setting

FloatArray = npt.NDArray[np.float64]
DepthImage = npt.NDArray[np.float32]


@dataclass(frozen=True)
class LiftingConfig:
    min_depth_m: float = setting(0.3, "depth below this is treated as invalid [m]", min=0.0)
    max_depth_m: float = setting(10.0, "depth beyond this is treated as invalid [m]", min=0.1)
    window_fraction: float = setting(
        0.025, "joint window half-size as a fraction of the person's box height", min=0.0, max=0.5
    )
    min_window_px: int = setting(2, "smallest joint window half-size [px]", min=1)
    max_window_px: int = setting(12, "largest joint window half-size [px]", min=1)
    # A standing adult spans about +-0.5 m in depth around the torso; anything farther from
    # the torso is background or an occluder, not this person.
    person_depth_band_m: float = setting(
        0.6, "pixels farther than this from the person's torso depth are not the person [m]", min=0.05
    )
    cluster_gap_m: float = setting(0.08, "a depth gap that separates two surfaces in a window [m]", min=0.005)
    min_support_px: int = setting(3, "fewest consistent pixels that make a joint depth", min=1)
    noise_coefficient: float = setting(
        0.0015, "sensor depth noise sigma = coefficient * z^2 [1/m] (Kinect-like 0.0015)", min=0.0
    )


def _valid_depths(values: npt.NDArray[np.float32], config: LiftingConfig) -> npt.NDArray[np.float32]:
    finite = values[np.isfinite(values)]
    return finite[(finite >= config.min_depth_m) & (finite <= config.max_depth_m)]


def nearest_cluster(depths: npt.NDArray[np.float32], gap: float, min_support: int) -> npt.NDArray[np.float32]:
    """The nearest group of depths (split where sorted depths jump by more than ``gap``)
    that holds at least ``min_support`` values; empty when none does."""
    if depths.size < min_support:
        return depths[:0]
    ordered = np.sort(depths)
    breaks = np.flatnonzero(np.diff(ordered) > gap) + 1
    for cluster in np.split(ordered, breaks):
        if cluster.size >= min_support:
            return cluster
    return depths[:0]


def torso_depth(person: Person, depth: DepthImage, config: LiftingConfig) -> float:
    """The person's reference depth: the dominant surface inside the torso polygon (or, with
    too few torso joints seen, the central part of the box). NaN when nothing is measured."""
    polygon = person.pixels[list(TORSO_JOINTS)]
    polygon = polygon[np.all(np.isfinite(polygon), axis=1)]
    mask = np.zeros(depth.shape, dtype=np.uint8)
    if len(polygon) >= 3:
        cv2.fillConvexPoly(mask, np.round(polygon).astype(np.int32), 1)
    if np.count_nonzero(mask) < 4 * config.min_support_px:
        x0, y0, x1, y1 = person.detection.box
        w, h = x1 - x0, y1 - y0
        mask[:] = 0
        r0, r1 = int(y0 + 0.2 * h), int(y0 + 0.55 * h) + 1
        c0, c1 = int(x0 + 0.3 * w), int(x1 - 0.3 * w) + 1
        mask[max(r0, 0) : max(r1, 0), max(c0, 0) : max(c1, 0)] = 1
    values = _valid_depths(depth[mask.astype(bool)], config)
    if values.size < config.min_support_px:
        return float("nan")
    # The median of the region, then re-centred on the pixels near it: robust to the
    # background that a box or a thin torso polygon lets through.
    centre = float(np.median(values))
    for _ in range(2):
        near = values[np.abs(values - centre) < config.person_depth_band_m / 2]
        if near.size < config.min_support_px:
            break
        centre = float(np.median(near))
    return centre


def window_half_size(person: Person, config: LiftingConfig) -> int:
    box_height = float(person.detection.box[3] - person.detection.box[1])
    half = int(round(config.window_fraction * box_height))
    return int(np.clip(half, config.min_window_px, config.max_window_px))


def joint_depth(
    depth: DepthImage, pixel: FloatArray, half: int, reference: float, config: LiftingConfig
) -> tuple[float, float]:
    """(depth, spread) of the joint at ``pixel``: the nearest well-supported surface among
    the window's pixels consistent with the person. (NaN, NaN) when unsupported."""
    height, width = depth.shape
    u, v = int(round(pixel[0])), int(round(pixel[1]))
    if not (0 <= u < width and 0 <= v < height):
        return float("nan"), float("nan")
    window = depth[max(v - half, 0) : v + half + 1, max(u - half, 0) : u + half + 1]
    values = _valid_depths(window.ravel(), config)
    values = values[np.abs(values - reference) <= config.person_depth_band_m]
    min_support = max(config.min_support_px, int(0.1 * values.size))
    cluster = nearest_cluster(values, config.cluster_gap_m, min_support)
    if cluster.size == 0:
        return float("nan"), float("nan")
    median = float(np.median(cluster))
    spread = 1.4826 * float(np.median(np.abs(cluster - median)))
    return median, spread


class DepthLifter:
    """Fills each person's 3D joints from the registered depth image."""

    def __init__(self, config: LiftingConfig) -> None:
        self.config = config

    def lift(self, person: Person, depth: DepthImage, camera: CameraModel) -> None:
        """Set ``positions``, ``position_stddev`` and ``depth_sources`` of ``person`` in place."""
        person.positions = np.full((NUM_JOINTS, 3), np.nan)
        person.position_stddev = np.full(NUM_JOINTS, np.nan)
        person.depth_sources = np.full(NUM_JOINTS, DepthSource.NONE, dtype=np.uint8)
        reference = torso_depth(person, depth, self.config)
        if not np.isfinite(reference):
            return
        half = window_half_size(person, self.config)
        z = np.full(NUM_JOINTS, np.nan)
        spread = np.full(NUM_JOINTS, np.nan)
        for joint in range(NUM_JOINTS):
            if joint in DERIVED_JOINTS or not np.all(np.isfinite(person.pixels[joint])):
                continue
            z[joint], spread[joint] = joint_depth(depth, person.pixels[joint], half, reference, self.config)
        points = camera.back_project(person.pixels, z)
        sigma = np.hypot(spread, self.config.noise_coefficient * z**2)
        for joint, (a, b) in DERIVED_JOINTS.items():
            points[joint], sigma[joint] = self._derived(joint, a, b, points, sigma, person, depth, camera, half, reference)
        seen = np.all(np.isfinite(points), axis=1)
        person.positions[seen] = points[seen]
        person.position_stddev[seen] = sigma[seen]
        person.depth_sources[seen] = DepthSource.SENSOR

    def _derived(
        self,
        joint: int,
        a: int,
        b: int,
        points: FloatArray,
        sigma: FloatArray,
        person: Person,
        depth: DepthImage,
        camera: CameraModel,
        half: int,
        reference: float,
    ) -> tuple[FloatArray, float]:
        """A midpoint joint: the 3D midpoint of its two joints when both are measured (the
        pixel between the legs or shoulders may show background), else measured itself."""
        if np.all(np.isfinite(points[[a, b]])):
            return (points[a] + points[b]) / 2.0, float(np.hypot(sigma[a], sigma[b]) / 2.0)
        if not np.all(np.isfinite(person.pixels[joint])):
            return np.full(3, np.nan), float("nan")
        z, spread = joint_depth(depth, person.pixels[joint], half, reference, self.config)
        point = camera.back_project(person.pixels[joint][None], np.array([z]))[0]
        return point, float(np.hypot(spread, self.config.noise_coefficient * z**2))
