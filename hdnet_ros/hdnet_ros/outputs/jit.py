"""numba for the message builders' compiled arithmetic, cached where a change to any
outputs source starts a fresh cache (the depth stage's rule, :mod:`hdnet_ros.stages.depth.jit`):
``$NUMBA_CACHE_DIR/hdnet_ros-outputs-<hash>`` where that variable is set, else
``$XDG_CACHE_HOME/hdnet_ros/kernels/outputs-<hash>``; where neither can be written the
kernels are compiled in every process (a second at start-up)."""

from __future__ import annotations

from pathlib import Path

from hdnet_ros.stages.depth.jit import StageKernels

KERNELS = StageKernels("outputs", Path(__file__).resolve().parent)
cache_dir = KERNELS.cache_dir
compiled = KERNELS.compiled
