"""Placing people without depth: the floor, the network's skeleton and each person's size
in one least-squares fit per person.

    the floor (TF pose of the camera over floor.frame -> the depth image's plane -> the standing
    people of this frame and before: people_floor; a frame's observations at once: frame_floor)
        + each person's skeleton, the 2D points it projects to (cues; all people at once: frame_cues) and scale
          prior (the track's learned scale)
        -> fit.place_people (one least squares per person, compiled: fit_kernel) -> the network root the depth
           stage fuses
    after the depth stage: the sensor's roots teach each track its scale (scale.learn_scales)

Which floor is in use and why a TF floor was not (missing, stale, below the floor, too
high, tilted) is counted and said once per change (:attr:`MonocularPlacement.counts`,
reported on /diagnostics and in the replay's summary).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.logs import get_logger
from hdnet_ros.people import Frame, Person
from hdnet_ros.settings_field import setting
from hdnet_ros.stages.depth import NetworkEstimates
from hdnet_ros.stages.placement.cues import cut_sides, floor_observations, person_cues
from hdnet_ros.stages.placement.fit import Placement, PlacementFailure, PlacementResult, place_people
from hdnet_ros.stages.placement.fit_kernel import warm_up
from hdnet_ros.stages.placement.floor import (
    Floor,
    FloorConfig,
    FloorRefusal,
    floor_from_plane,
    floor_from_pose,
)
from hdnet_ros.stages.placement.frame_cues import frame_cues
from hdnet_ros.stages.placement.frame_floor import frame_floor_observations
from hdnet_ros.stages.placement.people_floor import PeopleFloor
from hdnet_ros.stages.placement.scale import learn_scales, scale_prior

__all__ = [
    "Floor",
    "FloorConfig",
    "MonocularPlacement",
    "Placement",
    "PlacementConfig",
    "PlacementResult",
    "floor_observations",
    "person_cues",
]

LOG = get_logger(__name__)
FloatArray = npt.NDArray[np.float64]
PlaneSource = Callable[[], tuple[FloatArray, float] | None]  # the depth image's floor: (normal, offset)


@dataclass(frozen=True)
class PlacementConfig:
    enabled: bool = setting(
        True,
        "place people by one least-squares fit of the network's skeleton, the floor and the person's learned "
        "scale (false: the network's own root fit)",
    )
    learn_scale: bool = setting(
        True, "learn each tracked person's size while the depth sensor measures them, for when it cannot"
    )


class MonocularPlacement:
    """The floor and the fit (module doc); ``counts`` for the reports, ``reset`` per recording."""

    def __init__(
        self, floor: FloorConfig, config: PlacementConfig, keypoint_sigma_px: float, scale_sigma: float
    ) -> None:
        warm_up()  # the fit's compiled kernel, before the first frame
        self.floor_config = floor
        self.config = config
        self.keypoint_sigma_px = keypoint_sigma_px
        self.scale_sigma = scale_sigma
        self.people_floor = PeopleFloor()
        self.counts: Counter[str] = Counter()
        self._said = ""  # the floor message said last, so a change is logged once
        self._frames = 0
        self.floor: Floor | None = None  # this frame's
        self.placed: list[tuple[Person, PlacementResult | None]] = []  # this frame's fits, for diagnosis

    def reset(self) -> None:
        """A new recording: the people's floor may be another camera's."""
        self.people_floor.reset()
        self._said = ""

    def report(self) -> dict[str, int]:
        """Frames per floor source (``floor_tf``, ``floor_depth``, ``floor_people``, ``floor_none``),
        TF floors refused by reason (``tf_<reason>``), people placed on the floor (``standing``)."""
        return dict(self.counts)

    def __call__(
        self,
        frame: Frame,
        people: Sequence[Person],
        networks: NetworkEstimates,
        expected: Sequence[Person | None],
        depth_plane: PlaneSource,
    ) -> tuple[NetworkEstimates, list[PlacementResult | None]]:
        """The people's network roots from the joint fit (where they carry a network pose),
        and each one's fit (None: no pose)."""
        self._frames += 1
        self.floor = floor = self.floor_for(frame, people, depth_plane, expected)
        learned = self.config.learn_scale
        priors = [scale_prior(previous if learned else None, self.scale_sigma) for previous in expected]
        # Every person's cues in one pass over the frame's arrays (frame_cues: cues.py's rules).
        cues = frame_cues(people, priors, frame.camera)
        placements = place_people(cues, frame.camera, floor, self.keypoint_sigma_px)
        self.counts["standing"] += sum(isinstance(p, Placement) and p.standing for p in placements)
        self.placed = list(zip(people, placements, strict=True))
        # A person the image cuts whom the fit could not place: the network's own root fit
        # used its landmarks beyond the border too (they miss by 60-300 px there), so the
        # depth stage's priors, from the joints seen, place them instead.
        withdrawn = [
            isinstance(p, PlacementFailure) and any(cut_sides(person.detection.box, frame.camera))
            for person, p in zip(people, placements, strict=True)
        ]
        self.counts["cut_unplaced"] += sum(withdrawn)
        return _with_roots(networks, placements, withdrawn), placements

    def known_floor(self) -> tuple[FloatArray, float] | None:
        """This frame's floor (normal, offset) where its height is known, for the depth
        stage's priors."""
        floor = self.floor
        if floor is None or not np.isfinite(floor.sigma_offset_m):
            return None
        return floor.normal, floor.offset

    def learn(
        self, people: Sequence[Person], expected: Sequence[Person | None], placements: Sequence[PlacementResult | None]
    ) -> None:
        """After the depth stage: the sensor's roots teach each person's scale."""
        if self.config.learn_scale:
            learn_scales(people, expected, placements, self.scale_sigma)

    def floor_for(
        self,
        frame: Frame,
        people: Sequence[Person],
        depth_plane: PlaneSource,
        expected: Sequence[Person | None] = (),
    ) -> Floor | None:
        """The floor of this frame: TF, else the depth image's plane, else the people's
        (``expected``: their tracks' last persons, as for the fit; empty: none known)."""
        floor, why = self._tf_floor(frame)
        if floor is None:
            plane = depth_plane() if frame.depth_m is not None else None
            if plane is not None:
                floor = floor_from_plane(*plane)
        if floor is None and self.floor_config.from_people:
            # A frame's people in one pass (frame_floor: cues.floor_observations to the bit).
            observations = frame_floor_observations(
                people, frame.camera, self._frames, expected, self.config.learn_scale
            )
            floor = self.people_floor.add(observations)
        source = floor.source if floor is not None else "none"
        self.counts[f"floor_{source}"] += 1
        self._say(source, why)
        return floor

    def _tf_floor(self, frame: Frame) -> tuple[Floor | None, str]:
        """The floor from the frame's TF pose, or None and why (counted)."""
        pose = frame.floor_pose
        if pose is None:
            return None, ""
        if pose.matrix is None:
            self.counts[f"tf_{pose.reason}"] += 1
            return None, f"no TF floor ({pose.reason}: {pose.message})"
        floor = floor_from_pose(pose.matrix, self.floor_config)
        if isinstance(floor, FloorRefusal):
            self.counts[f"tf_{floor.reason}"] += 1
            return None, f"TF floor refused ({floor.reason}: {floor.message})"
        return floor, ""

    def _say(self, source: str, why: str) -> None:
        said = f"floor: {source}" + (f"; {why.split(' (', maxsplit=1)[0]}" if why else "")
        if said != self._said:  # said once per change of source or reason, with the details
            (LOG.warning if why else LOG.info)("floor: %s%s", source, f"; {why}" if why else "")
        self._said = said


def _with_roots(
    networks: NetworkEstimates, placements: Sequence[PlacementResult | None], withdrawn: Sequence[bool]
) -> NetworkEstimates:
    """The networks' estimates with the fitted roots where the fit succeeded, and none
    where ``withdrawn``."""
    fitted = [i for i, p in enumerate(placements) if isinstance(p, Placement)]
    if not fitted and not any(withdrawn):
        return networks
    count = len(placements)
    root_point = networks.root_point.copy() if networks.root_point is not None else np.full((count, 3), np.nan)
    root_z, root_sigma = networks.root_z.copy(), networks.root_sigma.copy()
    gone = np.asarray(withdrawn, dtype=bool)
    root_point[gone], root_z[gone], root_sigma[gone] = np.nan, np.nan, np.nan
    for i in fitted:
        placement = placements[i]
        assert isinstance(placement, Placement)
        root_point[i] = placement.position
        root_z[i] = placement.position[2]
        root_sigma[i] = placement.depth_sigma
    return dataclasses.replace(networks, root_point=root_point, root_z=root_z, root_sigma=root_sigma)
