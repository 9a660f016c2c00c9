"""MoveNet's crops decoded all at once equal the per-crop definition."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from hdnet_ros.frame_input import build_frame
from hdnet_ros.joints import DERIVED_JOINTS, NUM_COCO_JOINTS, NUM_JOINTS
from hdnet_ros.nets.preprocessing import invert_affine
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages import keypoints2d
from hdnet_ros.stages.keypoints2d import (
    MOVENET_INPUT_SIZE,
    Keypoints2D,
    crop_transform,
    to_keypoints_batch,
)
from helpers import sample_messages

from hdnet_ros.config import load_settings

# The batch maps crop pixels with one stacked matmul instead of one per crop; the sums are
# the same but a platform may round them in another order (an FMA): far below a pixel.
PIXEL_TOLERANCE = 1e-9


def reference_keypoints(raw: np.ndarray, affine: np.ndarray, min_score: float) -> Keypoints2D:
    """One crop's keypoints by the definition: (y, x, score) in crop-normalised coordinates,
    back through cv2's inverse of the crop affine; pelvis and neck as midpoints of their
    pairs, with the lower score; NaN below ``min_score``."""
    inverse = cv2.invertAffineTransform(affine)
    coco = raw[:, [1, 0]].astype(np.float64) * MOVENET_INPUT_SIZE @ inverse[:, :2].T + inverse[:, 2]
    pixels = np.full((NUM_JOINTS, 2), np.nan)
    scores = np.zeros(NUM_JOINTS)
    pixels[:NUM_COCO_JOINTS], scores[:NUM_COCO_JOINTS] = coco, raw[:, 2]
    for joint, (a, b) in DERIVED_JOINTS.items():
        pixels[joint] = (coco[a] + coco[b]) / 2.0
        scores[joint] = min(raw[a, 2], raw[b, 2])
    pixels[scores < min_score] = np.nan
    return Keypoints2D(pixels, scores)


def assert_same(got: list[Keypoints2D], want: list[Keypoints2D]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(np.isnan(a.pixels), np.isnan(b.pixels))
        np.testing.assert_allclose(a.pixels, b.pixels, rtol=0, atol=PIXEL_TOLERANCE)


def test_inverted_affines_are_cv2s() -> None:
    rng = np.random.default_rng(0)
    affines = rng.normal(0.0, 2.0, (50, 2, 3))
    affines[0] = 0.0  # singular: cv2 gives zeros, so do we
    inverses = invert_affine(affines)
    for affine, inverse in zip(affines, inverses, strict=True):
        np.testing.assert_allclose(inverse, cv2.invertAffineTransform(affine), rtol=1e-12, atol=1e-12)


def test_batch_decoding_is_each_crops_decoding() -> None:
    rng = np.random.default_rng(1)
    boxes = np.column_stack((rng.uniform(-50, 600, 40), rng.uniform(-50, 450, 40)))
    boxes = np.column_stack((boxes, boxes + rng.uniform(2, 400, (40, 2))))
    affines = np.stack([crop_transform(box, MOVENET_INPUT_SIZE, 1.25) for box in boxes])
    raw = rng.random((40, NUM_COCO_JOINTS, 3)).astype(np.float32)
    got = to_keypoints_batch(raw, affines, 0.3)
    assert_same(got, [reference_keypoints(r, a, 0.3) for r, a in zip(raw, affines, strict=True)])
    unseen = np.mean([np.isnan(k.pixels[:, 0]) for k in got])
    assert 0.1 < unseen < 0.9  # both kinds of joints were tried


def test_movenet_on_the_sample_frames_gives_each_crops_keypoints(models_dir: Path, sample_bags: list[Path]) -> None:
    """All crops cut first, the interpreter run on each, all decoded after: the keypoints of
    cutting, running and decoding one crop after the other."""
    settings = {"models.models_dir": str(models_dir), "keypoints.model": "movenet_lightning_int8"}
    pipeline = Pipeline.from_settings(load_settings(overrides={**settings, "keypoints.runtime": "litert_int8"}))
    estimator = pipeline.keypoints
    assert estimator is not None and hasattr(estimator, "infer_crop")
    people = 0
    for bag in sample_bags:
        messages = sample_messages(bag)
        frame = build_frame(messages["rgb"], messages["depth"], messages["camera_info"])
        detections = pipeline.detector(frame.rgb)
        want = []
        for detection in detections:
            # Through the module, as the estimator cuts them (--cpu-variation=boxes patches it there).
            crop, affine = keypoints2d.crop_person(
                frame.rgb, detection.box, MOVENET_INPUT_SIZE, estimator.config.crop_scale
            )
            want.append(reference_keypoints(estimator.infer_crop(crop), affine, estimator.config.min_score))
        assert_same(estimator(frame.rgb, detections), want)
        people += len(detections)
    assert people >= 18
