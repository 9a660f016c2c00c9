"""The backend interface: onnxruntime and torch run here; TensorRT is checked for its error
when absent and, through a recording double of the ``tensorrt`` module (tensorrt_double.py),
for what its builder asks TensorRT 10 to do (TensorRT 11: test_inference_tensorrt_api.py;
the real thing runs in test_inference_tensorrt.py on a GPU)."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hdnet_ros.inference import BackendUnavailable, BatchProfile, TensorSpec, create_backend
from hdnet_ros.inference.engine_cache import EngineCacheError, EngineKey
from hdnet_ros.inference.onnxruntime_backend import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    SPINNING_MODES,
    choose_providers,
    session_config_entries,
)
from tensorrt_double import Recorder, tensorrt_module

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    """x [N,3] float -> doubled = 2x, shifted = x + 1 (dynamic batch)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["doubled"]), helper.make_node("Add", ["x", "one"], ["shifted"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [
            helper.make_tensor_value_info("doubled", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("shifted", TensorProto.FLOAT, ["N", 3]),
        ],
        [
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    return path


def test_importing_the_package_needs_neither_torch_nor_tensorrt() -> None:
    code = (
        "import sys, hdnet_ros.inference, hdnet_ros.inference.engine_cache, hdnet_ros.inference.movenet_codec; "
        "heavy = {'torch', 'tensorrt', 'onnxruntime'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- onnxruntime -------------------------------------------------------------------------


def test_onnxruntime_backend_runs_and_describes_the_model(tiny_onnx: Path) -> None:
    pytest.importorskip("onnxruntime")
    with create_backend("onnxruntime", tiny_onnx, threads=1) as backend:
        assert backend.input_names == ("x",)
        assert backend.output_names == ("doubled", "shifted")
        assert backend.inputs[0] == TensorSpec("x", (None, 3), np.dtype(np.float32))
        for batch in (1, 5):
            x = np.arange(3 * batch, dtype=np.uint8).reshape(batch, 3)  # converted to float32
            result = backend.run({"x": x})
            np.testing.assert_array_equal(result["doubled"], 2.0 * x)
            np.testing.assert_array_equal(result["shifted"], x + 1.0)
            assert result["doubled"].dtype == np.float32
    with pytest.raises(RuntimeError, match="closed"):
        backend.run({"x": np.zeros((1, 3))})


def test_backend_names_what_it_expected(tiny_onnx: Path) -> None:
    pytest.importorskip("onnxruntime")
    backend = create_backend("onnxruntime", tiny_onnx)
    with pytest.raises(ValueError, match=r"missing inputs \['x'\].*x \[N,3\] float32"):
        backend.run({"image": np.zeros((1, 3))})
    with pytest.raises(ValueError, match=r"input x has shape \[2, 4\], expected x \[N,3\]"):
        backend.run({"x": np.zeros((2, 4))})
    backend.close()
    backend.close()  # idempotent


def test_onnxruntime_cuda_needs_the_gpu_package(tiny_onnx: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    if CUDA_PROVIDER in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with pytest.raises(BackendUnavailable, match="onnxruntime-gpu"):
        create_backend("onnxruntime", tiny_onnx, device="cuda")
    with create_backend("onnxruntime", tiny_onnx, device="auto") as backend:  # falls back to the CPU
        assert backend.providers == [CPU_PROVIDER]  # type: ignore[attr-defined]


def test_spinning_modes_are_onnxruntime_session_entries() -> None:
    assert session_config_entries(2, "off") == {"session.intra_op.allow_spinning": "0"}
    assert session_config_entries(2, "in_call") == {
        "session.intra_op.allow_spinning": "1",
        "session.force_spinning_stop": "1",
    }
    assert session_config_entries(2, "on") == {"session.intra_op.allow_spinning": "1"}
    assert session_config_entries(None, "off") == {}  # uncapped: onnxruntime's own defaults
    with pytest.raises(ValueError, match="spinning must be one of off, in_call, on"):
        session_config_entries(2, "sometimes")


@pytest.mark.parametrize("spinning", SPINNING_MODES)
def test_the_session_gets_the_spinning_mode(tiny_onnx: Path, spinning: str) -> None:
    """What onnxruntime's session was opened with, read back from the session itself."""
    pytest.importorskip("onnxruntime")
    with create_backend("onnxruntime", tiny_onnx, threads=2, spinning=spinning) as backend:
        options = backend._session.get_session_options()  # type: ignore[attr-defined]
        assert options.intra_op_num_threads == 2
        for key, value in session_config_entries(2, spinning).items():
            assert options.get_session_config_entry(key) == value
        np.testing.assert_array_equal(backend.run({"x": np.ones((2, 3))})["doubled"], 2.0)


def test_the_setting_reaches_every_onnxruntime_session(tiny_onnx: Path) -> None:
    """``inference.onnxruntime_spinning`` from the settings to the session open_backend opens."""
    pytest.importorskip("onnxruntime")
    from hdnet_ros.inference.runtime import open_backend

    from hdnet_ros.config import load_settings

    assert load_settings().inference.onnxruntime_spinning == "off"
    inference = load_settings(overrides={"inference.onnxruntime_spinning": "in_call"}).inference
    with open_backend(tiny_onnx, inference, threads=2) as backend:
        options = backend._session.get_session_options()  # type: ignore[attr-defined]
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
        assert options.get_session_config_entry("session.force_spinning_stop") == "1"


def test_provider_choice() -> None:
    assert choose_providers("cpu", [CUDA_PROVIDER, CPU_PROVIDER]) == [CPU_PROVIDER]
    assert choose_providers("auto", [CPU_PROVIDER]) == [CPU_PROVIDER]
    assert choose_providers("cuda:1", [CUDA_PROVIDER, CPU_PROVIDER]) == [
        (CUDA_PROVIDER, {"device_id": 1}),
        CPU_PROVIDER,
    ]
    with pytest.raises(ValueError, match="not 'cuda' or 'cuda:N'"):
        choose_providers("gpu0", [CUDA_PROVIDER])


def test_factory_rejects_what_it_cannot_do(tiny_onnx: Path) -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        create_backend("openvino", tiny_onnx)
    with pytest.raises(ValueError, match="unknown precision"):
        create_backend("onnxruntime", tiny_onnx, precision="bf16")
    with pytest.raises(ValueError, match="precision must be fp32"):
        create_backend("onnxruntime", tiny_onnx, precision="fp16")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_backend("onnxruntime", tiny_onnx.with_name("absent.onnx"))
    with pytest.raises(ValueError, match="1 <= min <= opt <= max"):
        BatchProfile(4, 2, 8)


# --- torch -------------------------------------------------------------------------------


def test_torch_backend_wraps_a_module() -> None:
    torch = pytest.importorskip("torch")

    class Pair(torch.nn.Module):  # type: ignore[name-defined]
        def forward(self, x: Any) -> tuple[Any, Any]:
            return x * 2, x.sum(dim=1)

    specs_in = (TensorSpec("x", (None, 3), np.dtype(np.float32)),)
    specs_out = (
        TensorSpec("doubled", (None, 3), np.dtype(np.float32)),
        TensorSpec("total", (None,), np.dtype(np.float32)),
    )
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for precision in ("fp32", "fp16"):
        with create_backend(
            "torch", module=Pair(), input_specs=specs_in, output_specs=specs_out, precision=precision
        ) as b:
            result = b.run({"x": x})
        np.testing.assert_array_equal(result["doubled"], 2 * x)
        np.testing.assert_array_equal(result["total"], x.sum(axis=1))
        assert result["total"].dtype == np.float32  # fp16 results come back as the declared dtype
    with pytest.raises(ValueError, match="fp32 or fp16"):
        create_backend("torch", module=Pair(), input_specs=specs_in, output_specs=specs_out, precision="int8")
    with pytest.raises(ValueError, match="input_specs and output_specs"):
        create_backend("torch", module=Pair())
    with pytest.raises(ValueError, match=r"MoveNet \.tflite"):
        create_backend("torch", "model.onnx")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="no CUDA GPU"):
            create_backend("torch", module=Pair(), input_specs=specs_in, output_specs=specs_out, device="cuda")


# --- TensorRT ----------------------------------------------------------------------------


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed: the missing-TensorRT error cannot be seen")
def test_tensorrt_backend_without_tensorrt_says_what_is_missing(tiny_onnx: Path) -> None:
    with pytest.raises(BackendUnavailable, match="`tensorrt` Python package"):
        create_backend("tensorrt", tiny_onnx, precision="fp16")


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed: the missing-TensorRT error cannot be seen")
def test_build_engine_command_fails_clearly_without_tensorrt(
    tiny_onnx: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from hdnet_ros.cli import main

    engine = tmp_path / "tiny.engine"
    with caplog.at_level(logging.ERROR):
        assert main(["build-engine", "--onnx", str(tiny_onnx), "--engine", str(engine), "--precision", "fp16"]) == 1
    assert "cannot build a TensorRT engine here" in caplog.text and "tensorrt" in caplog.text
    assert not engine.exists()


def test_build_engine_command_checks_its_arguments(tiny_onnx: Path, caplog: pytest.LogCaptureFixture) -> None:
    from hdnet_ros.cli import main

    with caplog.at_level(logging.ERROR):
        assert main(["build-engine", "--onnx", str(tiny_onnx), "--min-batch", "4", "--opt-batch", "2"]) == 2
        assert main(["build-engine", "--onnx", str(tiny_onnx), "--precision", "int8"]) == 2
        assert main(["build-engine", "--onnx", str(tiny_onnx.with_name("absent.onnx"))]) == 1
    assert "min <= opt <= max" in caplog.text
    assert "--calibration-cache" in caplog.text
    assert "absent.onnx does not exist" in caplog.text


def test_calibration_batches_have_one_size() -> None:
    from hdnet_ros.inference.tensorrt_backend import calibration_batches

    size, batches = calibration_batches({"x": np.zeros((10, 3), np.uint8)}, batch=4)
    assert size == 4 and len(batches) == 2 and all(b["x"].shape == (4, 3) for b in batches)
    assert batches[0]["x"].dtype == np.float32
    size, batches = calibration_batches({"x": np.zeros((3, 3))}, batch=4)
    assert size == 3 and len(batches) == 1
    with pytest.raises(ValueError, match="same non-zero sample count"):
        calibration_batches({"a": np.zeros((2, 1)), "b": np.zeros((3, 1))}, batch=2)


class _HostTensor:
    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def to(self, device: Any) -> _HostTensor:
        return self

    def data_ptr(self) -> int:
        return int(self.array.ctypes.data)


def fake_torch() -> Any:
    return SimpleNamespace(
        cuda=SimpleNamespace(device=lambda index: contextlib.nullcontext()),
        device=lambda kind, index: f"{kind}:{index}",
        from_numpy=_HostTensor,
    )


def key_for(precision: str) -> EngineKey:
    return EngineKey("0" * 64, "10.3.0", "gpu", "8.7", precision, 1, 4, 8)


def builder_for(recorder: Recorder, major: int = 10, **options: Any) -> Any:
    """The backend's builder on a TensorRT ``major`` double (tensorrt_double.py)."""
    from hdnet_ros.inference.tensorrt_backend import TensorRTBuilder

    trt = tensorrt_module(major, recorder)
    return TensorRTBuilder(trt, fake_torch(), 0, BatchProfile(1, 4, 8), workspace_bytes=1 << 28, **options)


def test_tensorrt_builder_sets_precision_profile_and_progress(tmp_path: Path) -> None:
    recorder = Recorder(input_shape=(-1, 192, 192, 3))
    data = builder_for(recorder).build_serialized_engine(tmp_path / "m.onnx", key_for("fp16"))
    assert data == b"serialized"
    calls = recorder.calls
    assert ("create_network", 0) in calls and ("parse_from_file", str(tmp_path / "m.onnx")) in calls
    assert ("pool", "WORKSPACE", 1 << 28) in calls
    assert recorder.named("flag") == [("flag", "FP16")]
    assert ("set_shape", "x", (1, 192, 192, 3), (4, 192, 192, 3), (8, 192, 192, 3)) in calls
    assert ("profile",) in calls and ("build", False, True) in calls
    monitor = recorder.config.progress_monitor
    monitor.phase_start("Building", None, 40)
    assert all(monitor.step_complete("Building", step) for step in range(40)), "never cancels the build"
    monitor.phase_finish("Building")


def test_tensorrt_builder_fp32_sets_no_precision_flag(tmp_path: Path) -> None:
    recorder = Recorder()
    builder_for(recorder).build_serialized_engine(tmp_path / "m.onnx", key_for("fp32"))
    assert not recorder.named("flag")


def test_tensorrt_builder_reports_parser_errors(tmp_path: Path) -> None:
    with pytest.raises(EngineCacheError, match=r"(?s)parser rejected .*no importer for op Foo"):
        builder_for(Recorder(parses=False)).build_serialized_engine(tmp_path / "m.onnx", key_for("fp32"))


def test_tensorrt_builder_only_the_batch_may_be_dynamic(tmp_path: Path) -> None:
    with pytest.raises(EngineCacheError, match="only the batch dimension may be dynamic"):
        builder_for(Recorder(input_shape=(-1, -1, 3))).build_serialized_engine(tmp_path / "m.onnx", key_for("fp32"))


def test_tensorrt_builder_int8_calibrates_and_writes_the_cache(tmp_path: Path) -> None:
    recorder = Recorder()
    cache = tmp_path / "calibration.cache"
    samples = np.arange(30, dtype=np.float32).reshape(10, 3)
    builder = builder_for(recorder, calibration_cache_path=cache, calibration_data={"x": samples})
    builder.build_serialized_engine(tmp_path / "m.onnx", key_for("int8"))
    assert recorder.named("flag") == [("flag", "FP16"), ("flag", "INT8")]
    assert ("set_shape", "x", (4, 3), (4, 3), (4, 3)) in recorder.calls, "calibration at one fixed batch"
    assert ("calibration_profile",) in recorder.calls and ("build", True, True) in recorder.calls
    calibrator = recorder.config.int8_calibrator
    assert calibrator.get_batch_size() == 4
    assert calibrator.read_calibration_cache() is None
    pointers = [calibrator.get_batch(["x"]), calibrator.get_batch(["x"]), calibrator.get_batch(["x"])]
    assert [p is None for p in pointers] == [False, False, True], "two full batches of 4 from 10 samples"
    calibrator.write_calibration_cache(b"TRT-calibration")
    assert cache.read_bytes() == b"TRT-calibration"
    assert calibrator.read_calibration_cache() == b"TRT-calibration"


def test_tensorrt_builder_int8_needs_data_or_a_cache(tmp_path: Path) -> None:
    builder = builder_for(Recorder(), calibration_cache_path=tmp_path / "absent.cache")
    with pytest.raises(ValueError, match="needs calibration data"):
        builder.build_serialized_engine(tmp_path / "m.onnx", key_for("int8"))
    with pytest.raises(ValueError, match="calibration cache path"):
        builder_for(Recorder()).build_serialized_engine(tmp_path / "m.onnx", key_for("int8"))
