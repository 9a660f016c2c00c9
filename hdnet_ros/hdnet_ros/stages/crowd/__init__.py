"""The crowd stage: every person gets their own skeleton, around the 2D networks.

Runs on the frame's detections with their 2D keypoints, before the 3D networks:

1. **joints of another person** are rejected joint by joint (:mod:`.ownership`: outside
   the box, implausible limbs for the body's size),
2. **low-score boxes** (detector candidates between ``detector.low_score_floor`` and its
   threshold) are kept only where the keypoints confirm a person or a track continues
   (:mod:`.confirm`),
3. **two detections of one person** are merged by the OKS of their skeletons (:mod:`.merge`),
4. **joints two skeletons claim** go to the person whose torso is nearer (:mod:`.ownership`),
5. **joints hidden behind another person** keep their place with a lowered confidence
   (:mod:`.hidden`).

Every decision is counted (:attr:`CrowdStage.counts`, in the replay summary and the
node's diagnostics). Rejected joints are never published: their pixels become NaN.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hdnet_ros.joints import NUM_COCO_JOINTS
from hdnet_ros.people import Person
from hdnet_ros.settings_field import setting
from hdnet_ros.stages.crowd.confirm import confirmed
from hdnet_ros.stages.crowd.hidden import hidden_joints
from hdnet_ros.stages.crowd.kernels import warm_up
from hdnet_ros.stages.crowd.merge import duplicates
from hdnet_ros.stages.crowd.ownership import implausible_limbs, outside_box, shared_joints
from hdnet_ros.stages.crowd.skeletons import Skeletons

__all__ = ["CrowdConfig", "CrowdStage", "Skeletons"]

COUNT_NAMES = ("rejected_joints", "low_score_kept", "low_score_dropped", "merged_detections", "hidden_joints")


@dataclass(frozen=True)
class CrowdConfig:
    enabled: bool = setting(True, "reject joints of other people, confirm low-score boxes, merge duplicate detections")
    box_margin: float = setting(
        0.25, "reject joints farther outside their box than this share of its width / height", min=0.0, max=2.0
    )
    limb_slack: float = setting(
        2.2, "reject joints farther from their limb's kept joint than this x the typical bone length", min=1.0
    )
    shared_radius: float = setting(
        0.04, "two people's joints closer than this share of stature are one joint (given to one)", min=0.0, max=0.5
    )
    merge_oks: float = setting(
        0.7, "two detections whose skeletons have at least this OKS are one person", min=0.0, max=1.0
    )
    confirm_min_joints: int = setting(6, "a low-score box is a person with this many confident joints", min=1, max=17)
    confirm_joint_score: float = setting(0.5, "keypoint score that counts as confident here", min=0.0, max=1.0)
    hidden_limb_radius: float = setting(
        0.04, "a joint this close (share of stature) to another person's limb may be hidden behind it", min=0.0
    )
    hidden_ratio: float = setting(
        0.6, "... when its score is below this x the other person's joints there", min=0.0, max=1.0
    )
    hidden_confidence: float = setting(
        0.5, "factor on the score of a joint hidden behind another person", min=0.0, max=1.0
    )


class CrowdStage:
    """The crowd rules (module doc) over one frame's people."""

    def __init__(self, config: CrowdConfig) -> None:
        self.config = config
        self.counts: Counter[str] = Counter({name: 0 for name in COUNT_NAMES})
        if config.enabled:
            warm_up()  # the compiled joint tests, before the first frame

    def __call__(
        self, people: list[Person], candidate: Sequence[bool], continues_track: Sequence[bool]
    ) -> list[Person]:
        """The people to keep, in their order, keypoints edited in place. ``candidate``: low-score
        boxes; ``continues_track``: boxes the tracker expected someone in."""
        low = np.asarray(candidate, dtype=bool).reshape(-1)
        if not self.config.enabled:
            return [p for p, c in zip(people, low, strict=True) if not c]
        if not people:
            return []
        config, counts = self.config, self.counts
        skeletons = Skeletons.of(people)
        self._reject(skeletons, outside_box(skeletons, config.box_margin))
        self._reject(skeletons, implausible_limbs(skeletons, config.limb_slack))
        shows_person = confirmed(skeletons, config.confirm_min_joints, config.confirm_joint_score)
        keep = ~low | np.asarray(continues_track, dtype=bool).reshape(-1) | shows_person
        counts["low_score_kept"] += int(np.count_nonzero(low & keep))
        counts["low_score_dropped"] += int(np.count_nonzero(low & ~keep))
        kept = np.flatnonzero(keep)
        skeletons = skeletons.subset(kept)
        repeated = duplicates(skeletons, low[kept], config.merge_oks)
        counts["merged_detections"] += int(np.count_nonzero(repeated))
        kept, skeletons = kept[~repeated], skeletons.subset(np.flatnonzero(~repeated))
        self._reject(skeletons, shared_joints(skeletons, config.shared_radius))
        hidden = hidden_joints(skeletons, config.hidden_limb_radius, config.hidden_ratio)
        counts["hidden_joints"] += int(np.count_nonzero(hidden))
        skeletons.scores[hidden] *= config.hidden_confidence
        skeletons.derive_midpoints()
        result = [people[i] for i in kept]
        skeletons.write_to(result)
        return result

    def _reject(self, skeletons: Skeletons, mask: np.ndarray) -> None:
        self.counts["rejected_joints"] += int(np.count_nonzero(mask[:, :NUM_COCO_JOINTS]))
        skeletons.reject(mask)
