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
high, tilted) is counted and said once per change (:class:`.floor_choice.FloorChoice`,
which the pipeline keeps whatever its networks; reported on /diagnostics and in the
replay's summary).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hdnet_ros.people import Frame, Person
from hdnet_ros.settings_field import setting
from hdnet_ros.stages.depth import NetworkEstimates
from hdnet_ros.stages.placement.cues import cut_sides, floor_observations, person_cues
from hdnet_ros.stages.placement.fit import Placement, PlacementFailure, PlacementResult, place_people
from hdnet_ros.stages.placement.fit_kernel import warm_up
from hdnet_ros.stages.placement.floor import Floor, FloorConfig
from hdnet_ros.stages.placement.floor_choice import FloorChoice, PlaneSource
from hdnet_ros.stages.placement.frame_cues import frame_cues
from hdnet_ros.stages.placement.people_floor import PeopleFloor
from hdnet_ros.stages.placement.scale import learn_scales, scale_prior

__all__ = [
    "Floor",
    "FloorChoice",
    "FloorConfig",
    "MonocularPlacement",
    "Placement",
    "PlacementConfig",
    "PlacementResult",
    "floor_observations",
    "person_cues",
]


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
    """The fit on the frame's floor (module doc); ``counts`` for the reports (people placed
    on the floor, cut people it could not place), ``reset`` per recording. ``floors``: the
    pipeline's floor of each frame, shared with the depth stage's priors."""

    def __init__(
        self,
        floor: FloorConfig,
        config: PlacementConfig,
        keypoint_sigma_px: float,
        scale_sigma: float,
        floors: FloorChoice | None = None,
    ) -> None:
        warm_up()  # the fit's compiled kernel, before the first frame
        self.config = config
        self.keypoint_sigma_px = keypoint_sigma_px
        self.scale_sigma = scale_sigma
        self.floors = floors if floors is not None else FloorChoice(floor, config.learn_scale)
        self.counts: Counter[str] = Counter()
        self.placed: list[tuple[Person, PlacementResult | None]] = []  # this frame's fits, for diagnosis

    @property
    def floor(self) -> Floor | None:
        """This frame's floor."""
        return self.floors.floor

    @property
    def people_floor(self) -> PeopleFloor:
        """The floor seen from the standing people, over the frames."""
        return self.floors.people_floor

    def reset(self) -> None:
        """A new recording: the people's floor may be another camera's."""
        self.floors.reset()

    def report(self) -> dict[str, int]:
        """Frames per floor source (``floor_tf``, ``floor_depth``, ``floor_people``, ``floor_none``),
        TF floors refused by reason (``tf_<reason>``), people placed on the floor (``standing``)."""
        return {**self.floors.counts, **self.counts}

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
        floor = self.floors(frame, people, depth_plane, expected)
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

    def learn(
        self, people: Sequence[Person], expected: Sequence[Person | None], placements: Sequence[PlacementResult | None]
    ) -> None:
        """After the depth stage: the sensor's roots teach each person's scale."""
        if self.config.learn_scale:
            learn_scales(people, expected, placements, self.scale_sigma)


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
