"""The depth stage: every person's 3D joints from their 2D keypoints and the depth image.

Its modules follow the data, each step working on all people of the frame at once:

=============  ==========================================================================
``sample``     the person's depth: torso surface (``torso``), scale, windows of the joints
``measure``    each joint's centre depth in its window (intervals, occluders, offsets);
               what the person's own body hides (``occlusion``)
``guessed``    limb joints the 2D network guessed onto a nearer object (depth edges)
``root``       the root's candidates: from the sensor, a network, the priors (``floor``)
``fuse``       sensor and network roots fused, one root chosen
``complete``   unmeasured joints from a network's pose or the skeleton; the person band
``refiner``    an optional learned refiner of lifted skeletons (RefiNet module B)
=============  ==========================================================================

``lifter.DepthLifter`` runs them in that order, each entered once; ``arrays`` (the
stage's data), ``config``, ``windows`` (depth sampling, surfaces) and ``geometry`` are
shared below them. Sampling and measuring (``sample``, ``torso``, ``windows``,
``geometry``, ``measure``, ``occlusion``) are one compiled kernel over all people and
joints (``measure.measure_depth``), as are the completion from the skeleton, the
measurement taken in, the midpoint joints and the person band (``complete``), the
bone-length depth prior (``size_kernel``: the shared ``size_prior``'s arithmetic, bit for
bit), the pelvis pixel (``pelvis``), the sensor's roots and the roots on the pelvis ray
(``root``), the guessed-joint test (``guessed``) and the root's choice (``fuse``): numba
functions, each equal to the numpy it replaced to the bit (``jit``: the cache;
``kernel_settings``: the settings as the kernel takes them; ``warm``: compiled before the
first frame). The floor's RANSAC and refit stay numpy (a strided scan of the depth image
compiled ran slower than numpy's).
"""

from hdnet_ros.stages.depth.config import LiftingConfig
from hdnet_ros.stages.depth.lifter import DepthLifter, NetworkEstimates

__all__ = ["DepthLifter", "LiftingConfig", "NetworkEstimates"]
