"""The loaded models' objects are kept out of the cycle collector's sight while frames flow
(``gc.freeze`` once the pipeline is built): in the node from configure to cleanup, in the
replay for the whole job. A full collection that walks them paused a frame for 168 ms
(docs/benchmarks.md)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
from hdnet_ros.joints import NUM_JOINTS
from hdnet_ros.people import Detection, Frame, Person
from hdnet_ros.pipeline import FrameResult
from hdnet_ros.replay.runner import ReplayJob, ReplayOptions
from hdnet_ros.timing import StageTimer
from helpers import DEPTH_TOPIC, INFO_TOPIC, RGB_TOPIC, sample_messages, triplet, write_rosbag2
from test_node_core import Harness

from hdnet_ros.config import Settings, load_settings


class RecordingPipeline:
    """A pipeline stand-in that records how many objects were frozen while it ran."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timer = StageTimer()
        self.frozen: list[int] = []

    def process(self, frame: Frame) -> FrameResult:
        self.frozen.append(gc.get_freeze_count())
        person = Person(
            Detection(np.array([10.0, 10.0, 60.0, 200.0]), 0.9), np.zeros((NUM_JOINTS, 2)), np.ones(NUM_JOINTS)
        )
        return FrameResult(frame, [person])

    def reset_tracking(self) -> None:
        pass

    def network_report(self) -> dict[str, Any]:
        return {"pose_3d": "", "root_depth": ""}


def test_the_node_freezes_the_loaded_objects_from_configure_to_cleanup() -> None:
    harness = Harness()
    try:
        assert harness.core.configure().ok
        assert gc.get_freeze_count() > 1000  # everything alive after loading, the stand-in models included
        assert harness.core.cleanup().ok
        assert gc.get_freeze_count() == 0  # the pipeline is dropped: its objects are collectable again
    finally:
        harness.core.shutdown()
    assert gc.get_freeze_count() == 0


def test_the_replay_freezes_the_loaded_objects_while_it_runs(sample_bags: list[Path], tmp_path: Path) -> None:
    bag = write_rosbag2(tmp_path / "in", triplet(sample_messages(sample_bags[0])))
    settings = load_settings(overrides={"input.slop": 0.5})
    pipeline = RecordingPipeline(settings)
    options = ReplayOptions(tmp_path / "out", {"rgb": RGB_TOPIC, "depth": DEPTH_TOPIC, "camera_info": INFO_TOPIC})
    ReplayJob(pipeline, settings, options).run([bag])  # type: ignore[arg-type]
    assert pipeline.frozen and min(pipeline.frozen) > 1000
    assert gc.get_freeze_count() == 0
