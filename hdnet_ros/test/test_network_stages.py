"""The optional network stages in the pipeline: official checkpoints in, one batched call
per frame, their depths reaching the lifter, and clear errors for bad configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.frame_input import build_frame
from hdnet_ros.model_files import ModelFileError
from hdnet_ros.people import DepthSource, Frame
from hdnet_ros.pipeline import Pipeline
from helpers import installed, needs, sample_messages

from hdnet_ros.config import SettingsError, load_settings

pytestmark = needs("torch", why="loading the networks' checkpoints needs torch")
if installed("torch"):
    import torch


def official_checkpoint(name: str, path: Path) -> Path:
    """A checkpoint in the 3DMPPE release format (DataParallel keys under 'network')."""
    from hdnet_ros.nets.export import calibrate_logits, create

    item = create(name)
    calibrate_logits(item)  # spread the random logits so outputs depend on the input
    if name == "rootnet":  # gamma = 1: Z = k, the released demo's depth scale, always positive
        with torch.no_grad():
            item.module.root.depth_layer.weight.zero_()
            item.module.root.depth_layer.bias.fill_(1.0)
    state = {f"module.{k}": v for k, v in item.module.state_dict().items()}
    torch.save({"epoch": 18, "network": state, "optimizer": {}}, path)
    return path


@pytest.fixture(scope="module")
def frame(sample_bags: list[Path]) -> Frame:
    m = sample_messages(sample_bags[0])
    return build_frame(m["rgb"], m["depth"], m["camera_info"])


class CountingBackend:
    """Wraps a backend and counts its calls and batch sizes."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.batches = inner, []

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.batches.append(len(next(iter(inputs.values()))))
        return self.inner.run(inputs)


def test_rootnet_and_posenet_run_once_per_frame_and_reach_the_lifter(
    frame: Frame, models_dir: Path, tmp_path: Path
) -> None:
    root = official_checkpoint("rootnet", tmp_path / "snapshot_18.pth.tar")
    pose = official_checkpoint("posenet_muco", tmp_path / "snapshot_24.pth.tar")
    settings = load_settings(
        overrides={
            "models.models_dir": str(models_dir),
            "inference.backend": "torch",
            "networks.root_depth": "rootnet",
            "networks.root_depth_model": str(root),
            "networks.pose_3d": "posenet_muco",
            "networks.pose_3d_model": str(pose),
        }
    )
    pipeline = Pipeline.from_settings(settings)
    stages = pipeline.stages
    assert stages.root_depth is not None and stages.pose_3d is not None
    stages.root_depth.backend = CountingBackend(stages.root_depth.backend)  # type: ignore[attr-defined]
    stages.pose_3d.backend = CountingBackend(stages.pose_3d.backend)  # type: ignore[assignment]
    # The people the crowd rules keep (a duplicate box of one person is merged), before the frame.
    people = len(pipeline.people_of(frame, stages.detector.detect(frame.rgb))[0])
    result = pipeline.process(frame)
    assert stages.root_depth.backend.batches == [people]  # type: ignore[attr-defined]
    assert stages.pose_3d.backend.batches == [people]  # type: ignore[attr-defined]
    assert {"root_depth", "pose_3d"} <= set(result.stage_ms)
    sources = np.concatenate([p.depth_sources[p.valid] for p in result.people])
    # Far people have no sensor depth: their roots come from (or are fused with) the network.
    assert np.isin(sources, [DepthSource.NETWORK, DepthSource.FUSED]).any()


def test_monocular_mode_uses_the_network_root(frame: Frame, models_dir: Path, tmp_path: Path) -> None:
    root = official_checkpoint("rootnet", tmp_path / "snapshot_18.pth.tar")
    overrides = {
        "models.models_dir": str(models_dir),
        "inference.backend": "torch",
        "networks.root_depth": "rootnet",
        "networks.root_depth_model": str(root),
        "input.use_depth": False,
    }
    pipeline = Pipeline.from_settings(load_settings(overrides=overrides))
    rgb_only = Frame(frame.rgb, None, frame.camera, frame.stamp_ns, frame.frame_id)
    result = pipeline.process(rgb_only)
    assert result.people
    for person in result.people:
        assert not np.any(person.depth_sources == DepthSource.SENSOR)
        assert person.valid[17]
        # The network's depth, at the pelvis pixel when the hips were seen; a pelvis placed
        # from the shoulders instead is an inference and says so.
        expected = DepthSource.NETWORK if np.all(np.isfinite(person.pixels[17])) else DepthSource.INFERRED
        assert person.depth_sources[17] == expected
    assert any(p.depth_sources[17] == DepthSource.NETWORK for p in result.people)


def test_wrong_checkpoint_is_named(models_dir: Path, tmp_path: Path) -> None:
    wrong = official_checkpoint("posenet_h36m", tmp_path / "snapshot_24.pth.tar")
    overrides = {
        "models.models_dir": str(models_dir),
        "inference.backend": "torch",
        "networks.root_depth": "rootnet",
        "networks.root_depth_model": str(wrong),
    }
    with pytest.raises(
        ModelFileError, match=r"(?s)snapshot_24\.pth\.tar does not fit RootNet.*missing keys.*unexpected keys"
    ):
        Pipeline.from_settings(load_settings(overrides=overrides))


def test_network_without_a_model_file_is_a_configuration_error(models_dir: Path) -> None:
    overrides = {"models.models_dir": str(models_dir), "networks.root_depth": "hdnet"}
    with pytest.raises(SettingsError, match=r"networks\.root_depth_model names no file"):
        Pipeline.from_settings(load_settings(overrides=overrides))
