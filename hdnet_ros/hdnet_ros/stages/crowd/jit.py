"""numba for the crowd rules' compiled joint tests, cached where a change to any crowd
source starts a fresh cache (the depth stage's rule, :mod:`hdnet_ros.stages.depth.jit`):
``$NUMBA_CACHE_DIR/hdnet_ros-crowd-<hash>`` where that variable is set, else
``$XDG_CACHE_HOME/hdnet_ros/kernels/crowd-<hash>``; where neither can be written the
kernels are compiled in every process (a few seconds at start-up)."""

from __future__ import annotations

from pathlib import Path

from hdnet_ros.stages.depth.jit import StageKernels

KERNELS = StageKernels("crowd", Path(__file__).resolve().parent)
cache_dir = KERNELS.cache_dir
compiled = KERNELS.compiled
