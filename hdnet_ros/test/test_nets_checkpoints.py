"""Loading the published checkpoint containers, and the errors for files that do not fit."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from helpers import installed, needs

pytestmark = needs("torch", why="the checkpoints are PyTorch state dicts")
if installed("torch"):
    import torch
    from hdnet_ros.nets import checkpoints as ck
    from hdnet_ros.nets.hdnet import HDNet
    from hdnet_ros.nets.posenet import posenet_h36m, posenet_muco
    from hdnet_ros.nets.refinet import LinearModel, Patch2DModel, PointPatch
    from hdnet_ros.nets.rootnet import RootNet


def _perturbed_state(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A state_dict whose every float entry differs from the module's fresh init."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in module.state_dict().items():
        state[k] = v + torch.rand(v.shape, generator=gen) if v.is_floating_point() else v + 7
    return state


def _adam_state(num_params: int) -> dict[str, object]:
    return {
        "state": {},
        "param_groups": [
            {
                "lr": 1e-3,
                "betas": (0.9, 0.999),
                "eps": 1e-8,
                "weight_decay": 0,
                "amsgrad": False,
                "params": list(range(num_params)),
            }
        ],
    }


def _assert_loaded(module: torch.nn.Module, expected: dict[str, torch.Tensor], skip_suffix: str = "") -> None:
    got = module.state_dict()
    assert set(got) == set(expected) | {k for k in got if skip_suffix and k.endswith(skip_suffix)}
    for k, v in expected.items():
        assert torch.equal(got[k], v), k


def test_3dmppe_snapshot_with_dataparallel_prefix(tmp_path: Path) -> None:
    state = _perturbed_state(RootNet(), 1)
    path = tmp_path / "snapshot_18.pth.tar"
    container = {"epoch": 18, "network": ck.add_prefix(state), "optimizer": _adam_state(len(state))}
    torch.save(container, path)
    net = RootNet()
    report = ck.load_checkpoint(net, path)
    assert (report.format, report.stripped_prefix, report.defaulted_keys) == ("3dmppe", "module.", [])
    assert report.metadata == {"epoch": 18}
    _assert_loaded(net, state)


def test_old_pytorch_file_without_num_batches_tracked(tmp_path: Path) -> None:
    # Legacy (pre-1.6, non-zip) serialization and no num_batches_tracked, as in 2019 files.
    state = {k: v for k, v in _perturbed_state(posenet_h36m(), 2).items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "snapshot_24.pth.tar"
    torch.save(
        {"epoch": 24, "network": ck.add_prefix(state), "optimizer": {}}, path, _use_new_zipfile_serialization=False
    )
    net = posenet_h36m()
    report = ck.load_checkpoint(net, path, fmt="3dmppe")
    assert len(report.defaulted_keys) == 53 + 3  # 53 backbone BNs + 3 deconv BNs
    assert all(k.endswith("num_batches_tracked") for k in report.defaulted_keys)
    _assert_loaded(net, state, skip_suffix="num_batches_tracked")


def test_hdnet_checkpoint_without_prefix(tmp_path: Path) -> None:
    state = _perturbed_state(HDNet(), 3)
    path = tmp_path / "ckpt.pth.tar"
    torch.save({"model": state, "epoch": 99}, path)
    net = HDNet()
    report = ck.load_checkpoint(net, path)
    assert (report.format, report.stripped_prefix) == ("hdnet", "")
    _assert_loaded(net, state)


def test_refinet_checkpoint(tmp_path: Path) -> None:
    state = _perturbed_state(PointPatch(), 4)
    path = tmp_path / "best_train_pcloud.pth"
    torch.save({"iter": 1200, "epoch": 30, "state_dict": ck.add_prefix(state), "optimizer": _adam_state(3)}, path)
    net = PointPatch()
    report = ck.load_checkpoint(net, path)
    assert (report.format, report.stripped_prefix) == ("refinet", "module.")
    _assert_loaded(net, state)


@pytest.mark.parametrize("fmt", ["smap", "bare"])
def test_smap_and_bare_state_dict(tmp_path: Path, fmt: str) -> None:
    state = _perturbed_state(LinearModel(), 5)
    path = tmp_path / "weights.pth"
    torch.save({"model": state, "iteration": 192000, "scheduler": {}} if fmt == "smap" else state, path)
    net = LinearModel()
    report = ck.load_checkpoint(net, path, fmt=fmt)
    assert report.format == fmt
    _assert_loaded(net, state)
    auto = ck.load_checkpoint(LinearModel(), path)  # "model" reads as the HDNet/SMAP container
    assert auto.format == ("hdnet" if fmt == "smap" else "bare")


def test_wrong_keys_are_listed(tmp_path: Path) -> None:
    state = Patch2DModel().state_dict()
    state["conv_first.weight"] = state.pop("conv1.weight")
    del state["fc.8.bias"]
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": ck.add_prefix(state)}, path)
    net = Patch2DModel()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ck.CheckpointError) as info:
        ck.load_checkpoint(net, path)
    message = str(info.value)
    assert str(path) in message and "Patch2DModel" in message
    assert "missing keys (2): conv1.weight, fc.8.bias" in message
    assert "unexpected keys (1): conv_first.weight" in message
    _assert_loaded(net, before)  # nothing was half-loaded


def test_shape_mismatch_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "snapshot_24.pth.tar"
    torch.save({"network": ck.add_prefix(posenet_h36m().state_dict())}, path)  # J=18 file
    with pytest.raises(ck.CheckpointError) as info:
        ck.load_checkpoint(posenet_muco(), path)  # into the J=21 model
    message = str(info.value)
    assert "shape mismatches (2)" in message
    assert "head.final_layer.weight (1152, 256, 1, 1) vs expected (1344, 256, 1, 1)" in message
    assert "missing" not in message


def test_long_lists_are_truncated(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth.tar"
    torch.save({"model": LinearModel().state_dict()}, path)  # a RefiNet B file for RefiNet A
    with pytest.raises(ck.CheckpointError) as info:
        ck.load_checkpoint(Patch2DModel(), path)
    message = str(info.value)
    # 75 entries less the 12 optional num_batches_tracked counters, which are not listed.
    assert "missing keys (63)" in message and "unexpected keys (37)" in message
    assert f"... and {63 - ck.MAX_LISTED} more" in message
    assert len(message) < 2000


def test_missing_directory_corrupt_and_foreign_files(tmp_path: Path) -> None:
    good = tmp_path / "good.pth"
    torch.save({"model": LinearModel().state_dict()}, good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    text = tmp_path / "config.json"
    text.write_text('{"model": 1}')
    cases = {
        tmp_path / "absent.pth": "file not found",
        tmp_path: "is a directory",
        truncated: "corrupt or not a PyTorch file",
        empty: "empty or truncated",
        text: "not a weights-only PyTorch file",
    }
    for path, expected in cases.items():
        with pytest.raises(ck.CheckpointError, match=expected) as info:
            ck.load_checkpoint(LinearModel(), path)
        assert str(path) in str(info.value)
        assert "weights_only` set to `False" not in str(info.value)  # never suggest unsafe loading


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    with path.open("wb") as f:
        pickle.dump({"model": os.system}, f, protocol=2)
    with pytest.raises(ck.CheckpointError, match="not a weights-only"):
        ck.read_checkpoint(path)


def test_files_that_are_not_state_dicts(tmp_path: Path) -> None:
    cases = {
        "list.pth": ([torch.zeros(2)], "holds a list"),
        "empty_model.pth": ({"model": {}}, "not a non-empty dict of tensors"),
        "numbers.pth": ({"a": 1, "b": 2}, "not a non-empty dict of tensors"),
        "no_network.pth": ({"epoch": 1}, "no 'network' entry"),
    }
    for name, (obj, expected) in cases.items():
        path = tmp_path / name
        torch.save(obj, path)
        fmt = "3dmppe" if name == "no_network.pth" else "auto"
        with pytest.raises(ck.CheckpointError, match=expected):
            ck.load_checkpoint(LinearModel(), path, fmt=fmt)
    with pytest.raises(ck.CheckpointError, match="unknown format 'caffe'"):
        ck.load_checkpoint(LinearModel(), tmp_path / "list.pth", fmt="caffe")


def test_prefix_is_stripped_only_when_every_key_has_it() -> None:
    t = torch.zeros(1)
    assert ck.strip_prefix({"module.a": t, "module.b": t}) == ({"a": t, "b": t}, "module.")
    assert ck.strip_prefix({"module.a": t, "b": t}) == ({"module.a": t, "b": t}, "")
