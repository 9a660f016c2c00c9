"""The node's worker without ROS, on the real sample frames and models: a good triplet is
published with its capture-to-publish latency; a triplet with unusable depth is still
published (RGB only), counted as a depth fault and warned about once per transition; an
RGB image that cannot be converted is a counted skip; an exception is counted and logged."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.depth_fault import DepthFaultWatch
from hdnet_ros.frame_input import FrameError, SkipReason
from hdnet_ros.image_codec import image_to_array
from hdnet_ros.joints import ROOT
from hdnet_ros.node.decoded_image import decoded_image
from hdnet_ros.node.diagnostics import DiagnosticsAggregator, Level
from hdnet_ros.node.frame_processor import FrameProcessor, core_outputs
from hdnet_ros.people import DepthSource
from hdnet_ros.pipeline import FrameResult, Pipeline
from helpers import DEPTH_TOPIC, sample_messages

from hdnet_ros.config import load_settings

PUBLISH_DELAY_NS = 7_000_000  # the fake clock: results are out 7 ms after the capture stamp


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, bool]] = []

    def warning(self, text: str, throttled: bool = False) -> None:
        self.lines.append(("warning", text, throttled))

    def error(self, text: str, throttled: bool = False) -> None:
        self.lines.append(("error", text, throttled))


def passthrough(msg: Any, role: str) -> Any:
    """What the node's cv_bridge conversion hands to build_frame (see test_node_decoded_image)."""
    if msg.encoding == "broken":
        raise FrameError(SkipReason.BAD_ENCODING, f"{role} image: cv_bridge could not convert 'broken'")
    array = image_to_array(msg.data, msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian))
    return decoded_image(msg.header, array, msg.encoding)


@pytest.fixture(scope="module")
def pipeline(models_dir: Path) -> Pipeline:
    return Pipeline.from_settings(load_settings(overrides={"models.models_dir": str(models_dir)}))


@pytest.fixture(scope="module")
def sample(sample_bags: list[Path]) -> dict[str, Any]:
    return sample_messages(sample_bags[1])


class Harness:
    def __init__(self, pipeline: Pipeline) -> None:
        pipeline.reset_tracking()  # the module shares one pipeline: no test sees another's tracks
        self.published: list[FrameResult] = []
        self.diagnostics = DiagnosticsAggregator("hdnet_node: frames")
        self.diagnostics.start(0)
        self.log = RecordingLog()
        self.last_stamp_ns = 0
        self.processor = FrameProcessor(
            pipeline,
            pipeline.settings.input,
            self.diagnostics,
            DepthFaultWatch(DEPTH_TOPIC),
            decode=passthrough,
            publish=self.published.append,
            clock_ns=lambda: self.last_stamp_ns + PUBLISH_DELAY_NS,
            log=self.log,
        )

    def feed(self, sample: dict[str, Any], index: int, depth: str = "good", rgb: str = "good") -> None:
        triplet = copy.deepcopy(sample)
        for msg in triplet.values():
            msg.header.stamp.sec, msg.header.stamp.nanosec = 100 + index, 0
        if depth == "zeros":
            triplet["depth"].data = np.zeros_like(np.asarray(triplet["depth"].data))
        if depth == "broken":
            triplet["depth"].encoding = "broken"
        if rgb == "broken":
            triplet["rgb"].encoding = "broken"
        self.last_stamp_ns = (100 + index) * 1_000_000_000
        self.processor.process(triplet)

    def warnings(self) -> list[str]:
        return [text for level, text, _ in self.log.lines if level == "warning"]


def test_good_frames_are_published_with_their_latency(pipeline: Pipeline, sample: dict[str, Any]) -> None:
    harness = Harness(pipeline)
    harness.feed(sample, 0)
    (result,) = harness.published
    assert result.frame.depth_fault is None and result.people
    assert any(p.depth_sources[17] in (DepthSource.SENSOR, DepthSource.FUSED) for p in result.people)
    assert harness.diagnostics.latencies_ms() == [PUBLISH_DELAY_NS / 1e6]
    assert harness.log.lines == []


def test_depth_faults_are_published_counted_and_warned_per_transition(
    pipeline: Pipeline, sample: dict[str, Any]
) -> None:
    harness = Harness(pipeline)
    for index, depth in enumerate(["good", "zeros", "zeros", "broken", "good", "zeros"]):
        harness.feed(sample, index, depth=depth)
    assert len(harness.published) == 6  # no frame was lost to its depth
    faults = [r.frame.depth_fault.reason.value if r.frame.depth_fault else None for r in harness.published]
    assert faults == [None, "all_invalid", "all_invalid", "bad_encoding", None, "all_invalid"]
    for result in harness.published[1:4]:
        sources = {int(s) for p in result.people for s, ok in zip(p.depth_sources, p.valid, strict=True) if ok}
        assert result.people and sources <= {DepthSource.NETWORK, DepthSource.INFERRED}  # nothing from the sensor
    warnings = harness.warnings()
    assert len(warnings) == 3
    assert warnings[0].startswith(f"depth on {DEPTH_TOPIC} is unusable (all_invalid:")
    assert warnings[1] == f"depth on {DEPTH_TOPIC} is usable again after 3 frame(s) with a depth fault"
    assert warnings[2].startswith(f"depth on {DEPTH_TOPIC} is unusable (all_invalid:")
    assert harness.diagnostics.depth_fault_totals() == {"all_invalid": 3, "bad_encoding": 1}
    assert harness.diagnostics.drop_totals() == {}
    report = harness.diagnostics.report(1_000_000_000)
    assert report.level == Level.WARN and "all_invalid 3, bad_encoding 1" in report.message


def test_unconvertible_rgb_is_a_counted_skip(pipeline: Pipeline, sample: dict[str, Any]) -> None:
    harness = Harness(pipeline)
    harness.feed(sample, 0, rgb="broken")
    assert harness.published == []
    assert harness.diagnostics.drop_totals() == {"bad_encoding": 1}
    ((level, text, throttled),) = harness.log.lines
    assert level == "warning" and throttled and text.startswith("frame skipped (bad_encoding): rgb image:")


def test_an_exception_is_counted_and_logged_with_its_traceback(pipeline: Pipeline) -> None:
    harness = Harness(pipeline)
    try:
        raise RuntimeError("broken frame")
    except RuntimeError as error:
        harness.processor.on_worker_error(error)
    harness.processor.on_worker_busy({})
    assert harness.diagnostics.drop_totals() == {"worker_exception": 1, "worker_busy": 1}
    ((level, text, throttled),) = harness.log.lines
    assert level == "error" and throttled and "Traceback" in text and "broken frame" in text


def test_core_outputs_are_the_published_messages(pipeline: Pipeline, sample: dict[str, Any]) -> None:
    harness = Harness(pipeline)
    harness.feed(sample, 0)
    (result,) = harness.published
    outputs = core_outputs(result, pipeline.settings.output, frame_rate_hz=10.0, debug_image=True)
    assert len(outputs.skeletons.skeletons) == len(result.people)
    assert outputs.skeletons.header.stamp.sec == 100
    rooted = {f"body_{p.track_id}" for p in result.people if p.valid[ROOT]}  # body_<id> sits at the pelvis
    assert {t.child_frame_id for t in outputs.transforms} == rooted
    assert outputs.debug_image is not None and (outputs.debug_image.height, outputs.debug_image.width) == (480, 640)
    assert outputs.overlay is not None and bytes(outputs.debug_image.data) == outputs.overlay.tobytes()
    without = core_outputs(result, pipeline.settings.output, 10.0, debug_image=False)
    assert without.debug_image is None and without.overlay is None


def marker_lifetimes_s(markers: Any) -> set[float]:
    return {round(m.lifetime.sec + m.lifetime.nanosec / 1e9, 6) for m in markers.markers if m.action == m.ADD}


def test_markers_live_their_frame_count_at_the_given_rate(pipeline: Pipeline, sample: dict[str, Any]) -> None:
    """The node passes its measured output rate: markers outlive a few of its frame periods."""
    harness = Harness(pipeline)
    harness.feed(sample, 0)
    (result,) = harness.published
    output = dataclasses.replace(pipeline.settings.output, marker_lifetime_frames=3.0)
    at_10 = marker_lifetimes_s(core_outputs(result, output, frame_rate_hz=10.0, debug_image=False).markers)
    at_4 = marker_lifetimes_s(core_outputs(result, output, frame_rate_hz=4.0, debug_image=False).markers)
    assert at_10 == {0.3} and at_4 == {0.75}  # 3 periods of 0.1 s and of 0.25 s, on every marker
