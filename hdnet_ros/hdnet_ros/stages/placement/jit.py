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
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import numba

from hdnet_ros.stages.depth.jit import CACHE_ENV, hash_sources, numba_config, writable

FunctionT = TypeVar("FunctionT", bound=Callable[..., Any])
STAGE_DIR = Path(__file__).resolve().parent


def cache_dir(environ: dict[str, str] | None = None) -> Path | None:
    """Where the placement's compiled code is cached (module doc); None without a place."""
    env = os.environ if environ is None else environ
    name = f"placement-{hash_sources(STAGE_DIR)}"
    if env.get(CACHE_ENV):
        base = Path(env[CACHE_ENV])
        return base / f"hdnet_ros-{name}" if base.is_absolute() else None
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path(os.path.expanduser("~")) / ".cache"
    return base / "hdnet_ros" / "kernels" / name if base.is_absolute() else None


@functools.lru_cache(maxsize=1)
def _writable_cache_dir() -> str | None:
    directory = cache_dir()
    return str(directory) if directory is not None and writable(directory) else None


def compiled(function: FunctionT) -> FunctionT:
    """``numba.njit`` with numpy's division semantics (inf or NaN, as the numpy code the
    kernel replaces) and the stage's cache directory, set only for this decoration."""
    options: dict[str, Any] = {"error_model": "numpy"}
    directory = _writable_cache_dir()
    if directory is None:
        return cast(FunctionT, numba.njit(**options)(function))
    saved = numba_config.CACHE_DIR
    numba_config.CACHE_DIR = directory
    try:
        return cast(FunctionT, numba.njit(cache=True, **options)(function))
    finally:
        numba_config.CACHE_DIR = saved
