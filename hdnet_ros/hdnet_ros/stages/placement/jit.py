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

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hdnet_ros.stages.depth.jit import hash_sources, named_cache_dir, njit_cached, writable

FunctionT = TypeVar("FunctionT", bound=Callable[..., Any])
STAGE_DIR = Path(__file__).resolve().parent


def cache_dir(environ: dict[str, str] | None = None) -> Path | None:
    """Where the placement's compiled code is cached (module doc); None without a place."""
    return named_cache_dir(f"placement-{hash_sources(STAGE_DIR)}", environ)


@functools.lru_cache(maxsize=1)
def _writable_cache_dir() -> str | None:
    directory = cache_dir()
    return str(directory) if directory is not None and writable(directory) else None


def compiled(function: FunctionT) -> FunctionT:
    """``numba.njit`` with numpy's division semantics (inf or NaN, as the numpy code the
    kernel replaces) and the stage's cache directory, set only for this decoration."""
    return njit_cached(function, {"error_model": "numpy"}, _writable_cache_dir())
