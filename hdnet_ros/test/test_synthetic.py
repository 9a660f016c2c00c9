"""The synthetic benchmark's generator: exact rendering, realistic bodies, sensor, oracle."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_ELBOW,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NECK,
    PELVIS,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
)
from hdnet_ros.synthetic import make_frame, random_frame
from hdnet_ros.synthetic.body import (
    LIMITS,
    PoseKind,
    arms_raised_pose,
    place_body,
    pose_body,
    sample_pose,
    sample_shape,
    sitting_pose,
    standing_pose,
    walking_pose,
)
from hdnet_ros.synthetic.oracle import OracleConfig
from hdnet_ros.synthetic.render import BACKGROUND, RayGrid, Shape, capsule_hit, render
from hdnet_ros.synthetic.scene import (
    Scene,
    SceneConfig,
    ScenePerson,
    floor_plane,
    sample_scene,
    to_camera,
    world_to_camera,
)
from hdnet_ros.synthetic.sensor import IDEAL, KINECT, apply_sensor
from hdnet_ros.synthetic.sequences import SequenceConfig, walking_sequence

CAMERA = CameraModel.from_fov(160, 120, 60.0)


def test_sphere_depth_is_exact_at_its_centre_pixel() -> None:
    grid = RayGrid(CAMERA)
    centre = np.array([0.0, 0.0, 3.0])  # on the optical axis: pixel (cx, cy) = (79.5, 59.5)
    rendering = render(grid, [Shape(centre, centre, 0.25, 0)], [])
    # Pixel 79 lies half a pixel off the axis: the sphere's surface there is z - sqrt(r^2 - d^2).
    x = (79 - CAMERA.cx) / CAMERA.fx
    y = (59 - CAMERA.cy) / CAMERA.fy
    d = np.array([x, y, 1.0])
    t = (d @ centre - np.sqrt((d @ centre) ** 2 - (d @ d) * (centre @ centre - 0.25**2))) / (d @ d)
    assert rendering.depth[59, 79] == pytest.approx(t, abs=1e-6)
    assert rendering.label[59, 79] == 0
    assert np.isinf(rendering.depth[0, 0]) and rendering.label[0, 0] == BACKGROUND


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    t = np.clip((points - a) @ (b - a) / ((b - a) @ (b - a)), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * (b - a)), axis=1)


def test_capsule_hit_matches_a_brute_force_march() -> None:
    a, b, r = np.array([-0.4, 0.1, 2.0]), np.array([0.3, -0.2, 2.5]), 0.12
    shape = Shape(a, b, r, 0)
    # Down the middle of the side: the cylinder's front.
    straight = Shape(np.array([-0.5, 0.0, 2.0]), np.array([0.5, 0.0, 2.0]), 0.1, 0)
    assert capsule_hit(np.array([0.0]), np.array([0.0]), straight)[0] == pytest.approx(1.9)
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(-0.3, 0.25, 200), rng.uniform(-0.15, 0.12, 200)
    hits = capsule_hit(xs, ys, shape)
    ts = np.linspace(1.0, 3.0, 20001)
    for x, y, hit in zip(xs, ys, hits, strict=True):
        inside = ts[_segment_distance(np.outer(ts, [x, y, 1.0]), a, b) <= r]
        if inside.size == 0:
            assert np.isinf(hit)
        else:
            assert hit == pytest.approx(inside[0], abs=2e-4)  # the march's step is 1e-4


def test_z_buffer_keeps_the_nearest_surface_and_the_floor_is_a_plane() -> None:
    grid = RayGrid(CAMERA)
    near = Shape(np.array([0.0, 0.0, 2.0]), np.array([0.0, 0.0, 2.0]), 0.3, 1)
    far = Shape(np.array([0.0, 0.0, 4.0]), np.array([0.0, 0.0, 4.0]), 1.0, 0)
    rotation, _ = world_to_camera(1.2, 0.0)
    floor = floor_plane(rotation, 1.2)
    rendering = render(grid, [far, near], [floor])
    assert rendering.label[60, 80] == 1 and rendering.depth[60, 80] < 1.75
    # A level camera 1.2 m up: the floor row v meets z = 1.2 fy / (v - cy).
    v = 110
    assert rendering.depth[v, 0] == pytest.approx(1.2 * CAMERA.fy / (v - CAMERA.cy), rel=1e-6)
    assert rendering.label[v, 0] == BACKGROUND


@pytest.mark.parametrize("pose_fn", [standing_pose, sitting_pose, arms_raised_pose])
def test_bodies_have_anthropometric_bones_and_respect_joint_limits(pose_fn: object) -> None:
    rng = np.random.default_rng(3)
    for _ in range(10):
        shape = sample_shape(rng)
        pose = pose_fn(rng)  # type: ignore[operator]
        body = pose_body(shape, pose)
        j = body.joints
        np.testing.assert_allclose(j[PELVIS], (j[LEFT_HIP] + j[RIGHT_HIP]) / 2, atol=1e-12)
        np.testing.assert_allclose(j[NECK], (j[LEFT_SHOULDER] + j[RIGHT_SHOULDER]) / 2, atol=1e-12)
        upper_arm = np.linalg.norm(j[LEFT_ELBOW] - j[LEFT_SHOULDER]) / shape.stature
        thigh = np.linalg.norm(j[LEFT_KNEE] - j[LEFT_HIP]) / shape.stature
        assert 0.186 * 0.9 < upper_arm < 0.186 * 1.1
        assert 0.245 * 0.9 < thigh < 0.245 * 1.1
        for limb in (pose.left, pose.right):
            for name, (lo, hi) in LIMITS.items():
                assert lo <= getattr(limb, name) <= hi
        # Feet on the floor (y up, floor at 0): the lower ankle at ankle height.
        assert min(j[LEFT_ANKLE, 1], j[RIGHT_ANKLE, 1]) == pytest.approx(0.039 * shape.stature, abs=0.02)
        assert 1.45 <= shape.stature <= 2.0


def test_poses_differ_by_kind() -> None:
    rng = np.random.default_rng(0)
    shape = sample_shape(rng)
    standing = pose_body(shape, standing_pose(rng)).joints
    sitting = pose_body(shape, sitting_pose(rng)).joints
    raised = pose_body(shape, arms_raised_pose(rng)).joints
    assert sitting[PELVIS, 1] < standing[PELVIS, 1] - 0.2  # sat down
    assert max(raised[LEFT_WRIST, 1], raised[RIGHT_WRIST, 1]) > raised[LEFT_SHOULDER, 1]  # a hand above a shoulder
    left = walking_pose(np.pi / 2)
    assert left.left.hip_flex > 0 > left.right.hip_flex  # legs swing in opposition
    kinds = {sample_pose(rng).kind for _ in range(60)}
    assert kinds == set(PoseKind)


def test_sensor_noise_grows_with_the_square_of_range_and_stops_at_max_range() -> None:
    camera = CameraModel.from_fov(320, 240, 60.0)
    rng = np.random.default_rng(0)
    model = replace(
        KINECT, correlated_fraction=0.0, disparity_step=0.0, unit_m=0.0, random_hole_fraction=0.0, hole_blobs_mean=0.0
    )
    for z in (1.0, 3.0):
        noisy = apply_sensor(np.full((240, 320), z), camera, model, rng)
        assert np.nanstd(noisy) == pytest.approx(0.0015 * z**2, rel=0.05)
    beyond = apply_sensor(np.full((240, 320), 5.5), camera, model, rng)
    assert np.all(np.isnan(beyond))
    exact = apply_sensor(np.full((240, 320), 2.0), camera, IDEAL, rng)
    assert np.all(exact == np.float32(2.0))


def test_sensor_quantises_and_makes_holes_at_silhouettes() -> None:
    camera = CameraModel.from_fov(320, 240, 60.0)
    depth = np.full((240, 320), 4.0)
    depth[60:180, 120:200] = 1.5  # a box in front of a wall
    noisy = apply_sensor(depth, camera, KINECT, np.random.default_rng(1))
    valid = noisy[np.isfinite(noisy)]
    np.testing.assert_allclose(valid, np.round(valid * 1000) / 1000, atol=1e-6)  # millimetre steps
    # The projector's shadow: wall pixels just left of the box are invalid.
    shadow_width = int(camera.fx * 0.075 * (1 / 1.5 - 1 / 4.0))
    assert np.isnan(noisy[100:140, 120 - shadow_width + 1 : 119]).mean() > 0.9
    assert np.isnan(noisy[100:140, 201:210]).mean() < 0.5  # no shadow on the right side


def test_oracle_drops_joints_hidden_by_another_person_and_boxes_the_visible_part() -> None:
    rng = np.random.default_rng(0)
    camera = CameraModel.from_fov(320, 240, 70.0)
    rotation, translation = world_to_camera(1.2, 0.0)
    shape = sample_shape(rng)
    pose = standing_pose(np.random.default_rng(5))
    near = to_camera(place_body(pose_body(shape, pose), 0.0, 3.0, 180.0), rotation, translation)
    far = to_camera(place_body(pose_body(shape, pose), 0.1, 5.0, 180.0), rotation, translation)
    scene = Scene(
        camera,
        1.2,
        0.0,
        [ScenePerson(0, shape, pose, near), ScenePerson(1, shape, pose, far)],
        [],
        [floor_plane(rotation, 1.2)],
    )
    frame = make_frame(scene, IDEAL, OracleConfig(pixel_noise_px=0.0, drop_occluded_prob=1.0), rng)
    ids = [t.person_id for t in frame.truths]
    assert 0 in ids
    front = frame.people[ids.index(0)]
    assert np.count_nonzero(np.isfinite(front.pixels[:, 0])) >= 15
    np.testing.assert_allclose(front.pixels[LEFT_HIP], camera.project(near.joints[LEFT_HIP][None])[0])
    if 1 in ids:  # the person behind: every joint it reports is not hidden by the front one
        truth = frame.truths[ids.index(1)]
        assert not np.any(truth.reported & truth.occluded)
    box = front.detection.box
    _, cols = np.nonzero(frame.rendering.label == 0)
    assert box[0] <= cols.min() + 0.04 * (box[2] - box[0]) and box[2] >= cols.max() - 0.04 * (box[2] - box[0])


def test_oracle_pixel_noise_has_the_configured_spread() -> None:
    rng = np.random.default_rng(2)
    config = SceneConfig(occlusion=False, people_range=(1, 1))
    errors = []
    for _ in range(20):
        frame = random_frame(rng, config, IDEAL, OracleConfig(pixel_noise_px=3.0))
        for person, truth in zip(frame.people, frame.truths, strict=True):
            true_px = frame.scene.camera.project(truth.joints)
            seen = truth.reported[:17]
            errors.append((person.pixels[:17] - true_px[:17])[seen])
    diff = np.concatenate(errors)
    assert np.std(diff) == pytest.approx(3.0, rel=0.1)


def test_scenes_are_deterministic_under_a_seed() -> None:
    a = random_frame(np.random.default_rng(7), SceneConfig(), KINECT)
    b = random_frame(np.random.default_rng(7), SceneConfig(), KINECT)
    np.testing.assert_array_equal(a.depth_m, b.depth_m)
    assert len(a.people) == len(b.people)
    for pa, pb in zip(a.people, b.people, strict=True):
        np.testing.assert_array_equal(pa.pixels, pb.pixels)


def test_scene_people_stand_in_range_and_in_view() -> None:
    rng = np.random.default_rng(4)
    config = SceneConfig(distance_range_m=(2.0, 4.0))
    for _ in range(10):
        scene = sample_scene(rng, config)
        assert 1 <= len(scene.people) <= 4
        for person in scene.people:
            assert 2.0 <= person.root[2] <= 4.0
            u, v = scene.camera.project(person.root[None])[0]
            assert 0 <= u < scene.camera.width and 0 <= v < scene.camera.height


def test_walking_sequence_velocities_match_the_motion() -> None:
    config = SequenceConfig(num_people=2, frames=30, pause_probability=0.0)
    frames = list(walking_sequence(np.random.default_rng(0), config))
    assert [stamp for stamp, _ in frames][:2] == [0, int(round(1e9 / 15))]
    mismatch, speeds = [], []
    for index in range(1, len(frames)):
        before, now = frames[index - 1][1], frames[index][1]
        for p0, p1 in zip(before.people, now.people, strict=True):
            assert p0.person_id == p1.person_id
            if np.linalg.norm(p1.velocity) > 0:
                # The pelvis bobs with the gait (vertical speeds of ~0.3 m/s are real); the
                # floor motion shows in the camera's x and z.
                moved = (p1.root - p0.root) * 15.0
                mismatch.append(np.hypot(*(moved - p1.velocity)[[0, 2]]))
                speeds.append(np.linalg.norm(p1.velocity))
    assert np.median(mismatch) < 0.2
    assert 0.8 <= np.median(speeds) <= 1.5
    assert len(frames[0][1].people) == 2
    assert all(s.objects is frames[0][1].objects for _, s in frames)
