"""Stage 3: depth lifting. 2D keypoints + registered depth -> 3D joints in metres.

A joint's depth is never a plain median of a window: on real frames a window around a
wrist often reaches past the arm into a wall metres behind it. Instead every window keeps
only pixels consistent with this person (within a band around the person's torso depth,
narrowed to where the skeleton allows the joint to be), ignores occluders in front of it,
takes the nearest well-supported depth cluster in it (an arm in front of the torso is
nearer than the torso behind it) and moves that surface to the joint's centre; see
:mod:`hdnet_ros.refinement`. Joints without such support are either completed from the
skeleton and marked ``DepthSource.INFERRED`` or stay invalid (NaN), never (0, 0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.completion import (
    complete_derived,
    complete_from_relative_pose,
    complete_from_skeleton,
    estimate_pelvis_pixel,
    pelvis_from_torso,
)
from hdnet_ros.depth_fusion import fuse_depths
from hdnet_ros.joints import NUM_JOINTS, ROOT
from hdnet_ros.people import DepthSource, Person
from hdnet_ros.refinement import (
    Facing,
    RobustDepthParams,
    measure_skeleton,
    reference_depth,
)
from hdnet_ros.root_fallback import (
    GroundConfig,
    GroundPlane,
    bone_prior_depth,
    estimate_ground_plane,
    prior_root_depth,
)
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
    # Robust joint depth (hdnet_ros.refinement): size-scaled windows, feasible intervals from
    # the skeleton, occluders, surface-to-centre offsets.
    window_radius_m: float = setting(
        0.04, "joint window half-size in metres at the torso's depth (0 = use window_fraction)", min=0.0, max=0.5
    )
    surface_offset_head_m: float = setting(
        0.01, "face keypoints: surface-to-centre offset along the ray [m]", min=0.0, max=0.3
    )
    surface_offset_shoulder_m: float = setting(0.07, "shoulders: surface-to-centre offset [m]", min=0.0, max=0.3)
    surface_offset_hip_m: float = setting(0.09, "hips: surface-to-centre offset [m]", min=0.0, max=0.3)
    surface_offset_elbow_m: float = setting(0.04, "elbows: surface-to-centre offset [m]", min=0.0, max=0.3)
    surface_offset_wrist_m: float = setting(0.03, "wrists: surface-to-centre offset [m]", min=0.0, max=0.3)
    surface_offset_knee_m: float = setting(0.05, "knees: surface-to-centre offset [m]", min=0.0, max=0.3)
    surface_offset_ankle_m: float = setting(0.04, "ankles: surface-to-centre offset [m]", min=0.0, max=0.3)
    torso_centre_offset_m: float = setting(
        0.10, "torso surface to the pelvis centre, for a root from the torso depth alone [m]", min=0.0, max=0.3
    )
    # Completion and fallback (hdnet_ros.completion, hdnet_ros.root_fallback).
    complete_joints: bool = setting(
        True, "complete seen joints without depth from their skeleton neighbours (DepthSource.INFERRED)"
    )
    root_prior: bool = setting(
        True, "without sensor depth, estimate the root from bone lengths and the floor (DepthSource.INFERRED)"
    )
    ground_plane: bool = setting(True, "fit the floor in the depth image for the root prior's foot cue")
    prior_stature_m: float = setting(1.70, "typical stature behind the bone-length prior [m]", min=0.5, max=2.5)
    keypoint_sigma_px: float = setting(3.0, "assumed 2D keypoint noise, for the prior's uncertainty [px]", min=0.1)


def robust_params(config: LiftingConfig) -> RobustDepthParams:
    """The refinement module's view of the lifting settings."""
    return RobustDepthParams(
        min_depth_m=config.min_depth_m,
        max_depth_m=config.max_depth_m,
        window_radius_m=config.window_radius_m,
        window_fraction=config.window_fraction,
        min_window_px=config.min_window_px,
        max_window_px=config.max_window_px,
        person_depth_band_m=config.person_depth_band_m,
        cluster_gap_m=config.cluster_gap_m,
        min_support_px=config.min_support_px,
        noise_coefficient=config.noise_coefficient,
        offsets_m={
            "head": config.surface_offset_head_m,
            "shoulder": config.surface_offset_shoulder_m,
            "hip": config.surface_offset_hip_m,
            "elbow": config.surface_offset_elbow_m,
            "wrist": config.surface_offset_wrist_m,
            "knee": config.surface_offset_knee_m,
            "ankle": config.surface_offset_ankle_m,
        },
        stature_m=config.prior_stature_m,
    )


class DepthLifter:
    """Fills each person's 3D joints from the registered depth image.

    Per person: robust joint depths from the sensor (:mod:`hdnet_ros.refinement`), the root
    from them (fused with a network's root depth when one is given), a geometric prior for
    the root where the sensor has nothing (:mod:`hdnet_ros.root_fallback`), and completion
    of the remaining seen joints from the skeleton (:mod:`hdnet_ros.completion`). Every
    position that is not a measurement is marked with its DepthSource.
    """

    def __init__(self, config: LiftingConfig) -> None:
        self.config = config
        self.params = robust_params(config)
        self._ground_for: DepthImage | None = None  # the depth image the cached floor belongs to
        self._ground: GroundPlane | None = None

    def lift(
        self,
        person: Person,
        depth: DepthImage | None,
        camera: CameraModel,
        network_root: tuple[float, float] | None = None,
        relative_pose: npt.ArrayLike | None = None,
    ) -> None:
        """Set ``positions``, ``position_stddev`` and ``depth_sources`` of ``person`` in place.

        ``depth`` may be None (RGB-only). ``network_root`` is a root-depth network's
        (z [m], sigma [m]) for this person; ``relative_pose`` a root-relative 3D pose [J,3]
        (metres, camera axes) used to complete joints that were not seen at all.
        """
        config = self.config
        person.positions = np.full((NUM_JOINTS, 3), np.nan)
        person.position_stddev = np.full(NUM_JOINTS, np.nan)
        person.depth_sources = np.full(NUM_JOINTS, DepthSource.NONE, dtype=np.uint8)
        size = bone_prior_depth(
            person.pixels, camera, config.prior_stature_m, keypoint_sigma_px=config.keypoint_sigma_px
        )
        size_z = size.z if size is not None else None
        reference = reference_depth(person, depth, camera, self.params, size_z) if depth is not None else float("nan")
        self._facing: Facing | None = None
        self._stature = config.prior_stature_m
        if np.isfinite(reference) and depth is not None:
            self._measure(person, depth, camera, reference)
        self._place_root(person, depth, camera, reference, network_root)
        if config.complete_joints:
            complete_from_skeleton(person, camera, config.prior_stature_m)
            if relative_pose is not None:
                complete_from_relative_pose(person, relative_pose)
                complete_from_skeleton(person, camera, config.prior_stature_m)
        self._check_band(person, reference)

    def _measure(self, person: Person, depth: DepthImage, camera: CameraModel, reference: float) -> None:
        measured = measure_skeleton(person, depth, camera, reference, self.params)
        self._facing = measured.facing
        self._stature = measured.stature
        seen = np.all(np.isfinite(measured.points), axis=1)
        person.positions[seen] = measured.points[seen]
        person.position_stddev[seen] = measured.sigma[seen]
        person.depth_sources[seen] = DepthSource.SENSOR
        person.depth_sources[seen & measured.inferred] = DepthSource.INFERRED
        complete_derived(person)

    def _root_pixel(self, person: Person, camera: CameraModel, z: float) -> tuple[FloatArray | None, bool]:
        """The pelvis pixel, or one estimated from the shoulders (second value: estimated)."""
        if np.all(np.isfinite(person.pixels[ROOT])):
            return person.pixels[ROOT], False
        return estimate_pelvis_pixel(person.pixels, camera, z, self.config.prior_stature_m), True

    def _sensor_root(
        self, person: Person, depth: DepthImage | None, camera: CameraModel, reference: float
    ) -> tuple[FloatArray, float, DepthSource] | None:
        """The root from what the sensor measured: the hips' midpoint; else one hip and the
        torso's facing, or the neck and the floor's up direction (pelvis_from_torso); else
        the torso's depth at the (possibly estimated) pelvis pixel."""
        config = self.config
        if person.valid[ROOT]:
            source = DepthSource(person.depth_sources[ROOT])
            return person.positions[ROOT].copy(), float(person.position_stddev[ROOT]), source
        if not np.isfinite(reference):
            return None
        plane = self._ground_plane(depth, camera)
        up = plane.normal if plane is not None else np.array([0.0, -1.0, 0.0])
        estimate = pelvis_from_torso(person, self._facing, up, self._stature)
        if estimate is not None:
            return estimate[0], estimate[1], DepthSource.INFERRED
        # The torso's depth, moved from its surface to its centre.
        root_z = reference + config.torso_centre_offset_m
        pixel, estimated = self._root_pixel(person, camera, root_z)
        if pixel is None:
            return None
        sigma = float(np.hypot(config.noise_coefficient * root_z**2, 0.05))
        point = camera.back_project(pixel[None], np.array([root_z]))[0]
        return point, sigma, DepthSource.INFERRED if estimated else DepthSource.SENSOR

    def _place_root(
        self,
        person: Person,
        depth: DepthImage | None,
        camera: CameraModel,
        reference: float,
        network_root: tuple[float, float] | None,
    ) -> None:
        config = self.config
        sensor = self._sensor_root(person, depth, camera, reference)
        if sensor is not None:
            point, sigma, source = sensor
            if network_root is not None:
                net_z, net_sigma = float(network_root[0]), float(network_root[1])
                fused_z, fused_sigma = fuse_depths(float(point[2]), sigma, net_z, net_sigma)
                if np.isfinite(fused_z) and fused_z != point[2]:
                    point, sigma = point * (fused_z / point[2]), fused_sigma  # along the root's ray
                    source = DepthSource.FUSED
            self._set_root(person, point, sigma, source)
            return
        root_z, root_sigma, source = float("nan"), float("nan"), DepthSource.NONE
        if network_root is not None and np.isfinite(network_root[0]) and network_root[0] > 0:
            root_z, root_sigma, source = float(network_root[0]), float(network_root[1]), DepthSource.NETWORK
        elif config.root_prior:
            estimate = prior_root_depth(
                person.pixels,
                camera,
                self._ground_plane(depth, camera),
                config.prior_stature_m,
                config.keypoint_sigma_px,
            )
            if estimate is not None:
                root_z, root_sigma, source = estimate.z, estimate.sigma, DepthSource.INFERRED
        if not np.isfinite(root_z):
            return
        pixel, estimated = self._root_pixel(person, camera, root_z)
        if pixel is None:
            return
        point = camera.back_project(pixel[None], np.array([root_z]))[0]
        self._set_root(person, point, root_sigma, DepthSource.INFERRED if estimated else source)

    @staticmethod
    def _set_root(person: Person, point: FloatArray, sigma: float, source: DepthSource) -> None:
        person.positions[ROOT] = point
        person.position_stddev[ROOT] = sigma
        person.depth_sources[ROOT] = source

    def _ground_plane(self, depth: DepthImage | None, camera: CameraModel) -> GroundPlane | None:
        """The floor of this depth image, fitted once per image and shared by its people."""
        if depth is None or not self.config.ground_plane:
            return None
        if self._ground_for is not depth:
            ground = GroundConfig(noise_coefficient=self.config.noise_coefficient)
            self._ground = estimate_ground_plane(depth, camera, ground)
            self._ground_for = depth
        return self._ground

    def _check_band(self, person: Person, reference: float) -> None:
        """The lifter's guarantee: no joint farther than the person band from the torso."""
        if not np.isfinite(reference):
            return
        far = person.valid & (np.abs(person.positions[:, 2] - reference) > self.config.person_depth_band_m)
        person.positions[far] = np.nan
        person.position_stddev[far] = np.nan
        person.depth_sources[far] = DepthSource.NONE
