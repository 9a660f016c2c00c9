"""The depth stage's glue in its cheaper forms gives what main's numpy gave (``numpy_lifting.
glue``): the floor's candidate points to the bit, on the sample frames' depth and on depth
with invalid pixels (NaN, inf, zero, negative), the refresh's cached sample among them; and
the guessed joints on the synthetic benchmark's frames, measured by the stage, with the 2D
scores as given and lowered at random (so that every limb's test runs); and the compiled
pelvis pixels, sensor roots (measured, from a hip, from the shoulders, on the pelvis ray;
``numpy_lifting.root``), midpoint joints (``Lifted.complete_derived``), root choice, person
band and the measurement taken in, bit for bit on random people that take every rule.
``test_depth_kernel`` compares the whole stage with main's numpy glue swapped in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.frame_input import build_frame
from hdnet_ros.joints import LEFT_SHOULDER, NUM_JOINTS, RIGHT_SHOULDER, ROOT
from hdnet_ros.people import DepthSource, Detection, Person
from hdnet_ros.stages.depth import LiftingConfig
from hdnet_ros.stages.depth.arrays import Facing, Lifted, Observed, RootCandidate, RootCandidates
from hdnet_ros.stages.depth.complete import complete_derived, enforce_person_band, take_measured
from hdnet_ros.stages.depth.floor import GroundConfig, GroundPlane, _floor_candidates
from hdnet_ros.stages.depth.fuse import choose_roots
from hdnet_ros.stages.depth.guessed import guessed_joints
from hdnet_ros.stages.depth.measure import measure_depth
from hdnet_ros.stages.depth.root import pelvis_pixels, sensor_roots
from hdnet_ros.synthetic import RayGrid, make_frame
from hdnet_ros.synthetic.benchmark import default_settings
from hdnet_ros.synthetic.scene import sample_scene
from helpers import sample_messages
from numpy_lifting.glue import choose_roots as reference_choose_roots
from numpy_lifting.glue import enforce_person_band as reference_enforce_person_band
from numpy_lifting.glue import floor_candidates as reference_floor_candidates
from numpy_lifting.glue import guessed_joints as reference_guessed_joints
from numpy_lifting.root import pelvis_pixels as reference_pelvis_pixels
from numpy_lifting.root import sensor_roots as reference_sensor_roots


@pytest.fixture(scope="module")
def sample_depths(sample_bags: list[Path]) -> list[tuple[np.ndarray, CameraModel]]:
    frames = []
    for bag in sample_bags:
        messages = sample_messages(bag)
        frame = build_frame(messages["rgb"], messages["depth"], messages["camera_info"])
        assert frame.depth_m is not None
        frames.append((frame.depth_m, frame.camera))
    return frames


def spoiled(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The depth with a fifth of its pixels NaN, inf, -inf, 0 or negative."""
    spoilt = depth.copy()
    where = rng.random(depth.shape) < 0.2
    spoilt[where] = rng.choice(np.array([np.nan, np.inf, -np.inf, 0.0, -1.0], dtype=np.float32), size=where.sum())
    return spoilt


def test_floor_candidates_are_main_s(sample_depths: list[tuple[np.ndarray, CameraModel]]) -> None:
    rng = np.random.default_rng(0)
    compared = 0
    for depth, camera in sample_depths:
        for image in (depth, spoiled(depth, rng)):
            for samples, seed in ((500, 1), (3000, 0)):
                config = GroundConfig(samples=samples)
                points = _floor_candidates(image, camera, config, np.random.default_rng(seed))
                expected = reference_floor_candidates(image, camera, config, np.random.default_rng(seed))
                assert points is not None and expected is not None
                assert np.array_equal(points, expected)
                if seed == 1:  # the refresh's fixed sample, drawn once per candidate count
                    for _ in range(2):
                        assert np.array_equal(_floor_candidates(image, camera, config, None), expected)
                compared += 1
    empty = np.full_like(sample_depths[0][0], np.nan)
    assert _floor_candidates(empty, sample_depths[0][1], GroundConfig(), np.random.default_rng(0)) is None
    assert compared == 4 * len(sample_depths)


def test_guessed_joints_are_main_s() -> None:
    rng = np.random.default_rng(0)
    guessed = 0
    for setting in default_settings(3):
        scene_rng, sensor_rng, oracle_rng = (np.random.default_rng([0, stream]) for stream in range(3))
        grid = RayGrid(setting.scene.camera.camera())
        config = LiftingConfig(noise_coefficient=setting.sensor.noise_coefficient or 0.0015)
        for _ in range(setting.frames):
            scene = sample_scene(scene_rng, setting.scene)
            frame = make_frame(scene, setting.sensor, setting.oracle, sensor_rng, grid, 0, oracle_rng)
            observed = Observed.of(frame.people, scene.camera)
            expected_z = np.nanmedian(np.where(observed.seen, 3.0, np.nan), axis=1)
            _, measured = measure_depth(observed, frame.depth_m, scene.camera, expected_z, config, None)
            limits = (config.min_depth_m, config.max_depth_m)
            given = np.array([p.scores for p in frame.people], dtype=np.float64)
            for scores in (given, given * rng.uniform(0.3, 1.0, size=given.shape)):
                for jump in (config.guessed_jump_m, 0.05):
                    arguments = (observed, scores, measured, frame.depth_m, jump, *limits)
                    result = guessed_joints(*arguments)
                    assert np.array_equal(result, reference_guessed_joints(*arguments))
                    guessed += int(result.sum())
    assert guessed > 0  # some joints were guessed: the test's every branch ran


def test_pelvis_pixels_are_main_s() -> None:
    """The compiled pelvis pixels equal main's numpy ones bit for bit, on people with each
    rule's joints seen or not (every rule is taken), shoulders on one pixel, and depths
    that are NaN, zero, negative or tiny (no pixel but the seen pelvis)."""
    rng = np.random.default_rng(3)
    people = 2000
    pixels = rng.uniform(0.0, 640.0, (people, NUM_JOINTS, 2))
    seen = rng.random((people, NUM_JOINTS)) < rng.uniform(0.0, 1.0, people)[:, None]
    seen[:, ROOT] &= rng.random(people) < 0.3
    same = rng.random(people) < 0.05
    pixels[same, RIGHT_SHOULDER] = pixels[same, LEFT_SHOULDER]
    pixels = np.where(seen[..., None], pixels, np.nan)
    z = rng.uniform(0.5, 8.0, people)
    z[rng.random(people) < 0.1] = np.nan
    z[:40] = (0.0, -1.0, 1e-320, np.inf) * 10
    rays = np.zeros((people, NUM_JOINTS, 3))
    observed = Observed(pixels, seen, np.zeros((people, NUM_JOINTS, 2)), rays, np.zeros((people, 4)))
    camera = CameraModel.from_fov(640, 480, 60.0)
    for stature in (1.7, 1.5):
        got, got_estimated = pelvis_pixels(observed, z, camera, stature)
        with np.errstate(over="ignore"):  # main's code warned on the tiny depth
            expected, expected_estimated = reference_pelvis_pixels(observed, z, camera, stature)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got_estimated, expected_estimated)
    assert 0.2 * people < np.count_nonzero(np.isfinite(got[:, 0]) & got_estimated) < people  # rules taken


def test_compiled_midpoint_joints_are_lifted_s() -> None:
    """The compiled midpoint joints (pelvis, neck) equal ``Lifted.complete_derived``'s bit
    for bit: each of their joints positioned or not, the midpoint already positioned or
    not, every pair of depth sources."""
    rng = np.random.default_rng(5)
    people = 3000
    lifted = Lifted(
        rng.normal(0.0, 2.0, (people, NUM_JOINTS, 3)),
        rng.uniform(0.0, 0.3, (people, NUM_JOINTS)),
        rng.integers(0, 4, (people, NUM_JOINTS)).astype(np.uint8),
    )
    lifted.positions[rng.random((people, NUM_JOINTS)) < 0.4, rng.integers(0, 3)] = np.nan
    lifted.sigma[rng.random((people, NUM_JOINTS)) < 0.1] = np.nan
    before = np.all(np.isfinite(lifted.positions), axis=-1)
    expected = Lifted(lifted.positions.copy(), lifted.sigma.copy(), lifted.sources.copy())
    expected.complete_derived()
    complete_derived(lifted)
    np.testing.assert_array_equal(lifted.positions, expected.positions)
    np.testing.assert_array_equal(lifted.sigma, expected.sigma)
    np.testing.assert_array_equal(lifted.sources, expected.sources)
    filled = np.all(np.isfinite(lifted.positions), axis=-1) & ~before
    assert 0.05 * people < np.count_nonzero(filled) < people  # both rules ran


def test_sensor_roots_are_main_s() -> None:
    """The sensor's roots (compiled: measured, from a hip, from the shoulders, on the pelvis
    ray) equal main's numpy ones bit for bit: pelvis measured or not, hips measured by the
    sensor or otherwise, facing known or not, NaN statures, with and without a floor, with
    and without lens distortion (OpenCV places those)."""
    rng = np.random.default_rng(7)
    people = 2000
    lifted = Lifted(
        rng.normal(0.0, 2.0, (people, NUM_JOINTS, 3)) + np.array([0.0, 0.0, 4.0]),
        rng.uniform(0.0, 0.3, (people, NUM_JOINTS)),
        rng.integers(1, 5, (people, NUM_JOINTS)).astype(np.uint8),
    )
    lifted.positions[rng.random((people, NUM_JOINTS)) < 0.5] = np.nan
    angle = rng.uniform(-np.pi, np.pi, people)
    facing = Facing(np.cos(angle), np.sin(angle), rng.random(people) < 0.7)
    stature = rng.uniform(1.4, 2.0, people)
    stature[rng.random(people) < 0.05] = np.nan
    reference = rng.uniform(1.0, 6.0, people)
    reference[rng.random(people) < 0.1] = np.nan
    pixels = rng.uniform(0.0, 640.0, (people, NUM_JOINTS, 2))
    seen = rng.random((people, NUM_JOINTS)) < 0.7
    pixels = np.where(seen[..., None], pixels, np.nan)
    camera = CameraModel.from_fov(640, 480, 60.0)
    flat = np.where(seen[..., None], pixels, 0.0).reshape(-1, 2)
    rays = np.concatenate((camera.normalized_rays(flat), np.ones((len(flat), 1))), axis=1).reshape(people, -1, 3)
    observed = Observed(pixels, seen, rays[..., :2], rays, np.zeros((people, 4)))
    config = LiftingConfig()
    plane = GroundPlane(np.array([0.0, -0.96, -0.28]), -1.2, inliers=0)
    distorted = CameraModel(camera.width, camera.height, camera.K, np.array([0.1, -0.05, 0.001, 0.002, 0.0]))
    for floor, lens in ((lambda: plane, camera), (lambda: None, camera), (lambda: plane, distorted)):
        got = sensor_roots(observed, lifted, facing, stature, reference, floor, lens, config)
        expected = reference_sensor_roots(observed, lifted, facing, stature, reference, floor, lens, config)
        for name in ("point", "sigma", "source"):
            assert getattr(got, name).tobytes() == getattr(expected, name).tobytes(), name
    from_hips = ~lifted.valid[:, ROOT] & facing.known & (got.source == DepthSource.INFERRED)
    assert np.count_nonzero(from_hips) > 0.05 * people  # the hip rule ran


def test_chosen_roots_are_main_s() -> None:
    """The compiled choice of the root equals main's numpy one bit for bit: sensor roots
    fused with network depths that agree, disagree, are exact (sigma 0), missing, negative
    or NaN; the network's and the priors' roots where the sensor has none."""
    rng = np.random.default_rng(11)
    people = 3000

    def candidate(source: int) -> RootCandidate:
        point = rng.normal(0.0, 1.0, (people, 3)) + np.array([0.0, 0.0, 4.0])
        exists = rng.random(people) < 0.6
        point[~exists] = np.nan
        sigma = np.where(exists, rng.uniform(0.0, 0.4, people), np.nan)
        sigma[exists & (rng.random(people) < 0.05)] = 0.0
        return RootCandidate(point, sigma, np.where(exists, source, DepthSource.NONE).astype(np.uint8))

    sensor = candidate(DepthSource.SENSOR)
    sensor.source[rng.random(people) < 0.2] = DepthSource.INFERRED
    network_z = sensor.point[:, 2] + rng.normal(0.0, 0.3, people)
    odd = rng.random(people) < 0.2
    network_z[odd] = rng.choice([np.nan, -1.0, 0.0, np.inf], size=np.count_nonzero(odd))
    network_sigma = rng.uniform(0.0, 0.5, people)
    odd = rng.random(people) < 0.05
    network_sigma[odd] = rng.choice([0.0, np.nan, -0.1], size=np.count_nonzero(odd))
    candidates = RootCandidates(
        sensor, network_z, network_sigma, candidate(DepthSource.NETWORK), candidate(DepthSource.INFERRED)
    )
    got, want = (Lifted.empty(people) for _ in range(2))
    choose_roots(got, candidates)
    with np.errstate(invalid="ignore", divide="ignore"):
        reference_choose_roots(want, candidates)
    for name in ("positions", "sigma", "sources"):
        assert getattr(got, name).tobytes() == getattr(want, name).tobytes(), name
    assert np.count_nonzero(got.sources[:, ROOT] == DepthSource.FUSED) > 0.1 * people  # the fusion ran


@pytest.mark.parametrize("joints", [NUM_JOINTS, 4])  # the joints, and the feet
def test_the_person_band_is_main_s(joints: int) -> None:
    """The compiled person band equals main's numpy one bit for bit: joints near and far
    from a torso depth that may be NaN, joints with a NaN or infinite coordinate."""
    rng = np.random.default_rng(13)
    people = 2000
    positions = rng.normal(0.0, 1.0, (people, joints, 3)) + np.array([0.0, 0.0, 4.0])
    positions[rng.random((people, joints)) < 0.2, rng.integers(0, 3)] = np.nan
    positions[rng.random((people, joints)) < 0.02, 2] = np.inf
    reference = rng.uniform(3.0, 5.0, people)
    reference[rng.random(people) < 0.1] = np.nan
    sources = rng.integers(1, 5, (people, joints)).astype(np.uint8)
    got, want = (Lifted(positions.copy(), rng.uniform(0.0, 0.3, (people, joints)), sources.copy()) for _ in range(2))
    want.sigma[:] = got.sigma
    enforce_person_band(got, reference, 1.0)
    with np.errstate(invalid="ignore"):
        reference_enforce_person_band(want, reference, 1.0)
    for name in ("positions", "sigma", "sources"):
        assert getattr(got, name).tobytes() == getattr(want, name).tobytes(), name
    assert 0.05 * people * joints < np.count_nonzero(got.sources == DepthSource.NONE) < people * joints  # both ways


def test_the_measurement_is_taken_as_main_took_it() -> None:
    """take_measured equals main's lifter lines (the measured joints copied where all three
    coordinates are finite, INFERRED or SENSOR, then the midpoint joints) bit for bit."""
    rng = np.random.default_rng(17)
    people = 2000
    points = rng.normal(0.0, 1.0, (people, NUM_JOINTS, 3)) + np.array([0.0, 0.0, 3.0])
    points[rng.random((people, NUM_JOINTS)) < 0.4, rng.integers(0, 3)] = np.nan
    sigma = rng.uniform(0.0, 0.2, (people, NUM_JOINTS))
    inferred = rng.random((people, NUM_JOINTS)) < 0.2
    got, want = Lifted.empty(people), Lifted.empty(people)
    take_measured(got, points, sigma, inferred)
    seen = np.all(np.isfinite(points), axis=-1)  # main's DepthLifter.__call__ (30ee9d3)
    want.positions[seen] = points[seen]
    want.sigma[seen] = sigma[seen]
    want.sources[seen] = np.where(inferred[seen], DepthSource.INFERRED, DepthSource.SENSOR)
    want.complete_derived()
    for name in ("positions", "sigma", "sources"):
        assert getattr(got, name).tobytes() == getattr(want, name).tobytes(), name


def _numpy_observed(people: list[Person], camera: CameraModel) -> Observed:
    """Observed.of as main built it with numpy (the form a camera with distortion still takes)."""
    count = len(people)
    pixels = np.array([p.pixels for p in people], dtype=np.float64).reshape(count, NUM_JOINTS, 2)
    boxes = np.array([p.detection.box for p in people], dtype=np.float64).reshape(count, 4)
    seen = np.all(np.isfinite(pixels), axis=-1)
    flat = np.where(seen[..., None], pixels, 0.0).reshape(-1, 2)
    normalized = camera.normalized_rays(flat)
    rays = np.concatenate((normalized, np.ones((len(normalized), 1))), axis=1)
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    return Observed(pixels, seen, normalized.reshape(count, NUM_JOINTS, 2), rays.reshape(count, NUM_JOINTS, 3), boxes)


@pytest.mark.parametrize("seed", range(4))
def test_the_compiled_observation_is_numpy_s(seed: int) -> None:
    """Observed.of's compiled pass (cameras without distortion) against its numpy form, to
    the bit: pixels far off the image, unseen joints with one or both coordinates NaN or
    infinite, float32 pixels, a person nobody saw."""
    rng = np.random.default_rng(seed)
    camera = CameraModel.from_fov(
        int(rng.integers(320, 1920)), int(rng.integers(240, 1080)), float(rng.uniform(40, 100))
    )
    people = []
    for index in range(int(rng.integers(1, 25))):
        pixels = rng.uniform(-2000.0, 4000.0, (NUM_JOINTS, 2))
        hidden = rng.random(NUM_JOINTS) < 0.3
        pixels[hidden, rng.integers(0, 2)] = (np.nan, np.inf, -np.inf)[index % 3]
        if index == 3:
            pixels[:] = np.nan
        people.append(
            Person(
                Detection(rng.uniform(0, 600, 4), 0.5),
                pixels.astype(np.float32) if index % 4 == 1 else pixels,
                np.ones(NUM_JOINTS),
            )
        )
    observed, expected = Observed.of(people, camera), _numpy_observed(people, camera)
    for name in ("pixels", "seen", "normalized", "rays", "boxes"):
        mine, main = getattr(observed, name), getattr(expected, name)
        assert mine.dtype == main.dtype and mine.shape == main.shape and mine.tobytes() == main.tobytes(), name


def test_the_compiled_fusion_is_fuse_depths() -> None:
    """fused_depths (the depth stage's expected depth) against fuse_depths, to the bit: each
    estimate missing in every way (NaN, infinite, zero or negative depth, NaN or negative
    sigma), exact estimates (sigma 0), agreeing and disagreeing pairs."""
    from hdnet_ros.stages.depth.fuse import fuse_depths, fused_depths

    rng = np.random.default_rng(3)
    odd = np.array([np.nan, np.inf, -np.inf, 0.0, -1.0])
    count = 4000
    z1, z2 = rng.uniform(0.5, 8.0, count), rng.uniform(0.5, 8.0, count)
    s1, s2 = rng.uniform(0.0, 1.0, count), rng.uniform(0.0, 1.0, count)
    for values in (z1, z2, s1, s2):
        spoiled = rng.random(count) < 0.15
        values[spoiled] = rng.choice(odd, int(spoiled.sum()))
        values[rng.random(count) < 0.05] = 0.0
    z2[::7] = z1[::7] + rng.normal(0.0, 0.01, len(z1[::7]))  # agreeing pairs
    for got, expected in zip(fused_depths(z1, s1, z2, s2), fuse_depths(z1, s1, z2, s2), strict=True):
        assert got.tobytes() == expected.tobytes()
