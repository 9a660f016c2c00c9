"""numba for the depth stage's compiled kernel, with a cache that is never stale.

numba compiles a function the first time it is called with new argument types (seconds
for the depth stage); ``cache=True`` writes the machine code to disk so that the next
process loads it (a fraction of a second). numba keys a cached function on its own source
file only: a kernel that calls a function of another module would keep the old machine code
after that module changed (numba's documented limitation). So every compiled function of
this stage is cached in one directory named after a hash of all of the stage's sources
(and numba's version): any edit to the stage starts a fresh directory.

The directory is ``$NUMBA_CACHE_DIR/hdnet_ros-<hash>`` where that variable is set, else
``$XDG_CACHE_HOME/hdnet_ros/kernels/<hash>`` (``~/.cache/...``), so a read-only install
(site-packages, /opt/ros) still caches. Where that cannot be written (or there is no home
directory) the kernel is compiled in every process (about 10 s of CPU at start-up), never
loaded from a stale place. Old directories are not removed (a few MB each).

numba is a regular dependency (the ``cpu`` extra; rosdep key ``python3-numba``). When it
cannot be imported, a ModuleNotFoundError naming it says so (the command line and the node
turn it into one line saying how to install it, or, where it is installed but built for
another numpy, :mod:`hdnet_ros.numpy_abi`'s line); there is no slow pure-numpy twin.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

try:
    import numba
    from numba.core import config as _numba_config
except ImportError as error:  # not installed, or built for another numpy
    if isinstance(error, ModuleNotFoundError):
        raise
    raise ModuleNotFoundError(f"numba cannot be imported: {error}", name="numba") from error

numba_config: Any = _numba_config  # its settings are set at import, unknown to type checkers
FunctionT = TypeVar("FunctionT", bound=Callable[..., Any])
STAGE_DIR = Path(__file__).resolve().parent
CACHE_ENV = "NUMBA_CACHE_DIR"


@functools.lru_cache(maxsize=1)
def sources_hash() -> str:
    """A hash of every source file of the depth stage and of numba's version (once per
    process)."""
    return hash_sources(STAGE_DIR)


def hash_sources(directory: Path) -> str:
    """A hash of every Python file in ``directory`` and of numba's version."""
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(directory.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir(environ: dict[str, str] | None = None) -> Path | None:
    """Where the stage's compiled code is cached (module doc); None without a place (no
    absolute cache or home directory: a service without $HOME)."""
    return named_cache_dir(sources_hash(), environ)


def named_cache_dir(name: str, environ: dict[str, str] | None = None) -> Path | None:
    """The cache directory called ``name`` (module doc: under ``$NUMBA_CACHE_DIR`` as
    ``hdnet_ros-<name>``, else under the user's cache); None without a place."""
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        base = Path(env[CACHE_ENV])
        return base / f"hdnet_ros-{name}" if base.is_absolute() else None
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path(os.path.expanduser("~")) / ".cache"
    return base / "hdnet_ros" / "kernels" / name if base.is_absolute() else None


def writable(directory: Path) -> bool:
    """Whether ``directory`` exists or can be made, and files can be written there."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _writable_cache_dir() -> str | None:
    directory = cache_dir()
    return str(directory) if directory is not None and writable(directory) else None


def compiled(function: FunctionT) -> FunctionT:
    """``numba.njit`` with the stage's cache directory (module doc, :func:`njit_cached`)."""
    return _jit(function, {})


def _jit(function: FunctionT, options: dict[str, Any]) -> FunctionT:
    return njit_cached(function, options, _writable_cache_dir())


def njit_cached(function: FunctionT, options: dict[str, Any], directory: str | None) -> FunctionT:
    """``numba.njit`` cached in ``directory`` (None: not cached). numba picks a function's
    cache location when it is decorated, from ``numba.core.config.CACHE_DIR``; it is set
    only for this decoration and restored, so other numba users are not affected."""
    if directory is None:
        return cast(FunctionT, numba.njit(**options)(function))
    saved = numba_config.CACHE_DIR
    numba_config.CACHE_DIR = directory
    try:
        return cast(FunctionT, numba.njit(cache=True, **options)(function))
    finally:
        numba_config.CACHE_DIR = saved


def compiled_ieee(function: FunctionT) -> FunctionT:
    """:func:`compiled` with numpy's float semantics for division by zero (inf or NaN, as
    the numpy code a kernel replaces gives, instead of a ZeroDivisionError)."""
    return _jit(function, {"error_model": "numpy"})


class StageKernels:
    """Another stage's (or package's) compiled kernels, cached by this module's rule: in
    ``<name>-<hash of the Python files in sources>`` (:func:`named_cache_dir`), with numpy's
    division semantics (inf or NaN, as the numpy code a kernel replaces gives)."""

    def __init__(self, name: str, sources: Path) -> None:
        self.name = name
        self.sources = sources
        self._directory: tuple[str | None] | None = None  # (writable cache directory,), once known

    def cache_dir(self, environ: dict[str, str] | None = None) -> Path | None:
        """Where the kernels are cached; None without a place."""
        return named_cache_dir(f"{self.name}-{hash_sources(self.sources)}", environ)

    def compiled(self, function: FunctionT) -> FunctionT:
        """``numba.njit`` in this cache directory, set only for this decoration."""
        if self._directory is None:
            directory = self.cache_dir()
            self._directory = (str(directory) if directory is not None and writable(directory) else None,)
        return njit_cached(function, {"error_model": "numpy"}, self._directory[0])
