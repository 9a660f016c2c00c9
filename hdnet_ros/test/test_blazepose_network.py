"""BlazePose GHUM 3D: the opener on each runtime, and the PyTorch rebuild against LiteRT.

Crops: the people of the three RGB-D sample frames (boxes drawn by hand around the
standing person and the people behind; the frames have no annotations), each a square
1.25x the box's longer side resized to 256x256, RGB 0..1 as the network takes it. The
reference is LiteRT running the published file (XNNPACK).

Float networks are not bit-reproducible across runtimes: each sums in its own order (and
blocking, and with or without FMA). How far that moves each output was measured against
the float64 evaluation of the same weights (the exact result up to 1e-16) with
``benchmarks/bench_blazepose.py --agreement`` (torch's float64 convolutions take seconds per
crop, too slow for a unit test): see TOLERANCE.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.inference.blazepose_runtime import open_blazepose
from hdnet_ros.inference.runtime import InferenceConfig
from hdnet_ros.model_files import ModelFileError
from hdnet_ros.nets.blazepose import INPUT_NAME, OUTPUT_NAMES, OUTPUT_SHAPES, BlazePoseFileError, match_signature
from helpers import needs

pytestmark = needs("cv2", "ai_edge_litert", why="the crops (OpenCV) and the published file's runtime (LiteRT)")

SIZE = 256
# Hand-drawn person boxes (x0, y0, x1, y1) in the sample frames; the first is the standing person.
BAG_BOXES: dict[str, list[tuple[float, float, float, float]]] = {
    "2019-05-03-12-41-38.bag": [(235, 58, 380, 480), (45, 205, 125, 330), (0, 195, 75, 420)],
    "2019-05-03-12-42-18.bag": [(265, 28, 475, 480), (268, 222, 300, 312)],
    "2019-05-03-12-42-25.bag": [(265, 28, 475, 480), (595, 200, 640, 265)],
}
CPU = InferenceConfig()
MOVENET = Path("movenet_lightning_int8") / "movenet_singlepose_lightning_int8.tflite"

# Largest difference allowed between two float32 evaluations of the network (LiteRT, the
# rebuild in PyTorch, its ONNX export on onnxruntime), per output, as a fraction of that
# output's largest magnitude in the crop: summation-order error scales with the size of the
# summed terms, not with the result (the mask logits, up to ~1600, cancel to near 0 at the
# person's outline). Presence (0..1) is absolute.
#
# What varies: (1) float32 summation order, each runtime its own; (2) how much the network
# amplifies that rounding, which depends on the crop: most for people it is unsure of (the
# small person at the right edge, crop 6: presence 0.65 on OpenCV 5.1's crop, 0.44 on 4.10's,
# where the sigmoid is steepest). The crop depends on OpenCV's warpAffine (4.10 and 5.1 differ
# by up to 4-6 grey levels on 7-16 % of the pixels), so the bounds cover the crops as both cut
# them and 56 more per build with up to 6 grey levels changed on 12 % of the pixels, as
# another OpenCV would (`bench_blazepose.py --agreement --variants 8`, this AMD EPYC, numpy
# 2.4 / OpenCV 5.1 and numpy 1.26 / OpenCV 4.10). Largest difference between two runtimes:
#
#   output           OpenCV 5.1   OpenCV 4.10   variants (both)   bound
#   landmarks        1.8e-5       1.1e-4        7.4e-5            3e-4  (0.08 px of 256)
#   presence         1.3e-5       1.2e-4        4.2e-5            3e-4  (absolute)
#   mask             8.5e-4       8.3e-4        3.5e-3            1e-2
#   heatmaps         1.0e-5       2.1e-5        3.7e-5            2e-4
#   world_landmarks  5.9e-5       7.5e-5        8.1e-5            3e-4  (0.2 mm of 0.8 m)
#
# Each bound is 2.5-5x the largest of these (1e-4 on landmarks and presence, the bounds
# before, failed on OpenCV 4.10's crops; a second set of variants, another seed, reached
# 7.0e-5 on heatmaps). Other instruction sets (AVX2, NEON) sum in other orders with the same
# float32 rounding. A fault in the rebuild (a wrong op, layout or weight) moves the outputs
# by far more: the landmarks by pixels, not hundredths of one.
TOLERANCE: dict[str, float] = {
    "landmarks": 3e-4,
    "presence": 3e-4,
    "mask": 1e-2,
    "heatmaps": 2e-4,
    "world_landmarks": 3e-4,
}
ABSOLUTE = frozenset({"presence"})


def worst_difference(name: str, values: np.ndarray, reference: np.ndarray) -> float:
    """The largest difference of any crop, relative to that crop's largest magnitude (see TOLERANCE)."""
    difference = np.abs(values.astype(np.float64) - reference).reshape(len(reference), -1).max(axis=1)
    if name in ABSOLUTE:
        return float(difference.max())
    return float((difference / np.abs(reference).reshape(len(reference), -1).max(axis=1)).max())


def assert_agree(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray], what: str) -> None:
    """Every output within its bound; all of them are checked before one failure is reported."""
    failed = []
    for name in OUTPUT_NAMES:
        assert outputs[name].shape == reference[name].shape, name
        worst = worst_difference(name, outputs[name], reference[name])
        if worst > TOLERANCE[name]:
            failed.append(f"{name} differs by {worst:.2e} (bound {TOLERANCE[name]:.0e})")
    assert not failed, f"{what}: " + "; ".join(failed)


@pytest.fixture(scope="module")
def tflite(models_dir: Path) -> Path:
    return published_file(models_dir)


def published_file(models_dir: Path) -> Path:
    """The published BlazePose GHUM full file (the test skips where it is missing)."""
    path = models_dir / "blazepose_ghum_full" / "pose_landmark_full.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found (run `hdnet-ros assets`)")
    return path


@pytest.fixture(scope="module")
def crops(data_dir: Path) -> np.ndarray:
    return sample_crops(data_dir)


def sample_crops(data_dir: Path) -> np.ndarray:
    """[7,256,256,3] person crops from the sample frames, via the transports' frame builder:
    square, 1.25x the box's longer side, black outside (MoveNet's crop), RGB 0..1."""
    from hdnet_ros.frame_input import build_frame
    from hdnet_ros.stages.keypoints2d import crop_person
    from helpers import sample_messages

    result = []
    for name, boxes in BAG_BOXES.items():
        messages = sample_messages(data_dir / "rgbd_hsr" / name)
        frame = build_frame(messages["rgb"], messages["depth"], messages["camera_info"])
        result += [crop_person(frame.rgb, np.asarray(box), SIZE, 1.25)[0] for box in boxes]
    return np.stack(result).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def litert_outputs(tflite: Path, crops: np.ndarray) -> dict[str, np.ndarray]:
    with open_blazepose(tflite, CPU, threads=2) as backend:
        return backend.run({INPUT_NAME: crops})


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One engine directory for the module: the ONNX export is made once."""
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="module")
def torch_outputs(tflite: Path, crops: np.ndarray, engines: Path) -> dict[str, np.ndarray]:
    pytest.importorskip("torch")
    config = dataclasses.replace(CPU, backend="torch", engine_dir=str(engines))
    with open_blazepose(tflite, config, threads=2) as backend:
        assert backend.kind == "torch"
        return backend.run({INPUT_NAME: crops})


@pytest.fixture(scope="module")
def onnx_path(tflite: Path, engines: Path) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from hdnet_ros.inference.blazepose_runtime import blazepose_onnx

    return blazepose_onnx(tflite, dataclasses.replace(CPU, engine_dir=str(engines)))


# --- the contract -----------------------------------------------------------------------


def test_cpu_default_gives_the_five_named_outputs(tflite: Path, litert_outputs: dict[str, np.ndarray]) -> None:
    with open_blazepose(tflite, CPU, threads=2) as backend:
        assert backend.kind == "litert"
        assert backend.input_names == (INPUT_NAME,)
        assert set(backend.output_names) == set(OUTPUT_NAMES)
        assert backend.inputs[0].shape == (None, SIZE, SIZE, 3)
    for name, shape in OUTPUT_SHAPES.items():
        assert litert_outputs[name].shape == (7, *shape), name
        assert litert_outputs[name].dtype == np.float32
    # The mapping by shape must also be the right one by meaning: the standing person (crop 0)
    # is present, and its landmarks lie on the crop, hips near the crop centre ...
    assert litert_outputs["presence"][0, 0] > 0.9
    assert np.all((litert_outputs["presence"] >= 0) & (litert_outputs["presence"] <= 1))
    landmarks = litert_outputs["landmarks"][0].reshape(39, 5)
    assert np.all((landmarks[:33, :2] > -SIZE * 0.1) & (landmarks[:33, :2] < SIZE * 1.1))
    hips = landmarks[[23, 24], :2].mean(axis=0)
    assert np.all(np.abs(hips - SIZE / 2) < SIZE * 0.25), hips
    # ... its world skeleton is in metres around the hip centre (hips 0.15-0.45 m apart) ...
    world = litert_outputs["world_landmarks"][0].reshape(39, 3)
    assert np.linalg.norm(world[[23, 24]].mean(axis=0)) < 0.05
    assert 0.15 < np.linalg.norm(world[23] - world[24]) < 0.45
    # ... the mask logits are positive on the person's hip centre, negative in a corner, and
    # the heatmap of the left hip peaks near the left hip landmark (heatmap cell = 4 px).
    mask = litert_outputs["mask"][0, ..., 0]
    assert mask[int(hips[1]), int(hips[0])] > 0 > mask[2, 2]
    peak = np.unravel_index(np.argmax(litert_outputs["heatmaps"][0, ..., 23]), (64, 64))
    assert np.hypot(peak[1] * 4 + 2 - landmarks[23, 0], peak[0] * 4 + 2 - landmarks[23, 1]) < 12


def test_cpu_default_needs_no_torch(tflite: Path) -> None:
    """The LiteRT path opens and runs the file without importing torch (a CPU install has none)."""
    code = (
        "import sys; from pathlib import Path; import numpy as np; "
        "from hdnet_ros.inference.runtime import InferenceConfig; "
        "from hdnet_ros.inference.blazepose_runtime import open_blazepose; "
        f"b = open_blazepose(Path({str(tflite)!r}), InferenceConfig(), 1); "
        "out = b.run({'image': np.zeros((1, 256, 256, 3), np.float32)}); "
        "assert out['presence'].shape == (1, 1); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_match_signature_names_what_is_wrong() -> None:
    good = {f"Identity_{i}": (1, *shape) for i, shape in enumerate(OUTPUT_SHAPES.values())}
    name, matched = match_signature({"input_1": (1, 256, 256, 3)}, good, "x.tflite")
    assert name == "input_1" and matched["heatmaps"] == "Identity_3" and matched["world_landmarks"] == "Identity_4"
    with pytest.raises(BlazePoseFileError, match=r"x\.tflite .*input_1 \[1, 192, 192, 3\]"):
        match_signature({"input_1": (1, 192, 192, 3)}, good, "x.tflite")
    missing = {k: v for k, v in good.items() if k != "Identity_1"}
    with pytest.raises(BlazePoseFileError, match=r"0 outputs of shape \[N,1\] for presence"):
        match_signature({"input_1": (1, 256, 256, 3)}, missing, "x.tflite")
    doubled = {**good, "extra": (1, 117)}
    with pytest.raises(BlazePoseFileError, match=r"2 outputs of shape \[N,117\] for world_landmarks"):
        match_signature({"input_1": (1, 256, 256, 3)}, doubled, "x.tflite")


def test_wrong_or_missing_file_is_a_model_file_error(models_dir: Path, tmp_path: Path) -> None:
    movenet = models_dir / MOVENET
    with pytest.raises(ModelFileError, match=r"movenet_singlepose_lightning_int8\.tflite is not the BlazePose"):
        open_blazepose(movenet, CPU, threads=1)
    garbage = tmp_path / "pose_landmark_full.tflite"
    garbage.write_bytes(b"not a flatbuffer at all" * 10)
    with pytest.raises(ModelFileError, match=r"pose_landmark_full\.tflite"):
        open_blazepose(garbage, CPU, threads=1)
    with pytest.raises(ModelFileError, match="does not exist"):
        open_blazepose(tmp_path / "absent.tflite", CPU, threads=1)


def test_wrong_file_is_refused_by_the_rebuild_too(models_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    config = dataclasses.replace(CPU, backend="torch", engine_dir=str(tmp_path))
    with pytest.raises(ModelFileError, match=r"movenet_singlepose_lightning_int8\.tflite.* is not the BlazePose"):
        open_blazepose(models_dir / MOVENET, config, threads=1)
    onnx_config = dataclasses.replace(CPU, backend="tensorrt", engine_dir=str(tmp_path))
    with pytest.raises(ModelFileError, match="cannot be rebuilt as BlazePose"):
        open_blazepose(models_dir / MOVENET, onnx_config, threads=1)
    assert list(tmp_path.iterdir()) == [], "nothing is cached for a file that is not BlazePose"


def test_litert_batch_resize_equals_one_invoke_per_crop(
    tflite: Path, crops: np.ndarray, litert_outputs: dict[str, np.ndarray]
) -> None:
    """Both LiteRT batching modes agree within float32 summation order (bit-equal with
    XNNPACK; LiteRT's builtin kernels, ``--cpu-variation=builtin``, tile a batch otherwise)."""
    from hdnet_ros.inference.litert_backend import LiteRTBackend, litert_signature

    input_name, matched = match_signature(*litert_signature(tflite), source=tflite)
    names = {input_name: INPUT_NAME, **{file: contract for contract, file in matched.items()}}
    with LiteRTBackend(tflite, threads=2, batching="resize", names=names) as batched:
        first = batched.run({INPUT_NAME: crops[:4]})
        second = batched.run({INPUT_NAME: crops[4:]})  # another batch size: resized again
        empty = batched.run({INPUT_NAME: crops[:0]})
    assert_agree({n: np.concatenate([first[n], second[n]]) for n in OUTPUT_NAMES}, litert_outputs, "resized batch")
    for name, shape in OUTPUT_SHAPES.items():
        assert empty[name].shape == (0, *shape)


# --- the rebuild -------------------------------------------------------------------------


def test_rebuild_covers_every_op_of_the_file(tflite: Path) -> None:
    """Every op kind of the file has a step; the float16 weights are folded, not run."""
    pytest.importorskip("torch")
    from hdnet_ros.nets.blazepose import blazepose_output_tensors, load_blazepose
    from hdnet_ros.nets.tflite.graph import read_tflite_graph

    graph = read_tflite_graph(tflite)
    kinds = {op.kind for op in graph.ops}
    assert kinds == {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "ADD",
        "PAD",
        "RESIZE_BILINEAR",
        "RESHAPE",
        "MAX_POOL_2D",
        "LOGISTIC",
        "DEQUANTIZE",
    }
    outputs = blazepose_output_tensors(graph)
    assert {name: graph.tensors[i].name for name, i in outputs.items()} == {
        "landmarks": "Identity",
        "presence": "Identity_1",
        "mask": "Identity_2",
        "heatmaps": "Identity_3",
        "world_landmarks": "Identity_4",
    }
    model = load_blazepose(tflite)
    dequantize = sum(op.kind == "DEQUANTIZE" for op in graph.ops)
    assert dequantize == 192 and len(model.steps) == len(graph.ops) - dequantize
    first_conv = next(op for op in graph.ops if op.kind == "CONV_2D")
    weight_source = next(op for op in graph.ops if op.outputs[0] == first_conv.inputs[1]).inputs[0]
    assert graph.constants[weight_source].dtype == np.float16
    step: Any = model.steps[[o for _, o in model.wiring].index(first_conv.outputs[0])]
    np.testing.assert_array_equal(
        step.conv.weight.numpy(), graph.constants[weight_source].astype(np.float32).transpose(0, 3, 1, 2)
    )


def test_rebuild_agrees_with_litert_on_every_output(
    torch_outputs: dict[str, np.ndarray], litert_outputs: dict[str, np.ndarray]
) -> None:
    assert_agree(torch_outputs, litert_outputs, "PyTorch rebuild vs LiteRT")


def test_onnx_export_on_onnxruntime_agrees_with_litert(
    onnx_path: Path, crops: np.ndarray, litert_outputs: dict[str, np.ndarray]
) -> None:
    onnx = pytest.importorskip("onnx")
    from hdnet_ros.inference import create_backend

    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto, full_check=True)
    assert {o.domain: o.version for o in proto.opset_import}.get("", 0) == 17
    assert [o.name for o in proto.graph.output] == list(OUTPUT_NAMES)
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value, "the batch axis must be dynamic"
    with create_backend("onnxruntime", onnx_path, threads=2) as backend:
        assert backend.input_names == (INPUT_NAME,)
        outputs = backend.run({INPUT_NAME: crops})
        alone = [backend.run({INPUT_NAME: crops[k : k + 1]}) for k in range(len(crops))]
    assert_agree(outputs, litert_outputs, "ONNX export on onnxruntime vs LiteRT")
    # One batch and one crop at a time: the same kernels on the same rows (equal here; the
    # bound allows a runtime to pick another algorithm per batch size).
    assert_agree({n: np.concatenate([a[n] for a in alone]) for n in OUTPUT_NAMES}, outputs, "batch vs one by one")


def test_auto_runtime_probes_both_and_keeps_the_outputs(
    tflite: Path, crops: np.ndarray, engines: Path, onnx_path: Path, litert_outputs: dict[str, np.ndarray]
) -> None:
    """``blazepose.runtime: auto`` on this CPU: both runtimes are timed on the loaded
    networks, one is kept, and whichever it is gives the published outputs within the
    float32 bounds. (Which one wins is this machine's, not asserted.)"""
    from hdnet_ros.inference.blazepose_runtime import choose_blazepose

    config = dataclasses.replace(CPU, engine_dir=str(engines), runtime_probe_rounds=2)
    choice = choose_blazepose(tflite, config, threads=2, runtime="auto")
    with choice.runtime as backend:
        outputs = backend.run({INPUT_NAME: crops})
    openvino = {"openvino"} if importlib.util.find_spec("openvino") else set()  # a candidate where installed
    assert set(choice.probe_ms) == {"litert_fp32", "onnx_float"} | openvino
    assert all(ms > 0.0 for ms in choice.probe_ms.values())
    kinds = {"litert_fp32": "litert", "onnx_float": "onnxruntime", "openvino": "openvino"}
    assert choice.runtime.kind == kinds[choice.name]
    assert_agree(outputs, litert_outputs, f"auto ({choice.name}) vs LiteRT")


def test_a_spinning_onnxruntime_candidate_keeps_the_outputs(
    tflite: Path, crops: np.ndarray, engines: Path, onnx_path: Path, litert_outputs: dict[str, np.ndarray]
) -> None:
    """With ``inference.onnxruntime_spinning: in_call`` the probe's onnxruntime candidate is
    opened spinning (the probe times what would run) and still gives the published outputs
    within the float32 bounds: how threads wait does not change what they compute."""
    from hdnet_ros.inference.blazepose_runtime import blazepose_candidates

    config = dataclasses.replace(CPU, engine_dir=str(engines), onnxruntime_spinning="in_call")
    (candidate,) = [c for c in blazepose_candidates(tflite, config, threads=2) if c.name == "onnx_float"]
    with candidate.open() as backend:
        assert backend.config_entries["session.force_spinning_stop"] == "1"  # type: ignore[attr-defined]
        outputs = backend.run({INPUT_NAME: crops})
    assert_agree(outputs, litert_outputs, "onnx_float spinning in calls vs LiteRT")


def test_torch_batch_equals_one_crop_at_a_time(
    tflite: Path, crops: np.ndarray, engines: Path, torch_outputs: dict[str, np.ndarray]
) -> None:
    """A person behind the standing one, alone and inside the batch of 7 (torch may pick
    other convolution algorithms for another batch size: the float32 bound, not equality)."""
    config = dataclasses.replace(CPU, backend="torch", engine_dir=str(engines))
    with open_blazepose(tflite, config, threads=2) as backend:
        alone = backend.run({INPUT_NAME: crops[4:5]})
    assert_agree(alone, {name: torch_outputs[name][4:5] for name in OUTPUT_NAMES}, "crop 4 alone vs batched")


def test_onnx_export_is_cached_by_the_files_sha256(tflite: Path, engines: Path, onnx_path: Path) -> None:
    from hdnet_ros.assets import sha256_of
    from hdnet_ros.inference.blazepose_runtime import blazepose_onnx

    assert onnx_path.parent == engines
    assert onnx_path.name == f"blazepose-{sha256_of(tflite)[:12]}.onnx"
    written = onnx_path.stat().st_mtime_ns
    assert blazepose_onnx(tflite, dataclasses.replace(CPU, engine_dir=str(engines))) == onnx_path
    assert onnx_path.stat().st_mtime_ns == written, "cached: not exported again"
    assert [p.name for p in engines.iterdir() if p.name.startswith(".")] == [], "no temporary export left"


def test_tensorrt_gets_the_export_with_a_person_crop_profile(
    tflite: Path, engines: Path, onnx_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TensorRT cannot run here: what open_blazepose asks the TensorRT backend for is recorded."""
    from hdnet_ros.inference import runtime

    calls: list[dict[str, Any]] = []

    def record(kind: str, model_file_path: Path, **options: Any) -> str:
        calls.append({"kind": kind, "onnx": model_file_path, **options})
        return "engine"

    monkeypatch.setattr(runtime, "create_backend", record)
    config = dataclasses.replace(CPU, backend="tensorrt", precision="fp16", engine_dir=str(engines), max_batch=12)
    assert open_blazepose(tflite, config, threads=2) == "engine"
    (call,) = calls
    assert call["kind"] == "tensorrt" and call["onnx"] == onnx_path and call["precision"] == "fp16"
    profile = call["batch_profile"]
    assert (profile.min, profile.opt, profile.max) == (1, 4, 12)
    assert Path(call["engine_file_path"]).parent == engines
    assert Path(call["engine_file_path"]).name.startswith(onnx_path.stem)


def test_tensorrt_without_tensorrt_names_the_file(tflite: Path, engines: Path, onnx_path: Path) -> None:
    pytest.importorskip("torch")
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("TensorRT is installed here: this test is for machines without it")
    config = dataclasses.replace(CPU, backend="tensorrt", engine_dir=str(engines))
    with pytest.raises(ModelFileError, match=rf"{onnx_path.name} cannot run on tensorrt"):
        open_blazepose(tflite, config, threads=1)


# --- the generic rebuild's own steps, on graphs made here ---------------------------------


def small_graph(kind: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...], **options: Any) -> Any:
    """A one-op float graph: tensor 0 in, tensor 1 out, tensor 2 a constant (PAD's paddings)."""
    from hdnet_ros.nets.tflite.graph import GraphOp, TensorInfo, TfliteGraph

    def info(index: int, shape: tuple[int, ...]) -> TensorInfo:
        return TensorInfo(index, f"t{index}", shape, np.dtype(np.float32), np.zeros(0), np.zeros(0, np.int64), 0)

    paddings = options.pop("paddings", None)
    inputs = (0, 2) if paddings is not None else (0,)
    op = GraphOp(0, kind, inputs, (1,), {"activation": "NONE", **options})
    tensors = {0: info(0, in_shape), 1: info(1, out_shape), 2: info(2, (len(in_shape), 2))}
    constants = {2: np.asarray(paddings, np.int32)} if paddings is not None else {}
    return TfliteGraph(Path("made.tflite"), 0, tensors, (op,), constants, (1,))


def run_small(graph: Any, x: np.ndarray) -> np.ndarray:
    torch = pytest.importorskip("torch")
    from hdnet_ros.nets.tflite.module import TfliteModule

    with torch.inference_mode():
        (result,) = TfliteModule(graph, [1])(torch.from_numpy(x))
    return np.asarray(result.numpy())


def test_pad_and_same_max_pool_follow_tensorflow() -> None:
    x = np.arange(2 * 3 * 3 * 2, dtype=np.float32).reshape(2, 3, 3, 2) - 20  # negative values too
    padded = run_small(small_graph("PAD", x.shape, (2, 4, 6, 3), paddings=[[0, 0], [0, 1], [2, 1], [1, 0]]), x)
    np.testing.assert_array_equal(padded, np.pad(x, [[0, 0], [0, 1], [2, 1], [1, 0]]))
    # SAME pooling of 3x3 by 2x2, stride 2: the odd row/column padded after, ignored (-inf).
    graph = small_graph("MAX_POOL_2D", x.shape, (2, 2, 2, 2), filter=(2, 2), stride=(2, 2), padding="SAME")
    expected = np.full((2, 2, 2, 2), -np.inf, np.float32)
    for i in range(2):
        for j in range(2):
            expected[:, i, j] = x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].max(axis=(1, 2))
    np.testing.assert_array_equal(run_small(graph, x), expected)


def test_reshape_keeps_tflite_row_major_order() -> None:
    x = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    flat = run_small(small_graph("RESHAPE", (1, 2, 2, 3), (1, 12)), x)
    np.testing.assert_array_equal(flat, x.reshape(2, 12))  # NHWC order, not the NCHW inside
    back = run_small(small_graph("RESHAPE", (1, 2, 2, 3), (1, 3, 2, 2)), x)
    np.testing.assert_array_equal(back, x.reshape(2, 3, 2, 2))


def test_pad_of_the_batch_axis_is_refused() -> None:
    pytest.importorskip("torch")
    from hdnet_ros.nets.tflite.schema import TfliteGraphError

    with pytest.raises(TfliteGraphError, match="batch axis"):
        run_small(
            small_graph("PAD", (1, 2, 2, 1), (2, 2, 2, 1), paddings=[[1, 0], [0, 0], [0, 0], [0, 0]]),
            np.zeros((1, 2, 2, 1), np.float32),
        )


def test_nets_modules_import_without_cycles() -> None:
    """No module of hdnet_ros.nets imports (even lazily) one that imports it back."""
    root = Path(__file__).resolve().parents[1] / "hdnet_ros" / "nets"
    modules = {
        "hdnet_ros.nets." + ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): path
        for path in root.rglob("*.py")
    }
    imports: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            found |= {t for t in targets if t in modules and t != name}
        imports[name] = found
    assert "hdnet_ros.nets.tflite.module" in imports and "hdnet_ros.nets.movenet" in imports

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in imports[start])

    cycles = [name for name in imports if reaches(name, name, {name})]
    assert cycles == [], cycles
