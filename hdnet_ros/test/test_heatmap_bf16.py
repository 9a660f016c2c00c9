"""PP-TinyPose in bfloat16 on OpenVINO (``keypoints.runtime: openvino_bf16``): offered only
for the 2D heatmap networks whose bf16 accuracy was measured, only where the CPU computes
bf16 natively, chosen by ``auto`` only when it beats the fastest float32 runtime by the
choice's margin; and on the annotated photos' people its keypoints score as float32's do.

The accuracy test runs where OpenVINO lists BF16 among the CPU's capabilities (AVX512_BF16
or AMX) and skips elsewhere, saying so: there no bf16 runtime is offered at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.inference import model_file_runtimes
from hdnet_ros.inference.openvino_backend import compile_properties
from hdnet_ros.inference.runtime import InferenceConfig
from hdnet_ros.inference.runtime_choice import choose_runtime
from hdnet_ros.model_files import IR_CONVERSIONS, ModelFileError, resolve_model_file
from hdnet_ros.people import Detection
from hdnet_ros.stages import keypoint_runtimes
from helpers import needs

from hdnet_ros.config import load_settings

THREADS = 2
TINYPOSE = "pp_tinypose_128x96"
# Bounds against float32 on the 32 annotated people, each a margin over the measured figure
# (2026-12-08, AMD Zen 4 avx512_bf16): OKS 0.828 -> 0.831 and PCK 0.885 -> 0.885 against the
# annotations; joints both place a median 0.12 px, p90 0.55 px of the 128 px crop apart; 4
# of 468 joints seen by one and not the other (scores near the 0.25 threshold).
OKS_DROP_BOUND = 0.02
PCK_DROP_BOUND = 0.02
MEDIAN_CROP_PX_BOUND = 0.5
P90_CROP_PX_BOUND = 2.0
SEEN_FLIPS_BOUND = 0.03


@pytest.fixture(scope="module")
def inference(tmp_path_factory: pytest.TempPathFactory) -> InferenceConfig:
    return InferenceConfig(engine_dir=str(tmp_path_factory.mktemp("engines")), runtime_probe_rounds=1)


def test_bf16_is_asked_for_by_name_only() -> None:
    assert compile_properties(2)["INFERENCE_PRECISION_HINT"] == "f32"
    assert compile_properties(2, None, "bf16")["INFERENCE_PRECISION_HINT"] == "bf16"
    with pytest.raises(ValueError, match="precision must be one of f32, bf16"):
        compile_properties(2, None, "f16")


def test_the_bf16_candidate_is_offered_for_the_measured_heatmap_networks_only(
    models_dir: Path, inference: InferenceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The detectors stay float32 (a moved box moves all its person's joints); a 2D network
    whose bf16 accuracy nobody measured (a user's file) is not offered bf16 either."""
    xml = resolve_model_file(TINYPOSE, models_dir)
    names = [c.name for c in model_file_runtimes.model_file_candidates(TINYPOSE, xml, inference, THREADS, 4, 4)]
    assert names == ["onnxruntime", "openvino"]
    with_bf16 = model_file_runtimes.model_file_candidates(TINYPOSE, xml, inference, THREADS, 4, 4, True)
    assert [c.name for c in with_bf16] == ["onnxruntime", "openvino", "openvino_bf16"]
    assert with_bf16[2].outputs != with_bf16[1].outputs == with_bf16[0].outputs, "bf16 changes the outputs"

    asked: dict[str, bool] = {}

    def record(*args: Any, reduced_precision: bool = False, **kwargs: Any) -> Any:
        asked[args[1]] = reduced_precision
        raise RuntimeError("recorded")

    monkeypatch.setattr(keypoint_runtimes, "choose_model_file_runtime", record)
    settings = load_settings()
    for model in (TINYPOSE, "pp_tinypose_256x192", "my_keypoints.onnx"):
        config = type(settings.keypoints)(model=model)
        with pytest.raises(RuntimeError, match="recorded"):
            keypoint_runtimes.open_keypoint_network(xml, config, inference, THREADS)
    assert asked == {TINYPOSE: True, "pp_tinypose_256x192": True, "my_keypoints.onnx": False}


@needs("openvino", why="the bf16 runtime is OpenVINO's")
def test_bf16_is_refused_where_the_cpu_does_not_compute_it(
    models_dir: Path, inference: InferenceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named, it is a clear error; under ``auto`` it is passed over and the log says why."""
    monkeypatch.setattr(model_file_runtimes, "native_bf16", lambda: False)
    xml = resolve_model_file(TINYPOSE, models_dir)
    with pytest.raises(ModelFileError, match="does not compute bfloat16 natively"):
        model_file_runtimes.open_openvino(xml, inference, THREADS, max_batch=None, precision="bf16")
    candidates = model_file_runtimes.model_file_candidates(TINYPOSE, xml, inference, THREADS, 4, 4, True)
    with pytest.raises(ModelFileError, match="does not compute bfloat16 natively"):
        choose_runtime("2D keypoints", candidates, "openvino_bf16")
    choice = choose_runtime("2D keypoints", candidates, "auto", rounds=1)
    try:
        assert choice.name in ("onnxruntime", "openvino")
        assert "not available: openvino_bf16" in choice.reason
    finally:
        choice.runtime.close()


def _keypoints(network: Any, photos: list[Any]) -> list[list[Any]]:
    """The network's keypoints of every annotated person, on the annotated boxes."""
    return [network(photo.rgb, [Detection(np.asarray(p.box, float), 1.0) for p in photo.people]) for photo in photos]


def _scores(photos: list[Any], found: list[list[Any]], threshold: float) -> tuple[float, float]:
    """Mean OKS and PCK@0.1 of the keypoints scored at least ``threshold``."""
    from hdnet_ros.evaluation.scoring import Skeleton2D, score_photo  # OpenCV, through the annotations

    oks: list[float] = []
    hits = joints = 0
    for photo, people in zip(photos, found, strict=True):
        skeletons = []
        for keypoints, person in zip(people, photo.people, strict=True):
            pixels = keypoints.pixels[:17].copy()
            pixels[keypoints.scores[:17] < threshold] = np.nan
            skeletons.append(Skeleton2D(np.asarray(person.box, float), pixels))
        score = score_photo(skeletons, photo.people)
        oks += score.oks
        hits, joints = hits + score.pck_hits, joints + score.pck_joints
    return float(np.mean(oks)), hits / joints


@needs("openvino", "cv2", why="the bf16 runtime is OpenVINO's; the crops need OpenCV")
def test_bf16_keypoints_score_as_float32_s_on_annotated_people(models_dir: Path, data_dir: Path) -> None:
    from hdnet_ros.evaluation.annotations import load_sets
    from hdnet_ros.inference.heatmap_codec import topdown_affines
    from hdnet_ros.inference.openvino_backend import OpenVinoBackend, native_bf16
    from hdnet_ros.stages.topdown_heatmap import HeatmapKeypoints

    if not native_bf16():
        pytest.skip("this CPU does not compute bfloat16 natively: no bf16 runtime is offered here")
    settings = load_settings()
    photos = load_sets(data_dir)
    xml = resolve_model_file(TINYPOSE, models_dir)
    drop = IR_CONVERSIONS[TINYPOSE].drop_outputs
    found = {}
    for precision in ("f32", "bf16"):
        # One static shape of 16 crops (the photos' people in one call, padded): one compile each.
        with OpenVinoBackend(
            xml, THREADS, max_batch=16, static_batches=0, bucket_step=16, drop_outputs=drop, precision=precision
        ) as backend:
            assert backend.kind == ("openvino" if precision == "f32" else "openvino_bf16")
            compiled = next(iter(backend._full.requests.values())).get_compiled_model()
            assert compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == precision
            network = HeatmapKeypoints(backend, settings.keypoints, 16)
            found[precision] = _keypoints(network, photos)
    crop = network.crop
    threshold = settings.keypoints.heatmap_min_score
    oks32, pck32 = _scores(photos, found["f32"], threshold)
    oks16, pck16 = _scores(photos, found["bf16"], threshold)
    assert oks32 > 0.7 and pck32 > 0.7, "float32 finds these people's joints"
    assert oks16 >= oks32 - OKS_DROP_BOUND and pck16 >= pck32 - PCK_DROP_BOUND

    moves, flips, seen = [], 0, 0
    for photo, people32, people16 in zip(photos, found["f32"], found["bf16"], strict=True):
        for person, a, b in zip(photo.people, people32, people16, strict=True):
            seen32, seen16 = a.scores[:17] >= threshold, b.scores[:17] >= threshold
            seen, flips = seen + int((seen32 | seen16).sum()), flips + int((seen32 ^ seen16).sum())
            # Crop px per image px: the scale of the codec's own image -> crop affine.
            scale = topdown_affines(np.asarray(person.box, float), crop)[0, 0, 0]
            both = seen32 & seen16
            moves += list(np.linalg.norm(a.pixels[:17][both] - b.pixels[:17][both], axis=1) * scale)
    assert len(moves) > 300
    assert np.median(moves) <= MEDIAN_CROP_PX_BOUND and np.percentile(moves, 90) <= P90_CROP_PX_BOUND
    assert flips <= SEEN_FLIPS_BOUND * seen
