"""The depth stage: every person's 3D joints from their 2D keypoints and the depth image.

Its modules follow the data, each step working on all people of the frame at once:

=============  ==========================================================================
``sample``     the person's depth: torso surface, scale, windows around the joints
``measure``    each joint's centre depth in its window (intervals, occluders, offsets)
``root``       the root's candidates: from the sensor, a network's depth, the priors
``floor``      the floor plane, for the root prior's foot cue
``fuse``       sensor and network roots fused, one root chosen
``complete``   unmeasured joints from the skeleton or a network's pose; the person band
``refiner``    an optional learned refiner of lifted skeletons (RefiNet module B)
=============  ==========================================================================

``lifter.DepthLifter`` runs them in that order; ``arrays`` and ``config`` are shared by all.
"""

from hdnet_ros.stages.depth.config import LiftingConfig
from hdnet_ros.stages.depth.lifter import DepthLifter, NetworkEstimates

__all__ = ["DepthLifter", "LiftingConfig", "NetworkEstimates"]
