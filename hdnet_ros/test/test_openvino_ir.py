"""The OpenVINO IR converter on the real networks: PP-TinyPose 256x192 and 128x96, PP-PicoDet-S.

Each converted network runs on onnxruntime and is compared on real photos (person crops
from the COCO and crowd photos, preprocessed as the models' SOURCE.md say) with OpenVINO's
own execution of the same IR (OpenVINO is a test-only dependency: those tests skip without
it) and, where one exists, with the reference ONNX conversion in the models folder. Both
sides widen the same fp16 weights to fp32, so they differ only by float32 summation order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hdnet_ros.inference.runtime import InferenceConfig, open_ir_network
from hdnet_ros.model_files import IR_CONVERSIONS, ModelFileError, resolve_model_file
from hdnet_ros.nets.openvino_ir.convert import (
    ConversionOptions,
    conversion_key,
    ir_to_onnx,
    save_onnx,
    stored_conversion_key,
)

# Measured on these crops and frames: heatmaps 1.1e-5 (256x192) and 3e-6 (128x96) from
# OpenVINO's (joint peaks 0.6-0.7 on average), PicoDet boxes 2.4e-4 px (of 320), scores 2e-6
# (see SCORE_FLOOR). The bounds leave room for other CPUs' kernels (another summation
# order) while a wrong op (a shifted resize, a lost bias) moves values by more than 1e-2.
HEATMAP_TOLERANCE = 1e-4
BOX_TOLERANCE_PX = 5e-3
SCORE_TOLERANCE = 1e-4
# A score is sqrt(sigmoid(a) * sigmoid(b)): near zero the square root magnifies how each
# runtime's sigmoid approximates tiny values (onnxruntime 0.0 where OpenVINO gave 1.7e-4).
# Far below any detection threshold; above SCORE_FLOOR the scores agree within 2e-6.
SCORE_FLOOR = 0.05
SCORE_TOLERANCE_NEAR_ZERO = 1e-3
# The reference ONNX files were written from the same IR by another converter: the graphs
# are equivalent op for op, measured identical here (0.0); the bound allows other kernels.
REFERENCE_TOLERANCE = 1e-5
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
PADDING = 1.25
# (folder, annotation file, image file inside, annotation indices): people who overlap others.
CROPS = (
    ("coco_keypoints", "person_keypoints.json", "000000000785.jpg", (0,)),
    ("coco_keypoints", "person_keypoints.json", "000000196141.jpg", (0, 3)),
    ("crowd_keypoints/posetrack18", "test_posetrack18_val.json", "012834_mpii_test_000000.jpg", (0, 1, 3)),
)
FRAMES = ("coco_keypoints/000000196141.jpg", "crowd_keypoints/posetrack18/012834_mpii_test_000000.jpg")


def normalise(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 HWC -> ImageNet-normalised float32 CHW (SOURCE.md)."""
    return np.ascontiguousarray(((rgb.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1))


def person_crop(rgb: np.ndarray, box_xywh: list[float], width: int, height: int) -> np.ndarray:
    """The top-down affine crop: box centre -> crop centre, box x 1.25, widened to the crop's aspect."""
    x, y, w, h = box_xywh
    w, h = w * PADDING, h * PADDING
    if w * height > h * width:
        h = w * height / width
    else:
        w = h * width / height
    scale = width / w
    affine = np.array(
        [[scale, 0, width / 2 - scale * (x + box_xywh[2] / 2)], [0, scale, height / 2 - scale * (y + box_xywh[3] / 2)]]
    )
    return cv2.warpAffine(rgb, affine, (width, height), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def people(data_dir: Path) -> list[tuple[np.ndarray, list[float]]]:
    """(RGB photo, person box) for six people, most of them beside or behind another."""
    found = []
    for folder, annotation_file, image_file, indices in CROPS:
        annotations = json.loads((data_dir / folder / annotation_file).read_text())
        # PoseTrack's images/val/<video>/000000.jpg is stored as <video>_000000.jpg.
        image_id = next(
            i["id"]
            for i in annotations["images"]
            if i["file_name"].removeprefix("images/val/").replace("/", "_") == image_file
        )
        boxes = [a["bbox"] for a in annotations["annotations"] if a["image_id"] == image_id]
        rgb = read_rgb(data_dir / folder / image_file)
        found.extend((rgb, boxes[i]) for i in indices)
    return found


def crops(people: list[tuple[np.ndarray, list[float]]], width: int, height: int) -> np.ndarray:
    return np.stack([normalise(person_crop(rgb, box, width, height)) for rgb, box in people])


@pytest.fixture(scope="module")
def frames(data_dir: Path) -> np.ndarray:
    """Whole photos resized to 320x320 without keeping the aspect (bicubic), as PicoDet's config does."""
    return np.stack(
        [normalise(cv2.resize(read_rgb(data_dir / f), (320, 320), interpolation=cv2.INTER_CUBIC)) for f in FRAMES]
    )


def session(model: Any) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    content = model if isinstance(model, (str, Path)) else model.SerializeToString()
    return ort.InferenceSession(
        str(content) if isinstance(content, Path) else content, options, providers=["CPUExecutionProvider"]
    )


def run(model: Any, images: np.ndarray) -> dict[str, np.ndarray]:
    runner = session(model)
    names = [o.name for o in runner.get_outputs()]
    return dict(zip(names, runner.run(names, {"image": images}), strict=True))


def run_openvino(xml_path: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    """OpenVINO on its own IR, one image per call (the IR's batch is 1), in float32."""
    ov = pytest.importorskip("openvino")
    compiled = ov.Core().compile_model(str(xml_path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    rows: dict[str, list[np.ndarray]] = {}
    for image in images:
        result = compiled({"image": image[None]})
        for output in compiled.outputs:
            rows.setdefault(output.get_any_name(), []).append(np.array(result[output]))
    return {name: np.concatenate(values) for name, values in rows.items()}


@pytest.fixture(scope="module")
def tinypose(models_dir: Path) -> dict[str, tuple[Path, Any]]:
    """Each PP-TinyPose IR and its conversion with the product's options (batch free, argmax dropped)."""
    converted = {}
    for name in ("pp_tinypose_256x192", "pp_tinypose_128x96"):
        xml = resolve_model_file(name, models_dir)
        options = IR_CONVERSIONS[name]
        converted[name] = (xml, ir_to_onnx(xml, dynamic_batch=options.dynamic_batch, drop_outputs=options.drop_outputs))
    return converted


@pytest.mark.parametrize(
    ("name", "width", "height"), [("pp_tinypose_256x192", 192, 256), ("pp_tinypose_128x96", 96, 128)]
)
def test_tinypose_heatmaps_agree_with_openvino(
    tinypose: dict[str, tuple[Path, Any]], people: list[Any], name: str, width: int, height: int
) -> None:
    xml, model = tinypose[name]
    images = crops(people, width, height)
    ours = run(model, images)
    assert list(ours) == ["conv2d_441.tmp_1"], "the argmax output is dropped"
    heatmaps = ours["conv2d_441.tmp_1"]
    assert heatmaps.shape == (len(people), 17, height // 4, width // 4)
    reference = run_openvino(xml, images)
    assert np.abs(heatmaps - reference["conv2d_441.tmp_1"]).max() <= HEATMAP_TOLERANCE
    flat = heatmaps.reshape(len(people), 17, -1)
    np.testing.assert_array_equal(flat.argmax(-1), reference["argmax_0.tmp_0"])
    assert np.median(flat.max(-1)) > 0.5, "real people: most joints are found"


def test_tinypose_argmax_output_kept_when_not_dropped(models_dir: Path, people: list[Any]) -> None:
    """Without drop_outputs the in-graph argmax (Reshape, TopK, Squeeze) is converted too."""
    pytest.importorskip("openvino")
    xml = resolve_model_file("pp_tinypose_128x96", models_dir)
    model = ir_to_onnx(xml, dynamic_batch=True)
    images = crops(people, 96, 128)
    ours = run(model, images)
    assert list(ours) == ["conv2d_441.tmp_1", "argmax_0.tmp_0"]
    np.testing.assert_array_equal(ours["argmax_0.tmp_0"], run_openvino(xml, images)["argmax_0.tmp_0"])
    np.testing.assert_array_equal(
        ours["argmax_0.tmp_0"], ours["conv2d_441.tmp_1"].reshape(len(people), 17, -1).argmax(-1)
    )


def test_tinypose_256x192_agrees_with_the_reference_onnx(
    tinypose: dict[str, tuple[Path, Any]], people: list[Any], models_dir: Path
) -> None:
    images = crops(people, 192, 256)
    ours = run(tinypose["pp_tinypose_256x192"][1], images)["conv2d_441.tmp_1"]
    reference = run(models_dir / "pp_tinypose_256x192" / "pp_tinypose_256x192.onnx", images)["heatmaps"]
    assert np.abs(ours - reference).max() <= REFERENCE_TOLERANCE


@pytest.mark.parametrize("name", ["pp_tinypose_256x192", "pp_tinypose_128x96"])
def test_batch_of_n_equals_n_single_crops(tinypose: dict[str, tuple[Path, Any]], people: list[Any], name: str) -> None:
    model = tinypose[name][1]
    height, width = (int(d.dim_value) for d in model.graph.input[0].type.tensor_type.shape.dim[2:])
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    images = crops(people, width, height)
    runner = session(model)
    batched = runner.run(None, {"image": images})[0]
    singles = np.concatenate([runner.run(None, {"image": image[None]})[0] for image in images])
    assert np.abs(batched - singles).max() <= 1e-6


def test_picodet_agrees_with_openvino_and_the_reference(models_dir: Path, frames: np.ndarray) -> None:
    xml = resolve_model_file("pp_picodet_s_320_pedestrian", models_dir)
    model = ir_to_onnx(xml)
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 320, 320]
    ours = [run(model, frame[None]) for frame in frames]
    boxes = np.concatenate([o["concat_8.tmp_0"] for o in ours])
    scores = np.concatenate([o["transpose_8.tmp_0"] for o in ours])
    assert boxes.shape == (2, 2125, 4) and scores.shape == (2, 1, 2125)
    assert (scores > 0.3).sum(axis=-1).min() >= 5, "several people in each photo (each on several cells)"
    references = [
        run(models_dir / "pp_picodet_s_320_pedestrian" / "pp_picodet_s_320_pedestrian.onnx", frame[None])
        for frame in frames
    ]
    assert np.abs(boxes - np.concatenate([r["boxes"] for r in references])).max() <= REFERENCE_TOLERANCE * 320
    assert np.abs(scores - np.concatenate([r["scores"] for r in references])).max() <= REFERENCE_TOLERANCE
    openvino = run_openvino(xml, frames)
    assert np.abs(boxes - openvino["concat_8.tmp_0"]).max() <= BOX_TOLERANCE_PX
    difference = np.abs(scores - openvino["transpose_8.tmp_0"])
    assert difference[np.maximum(scores, openvino["transpose_8.tmp_0"]) > SCORE_FLOOR].max() <= SCORE_TOLERANCE
    assert difference.max() <= SCORE_TOLERANCE_NEAR_ZERO


def test_conversion_is_deterministic(tinypose: dict[str, tuple[Path, Any]]) -> None:
    xml, model = tinypose["pp_tinypose_128x96"]
    options = IR_CONVERSIONS["pp_tinypose_128x96"]
    again = ir_to_onnx(xml, dynamic_batch=options.dynamic_batch, drop_outputs=options.drop_outputs)
    assert again.SerializeToString() == model.SerializeToString()
    weights = [t for t in model.graph.initializer if t.dims and len(t.dims) == 4]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT for t in weights), "fp16 weights widened to fp32"
    assert model.opset_import[0].version == 13


@pytest.fixture
def ir_copy(models_dir: Path, tmp_path: Path) -> Path:
    """PP-TinyPose 128x96's IR in a models folder of its own (the shared one is read-only)."""
    folder = tmp_path / "models" / "pp_tinypose_128x96"
    folder.mkdir(parents=True)
    source = resolve_model_file("pp_tinypose_128x96", models_dir)
    for suffix in (".xml", ".bin"):
        (folder / source.name).with_suffix(suffix).write_bytes(source.with_suffix(suffix).read_bytes())
    return folder / source.name


def test_opener_converts_once_into_the_export_cache(
    ir_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inference = InferenceConfig(engine_dir=str(tmp_path / "engines"))
    options = IR_CONVERSIONS["pp_tinypose_128x96"]
    backend = open_ir_network(ir_copy, inference, 2, dynamic_batch=True, drop_outputs=options.drop_outputs)
    assert [s.describe() for s in (*backend.inputs, *backend.outputs)] == [
        "image [N,3,128,96] float32",
        "conv2d_441.tmp_1 [N,17,32,24] float32",
    ]
    assert backend.run({"image": np.zeros((3, 3, 128, 96), np.float32)})["conv2d_441.tmp_1"].shape == (3, 17, 32, 24)
    (cached,) = (tmp_path / "engines").iterdir()
    key = conversion_key(ir_copy, ConversionOptions(True, options.drop_outputs))
    assert cached.name == f"pp_tinypose_128x96-openvino_ir_fp16_model-{key[:12]}.onnx"
    assert stored_conversion_key(cached) == key
    assert not ir_copy.with_suffix(".onnx").exists(), "the models folder is never written"

    def no_second_conversion(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr("hdnet_ros.nets.openvino_ir.convert.ir_to_onnx", no_second_conversion)
    open_ir_network(ir_copy, inference, 2, dynamic_batch=True, drop_outputs=options.drop_outputs).close()
    with pytest.raises(AssertionError, match="converted again"):  # other options: another conversion
        open_ir_network(ir_copy, inference, 2, dynamic_batch=False)


def test_opener_takes_the_conversion_beside_the_ir_only_when_it_matches(ir_copy: Path, tmp_path: Path) -> None:
    inference = InferenceConfig(engine_dir=str(tmp_path / "engines"))
    beside = ir_copy.with_suffix(".onnx")
    save_onnx(ir_to_onnx(ir_copy, dynamic_batch=True), beside)  # as `hdnet-ros assets` would, argmax kept
    with open_ir_network(ir_copy, inference, 2, dynamic_batch=True) as backend:
        assert backend.output_names == ("conv2d_441.tmp_1", "argmax_0.tmp_0")
    assert not (tmp_path / "engines").exists(), "the file beside the IR was used"
    with open_ir_network(ir_copy, inference, 2, dynamic_batch=True, drop_outputs=("argmax_0.tmp_0",)) as backend:
        assert backend.output_names == ("conv2d_441.tmp_1",), "other options: not the file beside"
    assert len(list((tmp_path / "engines").iterdir())) == 1
    beside.write_bytes(b"not an onnx file")  # a stale or foreign file beside the IR is ignored
    with open_ir_network(ir_copy, inference, 2, dynamic_batch=True) as backend:
        assert backend.output_names == ("conv2d_441.tmp_1", "argmax_0.tmp_0")
    assert len(list((tmp_path / "engines").iterdir())) == 2


def test_opener_errors_name_the_file_and_layer(ir_copy: Path, tmp_path: Path) -> None:
    inference = InferenceConfig(engine_dir=str(tmp_path / "engines"))
    with pytest.raises(ModelFileError, match=r"\.bin is not an OpenVINO IR \.xml file"):
        open_ir_network(ir_copy.with_suffix(".bin"), inference, 2)
    with pytest.raises(ModelFileError, match="does not exist"):
        open_ir_network(tmp_path / "absent.xml", inference, 2)
    text = ir_copy.read_text()
    ir_copy.write_text(text.replace('type="ReLU"', 'type="Erf"', 1))
    with pytest.raises(
        ModelFileError, match=r"cannot be converted to ONNX: .*\(Erf, opset1\): op type Erf is not supported"
    ):
        open_ir_network(ir_copy, inference, 2)
    assert not list((tmp_path / "engines").glob("*.onnx")), "nothing half-written is left in the cache"
    ir_copy.write_text(text)
    with pytest.raises(ModelFileError, match="cannot run on tensorrt"):  # converted, then the runtime is missing
        open_ir_network(ir_copy, InferenceConfig(backend="tensorrt", engine_dir=str(tmp_path / "engines")), 2)
