"""The replay's closing line: frames read, processed, with a depth fault and skipped (with
their reasons), people per frame, the 3D networks in the node's /diagnostics wording, and
the pipeline's median and p95 latency; summary.json's per-frame entries kept on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hdnet_ros.outputs.network_report import network_values
from hdnet_ros.replay.runner import network_line, summary_line
from hdnet_ros.replay.summary import FrameRecords, ReplaySummary

BLAZEPOSE = {
    "pose_3d": "blazepose",
    "root_depth": "blazepose",
    "blazepose": {
        "crops": 18,
        "low_presence": 2,
        "no_root": 1,
        "without_mask": 7,
        "schedule": {"mask_kept": 4},
    },
}


def test_network_line_words_the_networks_as_the_node_does() -> None:
    line = network_line(BLAZEPOSE)
    assert line == (
        "3D pose network: blazepose, root depth network: blazepose, BlazePose crops: 18, "
        "BlazePose rejected (low presence): 2, BlazePose without a root: 1, "
        "BlazePose crops without a new mask (not read, or kept): 7, BlazePose masks kept (still people): 4"
    )
    assert all(f"{key}: {value}" in line for key, value in network_values(BLAZEPOSE).items())
    assert network_line({"pose_3d": "", "root_depth": ""}) == "3D pose network: off, root depth network: off"
    assert network_line({}) == "3D pose network: off, root depth network: off"


def test_network_line_names_the_detector_the_2d_network_and_the_crowd_counts() -> None:
    report = {
        "detector": "yolox_nano",
        "keypoints_2d": "pp_tinypose_128x96",
        "crowd": {
            "rejected_joints": 3,
            "low_score_kept": 2,
            "low_score_dropped": 5,
            "merged_detections": 1,
            "hidden_joints": 4,
        },
        **BLAZEPOSE,
    }
    line = network_line(report)
    assert line.startswith("detector: yolox_nano, 2D keypoints: pp_tinypose_128x96, 3D pose network: blazepose")
    assert "crowd: joints of others rejected: 3, crowd: low-score boxes kept/dropped: 2/5" in line
    assert "crowd: duplicates merged: 1, crowd: hidden joints: 4" in line


def test_summary_line_counts_and_names_reasons() -> None:
    summary = ReplaySummary(frames_read=7, frames_processed=5, networks=BLAZEPOSE)
    summary.skip("a.bag", "no_sync_partner", "no partner")
    summary.skip("a.bag", "zero_stamp", "zero stamp")
    summary.depth_fault("a.bag", "all_invalid", "no valid pixel", 1, "/depth")
    summary.people_per_frame = [{"people": n} for n in (2, 5, 3, 4, 4)]
    summary.stage_latency_ms = {"total": {"median_ms": 41.04, "p95_ms": 55.96}}
    assert summary_line(summary) == (
        "7 frames read, 5 processed, 1 with a depth fault (RGB only) {'all_invalid': 1}, "
        "2 skipped {'no_sync_partner': 1, 'zero_stamp': 1}, people per frame 2-5, "
        f"{network_line(BLAZEPOSE)}, pipeline median 41.0 ms, p95 56.0 ms"
    )


def test_summary_line_of_an_empty_replay() -> None:
    line = summary_line(ReplaySummary())
    assert line == (
        "0 frames read, 0 processed, 0 with a depth fault (RGB only), 0 skipped, no people, "
        "3D pose network: off, root depth network: off"
    )


def test_frame_records_stream_to_disk_and_into_summary_json(tmp_path: Path) -> None:
    """A replay keeps its per-frame entries in frames.jsonl, not in memory; summary.json still
    lists them all (streamed in at the end) beside everything else."""
    records = FrameRecords(tmp_path / "frames.jsonl")
    entries = [{"stamp_ns": k, "people": k % 3, "depth_fault": None if k % 2 else "all_invalid"} for k in range(5)]
    for entry in entries:
        records.append(entry)
    assert records._entries == [] and len(records) == 5, "nothing kept in memory"
    assert list(records) == entries, "readable while the replay goes on"
    summary = ReplaySummary(frames_read=6, frames_processed=5, people_per_frame=records)
    summary.skip("a.bag", "zero_stamp", "zero stamp", 0, "/rgb")
    records.close()
    with pytest.raises(ValueError, match="is closed"):
        records.append({"people": 1})
    summary.write(tmp_path / "summary.json")
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["people_per_frame"] == entries
    assert {key: value for key, value in written.items() if key != "people_per_frame"} == summary.to_dict(frames=False)
    assert [json.loads(line) for line in (tmp_path / "frames.jsonl").read_text().splitlines()] == entries


def test_frame_records_without_a_file_are_a_list(tmp_path: Path) -> None:
    records = FrameRecords()
    records.append({"people": 2})
    summary = ReplaySummary(people_per_frame=records)
    summary.write(tmp_path / "summary.json")
    assert json.loads((tmp_path / "summary.json").read_text())["people_per_frame"] == [{"people": 2}]
    empty = ReplaySummary()
    empty.write(tmp_path / "empty.json")
    assert json.loads((tmp_path / "empty.json").read_text())["people_per_frame"] == []
