"""The process's compiled OpenVINO models (inference/openvino_compiled.py): kept by what
went into them, the least recently used dropped beyond the capacity, a closed backend's
taken out. The backend on the real network: test_openvino_backend.py."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hdnet_ros.inference.openvino_compiled import CompiledModels, file_identity


class Compiles:
    """A stand-in compile: counts its calls and returns a new object each time."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        return object()


def test_a_key_compiles_once_and_is_then_served() -> None:
    models, compiles = CompiledModels(capacity=4), Compiles()
    first = models.get(("a", 1), compiles)
    assert models.get(("a", 1), compiles) is first
    assert compiles.calls == 1 and models.hits == 1 and models.compiles == 1
    assert models.get(("a", 2), compiles) is not first  # another shape: another compile
    assert compiles.calls == 2 and len(models) == 2


def test_the_least_recently_used_goes_beyond_the_capacity() -> None:
    models, compiles = CompiledModels(capacity=2), Compiles()
    a = models.get(("a",), compiles)
    models.get(("b",), compiles)
    assert models.get(("a",), compiles) is a  # a used again: b is now the oldest
    models.get(("c",), compiles)
    assert len(models) == 2
    assert models.get(("a",), compiles) is a
    calls = compiles.calls
    models.get(("b",), compiles)
    assert compiles.calls == calls + 1, "b was dropped and compiles again"


def test_capacity_zero_keeps_nothing_and_a_negative_one_is_refused() -> None:
    models, compiles = CompiledModels(capacity=0), Compiles()
    assert models.get(("a",), compiles) is not models.get(("a",), compiles)
    assert compiles.calls == 2 and len(models) == 0
    with pytest.raises(ValueError, match="capacity"):
        CompiledModels(capacity=-1)


def test_drop_and_clear_forget_what_they_name() -> None:
    models, compiles = CompiledModels(), Compiles()
    for name in "abc":
        models.get((name,), compiles)
    models.drop({("a",), ("b",), ("not kept",)})
    assert len(models) == 1
    models.get(("a",), compiles)
    assert compiles.calls == 4
    models.clear()
    assert len(models) == 0


def test_threads_asking_for_one_key_all_get_a_model() -> None:
    models, compiles = CompiledModels(), Compiles()
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(models.get(("a",), compiles))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(result is not None for result in results)
    assert len(models) == 1 and models.get(("a",), compiles) in results


def test_a_changed_file_or_ir_weights_change_the_identity(tmp_path: Path) -> None:
    xml, weights = tmp_path / "net.xml", tmp_path / "net.bin"
    xml.write_text("<net/>")
    weights.write_bytes(b"\0" * 8)
    before = file_identity(xml)
    assert len(before) == 2, "an IR is its .xml and its .bin"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert file_identity(xml) == before, "touched, the same content"
    weights.write_bytes(b"\0" * 7 + b"\1")
    assert file_identity(xml) != before, "new weights of the same size"
    onnx = tmp_path / "net.onnx"
    onnx.write_bytes(b"1234")
    one = file_identity(onnx)
    onnx.write_bytes(b"1235")
    assert len(one) == 1 and file_identity(onnx) != one
