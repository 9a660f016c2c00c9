"""TensorRT 10 and 11 through the same backend: what each version's builder is asked, and
what TensorRT 11 cannot build (implicit INT8 calibration, weak fp16) said at engine build
with the alternative. The ``tensorrt`` module is a double of each version's surface
(tensorrt_double.py): touching what a version lacks fails as on the real bindings."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hdnet_ros.inference import BackendUnavailable, BatchProfile
from hdnet_ros.inference.tensorrt_api import PrecisionUnavailableError, TensorRTApi
from tensorrt_double import Recorder, tensorrt_module
from test_inference_backends import builder_for, key_for

FLOAT_NETWORK = [("CONVOLUTION", ("FLOAT",)), ("ACTIVATION", ("FLOAT",))]
FP16_NETWORK = [("CONVOLUTION", ("HALF",)), ("ACTIVATION", ("HALF",)), ("SHUFFLE", ("FLOAT",))]
QDQ_NETWORK = [("QUANTIZE", ("INT8",)), ("DEQUANTIZE", ("FLOAT",)), ("CONVOLUTION", ("FLOAT",))]


def build(major: int, precision: str, layers: list[tuple[str, tuple[str, ...]]], **options: Any) -> Recorder:
    recorder = Recorder(input_shape=(-1, 3), layers=layers)
    builder_for(recorder, major, **options).build_serialized_engine(Path("/models/m.onnx"), key_for(precision))
    return recorder


def test_the_api_is_read_from_the_module() -> None:
    ten, eleven = (TensorRTApi.of(tensorrt_module(major, Recorder())) for major in (10, 11))
    assert (ten.major, ten.weak_typing, ten.implicit_int8) == (10, True, True)
    assert (eleven.major, eleven.weak_typing, eleven.implicit_int8) == (11, False, False)


@pytest.mark.parametrize("major", [10, 11])
def test_fp32_is_built_alike_by_both(major: int) -> None:
    recorder = build(major, "fp32", FLOAT_NETWORK)
    assert recorder.named("create_network") == [("create_network", 0)]
    assert recorder.named("flag") == []
    assert ("set_shape", "x", (1, 3), (4, 3), (8, 3)) in recorder.calls and ("profile",) in recorder.calls
    assert recorder.named("build") == [("build", False, True)], "built, no calibrator, progress reported"


def test_tensorrt_11_fp16_from_a_float32_file_says_how_to_get_one() -> None:
    with pytest.raises(PrecisionUnavailableError, match=r"m\.onnx: precision fp16 needs an fp16 ONNX file") as error:
        build(11, "fp16", FLOAT_NETWORK)
    assert "modelopt.onnx.autocast" in str(error.value) and "precision fp32" in str(error.value)


def test_tensorrt_11_builds_an_fp16_file_as_it_is() -> None:
    recorder = build(11, "fp16", FP16_NETWORK)
    assert recorder.named("flag") == [] and recorder.named("build") == [("build", False, True)]


def test_tensorrt_10_lowers_a_float32_file_to_fp16_itself() -> None:
    assert build(10, "fp16", FLOAT_NETWORK).named("flag") == [("flag", "FP16")]


def test_tensorrt_11_int8_without_qdq_names_explicit_quantization(tmp_path: Path) -> None:
    cache = tmp_path / "calibration.cache"
    with pytest.raises(PrecisionUnavailableError, match="removed implicit INT8 calibration") as error:
        build(11, "int8", FLOAT_NETWORK, calibration_cache_path=cache, calibration_data={"x": [[0.0, 0.0, 0.0]]})
    message = str(error.value)
    assert "Q/DQ" in message and "quantize_static" in message and "modelopt.onnx.quantization" in message
    assert not cache.exists()


def test_tensorrt_11_builds_a_qdq_file_without_calibration(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = tmp_path / "calibration.cache"
    with caplog.at_level(logging.WARNING):
        recorder = build(11, "int8", QDQ_NETWORK, calibration_cache_path=cache)
    assert recorder.named("flag") == [] and recorder.named("calibration_profile") == []
    assert recorder.named("build") == [("build", False, True)]
    assert "its scales are used, not calibration" in caplog.text and not cache.exists()


def test_tensorrt_10_builds_a_qdq_file_without_calibration() -> None:
    recorder = build(10, "int8", QDQ_NETWORK)  # no cache path: none needed
    assert recorder.named("flag") == [("flag", "FP16"), ("flag", "INT8")]
    assert recorder.named("build") == [("build", False, True)] and recorder.named("calibration_profile") == []


def test_tensorrt_11_fp32_of_a_reduced_file_says_what_it_computes_in(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        build(11, "fp32", FP16_NETWORK)
    assert "states fp16 itself" in caplog.text


def cuda_torch() -> Any:
    return SimpleNamespace(
        cuda=SimpleNamespace(
            get_device_capability=lambda index: (8, 7),
            get_device_name=lambda index: "Orin",
            device=lambda index: contextlib.nullcontext(),
        )
    )


@pytest.mark.parametrize(("major", "keyed"), [(10, True), (11, False)])
def test_the_calibration_cache_keys_the_engine_only_where_it_is_read(tmp_path: Path, major: int, keyed: bool) -> None:
    from hdnet_ros.inference.engine_cache import file_sha256
    from hdnet_ros.inference.tensorrt_backend import _engine_key

    onnx, cache = tmp_path / "m.onnx", tmp_path / "calibration.cache"
    onnx.write_bytes(b"onnx")
    cache.write_bytes(b"scales")
    trt = tensorrt_module(major, Recorder())
    key = _engine_key(trt, cuda_torch(), 0, onnx, "int8", BatchProfile(1, 4, 8), cache)
    assert key.tensorrt_version == trt.__version__ and key.gpu_name == "Orin" and key.compute_capability == "8.7"
    assert key.calibration_sha256 == (file_sha256(cache) if keyed else "")


@pytest.fixture
def installed_tensorrt(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install a double as ``tensorrt`` (or a module of another version) for one test."""

    def install(major: int, version: str | None = None) -> Any:
        module = tensorrt_module(major, Recorder())
        if version is not None:
            module.__version__ = version  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "tensorrt", module)
        return module

    return install


@pytest.mark.parametrize("major", [10, 11])
def test_both_versions_are_accepted(installed_tensorrt: Any, major: int) -> None:
    from hdnet_ros.inference.tensorrt_backend import implicit_int8_available, import_tensorrt

    module = installed_tensorrt(major)
    assert import_tensorrt() is module
    assert implicit_int8_available() == (major == 10)


def test_older_than_10_is_refused_and_newer_than_11_tried(
    installed_tensorrt: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from hdnet_ros.inference.tensorrt_backend import import_tensorrt

    installed_tensorrt(10, "8.6.1")
    with pytest.raises(BackendUnavailable, match=r"TensorRT 8\.6\.1 found; this backend needs TensorRT 10 or newer"):
        import_tensorrt()
    module = installed_tensorrt(11, "12.0.0")
    with caplog.at_level(logging.WARNING):
        assert import_tensorrt() is module
        import_tensorrt()
    assert caplog.text.count("written for TensorRT 10 and 11; trying it") == 1, "said once"


def test_build_engine_command_asks_for_calibration_only_where_tensorrt_calibrates(
    installed_tensorrt: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from hdnet_ros.cli import main

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"not parsed here")
    installed_tensorrt(10)
    with caplog.at_level(logging.ERROR):
        assert main(["build-engine", "--onnx", str(onnx), "--precision", "int8"]) == 2
    assert "--calibration-cache" in caplog.text
    caplog.clear()
    installed_tensorrt(11)
    with caplog.at_level(logging.ERROR):
        main(["build-engine", "--onnx", str(onnx), "--precision", "int8"])
    assert "--calibration-cache" not in caplog.text


def test_build_engine_command_needs_no_calibration_for_a_quantized_file(
    installed_tensorrt: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    onnx = pytest.importorskip("onnx")
    from hdnet_ros.cli import main
    from onnx import TensorProto, helper

    scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [0.1])
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "scale"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "scale"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [scale],
    )
    path = tmp_path / "qdq.onnx"
    onnx.save(helper.make_model(graph), str(path))
    installed_tensorrt(10)
    with caplog.at_level(logging.ERROR):
        main(["build-engine", "--onnx", str(path), "--precision", "int8"])
    assert "--calibration-cache" not in caplog.text
