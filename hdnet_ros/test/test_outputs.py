"""The message builders: content, frames, stamps and CDR round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.joints import (
    FOOT_LEFT_HEEL,
    FOOT_RIGHT_TOES,
    LEFT_HIP,
    LEFT_SHOULDER,
    NECK,
    NUM_FEET,
    NUM_JOINTS,
    PELVIS,
    RIGHT_HIP,
    RIGHT_SHOULDER,
)
from hdnet_ros.outputs.debug_image import draw_overlay, image_msg
from hdnet_ros.outputs.markers import marker_array_msg
from hdnet_ros.outputs.skeletons import joint_points, skeleton_array_msg
from hdnet_ros.outputs.tf_frames import (
    body_axes,
    body_rotations,
    body_transforms,
    quaternion_from_matrix,
    quaternions_from_matrices,
)
from hdnet_ros.people import DepthSource, Detection, Person
from hdnet_ros.ros_types import typestore

STAMP = 1_556_880_098_522_459_261


def upright_person(track_id: int = 0, facing_camera: bool = True) -> Person:
    """A person 2 m ahead, upright in the camera's optical frame (y down)."""
    positions = np.full((NUM_JOINTS, 3), np.nan)
    side = 1.0 if facing_camera else -1.0
    # Facing the camera, the person's left is the camera's +x.
    positions[LEFT_HIP] = (0.1 * side, 0.0, 2.0)
    positions[RIGHT_HIP] = (-0.1 * side, 0.0, 2.0)
    positions[LEFT_SHOULDER] = (0.18 * side, -0.5, 2.0)
    positions[RIGHT_SHOULDER] = (-0.18 * side, -0.5, 2.0)
    positions[PELVIS] = (0.0, 0.0, 2.0)
    positions[NECK] = (0.0, -0.5, 2.0)
    sources = np.where(np.isfinite(positions[:, 0]), DepthSource.SENSOR, DepthSource.NONE).astype(np.uint8)
    return Person(
        detection=Detection(np.array([280.0, 100.0, 360.0, 400.0]), 0.8),
        pixels=np.full((NUM_JOINTS, 2), 320.0),
        scores=np.full(NUM_JOINTS, 0.9),
        positions=positions,
        position_stddev=np.full(NUM_JOINTS, 0.01),
        depth_sources=sources,
        track_id=track_id,
    )


def roundtrip(msg: object) -> object:
    store = typestore()
    name = msg.__msgtype__  # type: ignore[attr-defined]
    return store.deserialize_cdr(store.serialize_cdr(msg, name), name)


def test_skeleton_array_marks_missing_joints_invalid() -> None:
    array = roundtrip(skeleton_array_msg([upright_person(track_id=7)], STAMP, "cam"))
    assert array.header.frame_id == "cam"  # type: ignore[attr-defined]
    assert array.header.stamp.sec * 10**9 + array.header.stamp.nanosec == STAMP  # type: ignore[attr-defined]
    (skeleton,) = array.skeletons  # type: ignore[attr-defined]
    assert skeleton.id == 7 and skeleton.root_valid and skeleton.joint_set == "coco19"
    assert len(skeleton.keypoints) == NUM_JOINTS
    nose = skeleton.keypoints[0]
    assert not nose.valid and np.isnan(nose.position.x) and nose.depth_source == DepthSource.NONE
    hip = skeleton.keypoints[LEFT_HIP]
    assert hip.valid and hip.position.z == pytest.approx(2.0) and hip.depth_source == DepthSource.SENSOR
    assert not skeleton.velocity_valid and np.isnan(skeleton.velocity.x)
    # Without a 3D pose network the feet are there, in their fixed order, all invalid.
    assert len(skeleton.feet) == NUM_FEET
    assert all(not f.valid and np.isnan(f.position.z) and f.depth_source == DepthSource.NONE for f in skeleton.feet)


def test_feet_from_a_pose_network_are_published_beside_the_fixed_keypoints() -> None:
    person = upright_person(track_id=3)
    person.feet[FOOT_LEFT_HEEL] = (0.1, 0.85, 2.05)
    person.feet_stddev[FOOT_LEFT_HEEL] = 0.15
    person.feet_sources[FOOT_LEFT_HEEL] = DepthSource.NETWORK
    person.feet_pixels[FOOT_LEFT_HEEL] = (330.0, 420.0)
    person.feet_scores[FOOT_LEFT_HEEL] = 0.8
    (skeleton,) = roundtrip(skeleton_array_msg([person], STAMP, "cam")).skeletons  # type: ignore[attr-defined]
    assert len(skeleton.keypoints) == NUM_JOINTS
    heel = skeleton.feet[FOOT_LEFT_HEEL]
    assert heel.valid and heel.depth_source == DepthSource.NETWORK
    assert (heel.position.y, heel.pixel_y, heel.confidence) == pytest.approx((0.85, 420.0, 0.8))
    assert not skeleton.feet[FOOT_RIGHT_TOES].valid


@pytest.mark.parametrize("facing_camera", [True, False])
def test_body_frame_follows_rep155_axes(facing_camera: bool) -> None:
    rotation = body_axes(upright_person(facing_camera=facing_camera))
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(rotation[:, 2], [0, -1, 0], atol=1e-9)  # z up
    expected_forward = [0, 0, -1] if facing_camera else [0, 0, 1]  # x out of the chest
    np.testing.assert_allclose(rotation[:, 0], expected_forward, atol=1e-9)


def test_quaternion_of_a_half_turn() -> None:
    _x, _y, z, w = quaternion_from_matrix(np.diag([-1.0, -1.0, 1.0]))
    assert abs(z) == pytest.approx(1.0) and w == pytest.approx(0.0, abs=1e-12)


def test_transforms_name_bodies_and_joints() -> None:
    people = [upright_person(track_id=3), upright_person(track_id=0)]
    people[1].positions[PELVIS] = np.nan  # no root: no body frame
    transforms = body_transforms(people, STAMP, "cam", joint_frames=True)
    names = [t.child_frame_id for t in transforms]
    assert names[0] == "body_3"
    assert {"l_hip_3", "r_shoulder_3", "neck_3"} <= set(names)
    assert not any(name.endswith("_2") for name in names)
    body = transforms[0]
    assert body.header.frame_id == "cam" and body.transform.translation.z == pytest.approx(2.0)
    hip = next(t for t in transforms if t.child_frame_id == "l_hip_3")
    assert hip.header.frame_id == "body_3"
    # The left hip lies on the body's +y axis, 10 cm from the pelvis.
    assert hip.transform.translation.y == pytest.approx(0.1)
    assert all(t.header.stamp.sec * 10**9 + t.header.stamp.nanosec == STAMP for t in transforms)
    roundtrip(typestore().types["tf2_msgs/msg/TFMessage"](transforms=transforms))


def test_markers_have_one_colour_per_id_and_a_lifetime() -> None:
    array = roundtrip(marker_array_msg([upright_person(1), upright_person(2)], STAMP, "cam", lifetime_s=0.2))
    markers = array.markers  # type: ignore[attr-defined]
    assert markers[0].action == 3  # DELETEALL first
    spheres = [m for m in markers if m.ns == "joints"]
    assert [m.id for m in spheres] == [1, 2]
    assert (spheres[0].color.r, spheres[0].color.g) != (spheres[1].color.r, spheres[1].color.g)
    assert len(spheres[0].points) == 6
    assert spheres[0].lifetime.sec == 0 and spheres[0].lifetime.nanosec == 200_000_000
    bones = next(m for m in markers if m.ns == "bones")
    assert len(bones.points) % 2 == 0 and len(bones.points) >= 8
    label = next(m for m in markers if m.ns == "labels")
    assert label.text == "id 1  2.00 m"


def test_a_walking_person_has_a_velocity_arrow_and_a_still_one_none() -> None:
    """The arrow goes from the pelvis to where the velocity takes it in a second, in the
    person's colour; no arrow for a velocity that is unknown (NaN) or under 0.2 m/s."""
    walking, still, unknown = upright_person(1), upright_person(2), upright_person(3)
    walking.velocity = np.array([0.8, 0.0, -0.6])
    still.velocity = np.array([0.1, 0.0, 0.1])
    markers = roundtrip(marker_array_msg([walking, still, unknown], STAMP, "cam", 0.2)).markers  # type: ignore[attr-defined]
    arrows = [m for m in markers if m.ns == "velocities"]
    assert [m.id for m in arrows] == [1] and arrows[0].type == 0  # ARROW
    start, end = ((p.x, p.y, p.z) for p in arrows[0].points)
    np.testing.assert_allclose(start, walking.root)
    np.testing.assert_allclose(end, walking.root + walking.velocity)
    spheres = next(m for m in markers if m.ns == "joints" and m.id == 1)
    assert (arrows[0].color.r, arrows[0].color.g, arrows[0].color.b) == (
        spheres.color.r,
        spheres.color.g,
        spheres.color.b,
    )


def test_overlay_draws_and_keeps_the_input() -> None:
    rgb = np.zeros((480, 640, 3), np.uint8)
    overlay = draw_overlay(rgb, [upright_person(1)])
    assert overlay.shape == rgb.shape and overlay.any() and not rgb.any()
    msg = roundtrip(image_msg(overlay, STAMP, "cam"))
    assert msg.encoding == "rgb8" and msg.step == 640 * 3  # type: ignore[attr-defined]


def test_marker_points_are_the_valid_joints_then_feet_and_the_bones_with_both_ends() -> None:
    from hdnet_ros.joints import BONES, FOOT_ANKLE

    rng = np.random.default_rng(4)
    for _ in range(20):
        person = upright_person(3)
        person.positions = rng.normal((0.0, 0.0, 3.0), 0.5, (NUM_JOINTS, 3))
        person.positions[rng.random(NUM_JOINTS) < 0.4] = np.nan
        person.feet = rng.normal((0.0, 0.9, 3.0), 0.1, (NUM_FEET, 3))
        person.feet[rng.random(NUM_FEET) < 0.4] = np.nan
        markers = marker_array_msg([person], STAMP, "cam", 0.2).markers
        if not person.num_valid:
            assert len(markers) == 1  # DELETEALL only
            continue
        spheres, bones = (next(m for m in markers if m.ns == ns) for ns in ("joints", "bones"))
        valid, feet = person.valid, np.all(np.isfinite(person.feet), axis=1)
        joints = [*person.positions[valid], *person.feet[feet]]
        ends = [person.positions[j] for a, b in BONES if valid[a] and valid[b] for j in (a, b)]
        ends += [
            q for f, a in enumerate(FOOT_ANKLE) if feet[f] and valid[a] for q in (person.positions[a], person.feet[f])
        ]
        for got, want in ((spheres.points, joints), (bones.points, ends)):
            assert [(p.x, p.y, p.z) for p in got] == [tuple(float(v) for v in q) for q in want]


def random_people(count: int, seed: int) -> list[Person]:
    """People with random joints, feet, velocities and missing parts (some with nothing)."""
    rng = np.random.default_rng(seed)
    people = []
    for index in range(count):
        person = upright_person(track_id=index + 1)
        person.positions = rng.normal((0.0, 0.0, 3.0), 0.5, (NUM_JOINTS, 3))
        person.positions[rng.random(NUM_JOINTS) < (0.3 if index % 4 else 1.0)] = np.nan
        person.position_stddev = rng.uniform(0.01, 0.2, NUM_JOINTS)
        person.depth_sources = rng.integers(1, 5, NUM_JOINTS).astype(np.uint8)
        person.pixels = rng.uniform(0, 640, (NUM_JOINTS, 2))
        person.scores = rng.uniform(0, 1, NUM_JOINTS)
        person.feet = rng.normal((0.0, 0.9, 3.0), 0.1, (NUM_FEET, 3))
        person.feet[rng.random(NUM_FEET) < 0.4] = np.nan
        person.feet_sources[:] = DepthSource.NETWORK
        person.velocity = rng.normal(0.0, 0.5, 3) if index % 2 else np.full(3, np.nan)
        people.append(person)
    return people


def test_a_crowds_skeletons_are_built_in_one_pass_each_with_its_own_joints() -> None:
    people = random_people(9, seed=5)
    skeletons = roundtrip(skeleton_array_msg(people, STAMP, "cam")).skeletons  # type: ignore[attr-defined]
    assert len(skeletons) == len(people)
    for person, skeleton in zip(people, skeletons, strict=True):
        assert skeleton.id == person.track_id
        assert (skeleton.bbox.x_min, skeleton.bbox.y_max) == pytest.approx(person.detection.box[[0, 3]])
        for keypoints, positions, sources, pixels in (
            (skeleton.keypoints, person.positions, person.depth_sources, person.pixels),
            (skeleton.feet, person.feet, person.feet_sources, person.feet_pixels),
        ):
            valid = np.all(np.isfinite(positions), axis=1)
            got = np.array([(k.position.x, k.position.y, k.position.z) for k in keypoints])
            np.testing.assert_array_equal(got[valid], positions[valid])
            assert np.all(np.isnan(got[~valid]))
            assert [k.valid for k in keypoints] == valid.tolist()
            assert [k.depth_source for k in keypoints] == np.where(valid, sources, DepthSource.NONE).tolist()
            np.testing.assert_array_equal([(k.pixel_x, k.pixel_y) for k in keypoints], pixels.astype(np.float32))
        assert skeleton.root_valid == bool(np.all(np.isfinite(person.positions[PELVIS])))
        assert skeleton.velocity_valid == bool(np.all(np.isfinite(person.velocity)))


def test_a_crowds_markers_hold_each_persons_own_points() -> None:
    people = random_people(9, seed=6)
    markers = roundtrip(marker_array_msg(people, STAMP, "cam", 0.2)).markers  # type: ignore[attr-defined]
    shown = [p for p in people if p.num_valid]
    arrows = sum(bool(np.all(np.isfinite(p.root)) and np.linalg.norm(p.velocity) >= 0.2) for p in shown)
    assert len(markers) == 1 + 3 * len(shown) + arrows
    for person, spheres in zip(shown, [m for m in markers if m.ns == "joints"], strict=True):
        assert spheres.id == person.track_id
        joints = [*person.positions[person.valid], *person.feet[np.all(np.isfinite(person.feet), axis=1)]]
        assert [(p.x, p.y, p.z) for p in spheres.points] == [tuple(q) for q in np.array(joints).tolist()]


def test_markers_on_the_skeletons_points_equal_markers_made_on_their_own() -> None:
    """core_outputs hands the markers the Skeleton3D messages' own Points: the same markers
    to the bit, made of those very objects."""
    people = random_people(13, seed=8)
    skeletons = skeleton_array_msg(people, STAMP, "cam").skeletons
    points = joint_points(skeletons)
    assert len(points) == len(people) * (NUM_JOINTS + NUM_FEET)
    shared = marker_array_msg(people, STAMP, "cam", 0.2, points)
    store, name = typestore(), shared.__msgtype__
    own = marker_array_msg(people, STAMP, "cam", 0.2)
    assert store.serialize_cdr(shared, name) == store.serialize_cdr(own, name)
    made = {id(point) for point in points}
    shown = [m for m in shared.markers if m.ns in ("joints", "bones")]
    assert shown and all(id(point) in made for marker in shown for point in marker.points)
    with pytest.raises(ValueError, match="shared points"):
        marker_array_msg(people, STAMP, "cam", 0.2, points[:-1])


def test_body_rotations_are_proper_whatever_is_missing() -> None:
    people = random_people(12, seed=7)
    people[1].positions[[LEFT_HIP, RIGHT_HIP]] = (0.0, 0.0, 3.0)  # coincident hips: no left from them
    people[2].positions[[NECK, PELVIS]] = (0.0, 0.0, 3.0)  # no up
    people[3].positions[:] = np.nan
    rotations = body_rotations(np.stack([p.positions for p in people]))
    for person, rotation in zip(people, rotations, strict=True):
        np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)
        assert np.linalg.det(rotation) == pytest.approx(1.0)
        np.testing.assert_array_equal(rotation, body_axes(person))  # one person as in a crowd
        up = person.positions[NECK] - person.positions[PELVIS]
        if np.all(np.isfinite(up)) and np.linalg.norm(up) > 1e-6:
            np.testing.assert_allclose(rotation[:, 2], up / np.linalg.norm(up), atol=1e-12)
        else:
            np.testing.assert_allclose(rotation[:, 2], [0.0, -1.0, 0.0])  # the camera's up


def test_quaternions_turn_as_their_rotations_in_every_case() -> None:
    from scipy.spatial.transform import Rotation

    half_turns = [np.diag(d) for d in ((1.0, -1.0, -1.0), (-1.0, 1.0, -1.0), (-1.0, -1.0, 1.0))]
    rotations = np.concatenate([Rotation.random(200, random_state=8).as_matrix(), half_turns, [np.eye(3)]])
    quaternions = quaternions_from_matrices(rotations)
    np.testing.assert_allclose(np.linalg.norm(quaternions, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(Rotation.from_quat(quaternions).as_matrix(), rotations, atol=1e-12)
    assert quaternion_from_matrix(rotations[0]) == tuple(quaternions[0])
