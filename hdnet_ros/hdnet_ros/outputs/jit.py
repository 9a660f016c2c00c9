"""numba for the message builders' compiled arithmetic, cached where a change to any
outputs source starts a fresh cache (the depth stage's rule, :mod:`hdnet_ros.stages.depth.jit`):
``$NUMBA_CACHE_DIR/hdnet_ros-outputs-<hash>`` where that variable is set, else
``$XDG_CACHE_HOME/hdnet_ros/kernels/outputs-<hash>``; where neither can be written the
kernels are compiled in every process (a second at start-up)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hdnet_ros.stages.depth.jit import hash_sources, named_cache_dir, njit_cached, writable

FunctionT = TypeVar("FunctionT", bound=Callable[..., Any])
OUTPUTS_DIR = Path(__file__).resolve().parent


def cache_dir(environ: dict[str, str] | None = None) -> Path | None:
    """Where the builders' compiled code is cached (module doc); None without a place."""
    return named_cache_dir(f"outputs-{hash_sources(OUTPUTS_DIR)}", environ)


@functools.lru_cache(maxsize=1)
def _writable_cache_dir() -> str | None:
    directory = cache_dir()
    return str(directory) if directory is not None and writable(directory) else None


def compiled(function: FunctionT) -> FunctionT:
    """``numba.njit`` with numpy's division semantics (inf or NaN, as the numpy code the
    kernels replace) and the builders' cache directory."""
    return njit_cached(function, {"error_model": "numpy"}, _writable_cache_dir())
