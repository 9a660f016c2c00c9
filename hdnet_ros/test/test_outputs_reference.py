"""The message builders in their cheaper forms give the bytes main's gave
(``reference_outputs``: main's builders before perf8), on random crowds with every kind
of missing part and NaN, on the synthetic crowd lifted by the depth stage, and through
core_outputs."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.joints import NUM_FEET, NUM_JOINTS
from hdnet_ros.outputs.common import stacked
from hdnet_ros.outputs.skeletons import skeleton_array_msg
from hdnet_ros.people import DepthSource, Detection, Person
from hdnet_ros.ros_types import typestore
from reference_outputs import skeletons as reference_skeletons

STAMP = 1_556_880_098_522_459_261
NEGATIVE_NAN = -np.float64(np.nan)
PAYLOAD_NAN = np.array([0x7FF8_0000_0000_0001], dtype=np.uint64).view(np.float64)[0]


def serialised(message: object) -> bytes:
    store = typestore()
    name = message.__msgtype__  # type: ignore[attr-defined]
    return bytes(store.serialize_cdr(message, name))


def odd_people(count: int, seed: int) -> list[Person]:
    """People with random joints and feet, each part missing in turn, with numpy's NaN,
    negative NaN, a NaN payload, infinities, -0.0 scores and float32 arrays; some with no
    feet at all (as without a 3D network), some with unseen feet scored 0."""
    rng = np.random.default_rng(seed)
    nans = (np.nan, NEGATIVE_NAN, PAYLOAD_NAN, np.inf)
    people = []
    for index in range(count):
        positions = rng.normal((0.0, 0.0, 3.0), 0.5, (NUM_JOINTS, 3))
        missing = rng.random(NUM_JOINTS) < (0.3 if index % 5 else 1.0)
        positions[missing, rng.integers(0, 3)] = nans[index % len(nans)]
        pixels = rng.uniform(0, 640, (NUM_JOINTS, 2))
        pixels[rng.random(NUM_JOINTS) < 0.3] = nans[(index + 1) % len(nans)]
        scores = rng.uniform(0, 1, NUM_JOINTS)
        scores[rng.random(NUM_JOINTS) < 0.2] = -0.0
        person = Person(
            detection=Detection(rng.uniform(0, 600, 4), float(rng.uniform())),
            pixels=pixels.astype(np.float32) if index % 3 == 0 else pixels,
            scores=scores.astype(np.float32) if index % 3 == 1 else scores,
            positions=positions,
            position_stddev=rng.uniform(0.01, 0.2, NUM_JOINTS),
            depth_sources=rng.integers(0, 5, NUM_JOINTS).astype(np.uint8),
            track_id=index + 1,
        )
        kind = index % 4
        if kind == 1:  # a network's feet, some missing
            person.feet = rng.normal((0.0, 0.9, 3.0), 0.1, (NUM_FEET, 3))
            person.feet[rng.random(NUM_FEET) < 0.4] = np.nan
            person.feet_stddev = rng.uniform(0.05, 0.2, NUM_FEET)
            person.feet_sources[:] = DepthSource.NETWORK
            person.feet_pixels = rng.uniform(0, 640, (NUM_FEET, 2))
            person.feet_scores = rng.uniform(0, 1, NUM_FEET)
        elif kind == 2:  # unknown feet that differ from "none at all" in one field each
            person.feet_scores = np.array([0.0, -0.0, 0.3, 0.0])
            person.feet_pixels[0] = (np.nan, NEGATIVE_NAN)
            person.feet_pixels[3] = (PAYLOAD_NAN, np.nan)
        elif kind == 3:  # no feet at all, in float32
            person.feet_scores = person.feet_scores.astype(np.float32)
            person.feet_pixels = person.feet_pixels.astype(np.float32)
        person.velocity = rng.normal(0.0, 0.5, 3) if index % 2 else np.full(3, np.nan)
        people.append(person)
    return people


@pytest.mark.parametrize("seed", range(4))
def test_skeletons_are_main_s_to_the_byte(seed: int) -> None:
    people = odd_people(17, seed)
    for group in (people, people[:1], people[3:4], [p for i, p in enumerate(people) if i % 4 != 1]):
        got = skeleton_array_msg(group, STAMP, "camera")
        want = reference_skeletons.skeleton_array_msg(group, STAMP, "camera")
        assert serialised(got) == serialised(want)
    empty = reference_skeletons.skeleton_array_msg([], STAMP, "c")
    assert serialised(skeleton_array_msg([], STAMP, "c")) == serialised(empty)


def test_stacked_is_np_stack_and_refuses_rows_of_unequal_shapes() -> None:
    rows = [np.arange(6, dtype=np.uint8).reshape(3, 2) + i for i in range(4)]
    got = stacked(rows)
    np.testing.assert_array_equal(got, np.stack(rows))
    assert got.dtype == np.uint8
    with pytest.raises(ValueError):
        stacked([np.zeros(3), np.zeros(4)])


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf, as on main
def test_markers_and_transforms_are_main_s_to_the_byte() -> None:
    from hdnet_ros.outputs.markers import marker_array_msg
    from hdnet_ros.outputs.skeletons import joint_points
    from hdnet_ros.outputs.tf_frames import body_rotations, body_transforms, tf_message
    from reference_outputs import markers as reference_markers
    from reference_outputs import tf_frames as reference_tf

    for seed in range(3):
        people = odd_people(23, seed)
        people[4].positions[:] = np.nan  # nothing to show
        people[6].track_id = 0  # labelled by its index
        people[7].positions[[NUM_JOINTS - 1, 0]] = np.inf
        points = joint_points(skeleton_array_msg(people, STAMP, "camera").skeletons)
        for shared in (None, points):
            got = marker_array_msg(people, STAMP, "camera", 0.3, shared)
            want = reference_markers.marker_array_msg(people, STAMP, "camera", 0.3)
            # The velocity arrows came after main's builders (test_outputs checks them).
            assert any(marker.ns == "velocities" for marker in got.markers)
            got.markers = [marker for marker in got.markers if marker.ns != "velocities"]
            assert serialised(got) == serialised(want)
        for joint_frames in (False, True):
            got = tf_message(body_transforms(people, STAMP, "camera", "body_", joint_frames))
            want = reference_tf.tf_message(reference_tf.body_transforms(people, STAMP, "camera", "body_", joint_frames))
            assert serialised(got) == serialised(want)
        positions = np.stack([p.positions for p in people]).astype(np.float64)
        np.testing.assert_array_equal(body_rotations(positions), reference_tf.body_rotations(positions))


def test_compiled_body_frames_are_the_numpy_functions_to_the_bit() -> None:
    """tf_kernel.body_frames against body_rotations and quaternions_from_matrices (which
    stay the API) on random bodies: joints missing in turn, the neck on the root, hips that
    coincide, bodies from micrometres to tens of metres, and the odd people's NaN kinds."""
    from hdnet_ros.joints import LEFT_HIP, NECK, RIGHT_HIP, ROOT
    from hdnet_ros.outputs.tf_frames import body_rotations, quaternions_from_matrices
    from hdnet_ros.outputs.tf_kernel import body_frames

    rng = np.random.default_rng(5)
    bodies = [np.stack([p.positions for p in odd_people(23, seed)]).astype(np.float64) for seed in range(3)]
    for trial in range(200):
        count = int(rng.integers(1, 25))
        scale = rng.choice([1e-6, 1e-3, 1.0, 30.0])
        positions = rng.normal(0.0, 1.0, (count, NUM_JOINTS, 3)) * scale
        positions[rng.random((count, NUM_JOINTS)) < 0.3] = np.nan
        if trial % 5 == 0:
            positions[:, NECK] = positions[:, ROOT]
        if trial % 7 == 0:
            positions[:, LEFT_HIP] = positions[:, RIGHT_HIP]
        bodies.append(positions)
    for positions in bodies:
        rotations, quaternions = body_frames(positions)
        want = body_rotations(positions)
        assert rotations.tobytes() == want.tobytes()
        assert quaternions.tobytes() == quaternions_from_matrices(want).tobytes()


def test_colours_are_the_palette_s() -> None:
    from hdnet_ros.outputs.common import PALETTE, colour_for

    for label in range(3 * len(PALETTE)):
        assert colour_for(label) == tuple(float(v) for v in PALETTE[label % len(PALETTE)])


def test_the_labels_places_are_numpy_s_to_the_bit() -> None:
    """message_kernel.marker_places' label anchors, tops and distances against main's numpy
    (markers._label_places), on joints from micrometres to kilometres (any other order of
    summation would show), some people without a root or without any joint."""
    from hdnet_ros.joints import ROOT
    from hdnet_ros.outputs.message_kernel import marker_places

    rng = np.random.default_rng(7)
    for _ in range(100):
        positions = rng.normal(0.0, 1.0, (20, NUM_JOINTS, 3)) * 10.0 ** rng.uniform(-6, 3, (20, NUM_JOINTS, 1))
        positions[rng.random((20, NUM_JOINTS)) < 0.4] = np.nan
        positions[::3, ROOT] = np.nan
        positions[5] = np.nan
        places = marker_places(positions, np.full((20, NUM_FEET, 3), np.nan))
        assert 5 not in places.rows
        shown = positions[places.rows]
        valid = np.all(np.isfinite(shown), axis=-1)
        mean = np.where(valid[..., None], shown, 0.0).sum(axis=1) / valid.sum(axis=1)[:, None]
        anchor = np.where(valid[:, ROOT, None], shown[:, ROOT], mean)
        top = np.where(valid, shown[..., 1], np.inf).min(axis=1)
        distance = np.sqrt(np.sum(anchor * anchor, axis=1))
        assert np.array(places.anchors).tobytes() == anchor.tobytes()
        assert np.array(places.tops) == pytest.approx(top, abs=0.0)  # only top - 0.2 is published: +-0 alike
        assert np.array(places.distances).tobytes() == distance.tobytes()
