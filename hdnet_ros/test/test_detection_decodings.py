"""The detector's decodings (YOLOX grid, in-graph NMS, PP-PicoDet), chosen by the network's
outputs, and the tiles of large frames: synthetic outputs with known answers, then each
real network on annotated photos."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from hdnet_ros.evaluation.annotations import COCO_SET, CROWD_SETS, AnnotatedPhoto, load_set
from hdnet_ros.evaluation.scoring import Skeleton2D, match
from hdnet_ros.inference.backend import Arrays, Backend, TensorSpec
from hdnet_ros.inference.runtime import InferenceConfig, open_model_file
from hdnet_ros.model_files import resolve_model_file
from hdnet_ros.stages.detection import DetectorConfig, PersonDetector, choose_decoding
from hdnet_ros.stages.detection.boxes import clip_boxes
from hdnet_ros.stages.detection.picodet import PicoDetDecoding, Stretch, decode_picodet, stretch_normalize
from hdnet_ros.stages.detection.tiles import Tile, tile_grid, whole_in_tile
from hdnet_ros.stages.detection.yolox import Letterbox, YoloxDecoding, letterbox
from hdnet_ros.stages.detection.yolox_nms import YoloxNmsDecoding, decode_nms_outputs

F32, I64 = np.dtype(np.float32), np.dtype(np.int64)


class Signature(Backend):
    """A backend that only has a signature (for choosing the decoding)."""

    kind = "signature"

    def __init__(self, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> None:
        self._inputs, self._outputs = tuple(inputs), tuple(outputs)

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def _run(self, inputs: Arrays) -> Arrays:
        raise NotImplementedError


IMAGE_416 = TensorSpec("input", (1, 3, 416, 416), F32)


def test_the_decoding_follows_the_outputs() -> None:
    grid = Signature([IMAGE_416], [TensorSpec("output", (1, 3549, 85), F32)])
    nms = Signature([IMAGE_416], [TensorSpec("dets", (1, None, 5), F32), TensorSpec("labels", (1, None), I64)])
    pico = Signature(
        [TensorSpec("image", (1, 3, 320, 320), F32)],
        [TensorSpec("scores", (1, 1, 2125), F32), TensorSpec("boxes", (1, 2125, 4), F32)],
    )
    assert isinstance(choose_decoding(grid, 0), YoloxDecoding)
    assert isinstance(choose_decoding(nms, 0), YoloxNmsDecoding)
    assert isinstance(choose_decoding(pico, 0), PicoDetDecoding)
    odd = Signature([IMAGE_416], [TensorSpec("heatmaps", (1, 17, 64, 48), F32)])
    with pytest.raises(ValueError, match=r"unknown detector outputs \(heatmaps \[1,17,64,48\]"):
        choose_decoding(odd, 0)


def test_in_graph_nms_keeps_people_above_the_floor_in_image_pixels() -> None:
    dets = np.array([[[10, 20, 110, 220, 0.9], [0, 0, 50, 50, 0.8], [5, 5, 60, 90, 0.1]]], np.float32)
    labels = np.array([[0, 3, 0]])
    boxes, scores = decode_nms_outputs(dets, labels, Letterbox(0.5, 416, 416), person_class=0, floor=0.12)
    np.testing.assert_allclose(boxes, [[20, 40, 220, 440]])  # the chair (label 3) and the 0.1 box go
    np.testing.assert_allclose(scores, [0.9], rtol=1e-6)


def test_picodet_stretches_the_frame_and_scales_boxes_back_per_axis() -> None:
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[..., 0] = 255
    tensor, stretch = stretch_normalize(rgb, 320, 320)
    assert tensor.shape == (1, 3, 320, 320)
    np.testing.assert_allclose(tensor[0, :, 0, 0], [(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225], rtol=1e-5)
    assert stretch == Stretch(0.5, 320 / 480)
    boxes = np.array([[[32, 32, 64, 96], [0, 0, 10, 10]]], np.float32)
    kept, scores = decode_picodet(boxes, np.array([[[0.7, 0.05]]]), stretch, floor=0.12)
    np.testing.assert_allclose(kept, [[64, 48, 128, 144]])
    np.testing.assert_allclose(scores, [0.7], rtol=1e-6)


def test_the_yolox_input_is_handed_to_the_backend_without_a_copy() -> None:
    """The letterboxed tensor is C-contiguous float32 BGR channels first, so the backend's
    input check passes it on as it is (no second 2 MB copy per frame)."""
    rgb = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    tensor, box = letterbox(rgb, 416, 416)
    assert tensor.shape == (1, 3, 416, 416) and tensor.dtype == np.float32 and tensor.flags.c_contiguous
    assert np.shares_memory(np.ascontiguousarray(tensor, dtype=np.float32), tensor)
    np.testing.assert_array_equal(tensor[0, :, 0, 0], rgb[0, 0, ::-1])  # BGR, 0..255, scale 1.3
    assert box.scale == pytest.approx(1.3)


def _letterbox_canvas(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """YOLOX's input made step by step (SOURCE.md): the resized image pasted top-left on a
    114-grey uint8 canvas, RGB -> BGR, channels first, float32."""
    scale = min(height / rgb.shape[0], width / rgb.shape[1])
    resized = cv2.resize(rgb, (int(rgb.shape[1] * scale), int(rgb.shape[0] * scale)), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((height, width, 3), 114, dtype=np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized[:, :, ::-1]
    return canvas.transpose(2, 0, 1)[None].astype(np.float32)


def test_the_letterbox_written_into_a_reused_buffer_is_the_canvas_made_step_by_step() -> None:
    """Frames wider, taller, odd-sized, smaller and larger than the input, one after the
    other into the same buffer (its old content never shows through)."""
    rng = np.random.default_rng(3)
    buffer = np.full((1, 3, 416, 416), -1.0, dtype=np.float32)
    for height, width in ((480, 640), (640, 480), (333, 517), (100, 70), (1080, 1920), (416, 416), (481, 3)):
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        expected = _letterbox_canvas(rgb, 416, 416)
        tensor, box = letterbox(rgb, 416, 416, buffer)
        assert tensor is buffer
        np.testing.assert_array_equal(tensor, expected)
        np.testing.assert_array_equal(letterbox(rgb, 416, 416)[0], expected)
        assert box.scale == min(416 / height, 416 / width)


def test_boxes_are_clipped_as_np_clip_clips_each_coordinate() -> None:
    """To the byte: inside, beyond every border, on the last pixel, NaN, inf and -0.0 (whose
    sign numpy 1.x's np.clip drops and numpy 2's keeps, as clip_boxes does: zeros are
    compared with their signs made alike)."""
    rng = np.random.default_rng(8)
    for count in (0, 1, 9, 200):
        boxes = rng.uniform(-100.0, 800.0, (count, 4))
        for value, share in ((np.nan, 0.1), (-0.0, 0.05), (639.0, 0.05), (np.inf, 0.05), (-np.inf, 0.05)):
            boxes[rng.random((count, 4)) < share] = value
        expected = boxes.copy()
        expected[:, [0, 2]] = np.clip(expected[:, [0, 2]], 0, 639)
        expected[:, [1, 3]] = np.clip(expected[:, [1, 3]], 0, 479)
        clipped = clip_boxes(boxes, (480, 640))
        assert (clipped + 0.0).tobytes() == (expected + 0.0).tobytes()  # x + 0.0: -0.0 -> 0.0, the rest unchanged
        assert not np.shares_memory(clipped, boxes)


def test_tiles_cover_a_large_frame_with_overlap_and_leave_small_ones_alone() -> None:
    assert tile_grid(480, 640, 960) == []
    assert tile_grid(1080, 1920, 0) == []
    tiles = tile_grid(1080, 1920, 960)
    side = tiles[0].side
    assert side == 648 and len({t.y0 for t in tiles}) == 2
    columns = sorted({t.x0 for t in tiles})
    assert columns[0] == 0 and columns[-1] + side == 1920
    assert max(b - a for a, b in itertools.pairwise(columns)) <= 0.75 * side  # a quarter overlaps at least
    boxes = np.array([[0.5, 100, 60, 250], [300, 100, 360, 250], [300, 400, 360, 647], [50, 50, 600, 600.0]])
    # Cut by the left edge, whole, cut by the bottom (an inner edge here), too large for a tile.
    np.testing.assert_array_equal(whole_in_tile(boxes, Tile(424, 0, 648), 1080, 1920), [False, True, False, False])
    # Edges on the frame's border cut nothing: the bottom of the lower row, the left of the first column.
    np.testing.assert_array_equal(whole_in_tile(boxes[:3], Tile(0, 432, 648), 1080, 1920), [True, True, True])


def _detector(models_dir: Path, name: str, engines: Path, **settings: float) -> PersonDetector:
    path = resolve_model_file(name, models_dir)
    backend = open_model_file(name, path, InferenceConfig(engine_dir=str(engines)), 2)
    return PersonDetector(backend, DetectorConfig(model=name, **settings))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="module")
def coco_photos(data_dir: Path) -> list[AnnotatedPhoto]:
    return load_set(data_dir, COCO_SET)


@pytest.mark.parametrize("name", ["yolox_nano", "yolox_nano_humanart", "pp_picodet_s_320_pedestrian"])
def test_every_detector_finds_the_annotated_coco_people(
    models_dir: Path, engines: Path, coco_photos: list[AnnotatedPhoto], name: str
) -> None:
    detector = _detector(models_dir, name, engines)
    for photo in coco_photos:
        found = detector(photo.rgb)
        assert all(d.score >= 0.3 for d in found)
        boxes = [Skeleton2D(d.box, np.zeros((17, 2))) for d in found]
        assert len(match(boxes, photo.people)) == len(photo.people), (name, photo.name)


def test_tiles_find_the_small_people_of_a_crowd_photo(models_dir: Path, engines: Path, data_dir: Path) -> None:
    """The PoseTrack crowd (1920x1080, 11 annotated people seen from above): the whole
    frame alone at 416 px misses many (measured 5 of 11 found at score 0.3), with its tiles
    nearly none (11 of 11)."""
    photo = next(p for p in load_set(data_dir, CROWD_SETS[1]) if len(p.people) == 11)

    def found(tiles_from_px: int) -> int:
        detector = _detector(models_dir, "yolox_nano", engines, tiles_from_px=tiles_from_px, max_people=64)
        boxes = [Skeleton2D(d.box, np.zeros((17, 2))) for d in detector(photo.rgb)]
        return len(match(boxes, photo.people))

    whole, tiled = found(0), found(960)
    assert tiled >= 10
    assert tiled >= whole + 3
