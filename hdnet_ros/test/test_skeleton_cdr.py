"""The Skeleton3DArray's CDR bytes made from the people's arrays (what the replay writes)
are the bytes rosbags' serialiser makes of the message objects (what the replay wrote
before, and what the node publishes): on the sample frames through the whole pipeline
(tracked people, invalid joints), on random crowds with missing parts, odd NaNs (negative,
with a payload) and infinities, every frame id length (every header padding), and no people;
and the markers on the Points made for the bytes equal the markers on the messages' Points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.frame_input import build_frame
from hdnet_ros.outputs.frame_outputs import core_outputs
from hdnet_ros.outputs.markers import marker_array_msg
from hdnet_ros.outputs.skeleton_cdr import skeleton_array_cdr
from hdnet_ros.outputs.skeletons import joint_point_msgs, joint_points, skeleton_array_msg
from hdnet_ros.people import Person
from hdnet_ros.pipeline import FrameResult, Pipeline
from hdnet_ros.ros_types import typestore
from helpers import sample_messages
from test_outputs import STAMP, random_people

from hdnet_ros.config import load_settings

SKELETONS = "hdnet_ros_msgs/msg/Skeleton3DArray"
MARKERS = "visualization_msgs/msg/MarkerArray"


def serialised(people: list[Person], stamp_ns: int, frame_id: str) -> bytes:
    return bytes(typestore().serialize_cdr(skeleton_array_msg(people, stamp_ns, frame_id), SKELETONS))


@pytest.fixture(scope="module")
def sample_results(models_dir: Path, sample_bags: list[Path]) -> list[FrameResult]:
    """The three sample frames through the default pipeline, one after the other (tracks)."""
    pipeline = Pipeline.from_settings(load_settings(overrides={"models.models_dir": str(models_dir)}))
    results = []
    for bag in sample_bags:
        messages = sample_messages(bag)
        results.append(pipeline.process(build_frame(messages["rgb"], messages["depth"], messages["camera_info"])))
    return results


def odd_people() -> list[Person]:
    """Random people with negative and payload NaNs, infinities and a huge track id."""
    people = random_people(11, seed=3)
    odd_nan = np.frombuffer(np.array([0xFFF8_0000_DEAD_BEEF], dtype=np.uint64).tobytes(), dtype=np.float64)[0]
    people[0].positions[3] = (np.inf, 0.0, 1.0)
    people[0].positions[4] = (-np.nan, -np.nan, -np.nan)
    people[1].position_stddev[:5] = odd_nan
    people[1].scores[2] = -np.nan
    people[2].pixels[1] = (np.nan, odd_nan)
    people[3].feet_stddev[:] = -np.nan
    people[4].track_id = 2**63 + 5
    people[5].velocity = np.array([np.inf, 0.0, 0.0])
    people[6].positions[:] = np.nan  # nothing valid
    return people


def test_the_bytes_are_rosbags_bytes_on_the_sample_frames(sample_results: list[FrameResult]) -> None:
    invalid = 0
    for result in sample_results:
        people, frame = result.people, result.frame
        assert people
        invalid += sum(int(np.count_nonzero(~p.valid)) for p in people)
        assert skeleton_array_cdr(people, frame.stamp_ns, frame.frame_id) == serialised(
            people, frame.stamp_ns, frame.frame_id
        )
    assert invalid > 0  # invalid joints went through both


@pytest.mark.parametrize("frame_id", ["", "a", "ab", "abc", "abcd", "head_rgbd_sensor_rgb_frame", "cam"])
def test_the_bytes_are_rosbags_bytes_on_odd_people_and_every_frame_id(frame_id: str) -> None:
    for people in (odd_people(), random_people(20, seed=9), random_people(1, seed=1), []):
        assert skeleton_array_cdr(people, STAMP, frame_id) == serialised(people, STAMP, frame_id)


def test_core_outputs_give_the_bytes_and_the_same_markers(sample_results: list[FrameResult]) -> None:
    store = typestore()
    for result in [*sample_results, FrameResult(sample_results[0].frame, odd_people())]:
        output = load_settings().output
        as_bytes = core_outputs(result, output, 10.0, debug_image=False, skeleton_bytes=True)
        as_objects = core_outputs(result, output, 10.0, debug_image=False)
        assert as_bytes.skeletons is None and as_objects.skeletons_cdr is None
        assert as_bytes.skeletons_cdr == bytes(store.serialize_cdr(as_objects.skeletons, SKELETONS))
        assert store.serialize_cdr(as_bytes.markers, MARKERS) == store.serialize_cdr(as_objects.markers, MARKERS)
        points = joint_point_msgs(result.people)
        made = joint_points(as_objects.skeletons.skeletons)
        assert [(p.x, p.y, p.z) for p in points] == pytest.approx([(p.x, p.y, p.z) for p in made], nan_ok=True)
    people = odd_people()
    own = marker_array_msg(people, STAMP, "cam", 0.2)
    shared = marker_array_msg(people, STAMP, "cam", 0.2, joint_point_msgs(people))
    assert store.serialize_cdr(own, MARKERS) == store.serialize_cdr(shared, MARKERS)
