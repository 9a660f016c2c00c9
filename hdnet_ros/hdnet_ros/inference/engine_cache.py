"""The TensorRT engine cache: when a serialized engine on disk can be reused.

A TensorRT engine is only valid for the ONNX file, TensorRT version and GPU (model and
compute capability) it was built with, and it fixes the precision and the batch sizes.
Building one takes minutes, so engines are cached on disk; a JSON file next to the
engine (``<engine>.json``) records the key it was built for plus the engine's own sha256
and size. On load:

* :func:`inspect_cache` reads what is on disk, tolerating missing and broken files,
* :func:`decide` (pure) says reuse or rebuild, with the reasons,
* :func:`load_or_build_engine` acts on it through an injected builder and runtime (the
  TensorRT ones in production, recording fakes in the tests), logs why it rebuilds, and
  writes engine and metadata atomically (temporary file + rename), so a crash or a
  second process never leaves a half-written engine under the real name.

Nothing here imports TensorRT.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, TypeVar

from hdnet_ros.logs import get_logger

LOGGER = get_logger(__name__)

# Bump when the way engines are built changes (flags, profiles), so old caches rebuild.
ENGINE_CACHE_VERSION = 1
METADATA_SUFFIX = ".json"


class EngineCacheError(RuntimeError):
    """An engine could not be built or loaded; the message says which file and why."""


class OnnxFileMissingError(EngineCacheError, FileNotFoundError):
    """The ONNX file an engine is built from (and checked against) does not exist."""


@dataclass(frozen=True)
class EngineKey:
    """Everything a cached engine must match to be reused."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    min_batch: int
    opt_batch: int
    max_batch: int
    # int8 only: sha256 of the calibration cache the engine's scales came from.
    calibration_sha256: str = ""
    cache_version: int = ENGINE_CACHE_VERSION

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def differences(self, stored: Mapping[str, Any]) -> list[str]:
        """One line per field where ``stored`` (a metadata key dict) differs from this key."""
        return [
            f"{name}: cached {stored.get(name, '<absent>')!r}, now {value!r}"
            for name, value in self.as_dict().items()
            if stored.get(name, None) != value
        ]


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def require_onnx(onnx_path: Path, engine_path: Path | None = None) -> None:
    if not onnx_path.is_file():
        target = f" the TensorRT engine {engine_path}" if engine_path is not None else " a TensorRT engine"
        raise OnnxFileMissingError(
            f"ONNX file {onnx_path} does not exist: it is needed to build{target} and to check "
            "that a cached engine was built from it (export it first, e.g. `hdnet-ros export`)"
        )


def make_engine_key(
    onnx_path: Path,
    *,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str,
    precision: str,
    min_batch: int,
    opt_batch: int,
    max_batch: int,
    calibration_cache_path: Path | None = None,
) -> EngineKey:
    require_onnx(onnx_path)
    calibration = ""
    if precision == "int8" and calibration_cache_path is not None and calibration_cache_path.is_file():
        calibration = file_sha256(calibration_cache_path)
    return EngineKey(
        onnx_sha256=file_sha256(onnx_path),
        tensorrt_version=tensorrt_version,
        gpu_name=gpu_name,
        compute_capability=compute_capability,
        precision=precision,
        min_batch=min_batch,
        opt_batch=opt_batch,
        max_batch=max_batch,
        calibration_sha256=calibration,
    )


def metadata_path(engine_path: Path) -> Path:
    return engine_path.with_name(engine_path.name + METADATA_SUFFIX)


@dataclass(frozen=True)
class CachedEngine:
    """What is on disk for one engine path (``None`` where a file is missing)."""

    engine_path: Path
    engine_size: int | None
    engine_sha256: str | None
    metadata: Mapping[str, Any] | None
    metadata_error: str | None = None


def inspect_cache(engine_path: Path) -> CachedEngine:
    """Read the engine's size and hash and its metadata; broken files are reported, not raised."""
    size: int | None = None
    sha256: str | None = None
    try:
        size = engine_path.stat().st_size
        sha256 = file_sha256(engine_path)
    except OSError:
        size, sha256 = None, None
    meta_path = metadata_path(engine_path)
    if not meta_path.exists():
        return CachedEngine(engine_path, size, sha256, None)
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(metadata, dict) or not isinstance(metadata.get("key"), dict):
            raise ValueError("no 'key' object")
    except (OSError, ValueError) as error:
        return CachedEngine(engine_path, size, sha256, None, f"metadata file {meta_path} is unreadable ({error})")
    return CachedEngine(engine_path, size, sha256, metadata)


@dataclass(frozen=True)
class CacheDecision:
    reuse: bool
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def decide(expected: EngineKey, cached: CachedEngine, force: bool = False) -> CacheDecision:  # noqa: PLR0911
    """Reuse the cached engine, or rebuild it and why. Pure: the inputs say everything."""
    if force:
        return CacheDecision(False, ("force_engine_update is set",))
    if cached.engine_size is None:
        return CacheDecision(False, (f"no engine file at {cached.engine_path}",))
    if cached.engine_size == 0:
        return CacheDecision(False, (f"engine file {cached.engine_path} is empty",))
    if cached.metadata_error is not None:
        return CacheDecision(False, (cached.metadata_error,))
    if cached.metadata is None:
        # Without metadata nothing says what the engine was built from (trtexec, another
        # ONNX file, another GPU): rebuilding is the only safe answer.
        return CacheDecision(False, (f"no metadata file {metadata_path(cached.engine_path)}",))
    differences = expected.differences(cached.metadata["key"])
    if differences:
        return CacheDecision(False, tuple(differences))
    if cached.metadata.get("engine_size") != cached.engine_size:
        stored_size = cached.metadata.get("engine_size")
        reason = f"engine file is {cached.engine_size} bytes, metadata says {stored_size} (truncated?)"
        return CacheDecision(False, (reason,))
    if cached.metadata.get("engine_sha256") != cached.engine_sha256:
        return CacheDecision(False, ("engine file's sha256 differs from the metadata (corrupt or replaced)",))
    return CacheDecision(True, ("cache hit",))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_engine(engine_path: Path, data: bytes, key: EngineKey) -> None:
    """Engine first, metadata second: a crash in between leaves a sha256 mismatch -> rebuild."""
    atomic_write_bytes(engine_path, data)
    metadata = {
        "key": key.as_dict(),
        "engine_size": len(data),
        "engine_sha256": hashlib.sha256(data).hexdigest(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_bytes(metadata_path(engine_path), (json.dumps(metadata, indent=2) + "\n").encode("utf-8"))


EngineT = TypeVar("EngineT")
EngineT_co = TypeVar("EngineT_co", covariant=True)


class EngineBuilder(Protocol):
    def build_serialized_engine(self, onnx_path: Path, key: EngineKey) -> bytes:
        """A serialized engine for ``onnx_path`` with the key's precision and batch profile."""
        ...


class EngineRuntime(Protocol[EngineT_co]):
    def deserialize_engine(self, data: bytes) -> EngineT_co | None:
        """The engine, or None when ``data`` is not a usable engine."""
        ...


def load_or_build_engine(
    onnx_path: Path,
    engine_path: Path,
    key: EngineKey,
    builder: EngineBuilder,
    runtime: EngineRuntime[EngineT],
    force: bool = False,
    key_after_build: Callable[[], EngineKey] | None = None,
) -> tuple[EngineT, CacheDecision]:
    """The cached engine if ``decide`` allows and it deserializes, else a freshly built one.

    ``key_after_build`` recomputes the key once the build is done, for what the build itself
    creates (an int8 calibration cache), so the next run does not rebuild for it.
    """
    require_onnx(onnx_path, engine_path)
    cached = inspect_cache(engine_path)
    decision = decide(key, cached, force)
    if decision.reuse:
        engine = _deserialize(runtime, engine_path.read_bytes())
        if engine is not None:
            LOGGER.info("reusing TensorRT engine %s", engine_path)
            return engine, decision
        decision = CacheDecision(False, (f"engine file {engine_path} does not deserialize",))
    # A rebuild of a file that exists is worth a warning: something changed under it.
    log = LOGGER.warning if cached.engine_size is not None and not force else LOGGER.info
    log("building TensorRT engine %s: %s", engine_path, decision.reason)
    data = builder.build_serialized_engine(onnx_path, key)
    if not data:
        raise EngineCacheError(f"TensorRT built no engine from {onnx_path} (see the TensorRT log above)")
    write_engine(engine_path, data, key_after_build() if key_after_build is not None else key)
    engine = _deserialize(runtime, data)
    if engine is None:
        raise EngineCacheError(f"the engine just built from {onnx_path} does not deserialize")
    return engine, decision


def _deserialize(runtime: EngineRuntime[EngineT], data: bytes) -> EngineT | None:
    try:
        return runtime.deserialize_engine(data)
    except Exception as error:  # runtimes raise their own types for a corrupt blob
        LOGGER.warning("engine does not deserialize: %s", error)
        return None
