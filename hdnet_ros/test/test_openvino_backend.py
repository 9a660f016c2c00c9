"""OpenVINO as a CPU runtime: the backend on the real networks against the runtimes they ran
on before (PP-TinyPose's IR conversion and YOLOX-Nano on onnxruntime, BlazePose on LiteRT),
within the float32 bounds those networks' tests state; its batches; the runtime choices
that list it; and what a missing OpenVINO or a broken file gives.

Each network is compiled once per module (a compile takes 0.1-0.5 s per batch size), with
small batch limits: the static and the bounded-dynamic batch paths both run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.inference.backend import Backend, BackendUnavailable
from hdnet_ros.inference.runtime import InferenceConfig, open_ir_network
from hdnet_ros.model_files import IR_CONVERSIONS, ModelFileError, resolve_model_file
from hdnet_ros.settings_field import SettingsError
from helpers import needs

# The bounds and real inputs of the networks' own tests (PP-TinyPose and PicoDet: photos of
# the COCO and crowd sets; BlazePose: the sample frames' person crops).
from test_blazepose_network import TOLERANCE, assert_agree, published_file, sample_crops, worst_difference
from test_openvino_ir import HEATMAP_TOLERANCE, crops, people  # noqa: F401 (a fixture)

pytestmark = needs("openvino", "cv2", "onnx", why="the runtime under test (OpenVINO) and the crops (OpenCV)")

THREADS = 2
# YOLOX's raw outputs: box centres/sizes in input pixels (of 416) and sigmoid scores. The
# measured difference to onnxruntime was within 1e-4 (summation order); a wrong op moves the
# boxes by pixels.
YOLOX_TOLERANCE = {"boxes": 1e-2, "scores": 1e-4}


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="module")
def cpu(engines: Path) -> InferenceConfig:
    return InferenceConfig(engine_dir=str(engines), max_batch=3, runtime_probe_rounds=1)


# --- PP-TinyPose: the IR read directly, against its ONNX conversion on onnxruntime ---------


@pytest.fixture(scope="module")
def tinypose_crops(people: list[Any]) -> np.ndarray:  # noqa: F811 (the imported fixture)
    return crops(people, 96, 128)


@pytest.fixture(scope="module")
def tinypose_reference(models_dir: Path, cpu: InferenceConfig, tinypose_crops: np.ndarray) -> np.ndarray:
    xml = resolve_model_file("pp_tinypose_128x96", models_dir)
    options = IR_CONVERSIONS["pp_tinypose_128x96"]
    with open_ir_network(xml, cpu, THREADS, dynamic_batch=True, drop_outputs=options.drop_outputs) as backend:
        return backend.run({"image": tinypose_crops})["conv2d_441.tmp_1"]


@pytest.fixture(scope="module")
def tinypose_openvino(models_dir: Path) -> Any:
    """Static shapes for 1, 2 and 4 crops: 3 are padded to 4."""
    from hdnet_ros.inference.openvino_backend import OpenVinoBackend

    xml = resolve_model_file("pp_tinypose_128x96", models_dir)
    backend = OpenVinoBackend(xml, THREADS, max_batch=4, static_batches=2, drop_outputs=("argmax_0.tmp_0",))
    yield backend
    backend.close()


def test_tinypose_ir_on_openvino_agrees_with_onnxruntime_at_every_batch_size(
    tinypose_openvino: Backend, tinypose_crops: np.ndarray, tinypose_reference: np.ndarray
) -> None:
    backend = tinypose_openvino
    assert backend.kind == "openvino"
    assert backend.input_names == ("image",) and backend.output_names == ("conv2d_441.tmp_1",), "argmax dropped"
    assert backend.inputs[0].shape == (None, 3, 128, 96)
    assert len(tinypose_crops) == 6
    assert set(backend.compiled_batches) == {1, 2, 4}  # no dynamic model: 3 crops run padded to 4
    for batch in (1, 2, 3, 4):
        heatmaps = backend.run({"image": tinypose_crops[:batch]})["conv2d_441.tmp_1"]
        assert heatmaps.shape == (batch, 17, 32, 24)
        assert np.abs(heatmaps - tinypose_reference[:batch]).max() <= HEATMAP_TOLERANCE, f"batch {batch}"
    assert np.median(tinypose_reference.reshape(6, 17, -1).max(-1)) > 0.5, "real people: most joints are found"
    empty = backend.run({"image": tinypose_crops[:0]})["conv2d_441.tmp_1"]
    assert empty.shape == (0, 17, 32, 24)
    more = backend.run({"image": tinypose_crops})["conv2d_441.tmp_1"]  # over max_batch: calls of 4 and 2
    assert np.abs(more - tinypose_reference).max() <= HEATMAP_TOLERANCE


def test_every_network_compiles_on_the_process_s_one_core(models_dir: Path, tinypose_openvino: Any) -> None:
    """One ``openvino.Core`` for the process (its CPU plugin and threads once): a Core per
    network made the networks slow each other down in the frame (docs/benchmarks.md)."""
    from hdnet_ros.inference.openvino_backend import OpenVinoBackend, shared_core

    with OpenVinoBackend(resolve_model_file("yolox_nano", models_dir), THREADS) as detector:
        assert detector._core is tinypose_openvino._core is shared_core()
    assert tinypose_openvino._core is shared_core()  # closing one network leaves the others' Core


def test_static_shapes_left_for_later_are_compiled_on_finish(
    models_dir: Path, tinypose_crops: np.ndarray, tinypose_reference: np.ndarray
) -> None:
    """A probe's candidate compiles its probe batch and one dynamic model for every size;
    the rest of the static shapes and the padded ones come when it is kept, and the dynamic
    model goes. Every size agrees before and after."""
    from hdnet_ros.inference.openvino_backend import OpenVinoBackend
    from hdnet_ros.inference.openvino_compiled import COMPILED

    xml = resolve_model_file("pp_tinypose_128x96", models_dir)
    drop = ("argmax_0.tmp_0",)
    with OpenVinoBackend(xml, THREADS, max_batch=3, static_batches=2, drop_outputs=drop, first_batches=(2,)) as backend:
        assert set(backend.compiled_batches) == {2, None}
        dynamic = backend._key(backend._full.model, "1..3")
        assert dynamic in COMPILED
        before = [backend.run({"image": tinypose_crops[:b]})["conv2d_441.tmp_1"] for b in (1, 2, 3)]
        backend.compile_static_shapes()
        assert set(backend.compiled_batches) == {1, 2, 3}
        assert dynamic not in COMPILED, "the process does not keep the dropped dynamic model"
        after = [backend.run({"image": tinypose_crops[:b]})["conv2d_441.tmp_1"] for b in (1, 2, 3)]
    for batch, (a, b) in enumerate(zip(before, after, strict=True), start=1):
        assert np.abs(a - tinypose_reference[:batch]).max() <= HEATMAP_TOLERANCE
        assert np.abs(b - tinypose_reference[:batch]).max() <= HEATMAP_TOLERANCE


def test_a_network_built_again_takes_the_process_s_compiled_models(
    models_dir: Path, tmp_path: Path, tinypose_crops: np.ndarray, tinypose_reference: np.ndarray
) -> None:
    """A second backend of the same file, outputs, shapes and properties compiles nothing
    (each has its own infer requests) and gives the same heatmaps; the first one's close
    takes its models out of the process's while the second still runs on them; other
    threads, or a changed file, compile again."""
    import shutil

    from hdnet_ros.inference.openvino_backend import OpenVinoBackend
    from hdnet_ros.inference.openvino_compiled import COMPILED

    xml = resolve_model_file("pp_tinypose_128x96", models_dir)
    copy = tmp_path / xml.name
    shutil.copy(xml, copy)
    shutil.copy(xml.with_suffix(".bin"), copy.with_suffix(".bin"))
    drop = ("argmax_0.tmp_0",)

    def build(path: Path, threads: int = THREADS) -> OpenVinoBackend:
        return OpenVinoBackend(path, threads, max_batch=1, static_batches=1, drop_outputs=drop)  # one shape

    first = build(copy)
    compiles = COMPILED.compiles
    second = build(copy)
    assert COMPILED.compiles == compiles, "the same models, compiled before"
    assert second._full.requests[1] is not first._full.requests[1], "requests of its own"
    first.close()
    heatmaps = second.run({"image": tinypose_crops[:3]})["conv2d_441.tmp_1"]  # in calls of one crop
    assert np.abs(heatmaps - tinypose_reference[:3]).max() <= HEATMAP_TOLERANCE
    with build(copy, threads=1):
        assert COMPILED.compiles == compiles + 1, "other properties: compiled"
    weights = bytearray(copy.with_suffix(".bin").read_bytes())
    weights[len(weights) // 2 & ~1] ^= 1  # a mantissa bit of a float16 weight: another network, the same size
    copy.with_suffix(".bin").write_bytes(bytes(weights))
    with build(copy):
        assert COMPILED.compiles == compiles + 2, "changed weights: compiled again"
    second.close()


def test_compiling_leaves_the_process_s_locale_as_it_was(models_dir: Path, tmp_path: Path) -> None:
    """OpenVINO's compiles set the C locale and put the old one back: compiled side by side
    in threads they raced and left the process in the C locale, where Python reads text
    files as ASCII (a UTF-8 source file then failed to read). Compiled one at a time, the
    locale stays the process's."""
    import locale
    import shutil

    from hdnet_ros.inference.openvino_backend import OpenVinoBackend

    xml = resolve_model_file("pp_tinypose_128x96", models_dir)
    copy = tmp_path / xml.name  # a file of its own: compiled, not taken from the process's models
    shutil.copy(xml, copy)
    shutil.copy(xml.with_suffix(".bin"), copy.with_suffix(".bin"))
    before = locale.setlocale(locale.LC_ALL), locale.getpreferredencoding(False)
    # With OpenVINO's cache, as the pipeline compiles (side by side, its loads and writes
    # raced: the C locale after 2 of 3 runs of 5 shapes).
    shapes = {"max_batch": 6, "static_batches": 4, "bucket_step": 2}  # 1-4 and padded 6
    with OpenVinoBackend(copy, THREADS, drop_outputs=("argmax_0.tmp_0",), cache_dir=tmp_path, **shapes):
        pass
    assert (locale.setlocale(locale.LC_ALL), locale.getpreferredencoding(False)) == before


@pytest.mark.parametrize(
    ("static", "most", "step", "padded"),
    [(8, 32, 4, (12, 16, 20, 24, 28, 32)), (8, 8, 4, ()), (8, 10, 4, (10,)), (2, 4, 4, (4,)), (0, 5, 2, (2, 4, 5))],
)
def test_padded_shapes_come_every_step_up_to_the_largest_batch(
    static: int, most: int, step: int, padded: tuple[int, ...]
) -> None:
    from hdnet_ros.inference.openvino_backend import padded_batches

    assert padded_batches(static, most, step) == padded


def test_padded_crops_leave_the_real_ones_as_they_were(
    models_dir: Path, tinypose_crops: np.ndarray, tinypose_reference: np.ndarray
) -> None:
    """No static shape below 2: 1 and 2 crops run padded to 2 or 4, 3 to 4, 4 and 5 to 5,
    6 in calls of 5 and 1; every crop's heatmaps are the reference's, none of the zero
    crops' come back."""
    from hdnet_ros.inference.openvino_backend import OpenVinoBackend

    xml = resolve_model_file("pp_tinypose_128x96", models_dir)
    drop = ("argmax_0.tmp_0",)
    with OpenVinoBackend(xml, THREADS, max_batch=5, static_batches=0, bucket_step=2, drop_outputs=drop) as backend:
        assert set(backend.compiled_batches) == {2, 4, 5}
        for count in [*range(1, 7), *range(5, 0, -1)]:  # the padding buffer reused, larger then smaller
            heatmaps = backend.run({"image": tinypose_crops[:count]})["conv2d_441.tmp_1"]
            assert heatmaps.shape == (count, 17, 32, 24)
            assert np.abs(heatmaps - tinypose_reference[:count]).max() <= HEATMAP_TOLERANCE, f"{count} crops"
    with pytest.raises(ValueError, match="bucket_step"):
        OpenVinoBackend(xml, THREADS, max_batch=5, bucket_step=0, drop_outputs=drop)


def test_tinypose_candidates_both_give_the_same_keypoints(
    models_dir: Path, cpu: InferenceConfig, tinypose_crops: np.ndarray, tinypose_reference: np.ndarray
) -> None:
    """``keypoints.runtime: auto`` times onnxruntime and OpenVINO and keeps one; forced
    ``openvino`` opens the IR itself (no conversion needed) with a free batch."""
    from hdnet_ros.inference.model_file_runtimes import choose_model_file_runtime

    xml = resolve_model_file("pp_tinypose_128x96", models_dir)
    choice = choose_model_file_runtime("2D keypoints", "pp_tinypose_128x96", xml, cpu, THREADS, "auto", 2)
    with choice.runtime as backend:
        assert set(choice.probe_ms) == {"onnxruntime", "openvino"}
        assert backend.kind == choice.name
        heatmaps = backend.run({"image": tinypose_crops[:2]})["conv2d_441.tmp_1"]
    assert np.abs(heatmaps - tinypose_reference[:2]).max() <= HEATMAP_TOLERANCE
    forced = choose_model_file_runtime("2D keypoints", "pp_tinypose_128x96", xml, cpu, THREADS, "openvino", 2)
    with forced.runtime as backend:
        assert (forced.name, backend.kind, forced.probe_ms) == ("openvino", "openvino", {})
        assert backend.inputs[0].shape[0] is None and backend.output_names == ("conv2d_441.tmp_1",)
        assert {1, 2} <= set(backend.compiled_batches), "the kept runtime has every static shape"


# --- BlazePose: the published .tflite read by OpenVINO, against LiteRT -----------------------


@pytest.fixture(scope="module")
def blazepose_tflite(models_dir: Path) -> Path:
    return published_file(models_dir)


@pytest.fixture(scope="module")
def person_crops(data_dir: Path) -> np.ndarray:
    """The sample frames' person crops of test_blazepose_network (RGB 0..1, 256x256)."""
    return sample_crops(data_dir)


@pytest.fixture(scope="module")
def litert_reference(blazepose_tflite: Path, person_crops: np.ndarray, cpu: InferenceConfig) -> dict[str, np.ndarray]:
    pytest.importorskip("ai_edge_litert")
    from hdnet_ros.inference.blazepose_runtime import open_blazepose

    with open_blazepose(blazepose_tflite, cpu, THREADS, runtime="litert_fp32") as backend:
        return backend.run({"image": person_crops})


def test_blazepose_on_openvino_agrees_with_litert_on_every_output(
    blazepose_tflite: Path, person_crops: np.ndarray, cpu: InferenceConfig, litert_reference: dict[str, np.ndarray]
) -> None:
    """Landmarks, world skeleton, mask, heatmaps and presence within the float32 bounds of
    test_blazepose_network, for one call of up to max_batch crops and for single crops."""
    from hdnet_ros.inference.backend import run_batched
    from hdnet_ros.inference.blazepose_runtime import open_blazepose
    from hdnet_ros.nets.blazepose import OUTPUT_NAMES

    with open_blazepose(blazepose_tflite, cpu, THREADS, runtime="openvino") as backend:
        assert backend.kind == "openvino"
        assert backend.input_names == ("image",) and set(backend.output_names) == set(OUTPUT_NAMES)
        batched = {n: run_batched(backend, {"image": person_crops}, n, cpu.max_batch) for n in OUTPUT_NAMES}
        alone = [backend.run({"image": crop[None]}) for crop in person_crops]
    assert_agree(batched, litert_reference, "OpenVINO (batches of 3) vs LiteRT")
    assert_agree({n: np.concatenate([a[n] for a in alone]) for n in OUTPUT_NAMES}, litert_reference, "one by one")


def test_blazepose_on_openvino_leaves_the_mask_out_when_skipped(
    blazepose_tflite: Path, person_crops: np.ndarray, cpu: InferenceConfig, litert_reference: dict[str, np.ndarray]
) -> None:
    """Every shape is also compiled without the mask's decoder branch: a call that skips the
    mask gets the other outputs, the full model's within the float32 bounds of
    test_blazepose_network (measured here: to the bit), which are the published network's. A probe's candidate
    compiles the lean model for its probe batch only (other sizes run the full model) until
    it is kept."""
    from hdnet_ros.inference.blazepose_runtime import SKIPPABLE, _blazepose_openvino, open_blazepose
    from hdnet_ros.nets.blazepose import OUTPUT_NAMES

    crops = person_crops[: cpu.max_batch]
    rest = [n for n in OUTPUT_NAMES if n not in SKIPPABLE]
    with open_blazepose(blazepose_tflite, cpu, THREADS, runtime="openvino") as backend:
        assert backend.skippable == frozenset(SKIPPABLE) == {"mask"}
        assert backend.lean_batches == backend.compiled_batches == set(range(1, cpu.max_batch + 1))
        full = backend.run({"image": crops})
        lean = backend.run({"image": crops}, skip=SKIPPABLE)
        single = backend.run({"image": crops[:1]}, skip=SKIPPABLE)
    assert set(lean) == set(single) == set(rest)
    for name in rest:  # another CPU may fuse the two graphs' kernels differently: float32 order's bounds
        assert lean[name].shape == full[name].shape
        assert worst_difference(name, lean[name], full[name]) <= TOLERANCE[name], name
        assert worst_difference(name, single[name], full[name][:1]) <= TOLERANCE[name], name
    assert_agree(full, {n: a[: len(crops)] for n, a in litert_reference.items()}, "OpenVINO, the full model")
    with _blazepose_openvino(blazepose_tflite, cpu, THREADS, first_batches=(2,)) as probed:
        assert probed.compiled_batches == {2, None} and probed.lean_batches == {2}
        assert set(probed.run({"image": crops[:2]}, skip=SKIPPABLE)) == set(rest), "the probe's batch"
        assert "mask" in probed.run({"image": crops[:1]}, skip=SKIPPABLE), "no lean shape yet: the full model"
        probed.compile_static_shapes()
        assert probed.lean_batches == probed.compiled_batches == set(range(1, cpu.max_batch + 1))
        assert set(probed.run({"image": crops[:2]}, skip=SKIPPABLE)) == set(rest)


def test_blazepose_s_batches_end_at_the_schedule_s_crops(models_dir: Path, cpu: InferenceConfig) -> None:
    """The schedule runs BlazePose on at most ``max_crops`` crops a frame: the stage's calls
    and OpenVINO's compiled shapes end there (3 with the mask and 3 without, not 8 and 8);
    without a cap they go to ``inference.max_batch``."""
    import dataclasses

    from hdnet_ros.stages.blazepose import BlazePoseConfig, open_blazepose_stage

    config = dataclasses.replace(cpu, max_batch=5)
    capped = open_blazepose_stage(BlazePoseConfig(runtime="openvino", max_crops=3), config, str(models_dir), THREADS)
    with capped.backend as backend:
        assert capped.max_batch == 3 and backend.compiled_batches == backend.lean_batches == {1, 2, 3}
    free = open_blazepose_stage(BlazePoseConfig(runtime="openvino", max_crops=0), config, str(models_dir), THREADS)
    with free.backend as backend:
        assert free.max_batch == 5 and backend.compiled_batches == set(range(1, 6))


def test_blazepose_s_probe_times_the_outputs_the_stage_reads(blazepose_tflite: Path, cpu: InferenceConfig) -> None:
    """RGB only (no depth stage reads a mask) ``auto`` times each runtime without the mask:
    OpenVINO then leaves its branch out, the others compute it anyway. Where the masks are
    read, a frame's crops run with and without the mask (whoever wants one), so the probe
    times one call of each: timed with the mask alone, OpenVINO's lean crops never count."""
    from hdnet_ros.inference.blazepose_runtime import SKIPPABLE, blazepose_candidates

    for skip, openvino_outputs, litert_outputs in (((), [5, 4], [5, 5]), (SKIPPABLE, [4], [5])):
        candidates = {c.name: c for c in blazepose_candidates(blazepose_tflite, cpu, THREADS, skip)}
        for name, expected in (("openvino", openvino_outputs), ("litert_fp32", litert_outputs)):
            candidate = candidates[name]
            backend = candidate.open()
            try:
                outputs = candidate.call(backend)
                assert isinstance(outputs, list) and [len(o) for o in outputs] == expected, (name, skip)
            finally:
                candidate.close(backend)


def test_only_outputs_the_file_has_can_be_skippable(blazepose_tflite: Path) -> None:
    from hdnet_ros.inference.openvino_backend import OpenVinoBackend

    with pytest.raises(ValueError, match="no outputs"):
        OpenVinoBackend(blazepose_tflite, THREADS, max_batch=1, skippable=("segmentation",))


def test_blazepose_auto_lists_openvino(blazepose_tflite: Path, cpu: InferenceConfig) -> None:
    from hdnet_ros.inference.blazepose_runtime import blazepose_candidates

    names = [c.name for c in blazepose_candidates(blazepose_tflite, cpu, THREADS) if c.automatic]
    assert names == ["litert_fp32", "onnx_float", "openvino"], "the published file's runtime stays first"


# --- the person detector --------------------------------------------------------------------


def test_detector_runtimes_find_the_same_people(models_dir: Path, data_dir: Path, cpu: InferenceConfig) -> None:
    """YOLOX-Nano on onnxruntime and on OpenVINO: the raw outputs within float32 rounding,
    and the same people on a crowd photo."""
    import cv2
    from hdnet_ros.stages.detection import DetectorConfig, open_person_detector

    path = resolve_model_file("yolox_nano", models_dir)
    rgb = cv2.cvtColor(cv2.imread(str(data_dir / "crowd_keypoints/posetrack18/012834_mpii_test_000000.jpg")), 4)
    detectors = {
        name: open_person_detector(DetectorConfig(runtime=name), path, cpu, THREADS)
        for name in ("onnxruntime", "openvino")
    }
    assert {name: d.runtime for name, d in detectors.items()} == {"onnxruntime": "onnxruntime", "openvino": "openvino"}
    inputs, _ = detectors["onnxruntime"].decoding.prepare(rgb)
    raw = {name: d.backend.run(inputs)["output"][0] for name, d in detectors.items()}
    difference = np.abs(raw["openvino"] - raw["onnxruntime"])
    assert difference[:, :4].max() <= YOLOX_TOLERANCE["boxes"]
    assert difference[:, 4:].max() <= YOLOX_TOLERANCE["scores"]
    found = {name: d.detect(rgb).confident for name, d in detectors.items()}
    assert len(found["onnxruntime"]) >= 5, "a crowd photo"
    assert len(found["openvino"]) == len(found["onnxruntime"])
    for ours, theirs in zip(found["openvino"], found["onnxruntime"], strict=True):
        assert np.abs(ours.box - theirs.box).max() <= 0.05 and abs(ours.score - theirs.score) <= 1e-4
    for detector in detectors.values():
        detector.backend.close()


def test_picodet_ir_runs_on_openvino_as_published(models_dir: Path, cpu: InferenceConfig) -> None:
    from hdnet_ros.inference.model_file_runtimes import choose_model_file_runtime

    xml = resolve_model_file("pp_picodet_s_320_pedestrian", models_dir)
    choice = choose_model_file_runtime("person detector", "pp_picodet_s_320_pedestrian", xml, cpu, THREADS, "openvino")
    with choice.runtime as backend:
        assert [s.shape for s in backend.inputs] == [(1, 3, 320, 320)], "the file's fixed batch of one"
        outputs = backend.run({"image": np.zeros((1, 3, 320, 320), np.float32)})
    assert outputs["concat_8.tmp_0"].shape == (1, 2125, 4) and outputs["transpose_8.tmp_0"].shape == (1, 1, 2125)


# --- without OpenVINO, and broken files -----------------------------------------------------


@pytest.fixture
def without_openvino(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import openvino`` fails, as on an install without it."""
    monkeypatch.setitem(sys.modules, "openvino", None)


def test_without_openvino_the_backend_says_how_to_install_it(without_openvino: None, models_dir: Path) -> None:
    from hdnet_ros.inference.openvino_backend import OpenVinoBackend

    with pytest.raises(BackendUnavailable, match=r"needs OpenVINO \(`pip install openvino`, or the hdnet_ros\[cpu\]"):
        OpenVinoBackend(resolve_model_file("yolox_nano", models_dir))


def test_without_openvino_auto_keeps_onnxruntime_and_says_why(
    without_openvino: None, models_dir: Path, cpu: InferenceConfig
) -> None:
    from hdnet_ros.inference.model_file_runtimes import choose_model_file_runtime

    path = resolve_model_file("yolox_nano", models_dir)
    choice = choose_model_file_runtime("person detector", "yolox_nano", path, cpu, THREADS, "auto")
    with choice.runtime as backend:
        assert (choice.name, backend.kind) == ("onnxruntime", "onnxruntime")
    assert "not available: openvino (" in choice.reason and "pip install openvino" in choice.reason


def test_a_later_start_opens_the_kept_runtime_alone(
    models_dir: Path, cpu: InferenceConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``auto``'s probe is kept beside the engines (runtime_choices.json); a new process
    (its choices and compiled models forgotten) opens the kept runtime alone, with the
    probe's reason and times, and computes as it did."""
    import dataclasses

    from hdnet_ros.inference import runtime_choice_store
    from hdnet_ros.inference.model_file_runtimes import choose_model_file_runtime
    from hdnet_ros.inference.openvino_compiled import COMPILED
    from hdnet_ros.inference.runtime_choice import forget_choices

    monkeypatch.setattr(runtime_choice_store, "load_average", lambda: 0.0)  # whatever else the machine runs
    config = dataclasses.replace(cpu, engine_dir=str(tmp_path), runtime_probe_rounds=1)
    path = resolve_model_file("yolox_nano", models_dir)
    image = np.random.default_rng(1).random((1, 3, 416, 416), dtype=np.float32)
    forget_choices()
    first = choose_model_file_runtime("person detector", "yolox_nano", path, config, THREADS, "auto")
    with first.runtime as backend:
        expected = backend.run({backend.input_names[0]: image})
    forget_choices()
    COMPILED.clear()
    again = choose_model_file_runtime("person detector", "yolox_nano", path, config, THREADS, "auto")
    with again.runtime as backend:
        assert (again.name, backend.kind, again.probe_ms) == (first.name, first.name, first.probe_ms)
        outputs = backend.run({backend.input_names[0]: image})
    assert again.reason.startswith("chosen by an earlier start's probe: ") and "runtime_choices.json" in again.reason
    assert all(np.array_equal(outputs[name], expected[name]) for name in expected)
    off = dataclasses.replace(config, remember_runtime_choices=False, engine_dir=str(tmp_path / "off"))
    forget_choices()
    with choose_model_file_runtime("person detector", "yolox_nano", path, off, THREADS, "auto").runtime:
        assert not (tmp_path / "off" / "runtime_choices.json").exists()
    forget_choices()


def test_without_openvino_a_forced_openvino_is_a_clear_error(
    without_openvino: None, models_dir: Path, cpu: InferenceConfig, blazepose_tflite: Path
) -> None:
    from hdnet_ros.inference.blazepose_runtime import choose_blazepose
    from hdnet_ros.inference.model_file_runtimes import choose_model_file_runtime

    path = resolve_model_file("yolox_nano", models_dir)
    with pytest.raises(ModelFileError, match=r"yolox_nano.onnx cannot run on openvino: .*pip install openvino"):
        choose_model_file_runtime("person detector", "yolox_nano", path, cpu, THREADS, "openvino")
    with pytest.raises(ModelFileError, match=r"full.tflite cannot run on openvino: .*pip install openvino"):
        choose_blazepose(blazepose_tflite, cpu, THREADS, "openvino")


def test_an_unknown_runtime_name_is_a_settings_error(models_dir: Path, cpu: InferenceConfig) -> None:
    from hdnet_ros.inference.model_file_runtimes import choose_model_file_runtime

    path = resolve_model_file("yolox_nano", models_dir)
    with pytest.raises(SettingsError, match="must be one of auto, onnxruntime, openvino, got 'litert_int8'"):
        choose_model_file_runtime("person detector", "yolox_nano", path, cpu, THREADS, "litert_int8")


def test_broken_files_are_clear_errors(models_dir: Path, tmp_path: Path, cpu: InferenceConfig) -> None:
    from hdnet_ros.inference.model_file_runtimes import open_openvino

    source = resolve_model_file("pp_tinypose_128x96", models_dir)
    xml = tmp_path / "model.xml"
    xml.write_bytes(source.read_bytes())  # the .xml without its .bin
    with pytest.raises(ModelFileError, match=r"model.xml .*has no weights file .*model.bin"):
        open_openvino(xml, cpu, THREADS, max_batch=None)
    xml.with_suffix(".bin").write_bytes(b"\0" * 64)  # weights too short for the graph
    with pytest.raises(ModelFileError, match=r"model.xml could not be loaded by openvino"):
        open_openvino(xml, cpu, THREADS, max_batch=None)
    for name, content in (("bad.onnx", b"not a protobuf at all"), ("bad.tflite", b"TFL3 but not a flatbuffer")):
        broken = tmp_path / name
        broken.write_bytes(content)
        with pytest.raises(ModelFileError, match=rf"{name} could not be loaded by openvino"):
            open_openvino(broken, cpu, THREADS, max_batch=None)
    with pytest.raises(ModelFileError, match="does not exist"):
        open_openvino(tmp_path / "missing.onnx", cpu, THREADS, max_batch=None)
    with pytest.raises(ModelFileError, match=r"reads \.onnx, \.xml, \.tflite files, not"):
        open_openvino(tmp_path / "model.pt", cpu, THREADS, max_batch=None)


def test_precision_is_forced_to_float32(engines: Path) -> None:
    """bf16 (OpenVINO's default on CPUs with AVX512_BF16 or AMX) moved BlazePose's landmarks
    by over 100 px: every compile asks for f32 unless bf16 is named (test_heatmap_bf16.py),
    with the thread cap."""
    from hdnet_ros.inference.openvino_backend import compile_properties

    properties = compile_properties(2, engines)
    assert properties["INFERENCE_PRECISION_HINT"] == "f32"
    assert properties["INFERENCE_NUM_THREADS"] == "2" and properties["PERFORMANCE_HINT"] == "LATENCY"
    assert properties["ENABLE_CPU_PINNING"] == "NO" and properties["CACHE_DIR"] == str(engines)
    assert "INFERENCE_NUM_THREADS" not in compile_properties(None)


def test_compiled_precision_is_f32(models_dir: Path) -> None:
    from hdnet_ros.inference.openvino_backend import OpenVinoBackend

    with OpenVinoBackend(resolve_model_file("yolox_nano", models_dir), THREADS) as backend:
        request = next(iter(backend._full.requests.values()))
        compiled = request.get_compiled_model()
        assert compiled.get_property("INFERENCE_PRECISION_HINT") == pytest.importorskip("openvino").Type.f32
        assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == THREADS


def test_config_lists_the_runtimes() -> None:
    from hdnet_ros.stages.detection import DetectorConfig
    from hdnet_ros.stages.keypoints2d import KEYPOINT_RUNTIMES

    assert DetectorConfig().runtime == "auto"
    assert {"openvino", "onnxruntime"} <= set(KEYPOINT_RUNTIMES)
