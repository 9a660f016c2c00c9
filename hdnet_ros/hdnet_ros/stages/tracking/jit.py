"""numba for the tracker's compiled keypoint moves, cached where a change to any tracking
source starts a fresh cache (the depth stage's rule, :mod:`hdnet_ros.stages.depth.jit`):
``$NUMBA_CACHE_DIR/hdnet_ros-tracking-<hash>`` where that variable is set, else
``$XDG_CACHE_HOME/hdnet_ros/kernels/tracking-<hash>``; where neither can be written the
kernel is compiled in every process (a second at start-up)."""

from __future__ import annotations

from pathlib import Path

from hdnet_ros.stages.depth.jit import StageKernels

KERNELS = StageKernels("tracking", Path(__file__).resolve().parent)
cache_dir = KERNELS.cache_dir
compiled = KERNELS.compiled
