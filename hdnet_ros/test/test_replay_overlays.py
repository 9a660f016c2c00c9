"""Overlay PNGs come from a writer thread: every queued image is written when the job ends,
a write that fails is counted and named (never raised into the pipeline), and
``--overlay-every N`` writes every N-th processed frame's overlay."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hdnet_ros.replay.overlay_writer import OverlayWriter
from helpers import run_replay


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def test_every_queued_overlay_is_written_in_rgb(tmp_path: Path) -> None:
    writer = OverlayWriter(tmp_path, max_pending=2)  # fewer places than images: submit waits, never drops
    images = {f"frame_{i}": image(i) for i in range(6)}
    for name, rgb in images.items():
        writer.submit(name, rgb)
    stats = writer.close()
    assert (stats.written, stats.failed, stats.errors) == (6, 0, [])
    for name, rgb in images.items():
        written = cv2.imread(str(tmp_path / f"{name}.png"))
        np.testing.assert_array_equal(written[:, :, ::-1], rgb)  # PNG is lossless; stored BGR as OpenCV does


def test_failed_writes_are_counted_and_named(tmp_path: Path) -> None:
    writer = OverlayWriter(tmp_path / "no_such_directory")
    writer.submit("a", image(0))
    writer.submit("b", image(1))
    stats = writer.close()
    assert stats.written == 0 and stats.failed == 2
    assert "no_such_directory/a.png" in stats.errors[0] and "could not write" in stats.errors[0]
    assert writer.close() is stats  # closing again changes nothing


def test_a_closed_writer_refuses_more(tmp_path: Path) -> None:
    writer = OverlayWriter(tmp_path)
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit("late", image(0))


def test_overlay_every_second_frame(sample_bags: list[Path], models_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert run_replay(models_dir, output, *sample_bags, extra=("--overlay-every", "2")) == 0
    summary = json.loads((output / "summary.json").read_text())
    stamps = [entry["stamp_ns"] for entry in summary["people_per_frame"]]
    assert len(stamps) == 3
    assert sorted(p.stem for p in (output / "overlays").glob("*.png")) == sorted(str(s) for s in stamps[::2])
    assert summary["overlays"] == {"written": 2, "failed": 0, "errors": []}
    assert summary["output_messages"]["/hdnet/debug_image"] == 3  # the bag's debug images stay complete


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_overlay_every_must_be_a_positive_count(
    value: str, sample_bags: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hdnet_ros.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["replay", str(sample_bags[0]), "--output", str(tmp_path / "out"), "--overlay-every", value])
    assert exit_info.value.code == 2
    assert "--overlay-every" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
