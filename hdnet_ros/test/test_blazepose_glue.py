"""The 3D stage's glue in its faster forms gives what main's gave (``numpy_blazepose``): the
monocular root fits of crowds of random people that take every rule (too few landmarks,
landmarks off the image or below the visibility, NaN skeleton points, a span too small, a
skeleton behind the camera) on BlazePose's landmarks and on the carried poses' COCO joints,
with and without the fallback fit: the same outcome and landmarks, the roots within 1e-12 m
and their sigmas within 1e-12 (the compiled fit sums its normal matrices in another order
and inverts them by their cofactors: 4e-15 m at most measured), the reprojection rms within
1e-12 relative; the heatmap refinement (the same landmarks refined, within 1e-12 px); the
crops' float conversion, a frame's estimates taken at once and the unseen keypoints
BlazePose's landmarks fill, bit for bit."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import NUM_JOINTS, PELVIS
from hdnet_ros.nets.preprocessing import invert_affine
from hdnet_ros.people import Detection, Person
from hdnet_ros.stages.blazepose.carried_fit import FIT_JOINTS, WIDER_FIT_JOINTS
from hdnet_ros.stages.blazepose.crop_kernels import scale_to_floats
from hdnet_ros.stages.blazepose.crops import CropSampler, crop_affines
from hdnet_ros.stages.blazepose.decode import BodyEstimate, crops_to_image, landmarks_to_image, refine_with_heatmaps
from hdnet_ros.stages.blazepose.decode_kernels import heatmap_windows, image_landmarks, refined_landmarks
from hdnet_ros.stages.blazepose.mask import PersonMask
from hdnet_ros.stages.blazepose.per_track import fill_unseen_keypoints
from hdnet_ros.stages.blazepose.root_fit import ROOT_FIT_LANDMARKS, MonocularRoot, RootFitFailure, fit_roots
from hdnet_ros.stages.blazepose.root_kernel import fit_batch
from hdnet_ros.stages.blazepose.run_memory import Estimate
from hdnet_ros.stages.blazepose.warm import warm_up
from hdnet_ros.stages.keypoints2d import Keypoints2D
from numpy_blazepose import root_fit as reference
from numpy_blazepose.decode import refine_with_heatmaps as reference_refine_with_heatmaps
from numpy_blazepose.per_track import fill_unseen_keypoints as reference_fill_unseen_keypoints

DETECTION = Detection(np.array([0.0, 0.0, 640.0, 480.0]), 0.9)
CAMERA = CameraModel(640, 480, np.array([[525.0, 0.0, 319.5], [0.0, 525.0, 239.5], [0.0, 0.0, 1.0]]))
# The compiled fit undistorts every landmark's ray, main's only the usable ones (each on its own).
DISTORTED = CameraModel(640, 480, CAMERA.K, np.array([0.08, -0.15, 0.001, -0.002, 0.03]))


def crowd(rng: np.random.Generator, count: int, landmarks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels [N,L,2], visibility [N,L], skeletons [N,L,3] of ``count`` people, spoiled at
    random so that every rule of the fit is taken by some of them."""
    skeletons = rng.normal(0.0, 0.35, (count, landmarks, 3)) * rng.choice([1.0, 0.05], size=(count, 1, 1), p=[0.8, 0.2])
    depths = rng.uniform(0.3, 7, count) * rng.choice([1.0, -1.0], size=count, p=[0.85, 0.15])  # some behind
    roots = np.column_stack((rng.uniform(-2, 2, count), rng.uniform(-0.5, 1.0, count), depths))
    points = skeletons + roots[:, None]
    depth = np.where(np.abs(points[..., 2]) > 1e-3, points[..., 2], 1e-3)
    pixels = points[..., :2] / depth[..., None] * 525.0 + [319.5, 239.5] + rng.normal(0.0, 1.5, (count, landmarks, 2))
    visibility = rng.uniform(0.0, 1.0, (count, landmarks)) * rng.choice([1.0, 0.6], size=(count, 1))
    skeletons[rng.random((count, landmarks)) < 0.05] = np.nan
    pixels[rng.random((count, landmarks)) < 0.05] = np.nan
    return pixels, visibility, skeletons


@pytest.mark.parametrize(
    ("landmarks", "fitted", "min_visibility"),
    [(33, ROOT_FIT_LANDMARKS, 0.5), (19, FIT_JOINTS, 0.3), (19, WIDER_FIT_JOINTS, 0.3)],
)
@pytest.mark.parametrize("camera", [CAMERA, DISTORTED], ids=["pinhole", "distorted"])
def test_root_fits_are_main_s(
    landmarks: int, fitted: tuple[int, ...], min_visibility: float, camera: CameraModel
) -> None:
    rng = np.random.default_rng(landmarks + len(fitted))
    reasons = set()
    for count in (0, 1, 2, 7, 20, 40):
        pixels, visibility, skeletons = crowd(rng, count, landmarks)
        options = {"min_visibility": min_visibility, "relative_sigma": 0.07, "landmarks": fitted}
        fits = fit_roots(pixels, visibility, skeletons, camera, **options)  # type: ignore[arg-type]
        expected = reference.fit_roots(pixels, visibility, skeletons, camera, **options)  # type: ignore[arg-type]
        assert len(fits) == len(expected) == count
        for fit, want in zip(fits, expected, strict=True):
            if isinstance(want, reference.RootFitFailure):
                assert isinstance(fit, RootFitFailure)
                assert fit.reason == want.reason
                reasons.add(want.reason.split()[1])
                continue
            assert isinstance(fit, MonocularRoot)
            assert np.allclose(fit.position, want.position, rtol=0.0, atol=1e-12)
            assert fit.sigma == pytest.approx(want.sigma, rel=0.0, abs=1e-12)
            assert fit.landmarks == want.landmarks
            assert fit.rms_px == pytest.approx(want.rms_px, rel=1e-12, abs=1e-12)
            reasons.add("fit")
    # Every outcome was met: fits, too few landmarks ("N landmarks"), a small span ("visible"),
    # a skeleton behind the camera ("fitted").
    assert {"fit", "landmarks", "visible", "fitted"} <= reasons


def test_fallback_fits_are_main_s() -> None:
    """A carried skeleton's fit on the torso and legs, then on every COCO joint for the people
    it fails (fit_roots' ``fallback``), is main's two calls (schedule.skeleton_roots at aa51899)."""
    rng = np.random.default_rng(9)
    replaced = 0
    for count in (0, 1, 7, 20, 40):
        pixels, visibility, skeletons = crowd(rng, count, 19)
        options = {"min_visibility": 0.3, "relative_sigma": 0.07}
        fits = fit_roots(
            pixels, visibility, skeletons, CAMERA, landmarks=FIT_JOINTS, fallback=WIDER_FIT_JOINTS, **options
        )
        expected = reference.fit_roots(pixels, visibility, skeletons, CAMERA, landmarks=FIT_JOINTS, **options)
        failed = [i for i, fit in enumerate(expected) if isinstance(fit, reference.RootFitFailure)]
        if failed:
            again = reference.fit_roots(
                pixels[failed], visibility[failed], skeletons[failed], CAMERA, landmarks=WIDER_FIT_JOINTS, **options
            )
            for index, fit in zip(failed, again, strict=True):
                expected[index] = fit
                replaced += isinstance(fit, reference.MonocularRoot)
        for fit, want in zip(fits, expected, strict=True):
            if isinstance(want, reference.RootFitFailure):
                assert isinstance(fit, RootFitFailure) and fit.reason == want.reason
            else:
                assert isinstance(fit, MonocularRoot) and fit.landmarks == want.landmarks
                assert np.allclose(fit.position, want.position, rtol=0.0, atol=1e-12)
                assert fit.sigma == pytest.approx(want.sigma, rel=0.0, abs=1e-12)
    assert replaced > 5  # the fallback fitted people the first fit could not


def test_unseen_keypoints_are_filled_as_main_fills_them() -> None:
    rng = np.random.default_rng(7)
    filled_midpoints = 0
    for _ in range(300):
        pixels = rng.uniform(0.0, 640.0, (NUM_JOINTS, 2))
        pixels[rng.random(NUM_JOINTS) < 0.4] = np.nan
        landmarks = rng.uniform(0.0, 640.0, (NUM_JOINTS, 2))
        landmarks[rng.random(NUM_JOINTS) < 0.3] = np.nan
        scores = np.where(np.isfinite(pixels[:, 0]), rng.uniform(0.3, 1.0, NUM_JOINTS), 0.0)
        given = Keypoints2D(landmarks, rng.uniform(0.0, 1.0, NUM_JOINTS))
        person = Person(DETECTION, pixels.copy(), scores.copy())
        want = Person(DETECTION, pixels.copy(), scores.copy())
        fill_unseen_keypoints(person, given)
        reference_fill_unseen_keypoints(want, given)
        assert np.array_equal(person.pixels, want.pixels, equal_nan=True)
        assert np.array_equal(person.scores, want.scores, equal_nan=True)
        filled_midpoints += int(np.any(np.isnan(pixels[PELVIS])) and np.all(np.isfinite(want.pixels[PELVIS])))
    assert filled_midpoints > 10  # the midpoint rule was taken


def test_heatmap_refinement_is_main_s() -> None:
    """Random heatmaps with hot spots (confident windows), landmarks everywhere on and off the
    map (every border, NaN, inf, far off), NaN cells and maps of 33 of 39 channels: the
    same landmarks refined and kept, the refined ones within 1e-12 px."""
    rng = np.random.default_rng(3)
    refined = kept = 0
    for count in (0, 1, 4, 9):
        heatmaps = rng.normal(-2.0, 2.0, (count, 64, 64, 39)).astype(np.float32)
        heatmaps[rng.random(heatmaps.shape) < 0.001] = np.nan
        xy = rng.uniform(-20.0, 276.0, (count, 33, 2))
        xy[:, :4] = rng.choice([0.0, 3.9, 4.0, 251.9, 252.0, 255.99, 256.0], size=(count, 4, 2))
        spoiled = rng.random((count, 33)) < 0.1
        xy[spoiled, 0] = rng.choice([np.nan, np.inf, -np.inf, 1e300], size=int(spoiled.sum()))
        cells = np.clip(np.nan_to_num(xy / 4.0, nan=0, posinf=0, neginf=0), 0, 63).astype(int)
        for n, j in zip(*np.nonzero(rng.random((count, 33)) < 0.6), strict=True):  # hot spots
            heatmaps[n, cells[n, j, 1], cells[n, j, 0], j] = 6.0
        with np.errstate(invalid="ignore", over="ignore"):
            want = reference_refine_with_heatmaps(xy, heatmaps[..., :33])
        got = refine_with_heatmaps(xy, heatmaps)
        moved = ~np.all((want == xy) | (np.isnan(want) & np.isnan(xy)), axis=2)
        assert np.array_equal(moved, ~np.all((got == xy) | (np.isnan(got) & np.isnan(xy)), axis=2))
        assert np.array_equal(got[~moved], xy[~moved], equal_nan=True)
        assert np.allclose(got[moved], want[moved], rtol=0.0, atol=1e-12)
        refined, kept = refined + int(moved.sum()), kept + int((~moved).sum())
    assert refined > 100 and kept > 100  # both outcomes taken


def test_crops_are_main_s() -> None:
    """The sampler's float crops are main's (each warped crop times np.float32(1 / 255) by
    numpy) to the bit, batches of one and several, a grown and a reused buffer."""
    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    sampler = CropSampler(32)
    for count in (1, 3, 2):
        affines = np.concatenate(
            (rng.normal(0.0, 0.3, (count, 2, 2)) + np.eye(2), rng.uniform(-40, 10, (count, 2, 1))), axis=2
        )
        crops = sampler(rgb, affines)
        for affine, crop in zip(affines, crops, strict=True):
            pixels = cv2.warpAffine(rgb, affine, (32, 32), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            assert np.array_equal(crop, np.multiply(pixels, np.float32(1.0 / 255.0)))


def test_landmarks_to_the_image_are_main_s() -> None:
    """The crops' inverse affines and the landmarks in the image from one compiled pass are
    ``invert_affine``'s and ``landmarks_to_image``'s to the bit: rotated and scaled crops
    (the stage's own affines), arbitrary and singular ones, NaN and far landmarks."""
    rng = np.random.default_rng(17)
    for count in (0, 1, 4, 9):
        boxes = np.sort(rng.uniform(-50.0, 700.0, (count, 2, 2)), axis=1).reshape(count, 4)[:, [0, 2, 1, 3]]
        affines = crop_affines(boxes, rng.uniform(-np.pi, np.pi, count), 1.25)
        if count > 3:
            affines[1] = rng.normal(0.0, 3.0, (2, 3))  # arbitrary (sheared)
            affines[2, :, :2] = [[1.0, 2.0], [2.0, 4.0]]  # singular: zeros, as OpenCV's
        xy = rng.uniform(-40.0, 300.0, (count, 33, 2))
        xy[rng.random((count, 33)) < 0.1] = np.nan
        xy[rng.random((count, 33)) < 0.05] = 1e300
        inverses, pixels = crops_to_image(xy, affines)
        assert np.array_equal(inverses, invert_affine(affines))
        assert np.array_equal(pixels, landmarks_to_image(xy, invert_affine(affines)), equal_nan=True)


def test_estimates_of_a_frame_are_each_estimate_s() -> None:
    """Estimate.all_of gives what Estimate.of gives body by body, bit for bit (NaN landmarks,
    visibilities around the threshold, hidden hips and shoulders for the midpoints)."""
    rng = np.random.default_rng(5)
    bodies = []
    for _ in range(6):
        pixels = rng.uniform(0.0, 640.0, (33, 2))
        pixels[rng.random(33) < 0.2] = np.nan
        visibility = rng.choice([0.1, 0.3, 0.29999, 0.7, np.nan], size=33)
        mask = PersonMask(0, 0, np.zeros((2, 2), dtype=bool))
        root = RootFitFailure("none")
        pose = rng.normal(size=(19, 3))
        bodies.append(BodyEstimate(pixels, visibility, pose, pose, pose[:4], mask, root, 0.0))
    assert Estimate.all_of([], 0.3) == []
    for made, body in zip(Estimate.all_of(bodies, 0.3), bodies, strict=True):
        want = Estimate.of(body, 0.3)
        assert made.body is body
        for got, expected in (
            (made.keypoints.pixels, want.keypoints.pixels),
            (made.keypoints.scores, want.keypoints.scores),
            (made.feet_pixels, want.feet_pixels),
            (made.feet_scores, want.feet_scores),
        ):
            assert got.shape == expected.shape and np.array_equal(got, expected, equal_nan=True)


def test_the_warm_up_compiles_what_a_frame_runs() -> None:
    """After the stage's warm-up, a frame's calls (float64 landmarks, the network's float32
    heatmaps, the sampler's uint8 crops) compile no further kernel version."""
    warm_up()
    kernels = (fit_batch, heatmap_windows, refined_landmarks, scale_to_floats, image_landmarks)
    before = [len(kernel.signatures) for kernel in kernels]  # type: ignore[attr-defined]
    rng = np.random.default_rng(2)
    pixels, visibility, skeletons = crowd(rng, 5, 33)
    fit_roots(pixels, visibility, skeletons, CAMERA)
    heatmaps = rng.normal(size=(3, 64, 64, 39)).astype(np.float32)
    xy = refine_with_heatmaps(rng.uniform(0.0, 256.0, (3, 39, 5))[:, :33, :2], heatmaps)
    crops_to_image(xy, np.tile(np.eye(2, 3), (3, 1, 1)))
    CropSampler(16)(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), np.tile(np.eye(2, 3), (2, 1, 1)))
    assert [len(kernel.signatures) for kernel in kernels] == before  # type: ignore[attr-defined]
