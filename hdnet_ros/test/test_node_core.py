"""The node's core and its life cycle without ROS: a recording stand-in for rclpy (the
Transport), the real worker, frame checks and message builders, and a stand-in pipeline
(one test runs the real one). Nothing is published while the node is not active, a failing
configure says why and leaves the node unconfigured, deactivate/activate resumes, cleanup
releases the pipeline and the publishers, shutdown releases everything from any state, and
the optional people_msgs / hri_msgs outputs are on only when their packages are installed."""

from __future__ import annotations

import copy
import gc
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.frame_input import stamp_to_ns
from hdnet_ros.image_codec import image_to_array
from hdnet_ros.inference.openvino_compiled import COMPILED
from hdnet_ros.joints import NUM_JOINTS, PELVIS
from hdnet_ros.node.decoded_image import DecodedImage, decoded_image
from hdnet_ros.node.diagnostics import StatusReport
from hdnet_ros.node.node_core import DIAGNOSTICS_PERIOD_S, NodeCore
from hdnet_ros.node.startup import EXIT_MODEL_ERROR, EXIT_SETTINGS_ERROR
from hdnet_ros.node.transport import (
    OPTIONAL_OUTPUTS,
    OUTPUTS,
    InputTopic,
    Outcome,
    OutputTopic,
    State,
    TransformUnavailableError,
)
from hdnet_ros.outputs.tf_frames import quaternion_from_matrix
from hdnet_ros.people import Detection, Frame, Person, TrackingState
from hdnet_ros.pipeline import FrameResult, Pipeline
from hdnet_ros.ros_types import typestore
from hdnet_ros.transform_buffer import Transform
from helpers import DEPTH_TOPIC, INFO_TOPIC, RGB_TOPIC, sample_messages

from hdnet_ros.config import Settings, SettingsError, load_settings

CAMERA_FRAME = "head_rgbd_sensor_rgb_frame"
ALL_OUTPUTS = {o.name for o in OUTPUTS} | {o.name for o in OPTIONAL_OUTPUTS}
PER_FRAME = {"skeletons", "markers", "people", "people_nav", "bodies_tracked"}  # debug_image: nobody subscribed
OPTICAL_TO_BASE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CAMERA_IN_BASE = Transform.from_quaternion(np.array([0.1, 0.0, 1.2]), quaternion_from_matrix(OPTICAL_TO_BASE))
DEADLINE_S = 30.0


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, text: str) -> None:
        self.lines.append(("info", text))

    def warning(self, text: str, throttled: bool = False) -> None:
        self.lines.append(("warning", text))

    def error(self, text: str, throttled: bool = False) -> None:
        self.lines.append(("error", text))

    def of(self, level: str) -> list[str]:
        return [text for lvl, text in self.lines if lvl == level]


class FakeTransport:
    """What rclpy does for the core, recorded: publishers exist between create_outputs and
    destroy_outputs (publishing elsewhere fails, as on a destroyed publisher), the
    subscriptions between subscribe and unsubscribe (the callbacks are kept, as a message
    already in flight would still reach them)."""

    def __init__(
        self, settings: Settings | Exception, installed: tuple[str, ...] = ("people_msgs", "hri_msgs")
    ) -> None:
        self.log = RecordingLog()
        self.settings = settings
        self.installed = set(installed)
        self.outputs: dict[str, OutputTopic] | None = None
        self.listen_tf: bool | None = None
        self.inputs: list[InputTopic] | None = None
        self.sync: tuple[int, float] | None = None
        self.callbacks: tuple[Callable[[Any, str], None], Callable[..., None]] | None = None
        self.timer: tuple[float, Callable[[], None]] | None = None
        self.published: list[tuple[str, Any]] = []
        self.transforms: list[Any] = []
        self.diagnostics: list[StatusReport] = []
        self.tf: dict[tuple[str, str], Transform] = {}
        self.lookups: list[tuple[str, str, int]] = []
        self.waits: list[float] = []  # each lookup's timeout
        self.fail: set[str] = set()
        self.lock = threading.Lock()

    def read_settings(self) -> Settings:
        if isinstance(self.settings, Exception):
            raise self.settings
        return self.settings

    def message_package_available(self, package: str) -> bool:
        return package in self.installed

    def create_outputs(self, outputs: Any, listen_tf: bool) -> None:
        if "create_outputs" in self.fail:
            raise RuntimeError("rmw refused the publisher")
        self.outputs, self.listen_tf = {o.name: o for o in outputs}, listen_tf

    def destroy_outputs(self) -> None:
        self.outputs = self.listen_tf = None

    def subscribe(self, inputs: Any, queue_size: int, slop_s: float, on_message: Any, on_triplet: Any) -> None:
        self.inputs, self.sync, self.callbacks = list(inputs), (queue_size, slop_s), (on_message, on_triplet)
        if "subscribe" in self.fail:
            raise RuntimeError("rmw refused the subscription")

    def unsubscribe(self) -> None:
        self.inputs = None

    def start_timer(self, period_s: float, callback: Callable[[], None]) -> None:
        self.timer = (period_s, callback)

    def stop_timer(self) -> None:
        self.timer = None

    def decode(self, msg: Any, source: InputTopic) -> DecodedImage:
        array = image_to_array(msg.data, msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian))
        return decoded_image(msg.header, array, msg.encoding)

    def publish(self, output: str, msg: Any) -> None:
        assert self.outputs is not None and output in self.outputs, f"{output}: no such publisher"
        assert msg.__msgtype__ == self.outputs[output].message_type
        store = typestore()  # what goes on the wire
        with self.lock:
            self.published.append(
                (output, store.deserialize_cdr(store.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__))
            )

    def publish_transforms(self, transforms: list[Any]) -> None:
        assert self.outputs is not None, "no TF broadcaster"
        with self.lock:
            self.transforms.extend(transforms)

    def publish_diagnostics(self, report: StatusReport) -> None:
        assert self.outputs is not None and "diagnostics" in self.outputs
        self.diagnostics.append(report)

    def subscription_count(self, output: str) -> int:
        assert self.outputs is not None and output in self.outputs
        return 0

    def lookup_transform(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> Transform:
        self.lookups.append((target, source, stamp_ns))
        self.waits.append(timeout_s)
        if (target, source) not in self.tf:
            raise TransformUnavailableError(
                f'"{target}" passed to lookupTransform argument target_frame does not exist'
            )
        return self.tf[(target, source)]

    def now_ns(self) -> int:
        return time.time_ns()

    # ---- what the test does as the executor would --------------------------------------------

    def feed(self, sample: dict[str, Any], index: int) -> int:
        """One synchronized triplet through the subscriptions' callbacks; returns its stamp."""
        assert self.callbacks is not None, "never subscribed"
        on_message, on_triplet = self.callbacks
        messages = copy.deepcopy(sample)
        for msg in messages.values():
            msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_000 + index, 0
        for role in ("rgb", "depth", "camera_info"):
            on_message(messages[role], role)
        on_triplet(messages["rgb"], messages["depth"], messages["camera_info"])
        return stamp_to_ns(messages["rgb"].header.stamp)


def a_person(track_id: int) -> Person:
    positions = np.full((NUM_JOINTS, 3), np.nan)
    positions[PELVIS] = (0.5, 0.2, 2.0)
    return Person(
        detection=Detection(np.array([280.0, 100.0, 360.0, 400.0]), 0.8),
        pixels=np.full((NUM_JOINTS, 2), 320.0),
        scores=np.full(NUM_JOINTS, 0.9),
        positions=positions,
        velocity=np.array([0.3, 0.0, 1.0]),
        track_id=track_id,
        tracking_state=TrackingState.TRACKED,
    )


class StandInPipeline:
    """Finds one person at 2 m in every frame; ``gate`` (when set) holds each frame until opened."""

    builds = 0

    def __init__(self, settings: Settings) -> None:
        StandInPipeline.builds += 1
        self.settings = settings
        self.frames: list[int] = []
        self.floor_poses: list[Any] = []
        self.fixed_poses: list[Any] = []
        self.started = threading.Event()
        self.gate: threading.Event | None = None

    def process(self, frame: Frame) -> FrameResult:
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(DEADLINE_S)
        self.frames.append(frame.stamp_ns)
        self.floor_poses.append(frame.floor_pose)
        self.fixed_poses.append(frame.fixed_pose)
        return FrameResult(frame, [a_person(track_id=3)])

    def network_report(self) -> dict[str, Any]:
        return {"pose_3d": "", "root_depth": ""}


def wait_for(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture(scope="module")
def sample(sample_bags: list[Path]) -> dict[str, Any]:
    return sample_messages(sample_bags[1])


def node_settings(**overrides: Any) -> Settings:
    return load_settings(
        overrides={
            "input.rgb_topic": RGB_TOPIC,
            "input.depth_topic": DEPTH_TOPIC,
            "input.camera_info_topic": INFO_TOPIC,
            "input.slop": 0.5,
            **overrides,
        }
    )


class Harness:
    def __init__(self, settings: Settings | Exception | None = None, **transport: Any) -> None:
        self.transport = FakeTransport(node_settings() if settings is None else settings, **transport)
        self.pipelines: list[StandInPipeline] = []
        self.core = NodeCore(self.transport, build_pipeline=self._build)  # type: ignore[arg-type]

    def _build(self, settings: Settings) -> Pipeline:
        self.pipelines.append(StandInPipeline(settings))
        return self.pipelines[-1]  # type: ignore[return-value]

    def frame_published(self, sample: dict[str, Any], index: int) -> int:
        """Feed a frame and wait until all its messages are out; returns its stamp."""
        stamp = self.transport.feed(sample, index)
        wait_for(lambda: "skeletons" in published_for(self.transport, stamp))
        return stamp


@pytest.fixture
def harness() -> Iterator[Harness]:
    running = Harness()
    yield running
    running.core.shutdown()  # never leave a worker thread behind


def stamp_of(msg: Any) -> int:
    """The image stamp a published message carries (a MarkerArray in its markers)."""
    return stamp_to_ns((msg.header if hasattr(msg, "header") else msg.markers[0].header).stamp)


def published_for(transport: FakeTransport, stamp: int) -> set[str]:
    with transport.lock:
        return {t for t, m in transport.published if stamp_of(m) == stamp}


def test_configure_creates_the_publishers_and_activate_subscribes(harness: Harness) -> None:
    core, transport = harness.core, harness.transport
    assert core.configure().ok and core.state is State.INACTIVE
    assert transport.outputs is not None and set(transport.outputs) == ALL_OUTPUTS
    assert transport.outputs["people_nav"].topic == "~/people_nav"
    assert transport.outputs["bodies_tracked"].topic == "/humans/bodies/tracked"
    assert transport.listen_tf is True  # floor.frame (base_footprint by default): the camera pose over the floor
    assert transport.inputs is None and transport.timer is None  # inactive: not subscribed
    assert core.activate().ok and core.state is State.ACTIVE
    assert transport.inputs is not None
    assert [(i.role, i.topic, i.reliability) for i in transport.inputs] == [
        ("rgb", RGB_TOPIC, "best_effort"),
        ("depth", DEPTH_TOPIC, "best_effort"),
        ("camera_info", INFO_TOPIC, "best_effort"),
    ]
    assert transport.sync == (10, 0.5)
    assert transport.timer is not None and transport.timer[0] == DIAGNOSTICS_PERIOD_S


def test_nothing_is_published_while_inactive_and_activate_resumes(harness: Harness, sample: dict[str, Any]) -> None:
    core, transport = harness.core, harness.transport
    assert core.configure().ok and core.activate().ok
    first = harness.frame_published(sample, 0)
    wait_for(lambda: published_for(transport, first) == PER_FRAME)
    assert {t.child_frame_id for t in transport.transforms} == {"body_3"}
    assert transport.timer is not None
    on_timer = transport.timer[1]
    on_timer()
    assert len(transport.diagnostics) == 1 and transport.diagnostics[0].values["output rate [Hz]"] != "0.00"

    assert core.deactivate().ok and core.state is State.INACTIVE
    assert transport.inputs is None and transport.timer is None and transport.outputs is not None
    count = len(transport.published)
    late = transport.feed(sample, 1)  # messages already in flight reach the old callbacks
    on_timer()
    time.sleep(0.2)  # give a (wrongly) running worker time to publish
    assert len(transport.published) == count and not transport.diagnostics[1:]
    assert harness.pipelines[0].frames == [first]  # the late frame was not even processed
    assert published_for(transport, late) == set()

    assert core.activate().ok  # the same pipeline, no reload
    again = harness.frame_published(sample, 2)
    wait_for(lambda: published_for(transport, again) == PER_FRAME)
    assert len(harness.pipelines) == 1 and harness.pipelines[0].frames == [first, again]


def test_a_frame_still_processed_at_deactivation_is_not_published(harness: Harness, sample: dict[str, Any]) -> None:
    core, transport = harness.core, harness.transport
    assert core.configure().ok
    pipeline = harness.pipelines[0]
    pipeline.gate = threading.Event()
    assert core.activate().ok
    transport.feed(sample, 0)
    assert pipeline.started.wait(DEADLINE_S)  # the worker is inside the pipeline
    results: list[Any] = []
    deactivating = threading.Thread(target=lambda: results.append(core.deactivate()))
    deactivating.start()
    wait_for(lambda: core.state is State.INACTIVE)  # publishing stops first ...
    pipeline.gate.set()  # ... then the frame finishes
    deactivating.join(DEADLINE_S)
    assert results and results[0].ok
    assert len(pipeline.frames) == 1 and transport.published == [] and transport.transforms == []


def test_failing_configure_says_why_and_stays_unconfigured() -> None:
    harness = Harness(SettingsError("input.slop: -1.0 is below its minimum 0.0"))
    kept = ("a model compiled before the failure",)
    COMPILED.get(kept, object)
    result = harness.core.configure()
    assert kept in COMPILED, "a failed configure keeps the compiled models for the next try"
    assert result.outcome is Outcome.FAILURE and result.exit_code == EXIT_SETTINGS_ERROR
    assert "input.slop" in result.reason and harness.core.state is State.UNCONFIGURED
    assert harness.transport.log.of("error") == [
        f"configure failed: invalid parameters: {result.reason.split(': ', 1)[1]}"
    ]
    assert harness.transport.outputs is None and harness.pipelines == []
    harness.transport.settings = node_settings()  # fixed: configure again
    assert harness.core.configure().ok and harness.core.state is State.INACTIVE
    harness.core.shutdown()


def test_a_missing_model_file_fails_configure_with_the_file_named(tmp_path: Path) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    transport = FakeTransport(node_settings(**{"models.models_dir": str(empty)}))
    core = NodeCore(transport)  # the real model loading
    result = core.configure()
    assert result.outcome is Outcome.FAILURE and result.exit_code == EXIT_MODEL_ERROR
    assert str(empty) in result.reason and "Traceback" not in result.reason
    (line,) = transport.log.of("error")
    assert line.startswith("configure failed: cannot load the models:") and str(empty) in line
    assert core.state is State.UNCONFIGURED and core.pipeline is None and transport.outputs is None


def test_an_unexpected_error_is_logged_with_its_traceback_and_on_error_recovers(harness: Harness) -> None:
    core, transport = harness.core, harness.transport
    transport.fail.add("create_outputs")
    result = core.configure()
    assert result.outcome is Outcome.ERROR and "rmw refused the publisher" in result.reason
    (line,) = transport.log.of("error")
    assert line.startswith("configure failed with an unexpected error:") and "Traceback" in line
    assert core.pipeline is None and core.state is State.UNCONFIGURED
    assert core.on_error().ok and core.state is State.UNCONFIGURED  # rclpy's ErrorProcessing -> unconfigured
    transport.fail.clear()
    assert core.configure().ok and core.activate().ok


def test_a_failing_activate_leaves_no_worker_and_on_error_releases(harness: Harness) -> None:
    core, transport = harness.core, harness.transport
    assert core.configure().ok
    transport.fail.add("subscribe")
    result = core.activate()
    assert result.outcome is Outcome.ERROR and core.state is State.INACTIVE
    assert transport.inputs is None and transport.timer is None
    assert not [t for t in threading.enumerate() if t.name == "hdnet_worker"]
    assert core.on_error().ok and core.state is State.UNCONFIGURED and transport.outputs is None


def test_cleanup_releases_the_pipeline_and_the_publishers(harness: Harness, sample: dict[str, Any]) -> None:
    core, transport = harness.core, harness.transport
    assert core.configure().ok and core.activate().ok
    harness.frame_published(sample, 0)
    COMPILED.get(("a model the pipeline compiled on OpenVINO",), object)  # the stand-in compiles none
    assert core.deactivate().ok and core.cleanup().ok and core.state is State.UNCONFIGURED
    assert transport.outputs is None and core.pipeline is None and core.settings is None
    released = weakref.ref(harness.pipelines.pop())
    gc.collect()
    assert released() is None, "something still holds the pipeline after cleanup"
    assert len(COMPILED) == 0, "the process's compiled OpenVINO models go with the pipeline"
    assert core.configure().ok and len(harness.pipelines) == 1  # configure loads the models again


@pytest.mark.parametrize("state", [State.UNCONFIGURED, State.INACTIVE, State.ACTIVE])
def test_shutdown_releases_everything_from_any_state(state: State, sample: dict[str, Any]) -> None:
    harness = Harness()
    core, transport = harness.core, harness.transport
    if state is not State.UNCONFIGURED:
        assert core.configure().ok
    if state is State.ACTIVE:
        assert core.activate().ok
        harness.frame_published(sample, 0)
    assert core.state is state
    assert core.shutdown().ok and core.state is State.FINALIZED
    assert transport.outputs is None and transport.inputs is None and transport.timer is None
    assert core.pipeline is None
    assert not [t for t in threading.enumerate() if t.name == "hdnet_worker"]
    assert core.configure().outcome is Outcome.FAILURE  # finalized is final


def test_transitions_from_the_wrong_state_are_refused(harness: Harness) -> None:
    core = harness.core
    assert core.activate().reason == "cannot activate while unconfigured"
    assert core.cleanup().outcome is Outcome.FAILURE and core.deactivate().outcome is Outcome.FAILURE
    assert core.configure().ok
    assert core.configure().reason == "cannot configure while inactive"
    assert core.activate().ok
    assert core.cleanup().reason == "cannot cleanup while active" and core.state is State.ACTIVE


def test_parameters_may_change_only_while_unconfigured(harness: Harness) -> None:
    core = harness.core
    assert core.accepts_parameter_changes
    assert core.configure().ok and not core.accepts_parameter_changes
    assert core.activate().ok and not core.accepts_parameter_changes
    assert core.deactivate().ok and core.cleanup().ok and core.accepts_parameter_changes


def test_missing_message_packages_are_said_once_and_their_topics_left_out(sample: dict[str, Any]) -> None:
    harness = Harness(installed=())
    core, transport = harness.core, harness.transport
    assert core.configure().ok and core.activate().ok
    assert transport.outputs is not None and set(transport.outputs) == {o.name for o in OUTPUTS}
    said = [line for line in transport.log.of("info") if "is not installed" in line]
    assert [line.split(" ", 1)[0] for line in said] == ["people_msgs", "hri_msgs"]
    assert "/people" in said[0] and "wg-perception/people's ros2 branch" in said[0]  # no ROS 2 binary
    assert "/humans/bodies/tracked" in said[1] and "rosdep key hri_msgs" in said[1]
    stamp = harness.frame_published(sample, 0)
    wait_for(lambda: published_for(transport, stamp) == {"skeletons", "markers", "people"})
    assert core.deactivate().ok and core.cleanup().ok and core.configure().ok
    assert len([line for line in transport.log.of("info") if "is not installed" in line]) == 2  # once
    core.shutdown()


def test_people_are_published_in_the_target_frame_at_the_image_stamp(sample: dict[str, Any]) -> None:
    harness = Harness(node_settings(**{"node.target_frame": "base_link"}))
    core, transport = harness.core, harness.transport
    assert core.configure().ok and transport.listen_tf is True
    assert core.activate().ok
    missing = harness.frame_published(sample, 0)  # TF does not know base_link yet
    wait_for(lambda: published_for(transport, missing) == {"skeletons", "markers", "bodies_tracked"})
    (warning,) = transport.log.of("warning")
    assert warning.startswith(f"~/people and ~/people_nav not published: no transform {CAMERA_FRAME} -> base_link")

    transport.tf[("base_link", CAMERA_FRAME)] = CAMERA_IN_BASE
    stamp = harness.frame_published(sample, 1)
    wait_for(lambda: published_for(transport, stamp) == PER_FRAME)
    assert transport.lookups[-1] == ("base_link", CAMERA_FRAME, stamp)  # at the image stamp
    with transport.lock:
        latest = {t: m for t, m in transport.published if stamp_of(m) == stamp}
    assert latest["people"].header.frame_id == latest["people_nav"].header.frame_id == "base_link"
    assert latest["bodies_tracked"].header.frame_id == CAMERA_FRAME and latest["bodies_tracked"].ids == ["3"]
    (person,) = latest["people_nav"].people
    assert person.name == "3" and person.reliability == pytest.approx(0.8)
    assert (person.position.x, person.position.y, person.position.z) == pytest.approx((2.1, -0.5, 1.0))
    assert (person.velocity.x, person.velocity.y, person.velocity.z) == pytest.approx((1.0, -0.3, 0.0))
    (pose,) = latest["people"].poses
    assert (pose.position.x, pose.position.y, pose.position.z) == pytest.approx((2.1, -0.5, 1.0))
    core.shutdown()


def test_the_real_pipeline_publishes_people_for_navigation(models_dir: Path, sample: dict[str, Any]) -> None:
    """The same path with the models: the sample frame's people reach every output, the
    social-navigation names and the REP-155 ids being the body_<id> TF frames."""
    transport = FakeTransport(node_settings(**{"models.models_dir": str(models_dir)}))
    core = NodeCore(transport)
    try:
        assert core.configure().ok and core.activate().ok
        stamp = transport.feed(sample, 0)
        wait_for(lambda: published_for(transport, stamp) == PER_FRAME)
        with transport.lock:
            latest = {t: m for t, m in transport.published if stamp_of(m) == stamp}
        rooted = [s for s in latest["skeletons"].skeletons if s.root_valid]
        assert rooted, "the standing person has a root"
        frames = {t.child_frame_id for t in transport.transforms if stamp_to_ns(t.header.stamp) == stamp}
        assert {f"body_{i}" for i in latest["bodies_tracked"].ids} == frames
        assert (
            [p.name for p in latest["people_nav"].people] == latest["bodies_tracked"].ids == [str(s.id) for s in rooted]
        )
        assert all(p.tags[p.tagnames.index("velocity_valid")] == "false" for p in latest["people_nav"].people)
    finally:
        core.shutdown()


def test_each_frame_gets_its_cameras_pose_over_the_floor_from_tf(sample: dict[str, Any]) -> None:
    """floor.frame (base_footprint by default) -> the image's frame at the image stamp; a
    failed lookup reaches the pipeline as a CameraPose saying why, never as a floor."""
    harness = Harness()
    core, transport = harness.core, harness.transport
    try:
        assert core.configure().ok and transport.listen_tf is True and core.activate().ok
        missing = harness.frame_published(sample, 0)
        transport.tf[("base_footprint", CAMERA_FRAME)] = CAMERA_IN_BASE
        known = harness.frame_published(sample, 1)
        assert ("base_footprint", CAMERA_FRAME, missing) in transport.lookups
        assert ("base_footprint", CAMERA_FRAME, known) in transport.lookups
        first, second = harness.pipelines[0].floor_poses
        assert first.matrix is None and first.reason == "missing" and "base_footprint" in first.message
        assert second.reason == "" and np.allclose(second.matrix, CAMERA_IN_BASE.matrix)
        assert np.allclose(second.matrix[:3, 3], (0.1, 0.0, 1.2))  # the camera 1.2 m over the floor
    finally:
        core.shutdown()


def test_each_frame_gets_its_cameras_pose_in_the_tracking_fixed_frame(sample: dict[str, Any]) -> None:
    """tracking.fixed_frame (odom by default) -> the image's frame at the image stamp, for the
    tracker to take the robot's own motion out of the people's; without floor.frame too."""
    harness = Harness(node_settings(**{"floor.frame": ""}))
    core, transport = harness.core, harness.transport
    odom_to_camera = Transform.from_quaternion(np.array([2.0, -1.0, 1.2]), quaternion_from_matrix(OPTICAL_TO_BASE))
    try:
        assert core.configure().ok and transport.listen_tf is True and core.activate().ok
        missing = harness.frame_published(sample, 0)
        transport.tf[("odom", CAMERA_FRAME)] = odom_to_camera
        known = harness.frame_published(sample, 1)
        assert transport.lookups == [("odom", CAMERA_FRAME, missing), ("odom", CAMERA_FRAME, known)]
        first, second = harness.pipelines[0].fixed_poses
        assert first.matrix is None and first.reason == "missing" and "odom" in first.message
        assert second.reason == "" and np.allclose(second.matrix, odom_to_camera.matrix)
        assert harness.pipelines[0].floor_poses == [None, None]
    finally:
        core.shutdown()


def test_a_missing_target_frame_is_waited_for_once(sample: dict[str, Any]) -> None:
    """node.target_frame that TF does not have: the first frame waits node.tf_timeout_s for
    it, the next ones ask without waiting (a wait per frame would hold up the worker), until
    it is found; ~/people is left out meanwhile, with a warning."""
    settings = {"floor.frame": "", "tracking.fixed_frame": "", "node.target_frame": "map"}
    harness = Harness(node_settings(**settings))
    core, transport = harness.core, harness.transport
    try:
        assert core.configure().ok and core.activate().ok
        first, second = harness.frame_published(sample, 0), harness.frame_published(sample, 1)
        transport.tf[("map", CAMERA_FRAME)] = CAMERA_IN_BASE
        found, after = harness.frame_published(sample, 2), harness.frame_published(sample, 3)
        stamps = [first, second, found, after]
        assert transport.lookups == [("map", CAMERA_FRAME, stamp) for stamp in stamps]
        assert transport.waits == [0.05, 0.0, 0.0, 0.05]
        wait_for(lambda: published_for(transport, after) >= {"people"})
        assert "people" not in published_for(transport, first)
        assert any("~/people" in text and "map" in text for text in transport.log.of("warning"))
    finally:
        core.shutdown()


def test_empty_floor_and_fixed_frames_ask_tf_nothing(sample: dict[str, Any]) -> None:
    harness = Harness(node_settings(**{"floor.frame": "", "tracking.fixed_frame": ""}))
    core, transport = harness.core, harness.transport
    try:
        assert core.configure().ok and transport.listen_tf is False and core.activate().ok
        harness.frame_published(sample, 0)
        assert transport.lookups == [] and harness.pipelines[0].floor_poses == [None]
        assert harness.pipelines[0].fixed_poses == [None]
    finally:
        core.shutdown()
