"""numba for the placement's compiled fit, cached where a change to any placement source
starts a fresh cache (the depth stage's rule, :mod:`hdnet_ros.stages.depth.jit`).

The kernel (fit_kernel.py) reads fit.py's constants as compile-time values, and numba keys a
cached function on its own source file only; so the cache directory is named after a hash
of every source of this stage (and numba's version), next to the depth stage's:
``$NUMBA_CACHE_DIR/hdnet_ros-placement-<hash>`` where that variable is set, else
``$XDG_CACHE_HOME/hdnet_ros/kernels/placement-<hash>``. Where neither can be written the
kernel is compiled in every process (a few seconds at start-up), never loaded from a stale
place.
"""

from __future__ import annotations

from pathlib import Path

from hdnet_ros.stages.depth.jit import StageKernels

KERNELS = StageKernels("placement", Path(__file__).resolve().parent)
cache_dir = KERNELS.cache_dir
compiled = KERNELS.compiled
