"""Which floor a frame has, and why: the camera's pose over ``floor.frame`` from TF, else
the depth image's own plane, else the floor seen from the standing people (people_floor).

One :class:`FloorChoice` serves a pipeline whatever its networks. With BlazePose's
placement it gives the fit its floor; without a 3D network (``networks.pose_3d: ''``, a
RootNet or HDNet root, ``placement.enabled: false``) it still gives the depth stage's
priors the TF floor (the feet's rays meet it at the person's distance): a robot's floor
does not depend on which networks run. The people's floor needs their 3D skeletons, so it
comes only with BlazePose.

Every frame is counted by its source (``floor_tf``, ``floor_depth``, ``floor_people``,
``floor_people_up``, ``floor_none``) and every TF floor not used by its reason
(``tf_<reason>``: missing, stale, below_floor, too_high, tilted); a change of source or
reason is logged once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from hdnet_ros.logs import get_logger
from hdnet_ros.people import Frame, Person
from hdnet_ros.stages.placement.floor import Floor, FloorConfig, FloorRefusal, floor_from_plane, floor_from_pose
from hdnet_ros.stages.placement.frame_floor import frame_floor_observations
from hdnet_ros.stages.placement.people_floor import PeopleFloor

LOG = get_logger(__name__)
FloatArray = npt.NDArray[np.float64]
PlaneSource = Callable[[], tuple[FloatArray, float] | None]  # the depth image's floor: (normal, offset)


class FloorChoice:
    """The floor of each frame (module doc); ``counts`` for the reports, ``reset`` per
    recording; ``floor``: the last frame's."""

    def __init__(self, config: FloorConfig, learned_scale: bool = True) -> None:
        self.config = config
        self.learned_scale = learned_scale  # the people's floor weighs each track's learned size
        self.people_floor = PeopleFloor()
        self.counts: Counter[str] = Counter()
        self.floor: Floor | None = None
        self._said = ""  # the floor message said last, so a change is logged once
        self._frames = 0

    def reset(self) -> None:
        """A new recording: the people's floor may be another camera's."""
        self.people_floor.reset()
        self._said = ""

    def __call__(
        self,
        frame: Frame,
        people: Sequence[Person],
        depth_plane: PlaneSource,
        expected: Sequence[Person | None] = (),
    ) -> Floor | None:
        """The floor of this frame: TF, else the depth image's plane, else the people's
        (``expected``: their tracks' last persons; empty: none known)."""
        self._frames += 1
        floor, why = self._tf_floor(frame)
        if floor is None:
            plane = depth_plane() if frame.depth_m is not None else None
            if plane is not None:
                floor = floor_from_plane(*plane)
        if floor is None and self.config.from_people:
            # A frame's people in one pass (frame_floor: cues.floor_observations to the bit).
            observations = frame_floor_observations(people, frame.camera, self._frames, expected, self.learned_scale)
            floor = self.people_floor.add(observations)
        return self._chosen(floor, floor.source if floor is not None else "none", why)

    def from_tf(self, frame: Frame) -> Floor | None:
        """The TF floor alone, for a pipeline without the placement: with a depth image and no
        TF the depth stage's priors use its own plane (counted ``depth``), and without a 3D
        skeleton nobody's feet make a people's floor."""
        self._frames += 1
        floor, why = self._tf_floor(frame)
        source = "tf" if floor is not None else "depth" if frame.depth_m is not None else "none"
        return self._chosen(floor, source, why)

    def for_priors(self, frame: Frame, placed_it: bool) -> tuple[FloatArray, float] | None:
        """The floor (normal, offset) for the depth stage's priors: the one the placement
        chose for this frame (``placed_it``), or without the placement the TF floor."""
        if not placed_it:
            self.from_tf(frame)
        return self.known()

    def known(self) -> tuple[FloatArray, float] | None:
        """This frame's floor (normal, offset) where its height is known, for the depth
        stage's priors."""
        floor = self.floor
        if floor is None or not np.isfinite(floor.sigma_offset_m):
            return None
        return floor.normal, floor.offset

    def _chosen(self, floor: Floor | None, source: str, why: str) -> Floor | None:
        self.floor = floor
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
        floor = floor_from_pose(pose.matrix, self.config)
        if isinstance(floor, FloorRefusal):
            self.counts[f"tf_{floor.reason}"] += 1
            return None, f"TF floor refused ({floor.reason}: {floor.message})"
        return floor, ""

    def _say(self, source: str, why: str) -> None:
        said = f"floor: {source}" + (f"; {why.split(' (', maxsplit=1)[0]}" if why else "")
        if said != self._said:  # said once per change of source or reason, with the details
            (LOG.warning if why else LOG.info)("floor: %s%s", source, f"; {why}" if why else "")
        self._said = said
