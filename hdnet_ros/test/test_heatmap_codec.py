"""The top-down heatmap codec (PP-TinyPose): crop geometry, encoding, the vectorised
arg-max + DARK decoding against a per-joint reference written as PaddleDetection writes it,
on the heatmaps the network gives for real crops, and the flip test's mirror axis."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from hdnet_ros.evaluation.annotations import COCO_SET, AnnotatedPhoto, load_set
from hdnet_ros.inference.heatmap_codec import (
    TopDownCrop,
    argmax_cells,
    cells_to_image,
    decode_heatmaps,
    encode_crops,
    mirrored_affines,
    topdown_affines,
    unmirrored_heatmaps,
    warp_crops,
)
from hdnet_ros.inference.runtime import InferenceConfig
from hdnet_ros.joints import FLIP_PAIRS, LEFT_WRIST, RIGHT_WRIST
from hdnet_ros.metrics import oks
from hdnet_ros.model_files import resolve_model_file
from hdnet_ros.nets.preprocessing import IMAGENET_MEAN, IMAGENET_STD, apply_affine, invert_affine
from hdnet_ros.people import Detection
from hdnet_ros.stages.heatmap_kernels import decode_image_points, decode_peaks, encode_planes
from hdnet_ros.stages.keypoints2d import KeypointConfig
from hdnet_ros.stages.topdown_heatmap import HeatmapKeypoints

CROP = TopDownCrop(192, 256)


def reference_dark(heatmaps: np.ndarray) -> np.ndarray:
    """PaddleDetection's HRNetPostProcess with use_dark, one joint at a time: the whole map
    blurred (zero border), rescaled to its maximum, floored, log, one Newton step."""
    count, joints, height, width = heatmaps.shape
    flat = heatmaps.reshape(count, joints, -1)
    index = np.argmax(flat, axis=2)
    coords = np.stack((index % width, index // width), axis=-1).astype(np.float64)
    coords[np.max(flat, axis=2) <= 0] = 0.0
    for n in range(count):
        for j in range(joints):
            original = heatmaps[n, j].astype(np.float64)
            padded = np.zeros((height + 2, width + 2))
            padded[1:-1, 1:-1] = original
            blurred = cv2.GaussianBlur(padded, (3, 3), 0)[1:-1, 1:-1]
            blurred *= original.max() / blurred.max()
            hm = np.log(np.maximum(blurred, 1e-10))
            px, py = int(coords[n, j, 0]), int(coords[n, j, 1])
            if 1 < px < width - 2 and 1 < py < height - 2:
                dx = 0.5 * (hm[py][px + 1] - hm[py][px - 1])
                dy = 0.5 * (hm[py + 1][px] - hm[py - 1][px])
                dxx = 0.25 * (hm[py][px + 2] - 2 * hm[py][px] + hm[py][px - 2])
                dxy = 0.25 * (hm[py + 1][px + 1] - hm[py - 1][px + 1] - hm[py + 1][px - 1] + hm[py - 1][px - 1])
                dyy = 0.25 * (hm[py + 2][px] - 2 * hm[py][px] + hm[py - 2][px])
                if dxx * dyy - dxy**2 != 0:
                    hessian = np.array([[dxx, dxy], [dxy, dyy]])
                    coords[n, j] += -np.linalg.inv(hessian) @ np.array([dx, dy])
    return coords


@pytest.fixture(scope="module")
def photo(data_dir: Path) -> AnnotatedPhoto:
    return max(load_set(data_dir, COCO_SET), key=lambda p: len(p.people))


@pytest.fixture(scope="module")
def estimator(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> HeatmapKeypoints:
    from hdnet_ros.inference.runtime import open_model_file

    inference = InferenceConfig(engine_dir=str(tmp_path_factory.getbasetemp() / "engines"))
    path = resolve_model_file("pp_tinypose_256x192", models_dir)
    return HeatmapKeypoints(open_model_file("pp_tinypose_256x192", path, inference, 2), KeypointConfig())


@pytest.fixture(scope="module")
def real_heatmaps(estimator: HeatmapKeypoints, photo: AnnotatedPhoto) -> np.ndarray:
    boxes = np.array([p.box for p in photo.people])
    heatmaps, _ = estimator.heatmaps(photo.rgb, boxes)
    return heatmaps


def test_crop_puts_the_box_centre_in_the_middle_at_the_inputs_aspect() -> None:
    boxes = np.array([[100.0, 50.0, 200.0, 450.0], [0.0, 0.0, 400.0, 100.0]])  # tall, wide
    affines = topdown_affines(boxes, CROP)
    centres = apply_affine((boxes[:, :2] + boxes[:, 2:]) / 2, affines)
    np.testing.assert_allclose(centres, [[96.0, 128.0], [96.0, 128.0]])
    # Tall: the padded height fills the crop; wide: the padded width does (one scale, no distortion).
    assert affines[0, 0, 0] == pytest.approx(256 / (400 * 1.25))
    assert affines[1, 0, 0] == pytest.approx(192 / (400 * 1.25))
    np.testing.assert_allclose(affines[:, 0, 0], affines[:, 1, 1])
    back = apply_affine(apply_affine(boxes.reshape(2, 2, 2), affines), invert_affine(affines))
    np.testing.assert_allclose(back, boxes.reshape(2, 2, 2), atol=1e-9)


def test_encoding_is_imagenet_normalised_rgb_channels_first() -> None:
    crops = np.random.default_rng(0).integers(0, 256, (2, 8, 6, 3), dtype=np.uint8)
    expected = ((crops / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(encode_crops(crops), expected, atol=2e-6)


def test_dark_equals_the_per_joint_reference_on_real_heatmaps(real_heatmaps: np.ndarray) -> None:
    cells, scores = decode_heatmaps(real_heatmaps)
    # The whole-map blur and rescale only shift the log by a constant: the same step.
    np.testing.assert_allclose(cells, reference_dark(real_heatmaps), atol=1e-6)
    np.testing.assert_array_equal(scores, real_heatmaps.reshape(*real_heatmaps.shape[:2], -1).max(axis=2))


def test_dark_equals_the_reference_for_peaks_next_to_the_border() -> None:
    """Peaks two cells in from every edge and corner: their windows reach past the map,
    where the smoothing's border is zero."""
    rng = np.random.default_rng(3)
    height, width = 32, 24
    peaks = [
        (x, y) for x in (2, 3, width // 2, width - 4, width - 3) for y in (2, 3, height // 2, height - 4, height - 3)
    ]
    ys, xs = np.mgrid[0:height, 0:width]
    maps = np.stack(
        [
            np.exp(-((xs - x - rng.uniform(-0.4, 0.4)) ** 2 + (ys - y - rng.uniform(-0.4, 0.4)) ** 2) / 2.0)
            + rng.uniform(0, 0.01, (height, width))
            for x, y in peaks
        ]
    ).astype(np.float32)[None]
    cells, _ = decode_heatmaps(maps)
    np.testing.assert_allclose(cells, reference_dark(maps), atol=1e-6)
    assert np.abs(cells - argmax_cells(maps)[0]).max() > 0.1  # refined, not left on the cells


def test_dark_finds_a_gaussians_sub_cell_centre() -> None:
    ys, xs = np.mgrid[0:64, 0:48]
    centre = np.array([20.37, 31.72])  # x, y in cells
    blob = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * 2.0**2))[None, None]
    plain, _ = argmax_cells(blob)
    refined, score = decode_heatmaps(blob)
    assert np.abs(plain[0, 0] - centre).max() > 0.25  # the arg-max alone is a cell off
    np.testing.assert_allclose(refined[0, 0], centre, atol=0.05)
    assert score[0, 0] == pytest.approx(blob.max())


def test_maps_without_a_positive_value_decode_to_the_first_cell_unrefined() -> None:
    cells, scores = decode_heatmaps(-np.ones((1, 2, 64, 48), np.float32))
    np.testing.assert_array_equal(cells, 0.0)
    np.testing.assert_array_equal(scores, -1.0)


def test_cells_map_to_the_image_through_the_crop(photo: AnnotatedPhoto) -> None:
    box = photo.people[0].box[None]
    affines = topdown_affines(box, CROP)
    crop = warp_crops(photo.rgb, affines, CROP)
    assert crop.shape == (1, 256, 192, 3)
    # A cell at crop pixel (96, 128) / 4 is the box centre in the image.
    image = cells_to_image(np.array([[[24.0, 32.0]]]), affines, (4.0, 4.0))
    np.testing.assert_allclose(image[0, 0], (box[0, :2] + box[0, 2:]) / 2, atol=1e-9)


def test_keypoints_on_real_people_agree_with_their_annotations(
    estimator: HeatmapKeypoints, photo: AnnotatedPhoto
) -> None:
    """End to end through the codec, with the annotated boxes: every person's OKS well
    above a floor (measured 0.89-0.96 on these four; 0.80 leaves room for another CPU's
    float kernels, which move a heatmap by ~1e-5)."""
    keypoints = estimator(photo.rgb, [Detection(p.box.copy(), 1.0) for p in photo.people])
    for person, found in zip(photo.people, keypoints, strict=True):
        assert oks(found.pixels[:17], person.keypoints, person.labelled, person.area) >= 0.80
    # Pelvis and neck are the midpoints of what the codec decoded.
    first = keypoints[0]
    np.testing.assert_allclose(first.pixels[17], (first.pixels[11] + first.pixels[12]) / 2)


def test_the_mirrored_crop_is_the_crop_mirrored_about_the_heatmaps_axis(photo: AnnotatedPhoto) -> None:
    """Crop pixel x of the mirrored crop is pixel W - stride - x of the crop (the axis that
    mirroring the heatmap cells j -> w - 1 - j mirrors), not W - 1 - x. OpenCV 5 samples the
    two alike to the bit; OpenCV 4.5's fixed-point bilinear weights round some mirrored
    positions the other way (0.26 % of the values by 1-2 grey levels on these photos)."""
    affines = topdown_affines(np.array([p.box for p in photo.people]), CROP)
    crops = warp_crops(photo.rgb, affines, CROP).astype(int)
    mirrored = warp_crops(photo.rgb, mirrored_affines(affines, CROP, 4.0), CROP).astype(int)
    # Columns 0 .. W-4 of the mirror are columns W-4 .. 0 of the crop: the same image points.
    same_points = np.abs(mirrored[:, :, : CROP.width - 3] - crops[:, :, CROP.width - 4 :: -1])
    assert same_points.max() <= 2 and np.mean(same_points > 0) <= 0.01  # measured 0 (OpenCV 5.1), 0.26 % (4.5.5)
    assert np.abs(mirrored - crops[:, :, ::-1]).mean() > 1.0  # the pixel array's mirror differs


def test_unmirrored_heatmaps_swap_left_and_right_and_reverse_the_columns() -> None:
    maps = np.zeros((1, 17, 64, 48), np.float32)
    maps[0, LEFT_WRIST, 10, 5] = 1.0
    back = unmirrored_heatmaps(maps, FLIP_PAIRS)
    assert back[0, RIGHT_WRIST, 10, 48 - 1 - 5] == 1.0
    assert back[0, LEFT_WRIST].max() == 0.0
    np.testing.assert_array_equal(unmirrored_heatmaps(back, FLIP_PAIRS), maps)


def test_the_networks_heatmaps_of_mirrored_crops_come_back_aligned(
    estimator: HeatmapKeypoints, photo: AnnotatedPhoto
) -> None:
    """The network itself tells where the axis lies: its joints on the mirrored crops,
    mirrored back, land where it puts them on the crops (median x offset 0.05 cell measured
    on the 10 annotated photos), while the pixel array's mirror leaves them 3/4 of a cell to
    the left (-0.65 measured, -0.75 predicted: module doc). Confident joints only."""
    boxes = np.array([p.box for p in photo.people])
    affines = topdown_affines(boxes, estimator.crop)
    crops = warp_crops(photo.rgb, affines, estimator.crop)
    cells, scores = decode_heatmaps(estimator._run(crops))
    mirrored = warp_crops(photo.rgb, mirrored_affines(affines, estimator.crop, estimator.stride_x), estimator.crop)
    for images, expected in ((mirrored, 0.0), (np.ascontiguousarray(crops[:, :, ::-1]), -0.75)):
        back, back_scores = decode_heatmaps(unmirrored_heatmaps(estimator._run(images), FLIP_PAIRS))
        seen = (scores > 0.5) & (back_scores > 0.5)
        assert np.count_nonzero(seen) >= 40
        assert np.median(back[seen, 0] - cells[seen, 0]) == pytest.approx(expected, abs=0.25)


def test_the_flip_test_keeps_the_keypoints_on_the_people(estimator: HeatmapKeypoints, photo: AnnotatedPhoto) -> None:
    """With the flip test (crops and mirrors in one batch, heatmaps averaged) every person
    keeps an OKS above the plain codec's floor (measured 0.89-0.96) and its confident joints
    move by a few crop pixels at most (measured <= 2.6 of the 256 px crop; 6 leaves room for
    another CPU's float kernels)."""
    flipped = HeatmapKeypoints(estimator.backend, dataclasses.replace(estimator.config, flip_test=True))
    detections = [Detection(p.box.copy(), 1.0) for p in photo.people]
    plain, both = estimator(photo.rgb, detections), flipped(photo.rgb, detections)
    for person, one, two in zip(photo.people, plain, both, strict=True):
        assert oks(two.pixels[:17], person.keypoints, person.labelled, person.area) >= 0.80
        seen = (one.scores[:17] > 0.5) & (two.scores[:17] > 0.5)
        scale = topdown_affines(person.box[None], estimator.crop)[0, 0, 0]
        assert np.max(np.linalg.norm(one.pixels[:17][seen] - two.pixels[:17][seen], axis=1)) * scale < 6.0
    assert "flip test" in flipped.description


def test_heatmap_keypoints_are_published_from_their_own_threshold(
    estimator: HeatmapKeypoints, photo: AnnotatedPhoto
) -> None:
    """keypoints.heatmap_min_score, not MoveNet's min_score, decides which joints are seen."""
    detections = [Detection(p.box.copy(), 1.0) for p in photo.people]
    for threshold in (0.25, 0.6):
        config = dataclasses.replace(estimator.config, heatmap_min_score=threshold, min_score=0.99)
        for found in HeatmapKeypoints(estimator.backend, config)(photo.rgb, detections):
            scores, seen = found.scores[:17], np.isfinite(found.pixels[:17, 0])
            np.testing.assert_array_equal(seen, scores >= threshold)
    assert KeypointConfig().heatmap_min_score == 0.25


# Another CPU's kernels may split a batch or the threads' work differently and so sum in
# another order: float32 rounding on heatmaps that peak near 1 stays far below this.
HEATMAP_ORDER_MARGIN = 1e-5


@pytest.mark.parametrize("spinning", ["in_call", "on"])
def test_spinning_threads_compute_the_same_heatmaps(
    estimator: HeatmapKeypoints, photo: AnnotatedPhoto, real_heatmaps: np.ndarray, spinning: str
) -> None:
    """How onnxruntime's workers wait changes when they work, not what they compute: the
    default 2D network's heatmaps in every ``inference.onnxruntime_spinning`` mode equal
    the default mode's (so the setting is free to follow the machine's load). Margin: 1e-5 on
    maps that peak near 1, a float32 summation-order change; a crop or joint mixed up moves
    them by tenths. Equal to the bit on the dev machine, where the split of the work between
    threads does not depend on how they wait."""
    from hdnet_ros.inference.onnxruntime_backend import OnnxRuntimeBackend

    backend = estimator.backend
    assert isinstance(backend, OnnxRuntimeBackend) and backend.config_entries["session.intra_op.allow_spinning"] == "0"
    spinning_backend = OnnxRuntimeBackend(backend.model_path, threads=2, spinning=spinning)
    other = HeatmapKeypoints(spinning_backend, estimator.config)
    heatmaps, _ = other.heatmaps(photo.rgb, np.array([p.box for p in photo.people]))
    np.testing.assert_allclose(heatmaps, real_heatmaps, rtol=0.0, atol=HEATMAP_ORDER_MARGIN)


def test_the_crowds_crops_go_in_heatmap_max_batch_calls(models_dir: Path, photo: AnnotatedPhoto) -> None:
    """``inference.heatmap_max_batch`` reaches the default 2D network; the crops in calls of
    at most that many give the heatmaps of one call for all (within the summation-order
    margin above; to the bit on the dev machine)."""
    from hdnet_ros.pipeline import open_keypoint_model

    from hdnet_ros.config import load_settings

    path = resolve_model_file("pp_tinypose_128x96", models_dir)
    common = {"models.models_dir": str(models_dir)}
    whole = open_keypoint_model(path, load_settings(overrides=common))
    parts = open_keypoint_model(path, load_settings(overrides={**common, "inference.heatmap_max_batch": 2}))
    assert isinstance(whole, HeatmapKeypoints) and isinstance(parts, HeatmapKeypoints)
    assert (whole.max_batch, parts.max_batch) == (32, 2)
    boxes = np.array([p.box for p in photo.people])
    assert len(boxes) > 2
    np.testing.assert_allclose(
        parts.heatmaps(photo.rgb, boxes)[0], whole.heatmaps(photo.rgb, boxes)[0], rtol=0.0, atol=HEATMAP_ORDER_MARGIN
    )


def test_the_compiled_decoding_gives_the_codecs_keypoints_to_the_bit(real_heatmaps: np.ndarray) -> None:
    """stages.heatmap_kernels (the 2D stage's decoding) against the codec's numpy decoding:
    the network's heatmaps of real crops, and random maps with peaks at every border, maps
    without a positive value, ties, a NaN, and shapes down to 5x5."""
    rng = np.random.default_rng(17)
    cases = [real_heatmaps.astype(np.float32)]
    for trial in range(120):
        height, width = [(32, 24), (64, 48), (8, 6), (5, 5)][trial % 4]
        maps = rng.uniform(-0.2, 1.0, (int(rng.integers(1, 21)), 17, height, width)).astype(np.float32)
        ys, xs = np.mgrid[0:height, 0:width]
        for _ in range(5):  # Gaussian peaks anywhere, edges and corners included
            n, j = rng.integers(len(maps)), rng.integers(17)
            x, y = rng.integers(0, width), rng.integers(0, height)
            blob = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / rng.uniform(0.5, 4.0)) * rng.uniform(-1.0, 2.0)
            maps[n, j] = blob.astype(np.float32)
        maps[0, 0] = 0.0 if trial % 3 == 0 else maps[0, 0]  # no positive value
        maps[0, 1] = maps[0, 1, 0, 0] if trial % 5 == 0 else maps[0, 1]  # a tie everywhere
        if trial % 7 == 0:
            maps[0, 2, 1, 1] = np.nan
        cases.append(maps)
    crop = TopDownCrop(width=96, height=128)
    for maps in cases:
        cells, scores = decode_heatmaps(maps)
        peaks, peak_scores = decode_peaks(maps)
        assert peaks.tobytes() == cells.tobytes()
        assert peak_scores.tobytes() == scores.tobytes()
        # With the crops' affines (random boxes, their mirrors, a singular one): the image points.
        corners = rng.uniform(-50, 600, (len(maps), 2))
        boxes = np.concatenate((corners, corners + rng.uniform(0.5, 300, (len(maps), 2))), axis=1)
        affines = topdown_affines(boxes, crop)
        if len(maps) > 1:
            affines[1] = mirrored_affines(affines[1:2], crop, 4.0)[0]
        if len(maps) > 2:
            affines[2] = 0.0
        affines[0] = rng.normal(0.0, 1.0, (2, 3)) * (1.0, 1.0, 100.0)  # any affine, rotated and sheared
        stride = (crop.width / maps.shape[3], crop.height / maps.shape[2])
        pixels, point_scores = decode_image_points(maps, affines, stride)
        assert pixels.tobytes() == cells_to_image(cells, affines, stride).tobytes()
        assert point_scores.tobytes() == scores.tobytes()
    float64 = cases[1].astype(np.float64)  # another dtype: the codec's own path
    np.testing.assert_array_equal(decode_peaks(float64)[0], decode_heatmaps(float64)[0])
    affines = topdown_affines(np.tile([10.0, 20.0, 60.0, 140.0], (len(float64), 1)), crop)
    expected = cells_to_image(decode_heatmaps(float64)[0], affines, (4.0, 4.0))
    np.testing.assert_array_equal(decode_image_points(float64, affines, (4.0, 4.0))[0], expected)


def test_the_crops_warped_into_one_batch_are_opencvs_crops_one_by_one() -> None:
    """Each crop written into its place of the batch (dst) is the crop warpAffine returns
    alone: inside the image, across its border and wholly outside (black)."""
    rng = np.random.default_rng(29)
    rgb = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    boxes = np.array([[40.0, 30.0, 100.0, 200.0], [-50.0, 150.0, 30.0, 330.0], [400.0, 10.0, 500.0, 90.0]])
    affines = topdown_affines(boxes, TopDownCrop(96, 128))
    crops = warp_crops(rgb, affines, TopDownCrop(96, 128))
    for crop, affine in zip(crops, affines, strict=True):
        np.testing.assert_array_equal(crop, cv2.warpAffine(rgb, affine, (96, 128), flags=cv2.INTER_LINEAR))
    assert crops[0].any() and not crops[2].any()


def test_the_one_pass_encoding_gives_the_codecs_planes_to_the_bit() -> None:
    rng = np.random.default_rng(23)
    for count, height, width in ((1, 2, 2), (20, 128, 96), (3, 256, 192)):
        crops = rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)
        crops[0, 0, 0] = (0, 255, 128)
        assert encode_planes(crops).tobytes() == encode_crops(crops).tobytes()
        assert encode_planes(crops).flags.c_contiguous
