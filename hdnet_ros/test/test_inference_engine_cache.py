"""The TensorRT engine cache through its own code paths, with a recording fake builder and
runtime in place of TensorRT (which this machine and CI do not have)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from hdnet_ros.inference import engine_cache
from hdnet_ros.inference.engine_cache import (
    CachedEngine,
    EngineCacheError,
    EngineKey,
    OnnxFileMissingError,
    decide,
    inspect_cache,
    load_or_build_engine,
    make_engine_key,
    metadata_path,
)

ENGINE_MAGIC = b"FAKE-ENGINE:"


class FakeBuilder:
    """Records each build; the 'engine' is a tagged blob naming what it was built for."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, EngineKey]] = []

    def build_serialized_engine(self, onnx_path: Path, key: EngineKey) -> bytes:
        self.calls.append((onnx_path, key))
        return ENGINE_MAGIC + json.dumps(key.as_dict()).encode() + b"\0" * 4096


class FakeRuntime:
    """Records each deserialisation; anything without the tag is 'not an engine'."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def deserialize_engine(self, data: bytes) -> dict[str, bytes] | None:
        self.calls.append(data)
        return {"engine": data} if data.startswith(ENGINE_MAGIC) else None


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not really onnx, but hashed like one")
    return path


@pytest.fixture
def key(onnx_file: Path) -> EngineKey:
    return make_engine_key(
        onnx_file,
        tensorrt_version="10.3.0",
        gpu_name="Orin (nvgpu)",
        compute_capability="8.7",
        precision="fp16",
        min_batch=1,
        opt_batch=4,
        max_batch=8,
    )


def load(onnx: Path, engine: Path, key: EngineKey, force: bool = False) -> tuple[FakeBuilder, FakeRuntime, bool, str]:
    builder, runtime = FakeBuilder(), FakeRuntime()
    loaded, decision = load_or_build_engine(onnx, engine, key, builder, runtime, force=force)
    assert loaded["engine"].startswith(ENGINE_MAGIC)
    return builder, runtime, decision.reuse, decision.reason


def test_key_hashes_the_onnx_file(onnx_file: Path, key: EngineKey) -> None:
    assert key.onnx_sha256 == engine_cache.file_sha256(onnx_file)
    assert len(key.onnx_sha256) == 64 and key.calibration_sha256 == ""


def test_first_load_builds_and_writes_engine_and_metadata(onnx_file: Path, key: EngineKey, tmp_path: Path) -> None:
    engine = tmp_path / "engines" / "model.engine"
    builder, _, reused, reason = load(onnx_file, engine, key)
    assert not reused and "no engine file" in reason
    assert builder.calls == [(onnx_file, key)]
    metadata = json.loads(metadata_path(engine).read_text())
    assert metadata["key"] == key.as_dict()
    assert metadata["engine_size"] == engine.stat().st_size
    assert metadata["engine_sha256"] == engine_cache.file_sha256(engine)
    for field in ("onnx_sha256", "tensorrt_version", "gpu_name", "compute_capability", "precision", "max_batch"):
        assert field in metadata["key"]
    assert sorted(p.name for p in engine.parent.iterdir()) == ["model.engine", "model.engine.json"], "temp files left"


def test_cache_hit_reuses_without_building(onnx_file: Path, key: EngineKey, tmp_path: Path) -> None:
    engine = tmp_path / "model.engine"
    load(onnx_file, engine, key)
    builder, runtime, reused, reason = load(onnx_file, engine, key)
    assert reused and reason == "cache hit"
    assert builder.calls == []
    assert runtime.calls == [engine.read_bytes()]


CHANGES: dict[str, Any] = {
    "onnx_sha256": "0" * 64,
    "tensorrt_version": "10.4.0",
    "gpu_name": "NVIDIA GeForce RTX 4090",
    "compute_capability": "8.9",
    "precision": "fp32",
    "min_batch": 2,
    "opt_batch": 2,
    "max_batch": 16,
    "calibration_sha256": "1" * 64,
    "cache_version": engine_cache.ENGINE_CACHE_VERSION + 1,
}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_any_key_field_differing_rebuilds(
    field: str, onnx_file: Path, key: EngineKey, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert set(CHANGES) == {f.name for f in dataclasses.fields(EngineKey)}, "a key field is not tested"
    engine = tmp_path / "model.engine"
    load(onnx_file, engine, key)
    changed = dataclasses.replace(key, **{field: CHANGES[field]})
    with caplog.at_level(logging.WARNING, logger=engine_cache.__name__):
        builder, _, reused, reason = load(onnx_file, engine, changed)
    assert not reused and reason.startswith(f"{field}: cached")
    assert builder.calls == [(onnx_file, changed)]
    assert field in caplog.text, "the rebuild reason is logged"
    assert json.loads(metadata_path(engine).read_text())["key"][field] == CHANGES[field]


def test_changed_onnx_file_rebuilds(onnx_file: Path, key: EngineKey, tmp_path: Path) -> None:
    engine = tmp_path / "model.engine"
    load(onnx_file, engine, key)
    onnx_file.write_bytes(b"re-exported network")
    fresh = dataclasses.replace(key, onnx_sha256=engine_cache.file_sha256(onnx_file))
    _, _, reused, reason = load(onnx_file, engine, fresh)
    assert not reused and "onnx_sha256" in reason


def test_truncated_engine_rebuilds_with_a_logged_reason(
    onnx_file: Path, key: EngineKey, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = tmp_path / "model.engine"
    load(onnx_file, engine, key)
    engine.write_bytes(engine.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger=engine_cache.__name__):
        builder, _, reused, reason = load(onnx_file, engine, key)
    assert not reused and "truncated" in reason and len(builder.calls) == 1
    assert "truncated" in caplog.text
    assert engine.stat().st_size > 100, "the rebuilt engine replaced the truncated one"


def test_corrupt_engine_of_the_same_size_rebuilds(onnx_file: Path, key: EngineKey, tmp_path: Path) -> None:
    engine = tmp_path / "model.engine"
    load(onnx_file, engine, key)
    data = bytearray(engine.read_bytes())
    data[-1] ^= 0xFF
    engine.write_bytes(bytes(data))
    _, _, reused, reason = load(onnx_file, engine, key)
    assert not reused and "sha256" in reason


def test_engine_that_does_not_deserialize_rebuilds(onnx_file: Path, key: EngineKey, tmp_path: Path) -> None:
    """Metadata consistent with the file, but the runtime rejects it (e.g. a TensorRT bug)."""
    engine = tmp_path / "model.engine"
    engine_cache.write_engine(engine, b"garbage, not an engine", key)
    builder, runtime, reused, reason = load(onnx_file, engine, key)
    assert not reused and "does not deserialize" in reason
    assert len(builder.calls) == 1 and runtime.calls[0] == b"garbage, not an engine"


@pytest.mark.parametrize("metadata", [None, "{not json", '{"no_key": 1}', '["a list"]'])
def test_missing_or_broken_metadata_rebuilds(
    metadata: str | None, onnx_file: Path, key: EngineKey, tmp_path: Path
) -> None:
    engine = tmp_path / "model.engine"
    load(onnx_file, engine, key)
    if metadata is None:
        metadata_path(engine).unlink()
    else:
        metadata_path(engine).write_text(metadata)
    _, _, reused, reason = load(onnx_file, engine, key)
    assert not reused
    assert ("no metadata" in reason) if metadata is None else ("unreadable" in reason)


def test_empty_engine_file_rebuilds(onnx_file: Path, key: EngineKey, tmp_path: Path) -> None:
    engine = tmp_path / "model.engine"
    load(onnx_file, engine, key)
    engine.write_bytes(b"")
    _, _, reused, reason = load(onnx_file, engine, key)
    assert not reused and "empty" in reason


def test_force_rebuilds_a_valid_engine(onnx_file: Path, key: EngineKey, tmp_path: Path) -> None:
    engine = tmp_path / "model.engine"
    load(onnx_file, engine, key)
    builder, _, reused, reason = load(onnx_file, engine, key, force=True)
    assert not reused and "force_engine_update" in reason and len(builder.calls) == 1


def test_missing_onnx_file_is_a_clear_error_and_builds_nothing(key: EngineKey, tmp_path: Path) -> None:
    builder, runtime = FakeBuilder(), FakeRuntime()
    missing = tmp_path / "exported" / "movenet.onnx"
    with pytest.raises(OnnxFileMissingError, match=r"movenet\.onnx does not exist") as error:
        load_or_build_engine(missing, tmp_path / "m.engine", key, builder, runtime)
    assert isinstance(error.value, FileNotFoundError)
    assert builder.calls == [] and runtime.calls == []
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_engine_key(
            missing,
            tensorrt_version="10",
            gpu_name="g",
            compute_capability="8.7",
            precision="fp32",
            min_batch=1,
            opt_batch=1,
            max_batch=1,
        )


def test_builder_returning_nothing_is_an_error(onnx_file: Path, key: EngineKey, tmp_path: Path) -> None:
    class EmptyBuilder(FakeBuilder):
        def build_serialized_engine(self, onnx_path: Path, key: EngineKey) -> bytes:
            super().build_serialized_engine(onnx_path, key)
            return b""

    engine = tmp_path / "model.engine"
    with pytest.raises(EngineCacheError, match="built no engine"):
        load_or_build_engine(onnx_file, engine, key, EmptyBuilder(), FakeRuntime())
    assert not engine.exists()


def test_key_after_build_is_what_the_metadata_records(onnx_file: Path, key: EngineKey, tmp_path: Path) -> None:
    """An int8 build writes its calibration cache; the metadata keys the engine to it, so the
    next run with that cache is a hit, not a rebuild."""
    engine = tmp_path / "model.engine"
    calibrated = dataclasses.replace(key, precision="int8", calibration_sha256="c" * 64)
    uncalibrated = dataclasses.replace(calibrated, calibration_sha256="")
    load_or_build_engine(
        onnx_file, engine, uncalibrated, FakeBuilder(), FakeRuntime(), key_after_build=lambda: calibrated
    )
    _, _, reused, _ = load(onnx_file, engine, calibrated)
    assert reused


def test_int8_key_hashes_the_calibration_cache(onnx_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "calibration.cache"
    common = {
        "tensorrt_version": "10",
        "gpu_name": "g",
        "compute_capability": "8.7",
        "min_batch": 1,
        "opt_batch": 4,
        "max_batch": 8,
        "calibration_cache_path": cache,
    }
    assert make_engine_key(onnx_file, precision="int8", **common).calibration_sha256 == ""  # type: ignore[arg-type]
    cache.write_bytes(b"TRT-1000-EntropyCalibration2")
    assert make_engine_key(onnx_file, precision="int8", **common).calibration_sha256 == engine_cache.file_sha256(cache)  # type: ignore[arg-type]
    assert make_engine_key(onnx_file, precision="fp16", **common).calibration_sha256 == ""  # type: ignore[arg-type]


def test_decide_is_pure_and_orders_its_reasons(key: EngineKey, tmp_path: Path) -> None:
    engine = tmp_path / "never-written.engine"
    good = CachedEngine(engine, 10, "ab", {"key": key.as_dict(), "engine_size": 10, "engine_sha256": "ab"})
    assert decide(key, good).reuse
    assert not decide(key, good, force=True).reuse
    assert "no engine file" in decide(key, dataclasses.replace(good, engine_size=None)).reason
    other = dataclasses.replace(key, gpu_name="other", max_batch=4)
    reasons = decide(other, good).reasons
    assert [r.split(":")[0] for r in reasons] == ["gpu_name", "max_batch"], "every differing field is named"
    assert not engine.exists(), "decide touches no files"


def test_inspect_cache_reports_missing_files(tmp_path: Path) -> None:
    cached = inspect_cache(tmp_path / "none.engine")
    assert cached.engine_size is None and cached.metadata is None and cached.metadata_error is None


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.engine"
    target.write_bytes(b"old engine")

    def failing_replace(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        engine_cache.atomic_write_bytes(target, b"new engine")
    assert target.read_bytes() == b"old engine"
    assert [p.name for p in tmp_path.iterdir()] == ["model.engine"], "the temporary file is removed"
