"""Robust joint depth, fusion, fallback and completion: the depth stage's steps and the whole stage."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    FACE_JOINTS,
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NOSE,
    NUM_JOINTS,
    PELVIS,
    RIGHT_HIP,
    RIGHT_SHOULDER,
    ROOT,
)
from hdnet_ros.people import DepthSource, Person
from hdnet_ros.size_prior import bone_prior_depth
from hdnet_ros.stages.depth import DepthLifter, LiftingConfig
from hdnet_ros.stages.depth.arrays import Observed
from hdnet_ros.stages.depth.floor import GroundConfig, estimate_ground_plane
from hdnet_ros.stages.depth.fuse import fuse_depths
from hdnet_ros.stages.depth.kernel_settings import kernel_settings
from hdnet_ros.stages.depth.measure import depth_view, measure_depth
from hdnet_ros.stages.depth.sample import window_half_px
from hdnet_ros.stages.depth.torso import SURE_FACE_SCORE
from hdnet_ros.stages.depth.windows import SORT_SCRATCH, select_surface, window_depths
from hdnet_ros.synthetic import SyntheticFrame, make_frame, random_frame
from hdnet_ros.synthetic.body import place_body, pose_body, sample_shape, standing_pose
from hdnet_ros.synthetic.oracle import OracleConfig
from hdnet_ros.synthetic.scene import (
    Scene,
    SceneConfig,
    ScenePerson,
    floor_plane,
    to_camera,
    wall_plane,
    world_to_camera,
)
from hdnet_ros.synthetic.sensor import IDEAL, KINECT
from numpy_lifting.sample import sample_depth as reference_sample_depth

CAMERA = CameraModel.from_fov(320, 240, 70.0)
CONFIG = LiftingConfig()


def measure_one(
    depth: np.ndarray, pixel: tuple[float, float], half: int, offset_z: float, interval: tuple[float, float]
):
    """One joint's (centre depth, occluded) in its window, with one feasible interval."""
    values = np.empty((2 * half + 1) ** 2, np.float32)
    count, inside = window_depths(depth_view(depth, CONFIG, None, 1), 0, pixel[0], pixel[1], half, values)
    scratch = np.empty(SORT_SCRATCH + len(values), np.uint32)
    gap, noise = CONFIG.cluster_gap_m, CONFIG.noise_coefficient
    z, _, occluded = select_surface(
        values, count, inside, (interval[0], np.nan), (interval[1], np.nan), offset_z, np.nan, np.nan,
        CONFIG.min_support_px, gap, noise, scratch,
    )  # fmt: skip
    return float(z), bool(occluded)


def torso_surface(person: Person, depth: np.ndarray, camera: CameraModel, size_z: float) -> float:
    sampled, _ = measure_depth(Observed.of([person], camera), depth, camera, np.array([size_z]), CONFIG)
    return float(sampled.reference[0])


def one_person(
    distance: float, yaw: float, sensor: object = IDEAL, noise_px: float = 0.0, seed: int = 0
) -> SyntheticFrame:
    """A standing adult at ``distance`` metres facing ``yaw`` (180 = the camera)."""
    rng = np.random.default_rng(seed)
    rotation, translation = world_to_camera(1.2, 5.0)
    shape = replace(sample_shape(rng), stature=1.75)
    pose = standing_pose(rng)
    body = to_camera(place_body(pose_body(shape, pose), 0.0, distance, yaw), rotation, translation)
    scene = Scene(
        CAMERA,
        1.2,
        5.0,
        [ScenePerson(0, shape, pose, body)],
        [],
        [floor_plane(rotation, 1.2), wall_plane(rotation, distance + 2.0, 0.0)],
    )
    return make_frame(scene, sensor, OracleConfig(pixel_noise_px=noise_px), rng)  # type: ignore[arg-type]


# --- fusion -----------------------------------------------------------------------------


def test_fuse_depths_weights_by_inverse_variance() -> None:
    z, sigma = fuse_depths(2.0, 0.02, 2.3, 0.2)
    assert z == pytest.approx((2.0 / 0.02**2 + 2.3 / 0.2**2) / (1 / 0.02**2 + 1 / 0.2**2))
    assert sigma == pytest.approx((1 / 0.02**2 + 1 / 0.2**2) ** -0.5)
    assert sigma < 0.02


def test_fuse_depths_gates_disagreement_and_handles_missing_inputs() -> None:
    assert fuse_depths(2.0, 0.02, 3.0, 0.2) == (2.0, 0.02)  # 1 m apart: > 3 sigma, sensor kept
    assert fuse_depths(2.0, 0.02, 3.0, 0.2, gate_sigmas=0.0)[0] == pytest.approx(2.0099, abs=1e-4)
    assert fuse_depths(float("nan"), 0.02, 3.0, 0.2) == (3.0, 0.2)
    assert fuse_depths(2.0, 0.02, float("nan"), float("nan")) == (2.0, 0.02)
    assert np.isnan(fuse_depths(float("nan"), 0.1, float("nan"), 0.1)[0])
    assert fuse_depths(2.0, 0.0, 2.2, 0.1) == (2.0, 0.0)


def test_fuse_depths_without_second_estimates_keeps_the_valid_first_ones() -> None:
    """The shortcut for a frame without network depths gives what the general rule gives:
    each valid first estimate unchanged, NaN (both z and sigma) for an invalid one."""
    z = np.array([2.0, -1.0, np.nan, 3.0, 4.0, 0.0])
    sigma = np.array([0.1, 0.1, 0.1, np.nan, -0.2, 0.1])
    missing = np.array([np.nan, 2.0, np.nan, np.nan, -1.0, np.nan])  # never valid: NaN z or sigma, or z <= 0
    fused_z, fused_sigma = fuse_depths(z, sigma, missing, np.array([0.1, np.nan, 0.1, 0.1, 0.1, 0.1]))
    np.testing.assert_array_equal(fused_z, [2.0, np.nan, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(fused_sigma, [0.1, np.nan, np.nan, np.nan, np.nan, np.nan])
    one_valid = fuse_depths(z, sigma, missing, np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.1]))  # 2.0 is valid
    assert one_valid[0][1] == 2.0 and one_valid[1][1] == 0.1


# --- robust joint depth ---------------------------------------------------------------------


def test_window_covers_the_same_metric_size_at_any_distance() -> None:
    settings = kernel_settings(CONFIG, CAMERA.fx)
    near, far = window_half_px(settings, 1.0, 200.0), window_half_px(settings, 4.0, 50.0)
    assert near == round(0.04 * CAMERA.fx / 1.0)
    assert far == max(round(0.04 * CAMERA.fx / 4.0), CONFIG.min_window_px)
    assert near > 3 * far


def test_occluder_in_front_is_skipped_and_the_surface_moved_to_the_centre() -> None:
    depth = np.full((240, 320), 6.0, np.float32)  # wall
    depth[100:140, 150:170] = 2.0  # the arm
    depth[100:140, 150:162] = 1.4  # a pole in front, covering most of the window
    z, occluded = measure_one(depth, (160.0, 120.0), 6, 0.04, (1.9, 2.3))
    assert occluded
    assert z == pytest.approx(2.04)
    # Without any of the arm left in the window the joint is not measured at all.
    depth[100:140, 150:170] = 1.4
    assert np.isnan(measure_one(depth, (160.0, 120.0), 6, 0.04, (1.9, 2.3))[0])


def test_torso_reference_ignores_an_occluder_that_does_not_fit_the_size_prior() -> None:
    frame = one_person(3.0, 180.0)
    person = frame.people[0]
    depth = frame.depth_m.copy()
    # A pole 1.5 m in front of the person covering the middle of the torso.
    u = int(person.pixels[PELVIS, 0])
    depth[:, u - 12 : u + 12] = 1.5
    prior = bone_prior_depth(person.pixels, CAMERA)
    assert prior is not None and abs(prior[0] / 3.0 - 1.0) < 0.15
    reference = torso_surface(person, depth, CAMERA, prior[0])
    assert reference == pytest.approx(2.9, abs=0.1)


def test_a_far_surface_behind_a_near_one_stays_one_surface_across_its_depth_steps() -> None:
    # A seated person at 6.5 m behind chair backs at 5 m, as a structured-light sensor
    # measures them: steps of 0.12 m there. One gap for the window, taken at its median
    # (the chairs': 0.11 m), split the person into five slivers, none of them supported.
    depth = np.full((240, 320), 5.0, np.float32)
    strips = (6.26, 6.38, 6.50, 6.62, 6.74)
    for k, value in enumerate(strips):
        depth[100:140, 154 + k : 155 + k] = value  # five 1-px columns of 13 rows in the window
    z, occluded = measure_one(depth, (160.0, 120.0), 6, 0.04, (6.0, 7.2))
    assert occluded  # the chairs in front
    assert z == pytest.approx(6.50 + 0.04, abs=0.07)


def seated_behind_a_chair(face_score: float) -> tuple[Person, np.ndarray, float, float]:
    """A person at 3 m whose torso and legs a chair back 0.3 m in front of them hides, with
    nothing behind them in the sensor's range, the size prior of someone who looks smaller
    than they are (seated, their bones foreshortened: 1.6x their depth), and the depth of
    their face's surface (the median at the face keypoints)."""
    frame = one_person(3.0, 180.0)
    person = frame.people[0]
    depth = frame.depth_m.copy()
    face = person.pixels[list(FACE_JOINTS)].astype(int)
    face_surface = float(np.median(depth[face[:, 1], face[:, 0]]))
    depth[depth > 4.0] = np.nan  # no wall in range: only the person and the floor near them
    shoulders = person.pixels[[LEFT_SHOULDER, RIGHT_SHOULDER], 1].min()
    top = int(shoulders) - 2
    x0, x1 = int(person.detection.box[0]) - 5, int(person.detection.box[2]) + 5
    depth[top:, x0:x1] = 2.7  # the chair back, from the shoulders down
    scores = person.scores.copy()
    scores[list(FACE_JOINTS)] = face_score
    return replace(person, scores=scores), depth, 3.0 / 0.63, face_surface


def test_a_person_hidden_up_to_the_face_is_measured_at_their_face() -> None:
    person, depth, size_z, face_surface = seated_behind_a_chair(face_score=0.9)
    assert 2.75 < face_surface < 2.9
    observed = Observed.of([person], CAMERA)
    sure = (person.scores >= SURE_FACE_SCORE)[None]
    sampled, _ = measure_depth(observed, depth, CAMERA, np.array([size_z]), CONFIG, None, sure)
    # The face's surface, not the chair at 2.7 m nor the size prior's 4.8 m.
    assert sampled.reference[0] == pytest.approx(face_surface, abs=0.04)
    # A face the 2D network is not sure of (hidden by the chair too, guessed) says nothing.
    person, depth, size_z, _ = seated_behind_a_chair(face_score=SURE_FACE_SCORE - 0.1)
    sure = (person.scores >= SURE_FACE_SCORE)[None]
    sampled, _ = measure_depth(Observed.of([person], CAMERA), depth, CAMERA, np.array([size_z]), CONFIG, None, sure)
    assert np.isnan(sampled.reference[0])


def test_a_face_that_a_nearer_person_covers_is_not_measured_as_the_face() -> None:
    # The synthetic walkers' failure: a man 1 m behind another, whose head and trunk cover
    # the back man's face; the 2D network is sure of the face (self-occluded joints score
    # 0.5-0.8 in the oracle), so its windows show the front man, and the back man was
    # measured at the front man's depth, which split his track in two.
    back = one_person(3.0, 180.0).people[0]
    x0, y0, x1, _ = back.detection.box.astype(int)
    depth = np.full((240, 320), np.nan, np.float32)  # nothing in range but the front man
    depth[max(y0 - 20, 0) :, max(x0 - 10, 0) : x1 + 10] = 2.5
    front = replace(back, detection=replace(back.detection, box=np.array([x0 - 10.0, y0 - 20.0, x1 + 10.0, 239.0])))
    sure = (back.scores >= SURE_FACE_SCORE)[None].repeat(2, axis=0)
    size_z = np.array([3.0 / 0.63, 2.5])  # the back man looks smaller than he is (hidden)

    alone, _ = measure_depth(Observed.of([back], CAMERA), depth, CAMERA, size_z[:1], CONFIG, None, sure[:1])
    assert alone.reference[0] == pytest.approx(2.5, abs=0.05)  # the face rule alone takes the front man
    both = Observed.of([back, front], CAMERA)
    sampled, _ = measure_depth(both, depth, CAMERA, size_z, CONFIG, None, sure)
    assert np.isnan(sampled.reference[0])  # his face is the front man's body: refused
    assert sampled.reference[1] == pytest.approx(2.5, abs=0.05)
    # The numpy reference of the depth stage decides the same.
    assert np.array_equal(reference_sample_depth(both, depth, CAMERA, size_z, CONFIG, None, sure).reference,
                          sampled.reference, equal_nan=True)  # fmt: skip
    # A face seen over the front man's shoulder, 1 m behind him, stays the back man's.
    depth[y0 - 20 : y0 + 25, :] = 3.5
    sampled, _ = measure_depth(both, depth, CAMERA, size_z, CONFIG, None, sure)
    assert sampled.reference[0] == pytest.approx(3.5, abs=0.05)


def test_a_face_beside_a_neighbour_at_the_same_depth_stays_the_face() -> None:
    # A row of people seated side by side, hidden up to the head by chair backs: the
    # neighbour's box holds this man's face, but the neighbour's head and trunk do not.
    person, depth, size_z, face_surface = seated_behind_a_chair(face_score=0.9)
    width = person.detection.box[2] - person.detection.box[0]
    shift = np.array([1.2 * width, 0.0])
    neighbour = replace(
        person,
        pixels=person.pixels + shift,
        detection=replace(person.detection, box=person.detection.box + np.r_[-0.5 * width, 0.0, shift[0], 0.0]),
    )
    # The neighbour's body beside this man's chair back, at this man's face's depth.
    depth[:, int(person.detection.box[2]) + 6 : int(neighbour.detection.box[2]) + 1] = face_surface
    sure = (person.scores >= SURE_FACE_SCORE)[None].repeat(2, axis=0)
    both = Observed.of([person, neighbour], CAMERA)
    sizes = np.array([size_z, face_surface])
    sampled, _ = measure_depth(both, depth, CAMERA, sizes, CONFIG, None, sure)
    assert sampled.reference[1] == pytest.approx(face_surface, abs=0.05)  # the neighbour's torso
    assert sampled.reference[0] == pytest.approx(face_surface, abs=0.04)  # this man's face, kept
    assert np.array_equal(reference_sample_depth(both, depth, CAMERA, sizes, CONFIG, None, sure).reference,
                          sampled.reference, equal_nan=True)  # fmt: skip


def test_lifted_joints_are_centres_not_surfaces() -> None:
    frame = one_person(2.5, 180.0)
    person, truth = frame.people[0], frame.truths[0]
    DepthLifter(LiftingConfig()).lift(person, frame.depth_m, CAMERA)
    for joint in (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP, PELVIS):
        assert person.depth_sources[joint] == DepthSource.SENSOR
        assert abs(person.positions[joint, 2] - truth.joints[joint, 2]) < 0.04
    flat = DepthLifter(LiftingConfig(surface_offset_hip_m=0.0)).lift
    person2 = Person(person.detection, person.pixels.copy(), person.scores.copy())
    flat(person2, frame.depth_m, CAMERA)
    # Without the offset the hips sit on the skin, about a hip's depth in front.
    assert truth.joints[LEFT_HIP, 2] - person2.positions[LEFT_HIP, 2] > 0.06


def test_far_shoulder_of_a_turned_person_goes_behind_the_near_one() -> None:
    frame = one_person(2.5, 90.0)  # profile: the person faces image-left
    person, truth = frame.people[0], frame.truths[0]
    DepthLifter(LiftingConfig()).lift(person, frame.depth_m, CAMERA)
    near, far = sorted((LEFT_SHOULDER, RIGHT_SHOULDER), key=lambda j: truth.joints[j, 2])
    assert truth.joints[far, 2] - truth.joints[near, 2] > 0.25
    assert abs(person.positions[near, 2] - truth.joints[near, 2]) < 0.06
    assert abs(person.positions[far, 2] - truth.joints[far, 2]) < 0.1
    assert person.depth_sources[far] == DepthSource.INFERRED


def test_joint_over_a_hole_is_completed_and_marked_inferred() -> None:
    frame = one_person(2.5, 180.0)
    person, truth = frame.people[0], frame.truths[0]
    depth = frame.depth_m.copy()
    u, v = np.round(person.pixels[LEFT_WRIST]).astype(int)
    depth[v - 15 : v + 16, u - 15 : u + 16] = np.nan
    DepthLifter(LiftingConfig()).lift(person, depth, CAMERA)
    assert person.depth_sources[LEFT_WRIST] == DepthSource.INFERRED
    assert np.linalg.norm(person.positions[LEFT_WRIST] - truth.joints[LEFT_WRIST]) < 0.3
    assert person.position_stddev[LEFT_WRIST] > 0.1  # honest about being a guess
    off = Person(person.detection, person.pixels.copy(), person.scores.copy())
    DepthLifter(LiftingConfig(complete_joints=False)).lift(off, depth, CAMERA)
    assert not off.valid[LEFT_WRIST] and off.depth_sources[LEFT_WRIST] == DepthSource.NONE


def test_lifter_guarantees_on_random_noisy_frames() -> None:
    rng = np.random.default_rng(21)
    config = LiftingConfig()
    lifter = DepthLifter(config)
    for _ in range(8):
        frame = random_frame(rng, SceneConfig(camera=replace(SceneConfig().camera, width=320, height=240)), KINECT)
        for person in frame.people:
            lifter.lift(person, frame.depth_m, frame.scene.camera)
            valid = person.valid
            assert not np.any(np.all(person.positions == 0.0, axis=1))
            assert np.all(np.isnan(person.positions[~valid]))
            assert np.all((person.depth_sources == DepthSource.NONE) == ~valid)
            assert np.all(np.isfinite(person.position_stddev[valid]))
            prior = bone_prior_depth(person.pixels, frame.scene.camera)
            reference = torso_surface(person, frame.depth_m, frame.scene.camera, prior[0] if prior else np.nan)
            if np.isfinite(reference):
                assert np.all(np.abs(person.positions[valid, 2] - reference) <= config.person_depth_band_m + 1e-9)


# --- root: network fusion and the prior --------------------------------------------------


def test_network_root_is_fused_with_the_sensor_and_used_alone_without_depth() -> None:
    frame = one_person(3.0, 180.0)
    person = frame.people[0]
    DepthLifter(LiftingConfig()).lift(person, frame.depth_m, CAMERA, network_root=(3.2, 0.3))
    assert person.depth_sources[ROOT] == DepthSource.FUSED
    sensor_only = Person(person.detection, person.pixels.copy(), person.scores.copy())
    DepthLifter(LiftingConfig()).lift(sensor_only, frame.depth_m, CAMERA)
    assert sensor_only.positions[ROOT, 2] < person.positions[ROOT, 2] < 3.2
    rgb_only = Person(person.detection, person.pixels.copy(), person.scores.copy())
    DepthLifter(LiftingConfig()).lift(rgb_only, None, CAMERA, network_root=(3.2, 0.3))
    assert rgb_only.depth_sources[ROOT] == DepthSource.NETWORK
    assert rgb_only.positions[ROOT, 2] == pytest.approx(3.2)


def test_root_prior_beyond_the_sensor_range_uses_bones_and_the_floor() -> None:
    frame = one_person(6.5, 180.0, sensor=replace(KINECT, max_range_m=4.5), noise_px=1.5, seed=3)
    person, truth = frame.people[0], frame.truths[0]
    plane = estimate_ground_plane(frame.depth_m, CAMERA, GroundConfig())
    assert plane is not None and plane.camera_height == pytest.approx(1.2, abs=0.03)
    DepthLifter(LiftingConfig()).lift(person, frame.depth_m, CAMERA)
    assert person.depth_sources[ROOT] == DepthSource.INFERRED
    assert abs(person.positions[ROOT, 2] / truth.root[2] - 1.0) < 0.08
    assert np.all(person.depth_sources[person.valid] == DepthSource.INFERRED)
    no_prior = Person(person.detection, person.pixels.copy(), person.scores.copy())
    DepthLifter(LiftingConfig(root_prior=False)).lift(no_prior, frame.depth_m, CAMERA)
    assert no_prior.num_valid == 0


def test_relative_pose_completes_joints_that_were_not_seen() -> None:
    frame = one_person(3.0, 180.0)
    person, truth = frame.people[0], frame.truths[0]
    person.pixels[NOSE] = np.nan  # the 2D stage missed the nose
    relative = truth.joints - truth.root
    DepthLifter(LiftingConfig()).lift(person, frame.depth_m, CAMERA, relative_pose=relative)
    assert person.depth_sources[NOSE] == DepthSource.NETWORK
    assert np.linalg.norm(person.positions[NOSE] - truth.joints[NOSE]) < 0.1
    assert person.num_valid == NUM_JOINTS
    assert person.depth_sources[LEFT_ELBOW] == DepthSource.SENSOR


def test_a_seen_joint_without_depth_takes_the_poses_depth_on_its_own_ray() -> None:
    frame = one_person(3.0, 180.0)
    person, truth = frame.people[0], frame.truths[0]
    depth = frame.depth_m.copy()
    u, v = np.round(person.pixels[LEFT_WRIST]).astype(int)
    depth[v - 15 : v + 16, u - 15 : u + 16] = np.nan  # a hole over the wrist
    relative = truth.joints - truth.root
    DepthLifter(LiftingConfig()).lift(person, depth, CAMERA, relative_pose=relative)
    assert person.depth_sources[LEFT_WRIST] == DepthSource.NETWORK
    wrist = person.positions[LEFT_WRIST]
    # On the pixel's ray (the 2D keypoint is kept), at the pose's depth relative to the root.
    np.testing.assert_allclose(CAMERA.project(wrist[None])[0], person.pixels[LEFT_WRIST], atol=1e-6)
    expected_z = person.positions[ROOT, 2] + relative[LEFT_WRIST, 2] - relative[ROOT, 2]
    assert wrist[2] == pytest.approx(expected_z, abs=1e-9)
    # Without the pose the wrist is only bounded by its bones: the pose is closer to the truth.
    alone = Person(person.detection, person.pixels.copy(), person.scores.copy())
    DepthLifter(LiftingConfig()).lift(alone, depth, CAMERA)
    assert alone.depth_sources[LEFT_WRIST] == DepthSource.INFERRED
    error_alone = np.linalg.norm(alone.positions[LEFT_WRIST] - truth.joints[LEFT_WRIST])
    assert np.linalg.norm(wrist - truth.joints[LEFT_WRIST]) < error_alone
