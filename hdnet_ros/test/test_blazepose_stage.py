"""The BlazePose stage: crop geometry, outputs mapped back, the monocular root, the mask,
and, on the real sample frames, the root against the sensor with depth off.

Bounds on network outputs state properties with margins (runtimes differ by ~1e-4 relative,
int8 MoveNet guides by a few pixels between machines), never one machine's numbers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.inference.backend import Arrays, Backend, TensorSpec
from hdnet_ros.joints import LEFT_HIP as COCO_LEFT_HIP
from hdnet_ros.joints import LEFT_WRIST as COCO_LEFT_WRIST
from hdnet_ros.joints import NECK, NUM_JOINTS, PELVIS
from hdnet_ros.nets.preprocessing import apply_affine, invert_affine
from hdnet_ros.people import DepthSource, Detection, Frame, Person
from hdnet_ros.stages.blazepose import (
    BlazePoseConfig,
    BlazePoseStage,
    MonocularRoot,
    RootFitFailure,
    open_blazepose_stage,
)
from hdnet_ros.stages.blazepose.crops import (
    CROP_CENTRE,
    CROP_SIZE,
    CropSampler,
    crop_affines,
    full_body_boxes,
    rotations_from_up,
    up_vectors,
)
from hdnet_ros.stages.blazepose.decode import (
    landmarks_to_image,
    refine_with_heatmaps,
    to_joint_set,
    to_keypoints2d,
    view_rotations,
    world_to_camera,
)
from hdnet_ros.stages.blazepose.mask import warp_mask
from hdnet_ros.stages.blazepose.root_fit import ROOT_FIT_LANDMARKS, fit_root

# The sample frames' camera (HSR head RGB): K and plumb_bob distortion.
HSR_K = np.array([[537.03, 0.0, 320.66], [0.0, 537.56, 227.70], [0.0, 0.0, 1.0]])
HSR_D = np.array([0.0283, 0.0487, -0.0015, 0.0027, -0.4925])
CAMERA = CameraModel(640, 480, HSR_K, HSR_D)


def person_at(box: tuple[float, float, float, float], pixels: npt.NDArray[np.float64] | None = None) -> Person:
    seen = np.full((NUM_JOINTS, 2), np.nan) if pixels is None else pixels
    return Person(Detection(np.array(box, dtype=np.float64), 0.9), seen, np.zeros(NUM_JOINTS))


# --- crop geometry ---------------------------------------------------------------------


def test_a_rotated_crop_maps_the_box_centre_to_the_crop_centre_and_back() -> None:
    boxes = np.array([[100.0, 50.0, 260.0, 450.0], [300.0, 200.0, 420.0, 260.0]])
    affines = crop_affines(boxes, np.array([0.7, -2.0]), scale=1.25)
    centres = ((boxes[:, :2] + boxes[:, 2:]) / 2.0)[:, None]
    np.testing.assert_allclose(apply_affine(centres, affines)[:, 0], CROP_CENTRE, atol=1e-9)
    points = np.random.default_rng(0).uniform(0, 640, size=(2, 5, 2))
    np.testing.assert_allclose(apply_affine(apply_affine(points, affines), invert_affine(affines)), points, atol=1e-9)
    # The square's side is 1.25 x the longer box side: the crop's 256 px span it.
    scale = np.linalg.norm(affines[:, :, 0], axis=1)
    np.testing.assert_allclose(scale, CROP_SIZE / (1.25 * np.array([400.0, 120.0])))


@pytest.mark.parametrize("up", [(0.0, -1.0), (1.0, 0.0), (-0.3, 0.8), (0.5, -0.5)])
def test_rotation_makes_the_hips_to_shoulders_line_vertical(up: tuple[float, float]) -> None:
    pixels = np.full((1, NUM_JOINTS, 2), np.nan)
    hips = np.array([[300.0, 300.0], [340.0, 302.0]])
    pixels[0, [11, 12]] = hips
    pixels[0, [5, 6]] = hips + 150.0 * np.array(up)
    angle = rotations_from_up(up_vectors(pixels))
    affine = crop_affines(np.array([[250.0, 100.0, 400.0, 500.0]]), angle, 1.25)[0]
    in_crop = affine[:, :2] @ np.array(up)
    assert abs(in_crop[0]) < 1e-9 * np.linalg.norm(in_crop)
    assert in_crop[1] < 0  # up in the image is up in the crop


def test_up_vectors_pair_each_side_and_fall_back_to_the_head() -> None:
    pixels = np.full((4, NUM_JOINTS, 2), np.nan)
    pixels[0, [11, 5]] = [[100.0, 300.0], [110.0, 150.0]]  # left side only: its own line
    pixels[1, 11] = [100.0, 300.0]  # a left hip and a right shoulder never make a line
    pixels[1, 6] = [160.0, 150.0]
    pixels[2, [11, 12]] = [[100.0, 300.0], [140.0, 300.0]]  # hips and head, no shoulders
    pixels[2, 0] = [120.0, 100.0]
    up = up_vectors(pixels)
    np.testing.assert_allclose(up[0], [10.0, -150.0])
    assert np.all(np.isnan(up[1])) and np.all(np.isnan(up[3]))
    np.testing.assert_allclose(up[2], [0.0, -200.0])
    np.testing.assert_array_equal(rotations_from_up(up)[[1, 3]], 0.0)  # nothing to go by: no rotation


def test_a_person_cut_by_the_image_is_framed_about_the_hips_beyond_it() -> None:
    """A box the image's bottom cuts above the knees becomes the square about the hip centre
    that reaches its top (MediaPipe's full-body region), partly beyond the image; a box
    inside the image, one cut below the knees (the bottom further from the hips than half
    their reach to the head), one cut at a side only or a cut one whose hips are unseen
    stays as it is."""
    width, height = 640, 480
    boxes = np.array(
        [
            [200.0, 100.0, 300.0, 479.0],  # cut at the bottom 79 px under the hips, 300 px under the head
            [200.0, 100.0, 300.0, 400.0],  # inside the image
            [400.0, 100.0, 500.0, 478.0],  # cut, hips not seen
            [200.0, 150.0, 300.0, 479.0],  # cut 179 px under the hips, 150 px under the head: below the knees
            [0.0, 100.0, 100.0, 400.0],  # cut by the left border only: the legs are in view
        ]
    )
    pixels = np.full((5, NUM_JOINTS, 2), np.nan)
    pixels[0, [11, 12]] = [[240.0, 400.0], [260.0, 400.0]]
    pixels[1, [11, 12]] = [[240.0, 250.0], [260.0, 250.0]]
    pixels[3, [11, 12]] = [[240.0, 300.0], [260.0, 300.0]]
    pixels[4, [11, 12]] = [[10.0, 250.0], [30.0, 250.0]]
    full = full_body_boxes(boxes, pixels, width, height)
    np.testing.assert_allclose(full[0], [-50.0, 100.0, 550.0, 700.0])  # centre (250, 400), half side 300
    assert full[0, 3] > height  # the legs' place lies beyond the image
    np.testing.assert_array_equal(full[1:], boxes[1:])


def test_the_sampler_takes_each_crop_pixel_from_where_the_affine_says() -> None:
    """On a linear ramp image bilinear sampling is exact, so every crop pixel's value tells
    the image position it came from (pixel-centre convention) to within rounding."""
    ys, xs = np.mgrid[0:480, 0:640]
    rgb = np.stack((xs % 256, ys % 256, np.zeros_like(xs)), axis=2).astype(np.uint8)
    affines = crop_affines(np.array([[60.0, 40.0, 180.0, 200.0]]), np.array([0.4]), 1.25)
    crop = CropSampler()(rgb, affines)[0] * 255.0
    rows, cols = np.mgrid[40:216:7, 40:216:7]
    source = apply_affine(np.stack((cols, rows), axis=-1).reshape(1, -1, 2).astype(float), invert_affine(affines))[0]
    sampled = crop[rows.ravel(), cols.ravel()]
    np.testing.assert_allclose(sampled[:, 0], source[:, 0], atol=1.0)
    np.testing.assert_allclose(sampled[:, 1], source[:, 1], atol=1.0)


# --- outputs back in the image and the camera ------------------------------------------


def test_network_coordinates_span_the_crop_edge_to_edge() -> None:
    """The network's 0..256 covers the crop's outer edges: 128 is the box centre and 0 the
    crop's edge, half a crop pixel outside the first pixel centre."""
    box = np.array([[100.0, 100.0, 300.0, 300.0]])
    inverse = invert_affine(crop_affines(box, np.zeros(1), 1.28))  # 256 px over 256 image px: 1 to 1
    image = landmarks_to_image(np.array([[[128.0, 128.0], [0.0, 0.0]]]), inverse)[0]
    np.testing.assert_allclose(image[0], [200.0, 200.0], atol=1e-9)
    np.testing.assert_allclose(image[1], [200.0 - 128.0, 200.0 - 128.0], atol=1e-9)


def test_world_skeleton_rotation_round_trip() -> None:
    rng = np.random.default_rng(1)
    skeleton = rng.normal(scale=0.5, size=(3, 33, 3))
    angles = np.array([0.0, 1.2, -2.8])
    in_crop = skeleton.copy()
    cos, sin = np.cos(angles), np.sin(angles)
    in_crop[..., 0] = cos[:, None] * skeleton[..., 0] - sin[:, None] * skeleton[..., 1]
    in_crop[..., 1] = sin[:, None] * skeleton[..., 0] + cos[:, None] * skeleton[..., 1]
    np.testing.assert_allclose(world_to_camera(in_crop, angles), skeleton, atol=1e-12)


def test_view_rotation_turns_the_optical_axis_onto_the_ray() -> None:
    rays = np.array([[0.0, 0.0], [0.4, -0.2], [-0.9, 0.6]])
    views = view_rotations(rays)
    np.testing.assert_allclose(views[0], np.eye(3), atol=1e-12)
    for view, ray in zip(views, rays, strict=True):
        direction = np.append(ray, 1.0) / np.linalg.norm(np.append(ray, 1.0))
        np.testing.assert_allclose(view @ [0.0, 0.0, 1.0], direction, atol=1e-12)
        np.testing.assert_allclose(view @ view.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(view) == pytest.approx(1.0)


def test_joint_set_mapping_puts_the_pelvis_at_the_origin() -> None:
    world = np.random.default_rng(2).normal(size=(33, 3))
    world -= (world[23] + world[24]) / 2.0
    pose, feet = to_joint_set(world)
    assert pose.shape == (NUM_JOINTS, 3) and feet.shape == (4, 3)
    np.testing.assert_allclose(pose[PELVIS], 0.0, atol=1e-12)
    np.testing.assert_allclose(pose[NECK], (world[11] + world[12]) / 2.0)
    np.testing.assert_array_equal(pose[COCO_LEFT_WRIST], world[15])
    np.testing.assert_array_equal(pose[COCO_LEFT_HIP], world[23])
    np.testing.assert_array_equal(feet, world[[29, 30, 31, 32]])


def test_keypoints_from_landmarks_follow_the_keypoint_stage() -> None:
    pixels = np.arange(66, dtype=float).reshape(33, 2)
    visibility = np.full(33, 0.9)
    visibility[15] = 0.1  # left wrist unseen
    keypoints = to_keypoints2d(pixels, visibility, min_score=0.3)
    np.testing.assert_array_equal(keypoints.pixels[COCO_LEFT_HIP], pixels[23])
    assert np.all(np.isnan(keypoints.pixels[COCO_LEFT_WRIST])) and keypoints.scores[COCO_LEFT_WRIST] == 0.1
    np.testing.assert_allclose(keypoints.pixels[PELVIS], (pixels[23] + pixels[24]) / 2.0)


def test_heatmap_refinement_moves_confident_landmarks_to_the_blob() -> None:
    heatmaps = np.full((1, 64, 64, 2), -10.0, dtype=np.float32)
    heatmaps[0, 20:23, 30:33, 0] = 5.0  # a confident blob centred on cell (col 31, row 21)
    xy = np.array([[[134.0, 94.0], [134.0, 94.0]]])  # both start two cells off its centre: cell (33, 23)
    refined = refine_with_heatmaps(xy, heatmaps)
    np.testing.assert_allclose(refined[0, 0], [31 * 4.0, 21 * 4.0], atol=0.1)
    np.testing.assert_array_equal(refined[0, 1], xy[0, 1])  # nothing confident: stays


def test_a_mask_of_half_the_crop_covers_that_half_of_the_image_rectangle() -> None:
    logits = np.full((CROP_SIZE, CROP_SIZE), -5.0, dtype=np.float32)
    logits[:, : CROP_SIZE // 2] = 5.0  # the crop's left half
    box = np.array([[200.0, 100.0, 300.0, 300.0]])  # 250 px crop around (250, 200)
    for angle, person_side, other_side in (
        (0.0, (230.0, 200.0), (270.0, 200.0)),  # unrotated: the image's left half
        (-np.pi / 2, (250.0, 180.0), (250.0, 220.0)),  # image down -> crop right: crop left = image top
    ):
        affine = crop_affines(box, np.array([angle]), 1.25)
        mask = warp_mask(logits, affine[0], invert_affine(affine)[0], 480, 640)
        assert mask.contains([person_side, other_side]).tolist() == [True, False]
        full = mask.in_image(480, 640)
        assert 0.45 < full.sum() / (250.0 * 250.0) < 0.55
        assert not mask.contains([[np.nan, np.nan], [5.0, 5.0]]).any()


# --- the monocular root ----------------------------------------------------------------


def synthetic_person(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """33 points of a standing body's extent (0.5 x 1.7 x 0.3 m) around its hip centre."""
    skeleton = rng.uniform([-0.25, -0.9, -0.15], [0.25, 0.8, 0.15], size=(33, 3))
    return skeleton - (skeleton[23] + skeleton[24]) / 2.0


def project(skeleton: npt.NDArray[np.float64], t: npt.NDArray[np.float64], noise_px: float, rng: Any) -> Any:
    return CAMERA.project(skeleton + t) + rng.normal(scale=noise_px, size=(len(skeleton), 2))


def test_root_fit_recovers_a_known_translation() -> None:
    rng = np.random.default_rng(3)
    skeleton, t = synthetic_person(rng), np.array([0.4, 0.3, 4.0])
    visibility = np.full(33, 0.9)
    exact = fit_root(project(skeleton, t, 0.0, rng), visibility, skeleton, CAMERA)
    assert isinstance(exact, MonocularRoot)
    np.testing.assert_allclose(exact.position, t, atol=1e-6)
    assert exact.landmarks == len(ROOT_FIT_LANDMARKS) and exact.rms_px < 1e-3
    noisy = fit_root(project(skeleton, t, 2.0, rng), visibility, skeleton, CAMERA, relative_sigma=0.07)
    assert isinstance(noisy, MonocularRoot)
    # 2 px on a 1.7 m body 230 px tall at 4 m: a few centimetres at most.
    assert np.linalg.norm(noisy.position - t) < 0.08
    assert noisy.sigma >= 0.07 * noisy.depth  # the unknown-scale part is always in the sigma
    assert 1.0 < noisy.rms_px < 3.5


def test_root_sigma_is_honest_about_the_fit() -> None:
    """Without the scale part, the fit's depth sigma must cover the actual errors as a 1-sigma
    should: about 68 % within 1 sigma, 95 % within 2 (checked with wide margins)."""
    rng = np.random.default_rng(4)
    within_1, within_2, trials = 0, 0, 300
    for _ in range(trials):
        skeleton, t = synthetic_person(rng), np.array([rng.uniform(-1, 1), 0.2, rng.uniform(2.0, 8.0)])
        fit = fit_root(project(skeleton, t, 1.5, rng), np.full(33, 0.9), skeleton, CAMERA, relative_sigma=0.0)
        assert isinstance(fit, MonocularRoot)
        error = abs(fit.position[2] - t[2])
        within_1 += error <= fit.sigma
        within_2 += error <= 2 * fit.sigma
    assert 0.5 < within_1 / trials < 0.85
    assert within_2 / trials > 0.85


def test_root_fit_refuses_too_few_landmarks_and_says_why() -> None:
    rng = np.random.default_rng(5)
    skeleton, t = synthetic_person(rng), np.array([0.0, 0.2, 3.0])
    pixels = project(skeleton, t, 0.0, rng)
    visibility = np.full(33, 0.1)
    visibility[[23, 24, 25]] = 0.9  # three visible: one short of the fit's minimum
    fit = fit_root(pixels, visibility, skeleton, CAMERA)
    assert isinstance(fit, RootFitFailure) and "3 landmarks" in fit.reason
    visibility[:] = 0.9
    outside = pixels.copy()
    outside[list(ROOT_FIT_LANDMARKS)[3:]] = [-50.0, 100.0]  # all but three left the image
    fit = fit_root(outside, visibility, skeleton, CAMERA)
    assert isinstance(fit, RootFitFailure) and "3 landmarks" in fit.reason


# --- configuration -----------------------------------------------------------------------


def test_config_fields_are_declarable_settings() -> None:
    from hdnet_ros.config import iter_parameters

    parameters = {p.name: p for p in iter_parameters(BlazePoseConfig)}
    assert parameters["model"].default == "blazepose_ghum_full"
    assert parameters["presence_threshold"].maximum == 1.0 and parameters["rotate_crops"].type is bool
    assert all(p.description for p in parameters.values())


def test_a_missing_model_file_is_an_error_naming_it(tmp_path: Path) -> None:
    from hdnet_ros.inference.runtime import InferenceConfig
    from hdnet_ros.model_files import ModelFileError

    with pytest.raises(ModelFileError, match=r"absent\.tflite"):
        open_blazepose_stage(BlazePoseConfig(model="absent.tflite"), InferenceConfig(), str(tmp_path), threads=1)


# --- batching ----------------------------------------------------------------------------


class FakeBlazePose(Backend):
    """Outputs that depend on each crop's content only, and a count of the calls."""

    kind = "fake"

    def __init__(self) -> None:
        self.calls: list[int] = []

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("image", (None, 256, 256, 3), np.dtype(np.float32)),)

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return ()

    def _run(self, inputs: Arrays) -> Arrays:
        images = inputs["image"]
        count = len(images)
        self.calls.append(count)
        mean = images.mean(axis=(1, 2, 3)).astype(np.float32)
        landmarks = np.zeros((count, 39, 5), dtype=np.float32)
        landmarks[:, :, :2] = np.linspace(40, 200, 39)[None, :, None] * (0.5 + mean[:, None, None])
        landmarks[:, :, 3] = 5.0
        world = np.random.default_rng(6).normal(scale=0.4, size=(1, 39, 3)).astype(np.float32) * (
            1 + mean[:, None, None]
        )
        return {
            "landmarks": landmarks.reshape(count, 195),
            "presence": np.clip(4.0 * mean - 0.5, 0.0, 1.0)[:, None],
            "mask": np.zeros((count, 256, 256, 1), dtype=np.float32),
            "heatmaps": np.full((count, 64, 64, 39), -10.0, dtype=np.float32),
            "world_landmarks": world.reshape(count, 117),
        }


def fake_frame() -> Frame:
    rgb = np.random.default_rng(7).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    rgb[:, :320] = 0  # black left half: the crops there have a low presence
    return Frame(rgb, None, CAMERA, 1, "camera")


def test_one_call_per_max_batch_and_any_subset_gives_the_same_estimates() -> None:
    frame = fake_frame()
    people = [person_at((60.0 * i, 100.0, 60.0 * i + 80.0, 400.0)) for i in range(1, 10)]
    backend = FakeBlazePose()
    stage = BlazePoseStage(backend, BlazePoseConfig(presence_threshold=0.5), max_batch=4)
    everyone = stage(frame, people)
    assert backend.calls == [4, 4, 1]
    rejected = [e is None for e in everyone]
    assert any(rejected) and not all(rejected)
    assert stage.counts["low_presence"] == sum(rejected) and stage.counts["crops"] == 9
    subset = stage(frame, people[2:5])
    assert backend.calls[-1] == 3
    for alone, together in zip(subset, everyone[2:5], strict=True):
        assert (alone is None) == (together is None)
        if alone is not None and together is not None:
            np.testing.assert_allclose(alone.pixels, together.pixels, atol=1e-6)
            np.testing.assert_allclose(alone.world, together.world, atol=1e-6)
    assert stage(frame, []) == [] and backend.calls[-1] == 3


class MasklessBlazePose(FakeBlazePose):
    """A runtime that can leave the mask uncomputed (as OpenVINO does): its mask is the
    person's whole crop (logit 1), and the calls that skip it are counted."""

    skippable = frozenset({"mask"})

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[int] = []

    def _run(self, inputs: Arrays) -> Arrays:
        outputs = super()._run(inputs)
        outputs["mask"][:] = 1.0
        return outputs

    def _run_without(self, inputs: Arrays, skip: frozenset[str]) -> Arrays:
        outputs = self._run(inputs)
        self.skipped.append(len(inputs["image"]))
        return {name: array for name, array in outputs.items() if name not in skip}


@pytest.mark.parametrize("backend_class", [FakeBlazePose, MasklessBlazePose])
def test_crops_whose_mask_nobody_reads_give_the_same_estimates_without_one(backend_class: type) -> None:
    """A runtime that can skip the mask runs the crops without one in a call of their own
    that skips it, one that cannot runs them all in one call; either way the estimates are
    the same as with every mask, less the unwanted masks."""
    frame = fake_frame()
    people = [person_at((340.0 + 40 * i, 100.0, 420.0 + 40 * i, 400.0)) for i in range(5)]
    wanted = [True, False, True, False, False]
    every = BlazePoseStage(backend_class(), BlazePoseConfig(), max_batch=4)(frame, people)
    backend = backend_class()
    stage = BlazePoseStage(backend, BlazePoseConfig(), max_batch=4)
    some = stage(frame, people, masks=wanted)
    if backend_class is MasklessBlazePose:
        assert backend.calls == [2, 3] and backend.skipped == [3]
    else:
        assert backend.calls == [4, 1]
    assert stage.counts["without_mask"] == 3 and stage.counts["crops"] == 5
    assert all(e is not None for e in every) and all(e is not None for e in some)
    for full, lean, want in zip(every, some, wanted, strict=True):
        assert full is not None and lean is not None and full.mask is not None
        np.testing.assert_array_equal(lean.pixels, full.pixels)
        np.testing.assert_array_equal(lean.world, full.world)
        np.testing.assert_array_equal(lean.visibility, full.visibility)
        assert (lean.mask is not None) == want
        if lean.mask is not None:
            assert (lean.mask.x0, lean.mask.y0) == (full.mask.x0, full.mask.y0)
            np.testing.assert_array_equal(lean.mask.inside, full.mask.inside)
    if backend_class is MasklessBlazePose:
        assert any(e is not None and e.mask is not None and e.mask.inside.any() for e in some), "a real mask"
    nobody = stage(frame, people[:2], masks=[False, False])
    assert all(e is not None and e.mask is None for e in nobody)


class BrokenBlazePose(FakeBlazePose):
    """A runtime fault: NaN landmarks and skeleton (and NaN presence for every other crop)."""

    def _run(self, inputs: Arrays) -> Arrays:
        outputs = super()._run(inputs)
        outputs["landmarks"][:] = np.nan
        outputs["world_landmarks"][:] = np.nan
        outputs["presence"][::2] = np.nan
        outputs["presence"][1::2] = 1.0
        return outputs


def test_nan_outputs_give_a_rejection_or_no_root_never_a_crash() -> None:
    stage = BlazePoseStage(BrokenBlazePose(), BlazePoseConfig())
    people = [person_at((400.0 + 20 * i, 100.0, 480.0 + 20 * i, 400.0)) for i in range(4)]
    estimates = stage(fake_frame(), people)
    assert [e is None for e in estimates] == [True, False, True, False]
    for estimate in estimates[1::2]:
        assert estimate is not None and isinstance(estimate.root, RootFitFailure)
    assert stage.counts["low_presence"] == 2 and stage.counts["no_root"] == 2


# --- real sample frames ------------------------------------------------------------------


@pytest.fixture(scope="module")
def stage(models_dir: Path) -> BlazePoseStage:
    from hdnet_ros.inference.runtime import InferenceConfig
    from hdnet_ros.model_files import ModelFileError

    try:
        return open_blazepose_stage(BlazePoseConfig(), InferenceConfig(), str(models_dir), threads=2)
    except ModelFileError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def sample_people(models_dir: Path, sample_bags: list[Path]) -> list[tuple[Frame, list[Person]]]:
    """Each sample frame's people lifted from the depth image alone (the 3D networks off):
    their sensor-derived pelvis is the teacher."""
    from hdnet_ros.frame_input import build_frame
    from hdnet_ros.pipeline import Pipeline
    from helpers import sample_messages

    from hdnet_ros.config import load_settings

    overrides = {"models.models_dir": str(models_dir), "networks.pose_3d": "", "networks.root_depth": ""}
    pipeline = Pipeline.from_settings(load_settings(overrides=overrides))
    result = []
    for bag in sample_bags:
        m = sample_messages(bag)
        frame = build_frame(m["rgb"], m["depth"], m["camera_info"])
        pipeline.reset_tracking()
        result.append((frame, pipeline.process(frame).people))
    return result


def standing(people: list[Person]) -> Person:
    """The standing person of issue 9: the tallest box (nearest, 1.8-2.0 m) of each frame."""
    return max(people, key=lambda p: float(p.detection.box[3] - p.detection.box[1]))


def without_depth(frame: Frame) -> Frame:
    return dataclasses.replace(frame, depth_m=None)


def test_standing_person_monocular_root_within_035_m_of_the_sensor(
    stage: BlazePoseStage, sample_people: list[tuple[Frame, list[Person]]]
) -> None:
    for frame, people in sample_people:
        person = standing(people)
        assert person.depth_sources[PELVIS] == DepthSource.SENSOR
        (estimate,) = stage(without_depth(frame), [person])
        assert estimate is not None and isinstance(estimate.root, MonocularRoot), estimate
        error = np.linalg.norm(estimate.root.position - person.root)
        assert error < 0.35, (error, estimate.root, person.root)
        assert abs(estimate.root.depth - person.root[2]) < 3 * estimate.root.sigma


def test_standing_person_metric_skeleton_has_plausible_bones(
    stage: BlazePoseStage, sample_people: list[tuple[Frame, list[Person]]]
) -> None:
    for frame, people in sample_people:
        (estimate,) = stage(without_depth(frame), [standing(people)])
        assert estimate is not None
        w = estimate.world

        def bone(a: int, b: int, w: npt.NDArray[np.float64] = w) -> float:
            return float(np.linalg.norm(w[a] - w[b]))

        assert 0.25 < bone(11, 12) < 0.45  # shoulder width
        # Upper arms: 0.186 x stature is 0.28-0.35 m for adults; BlazePose's world skeleton
        # draws them short (0.21 m measured on the sample frames), hence the wide lower bound.
        assert 0.15 < bone(11, 13) < 0.40 and 0.15 < bone(12, 14) < 0.40
        assert 0.3 < bone(23, 25) < 0.5 and 0.3 < bone(24, 26) < 0.5  # thighs
        np.testing.assert_allclose(estimate.relative_pose[PELVIS], 0.0, atol=1e-9)


def test_standing_person_mask_covers_the_body_not_the_background(
    stage: BlazePoseStage, sample_people: list[tuple[Frame, list[Person]]]
) -> None:
    for frame, people in sample_people:
        person = standing(people)
        (estimate,) = stage(frame, [person])
        assert estimate is not None
        torso = estimate.pixels[[11, 12, 23, 24]]
        torso_centre = torso.mean(axis=0, keepdims=True)
        assert estimate.mask.contains(np.concatenate((torso, torso_centre))).all()
        x0, y0, x1, y1 = person.detection.box
        # The box's top corners are beside the head: background.
        assert not estimate.mask.contains([[x0 + 3, y0 + 3], [x1 - 3, y0 + 3]]).any()
        inside = estimate.mask.in_image(frame.camera.height, frame.camera.width)
        box_area = (x1 - x0) * (y1 - y0)
        assert 0.2 < inside.sum() / box_area < 0.9


def turned(frame: Frame, person: Person) -> tuple[Frame, Person]:
    """The frame turned a quarter counter-clockwise (np.rot90) with its camera and the person:
    pixel (u, v) -> (v, W-1-u), camera point (X, Y, Z) -> (Y, -X, Z)."""
    width, c = frame.rgb.shape[1], frame.camera
    d = c.D.copy()
    d[2], d[3] = -c.D[3], c.D[2]  # tangential distortion turns with the image
    camera = CameraModel(c.height, c.width, np.array([[c.fy, 0, c.cy], [0, c.fx, width - 1 - c.cx], [0, 0, 1]]), d)

    def turn(uv: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
        return np.stack((uv[..., 1], width - 1 - uv[..., 0]), axis=-1)

    corners = turn(person.detection.box.reshape(2, 2))
    box = np.concatenate((corners.min(axis=0), corners.max(axis=0)))
    moved = Person(Detection(box, person.detection.score), turn(person.pixels), person.scores)
    return Frame(np.ascontiguousarray(np.rot90(frame.rgb)), None, camera, frame.stamp_ns, frame.frame_id), moved


def test_a_person_lying_on_the_side_is_rotated_upright_and_mapped_back(
    stage: BlazePoseStage, sample_people: list[tuple[Frame, list[Person]]]
) -> None:
    """The frame turned a quarter: the crop turns back by ~90 degrees, and the root and the
    skeleton, turned back, are the upright frame's. A quarter turn permutes pixels exactly, so
    the rotated crop holds the upright crop's pixels (up to the warp's sub-pixel rounding):
    any slip in the affines, the skeleton's rotation, the view correction or the turned
    camera shows as a difference far above a centimetre."""
    frame, people = sample_people[0]
    person = standing(people)
    (upright,) = stage(without_depth(frame), [person])
    turned_frame, turned_person = turned(frame, person)
    (lying,) = stage(turned_frame, [turned_person])
    assert upright is not None and lying is not None
    assert abs(np.degrees(lying.rotation - upright.rotation) - 90.0) < 1e-6
    assert isinstance(upright.root, MonocularRoot) and isinstance(lying.root, MonocularRoot)
    unturn = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert np.linalg.norm(unturn @ lying.root.position - upright.root.position) < 0.01
    joints = np.linalg.norm(lying.relative_pose @ unturn.T - upright.relative_pose, axis=1)
    assert np.max(joints) < 0.01, joints
    assert np.linalg.norm(unturn @ lying.root.position - person.root) < 0.35


@pytest.mark.parametrize("box", [(420.0, 20.0, 600.0, 120.0), (100.0, 40.0, 240.0, 110.0)])
def test_a_crop_of_an_empty_wall_gives_no_estimate_and_is_counted(
    stage: BlazePoseStage, sample_people: list[tuple[Frame, list[Person]]], box: tuple[float, float, float, float]
) -> None:
    frame, people = sample_people[0]
    before = stage.counts["low_presence"]
    estimates = stage(frame, [person_at(box), standing(people)])
    assert estimates[0] is None and estimates[1] is not None
    assert stage.counts["low_presence"] == before + 1


def test_blazepose_keypoints_land_on_movenets_for_the_standing_person(
    stage: BlazePoseStage, sample_people: list[tuple[Frame, list[Person]]]
) -> None:
    """Two networks, one person: the torso keypoints agree within a tenth of the box height."""
    for frame, people in sample_people:
        person = standing(people)
        (estimate,) = stage(frame, [person])
        assert estimate is not None
        keypoints = estimate.keypoints(min_score=0.3)
        height = float(person.detection.box[3] - person.detection.box[1])
        both = np.all(np.isfinite(keypoints.pixels[[11, 12, 17]]), axis=1) & np.all(
            np.isfinite(person.pixels[[11, 12, 17]]), axis=1
        )
        assert both.any()
        gap = np.linalg.norm(keypoints.pixels[[11, 12, 17]][both] - person.pixels[[11, 12, 17]][both], axis=1)
        assert np.all(gap < 0.1 * height), gap
