"""numba for the 3D stage's compiled glue (the monocular root fits), cached where a change to
any source of this stage starts a fresh cache (the depth stage's rule,
:mod:`hdnet_ros.stages.depth.jit`): ``$NUMBA_CACHE_DIR/hdnet_ros-blazepose-<hash>`` where that
variable is set, else ``$XDG_CACHE_HOME/hdnet_ros/kernels/blazepose-<hash>``; where neither
can be written the kernels are compiled in every process (a few seconds at start-up)."""

from __future__ import annotations

from pathlib import Path

from hdnet_ros.stages.depth.jit import StageKernels

KERNELS = StageKernels("blazepose", Path(__file__).resolve().parent)
cache_dir = KERNELS.cache_dir
compiled = KERNELS.compiled
