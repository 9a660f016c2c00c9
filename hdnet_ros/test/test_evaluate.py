"""The reduced synthetic benchmark through ``hdnet-ros evaluate``, at the levels it reaches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hdnet_ros.cli import main


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("evaluation")
    assert main(["evaluate", "--synthetic", "--quick", "--out", str(out)]) == 0
    return json.loads((out / "evaluation.json").read_text()), (out / "evaluation.md").read_text()


def _all(report: dict[str, Any], setting: str) -> dict[str, float]:
    row: dict[str, float] = report["settings"][setting]["table"]["all"]
    return row


def test_default_setting_levels(report: tuple[dict[str, Any], str]) -> None:
    row = _all(report[0], "default")
    assert row["people"] >= 40
    assert row["mrpe_mm"] < 90.0
    assert row["pck_abs_pct"] > 80.0
    assert row["ap_root_25_pct"] > 90.0
    assert row["pcod_pct"] >= 97.0
    assert row["joint_coverage_pct"] > 98.0  # every reported joint gets a position or a flagged guess


def test_settings_rank_as_their_difficulty(report: tuple[dict[str, Any], str]) -> None:
    data = report[0]
    assert _all(data, "occlusion_off")["mrpe_mm"] < _all(data, "default")["mrpe_mm"]
    far = _all(data, "far_no_depth")
    assert far["inferred_pct"] == 100.0  # nothing measured: every position is flagged
    assert far["mrpe_mm"] < 300.0
    assert far["mrpe_mm"] > 2 * _all(data, "default")["mrpe_mm"]


def test_tracking_levels(report: tuple[dict[str, Any], str]) -> None:
    tracking = report[0]["tracking"]
    assert tracking["person_frames"] > 200
    assert tracking["id_switches"] <= 1
    # Every person seen in consecutive frames is counted (all but the first frames and the
    # occlusion gaps: 266 of 269 person-frames); few change their track id (0 measured; the
    # bound allows 1 % plus 2).
    assert tracking["identity_pairs"] > 0.9 * tracking["person_frames"] - 50
    assert tracking["identity_changes"] <= 0.01 * tracking["identity_pairs"] + 2
    assert tracking["mota_pct"] > 85.0
    assert tracking["velocity_error_mps"] < 0.5


def test_report_has_verdicts_and_tables(report: tuple[dict[str, Any], str]) -> None:
    data, markdown = report
    targets = [row["target"] for row in data["verdicts"]]
    assert len(targets) == 6
    for row in data["verdicts"]:
        assert row["met"] or row["why"]  # a missed target says why
    assert "## Setting `default`" in markdown and "| 3.5-5 m |" in markdown
    assert "## Tracking" in markdown and "True identities: a person's track id changed" in markdown


def test_evaluate_refuses_unknown_settings(tmp_path: Path) -> None:
    assert main(["evaluate", "--synthetic", "--settings", "nope", "--out", str(tmp_path)]) == 2
    assert main(["evaluate", "--out", str(tmp_path)]) == 2
