"""Diagnostics aggregation: rates per period, capture-to-publish latency, drops by reason,
and the status level the node puts on /diagnostics."""

from __future__ import annotations

from hdnet_ros.depth_fault import DepthFaultReason
from hdnet_ros.frame_input import SkipReason
from hdnet_ros.node.diagnostics import REPORTED_REASONS, WORKER_EXCEPTION, DiagnosticsAggregator, Level
from hdnet_ros.outputs.network_report import network_values

SECOND = 1_000_000_000
MS = 1_000_000


def busy_second() -> DiagnosticsAggregator:
    """2 s with 30 input frames, 21 published (latencies 0..20 ms) and 9 dropped as busy."""
    diagnostics = DiagnosticsAggregator("hdnet_node: frames", hardware_id="/camera/color/image_raw")
    diagnostics.start(10 * SECOND)
    for _ in range(30):
        diagnostics.record_input()
    for i in range(21):
        capture = 10 * SECOND + i * 50 * MS
        diagnostics.record_output(capture, capture + i * MS)
    for _ in range(9):
        diagnostics.record_drop(SkipReason.WORKER_BUSY.value)
    return diagnostics


def test_report_has_rates_latency_and_drops() -> None:
    report = busy_second().report(12 * SECOND)
    assert report.name == "hdnet_node: frames" and report.hardware_id == "/camera/color/image_raw"
    assert report.values["input rate [Hz]"] == "15.00"
    assert report.values["output rate [Hz]"] == "10.50"
    assert report.values["latency median [ms]"] == "10.0"
    assert report.values["latency p95 [ms]"] == "19.0"
    assert report.values["dropped worker_busy"] == "9"
    assert report.values["dropped no_sync_partner"] == "0"


def test_inference_slower_than_the_camera_is_ok() -> None:
    report = busy_second().report(12 * SECOND)
    assert report.level == Level.OK
    assert report.message == "processing 10.5 of 15.0 frames/s (older frames dropped)"


def test_every_drop_reason_is_listed() -> None:
    report = busy_second().report(12 * SECOND)
    assert {f"dropped {reason.value}" for reason in SkipReason} <= set(report.values)
    assert f"dropped {WORKER_EXCEPTION}" in report.values
    assert len(REPORTED_REASONS) == len(SkipReason) + 1


def test_a_new_period_resets_rates_but_keeps_drop_totals() -> None:
    diagnostics = busy_second()
    diagnostics.report(12 * SECOND)
    assert diagnostics.output_rate_hz == 10.5  # what the node uses for marker lifetimes
    quiet = diagnostics.report(13 * SECOND)
    assert quiet.values["input rate [Hz]"] == "0.00"
    assert quiet.values["dropped worker_busy"] == "9"
    assert quiet.level == Level.WARN and quiet.message == "no synchronized RGB/depth/camera_info frames"
    assert diagnostics.output_rate_hz == 0.0


def test_drops_for_bad_input_warn_and_name_the_reason() -> None:
    diagnostics = busy_second()
    diagnostics.record_drop(SkipReason.SIZE_MISMATCH.value)
    diagnostics.record_drop(WORKER_EXCEPTION)
    report = diagnostics.report(12 * SECOND)
    assert report.level == Level.WARN
    assert "size_mismatch 1" in report.message and "worker_exception 1" in report.message


def test_no_latency_before_the_first_output() -> None:
    diagnostics = DiagnosticsAggregator("n")
    diagnostics.start(0)
    report = diagnostics.report(SECOND)
    assert report.values["latency median [ms]"] == "n/a" and report.values["latency p95 [ms]"] == "n/a"


def test_depth_faults_warn_with_reason_and_count_apart_from_drops() -> None:
    diagnostics = busy_second()
    for _ in range(4):
        diagnostics.record_depth_fault(DepthFaultReason.ALL_INVALID.value)
    diagnostics.record_depth_fault(DepthFaultReason.SIZE_MISMATCH.value)
    report = diagnostics.report(12 * SECOND)
    assert report.level == Level.WARN
    assert report.message == (
        "depth unusable in the last period, frames processed from RGB only: all_invalid 4, size_mismatch 1"
    )
    assert report.values["depth fault all_invalid"] == "4"
    assert report.values["depth fault size_mismatch"] == "1"
    assert report.values["depth fault bad_encoding"] == "0"
    assert report.values["dropped worker_busy"] == "9"  # the faulty frames were processed, not dropped
    assert diagnostics.depth_fault_totals() == {"all_invalid": 4, "size_mismatch": 1}
    again = diagnostics.report(13 * SECOND)
    assert "depth unusable" not in again.message  # depth is back: the warning goes with the period
    assert again.values["depth fault all_invalid"] == "4"  # totals since start-up stay


def test_depth_faults_and_bad_input_are_both_named() -> None:
    diagnostics = busy_second()
    diagnostics.record_drop(SkipReason.ZERO_STAMP.value)
    diagnostics.record_depth_fault(DepthFaultReason.BAD_ENCODING.value)
    report = diagnostics.report(12 * SECOND)
    assert report.level == Level.WARN
    assert report.message == (
        "frames dropped for bad input in the last period: zero_stamp 1; "
        "depth unusable in the last period, frames processed from RGB only: bad_encoding 1"
    )


def test_depth_problems_are_not_drop_reasons() -> None:
    report = busy_second().report(12 * SECOND)
    assert not any(key.startswith("dropped") and "depth" in key for key in report.values)
    assert {f"depth fault {reason.value}" for reason in DepthFaultReason} <= set(report.values)


def test_latencies_and_drop_totals_for_the_benchmark() -> None:
    diagnostics = DiagnosticsAggregator("n", latency_window=2)
    for i in range(3):
        diagnostics.record_output(0, (i + 1) * MS)
    diagnostics.record_drop(SkipReason.WORKER_BUSY.value)
    assert diagnostics.latencies_ms() == [2.0, 3.0]  # the window keeps the newest
    assert diagnostics.drop_totals() == {"worker_busy": 1}


def test_the_3d_networks_and_blazepose_rejections_are_reported() -> None:
    report = {"pose_3d": "blazepose", "root_depth": "", "blazepose": {"crops": 12, "low_presence": 3, "no_root": 1}}
    aggregator = DiagnosticsAggregator("hdnet_node")
    aggregator.start(0)
    values = aggregator.report(10**9, network_values(report)).values
    assert values["3D pose network"] == "blazepose" and values["root depth network"] == "off"
    assert (values["BlazePose crops"], values["BlazePose rejected (low presence)"]) == ("12", "3")
    assert values["BlazePose without a root"] == "1"
    assert "BlazePose crops" not in network_values({"pose_3d": "", "root_depth": ""})
    assert "runtimes" not in values


def test_the_networks_runtimes_are_reported() -> None:
    """Which runtime each network runs on (``auto``'s choice: the log says why)."""
    runtimes = {"detector": "onnxruntime", "keypoints_2d": "openvino", "blazepose": "litert_fp32"}
    values = network_values({"pose_3d": "blazepose", "runtimes": runtimes})
    assert values["runtimes"] == "detector onnxruntime, 2D keypoints openvino, BlazePose litert_fp32"
