"""The depth stage: 2D keypoints + registered depth -> 3D joints in metres, for all people.

    size prior -> sample the depth -> measure the joints -> place the root
        -> fuse with network roots -> complete unmeasured joints

A joint's depth is never a plain median of a window: on real frames a window around a
wrist often reaches past the arm into a wall metres behind it. Instead every window keeps
only depths consistent with this person and ignores occluders in front of the joint (see
:mod:`.measure`). Joints without such support are completed from the skeleton and marked
``DepthSource.INFERRED``, or stay invalid (NaN), never (0, 0, 0). Each step works on all
people of the frame at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import NUM_JOINTS
from hdnet_ros.people import Person
from hdnet_ros.size_prior import DepthEstimates
from hdnet_ros.stages.depth.arrays import Facing, Lifted, Measured, Observed, PersonMasks
from hdnet_ros.stages.depth.complete import (
    complete_from_relative_pose,
    complete_from_skeleton,
    enforce_person_band,
    place_feet,
    take_measured,
)
from hdnet_ros.stages.depth.config import LiftingConfig
from hdnet_ros.stages.depth.floor import GroundConfig, GroundPlane
from hdnet_ros.stages.depth.floor_cadence import FloorCadence
from hdnet_ros.stages.depth.fuse import choose_roots, fused_depths
from hdnet_ros.stages.depth.guessed import guessed_joints, hide_guessed
from hdnet_ros.stages.depth.measure import measure_depth
from hdnet_ros.stages.depth.root import place_roots
from hdnet_ros.stages.depth.size_kernel import bone_prior_depths
from hdnet_ros.stages.depth.torso import SURE_FACE_SCORE
from hdnet_ros.stages.depth.warm import warm_up

FloatArray = npt.NDArray[np.float64]
DepthImage = npt.NDArray[np.float32]


@dataclass(frozen=True)
class NetworkEstimates:
    """What the 3D networks say about each person [P], NaN where a network has nothing:
    a root depth with its sigma, and a root-relative pose [P,J,3] (metres, camera axes)."""

    root_z: FloatArray
    root_sigma: FloatArray
    root_point: FloatArray | None = None  # [P,3] the network's root itself, where it gives one
    relative_pose: FloatArray | None = None
    masks: PersonMasks | None = None  # each person's pixels, from a segmentation network
    feet: FloatArray | None = None  # [P,4,3] the pose's feet (joints.FOOT_NAMES), pelvis-relative
    feet_pixels: FloatArray | None = None  # [P,4,2] where the feet were seen (NaN: not seen)

    @classmethod
    def none(cls, count: int) -> NetworkEstimates:
        return cls(np.full(count, np.nan), np.full(count, np.nan))

    @staticmethod
    def stacked(poses: Sequence[npt.NDArray[np.floating] | None], joints: int = NUM_JOINTS) -> FloatArray | None:
        """Per-person poses [joints,3] (None: the network has none for that person) as one
        array [P,joints,3] with NaN rows for the missing ones; None when no person has one."""
        if all(pose is None for pose in poses):
            return None
        return np.stack([pose if pose is not None else np.full((joints, 3), np.nan) for pose in poses])


def _given_floor(floor: tuple[FloatArray, float] | None) -> GroundPlane | None:
    return None if floor is None else GroundPlane(np.asarray(floor[0], dtype=np.float64), float(floor[1]), inliers=0)


class DepthLifter:
    """Fills each person's 3D joints from the registered depth image (module doc)."""

    def __init__(self, config: LiftingConfig) -> None:
        self.config = config
        self._floor_for: DepthImage | None = None  # the depth image the cached floor belongs to
        self._floor: GroundPlane | None = None
        # The floor fit (its settings), kept across the frames of a camera that does not move.
        self.floor_cadence = FloorCadence(GroundConfig(noise_coefficient=config.noise_coefficient))
        # Seen joints hidden behind an occluder (none of their surface, or guessed onto it:
        # stages.depth.guessed) since start; their scores are lowered.
        self.hidden_joints = 0
        warm_up()  # the compiled kernels, before the first frame

    def __call__(
        self,
        people: list[Person],
        depth: DepthImage | None,
        camera: CameraModel,
        networks: NetworkEstimates | None = None,
        floor: tuple[FloatArray, float] | None = None,
    ) -> None:
        """Set ``positions``, ``position_stddev`` and ``depth_sources`` of every person.

        ``depth`` may be None (RGB-only): then only the networks and the priors place people.
        ``floor`` (normal pointing up, offset): a floor known otherwise (TF, the people's
        feet) for the priors' foot cue where the depth image shows none.
        """
        count = len(people)
        if not count:
            return
        config = self.config
        networks = networks or NetworkEstimates.none(count)
        observed = Observed.of(people, camera)
        lifted = Lifted.empty(count)
        size = bone_prior_depths(
            observed.normalized,
            observed.seen,
            camera,
            config.prior_stature_m,
            keypoint_sigma_px=config.keypoint_sigma_px,
            boxes=observed.boxes,
        )
        reference = np.full(count, np.nan)
        stature = np.full(count, config.prior_stature_m)
        facing = Facing(np.zeros(count), np.zeros(count), np.zeros(count, dtype=bool))
        if depth is not None:
            # How far the person is expected: the bone lengths' depth, or a network's root
            # where it is tighter (or there are no bones to go by).
            expected_z, _ = fused_depths(size.z, size.sigma, networks.root_z, networks.root_sigma)
            scores = np.array([p.scores for p in people], dtype=np.float64).reshape(count, -1)
            sure = scores >= SURE_FACE_SCORE
            sampled, measured = measure_depth(observed, depth, camera, expected_z, config, networks.masks, sure)
            self._drop_guessed(people, observed, measured, depth, scores)
            reference, stature, facing = sampled.reference, sampled.stature, measured.facing
            take_measured(lifted, measured.points, measured.sigma, measured.inferred)
        network = DepthEstimates(networks.root_z, networks.root_sigma)
        candidates = place_roots(
            observed,
            lifted,
            facing,
            stature,
            reference,
            size,
            network,
            networks.root_point,
            lambda: self._floor_of(depth, camera) or _given_floor(floor),
            camera,
            config,
        )
        choose_roots(lifted, candidates)
        if config.complete_joints:
            if networks.relative_pose is not None:
                complete_from_relative_pose(lifted, observed, networks.relative_pose)
            complete_from_skeleton(lifted, observed, config.prior_stature_m)
        enforce_person_band(lifted, reference, config.person_depth_band_m)
        lifted.write_to(people)
        if networks.feet is not None:
            feet = place_feet(lifted, networks.feet, networks.feet_pixels, camera)
            enforce_person_band(feet, reference, config.person_depth_band_m)
            feet.write_feet_to(people)

    def _drop_guessed(
        self, people: list[Person], observed: Observed, measured: Measured, depth: DepthImage, scores: FloatArray
    ) -> None:
        """Joints the 2D network could not see: limb joints guessed onto a nearer object
        (:mod:`.guessed`) lose their sensor depth; they and the joints the measurement found
        behind an occluder with none of their own surface left (unmeasured, or placed
        behind it) keep a lowered score. ``scores`` [P,J]: the people's scores, stacked."""
        config = self.config
        guessed = np.zeros_like(measured.occluded)
        if config.guessed_jump_m > 0.0:
            guessed = guessed_joints(
                observed, scores, measured, depth, config.guessed_jump_m, config.min_depth_m, config.max_depth_m
            )
        hidden = hide_guessed(measured, observed.seen, guessed)
        self.hidden_joints += int(np.count_nonzero(hidden))
        lowered_people = np.flatnonzero(np.any(hidden, axis=1)).tolist()
        if not lowered_people:
            return
        # Scores in float64 (as they come from the 2D stage) are lowered for the frame at once;
        # others in their own type, person by person (the same numbers either way).
        if all(person.scores.dtype == np.float64 for person in people):
            lowered = np.where(hidden, scores * config.guessed_confidence, scores)
            for index in lowered_people:
                people[index].scores = lowered[index]
            return
        for index in lowered_people:
            person, row = people[index], hidden[index]
            person.scores = np.where(row, person.scores * config.guessed_confidence, person.scores)

    def lift(
        self,
        person: Person,
        depth: DepthImage | None,
        camera: CameraModel,
        network_root: tuple[float, float] | None = None,
        relative_pose: npt.ArrayLike | None = None,
    ) -> None:
        """One person (``network_root``: (z, sigma) [m]; ``relative_pose``: [J,3])."""
        root = network_root if network_root is not None else (np.nan, np.nan)
        pose = None if relative_pose is None else np.asarray(relative_pose, dtype=np.float64)[None]
        estimates = NetworkEstimates(np.array([root[0]], float), np.array([root[1]], float), relative_pose=pose)
        self([person], depth, camera, estimates)

    def floor_plane(self, depth: DepthImage | None, camera: CameraModel) -> tuple[FloatArray, float] | None:
        """The floor of this depth image (normal pointing up, offset: ``normal . X = offset``),
        fitted once per image and shared with the depth stage's own use; None without one."""
        plane = self._floor_of(depth, camera)
        return None if plane is None else (np.asarray(plane.normal, dtype=np.float64), float(plane.offset))

    def _floor_of(self, depth: DepthImage | None, camera: CameraModel) -> GroundPlane | None:
        """The floor of this depth image, shared by its people: the kept floor while this
        image's check pixels still lie on it, fitted anew otherwise and at least every
        ``floor_cadence.refit_frames`` images (:mod:`.floor_cadence`)."""
        if depth is None or not self.config.ground_plane:
            return None
        if self._floor_for is not depth:
            self._floor = self.floor_cadence(depth, camera)
            self._floor_for = depth
        return self._floor
