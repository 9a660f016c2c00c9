"""ONNX export of every network, checked through ONNX Runtime; the registry and the command."""

from __future__ import annotations

import pkgutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from helpers import installed, needs

from hdnet_ros import cli

pytestmark = needs("torch", "onnx", "onnxruntime", why="the export is checked through ONNX Runtime")
if installed("torch", "onnx", "onnxruntime"):
    import torch
    from hdnet_ros.nets import export

BUILTIN = ("hdnet", "posenet_h36m", "posenet_muco", "refinet_a", "refinet_b", "refinet_c", "rootnet")


def test_builtin_networks_are_registered() -> None:
    assert set(BUILTIN) <= set(export.registered())


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILTIN)
def test_export_matches_pytorch(name: str, tmp_path: Path) -> None:
    # Traced at batch 1 with a dynamic batch axis, verified at batch 2: one full-size
    # export per network.
    path = tmp_path / f"{name}.onnx"
    result = export.export_registered(name, path)
    try:
        assert result.checker == "passed"
        assert result.verify_batch == 2
        assert set(result.relative_errors) == set(export.create(name).output_names)
        assert 0.0 <= result.max_relative_error < 1e-4
    finally:
        path.unlink(missing_ok=True)  # ~100 MB each


def _tiny() -> Any:
    """A small network (made on demand: torch may be absent at import)."""

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)
            self.bn = torch.nn.BatchNorm1d(3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.bn(self.fc(x)), dim=-1)

    return Tiny()


def _tiny_inputs(batch: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    return (torch.randn(batch, 4, generator=gen),)


def test_register_a_new_network(tmp_path: Path) -> None:
    export.register("tiny_test", lambda: export.Exportable(_tiny(), _tiny_inputs, ("x",), ("p",)))
    try:
        with pytest.raises(ValueError, match="already registered"):
            export.register("tiny_test", lambda: export.Exportable(_tiny(), _tiny_inputs, ("x",), ("p",)))
        result = export.export_registered("tiny_test", tmp_path / "tiny.onnx", batch=3, dynamic_batch=False)
        assert result.verify_batch == 3 and result.max_relative_error < 1e-5
    finally:
        export.unregister("tiny_test")
    assert "tiny_test" not in export.registered()
    with pytest.raises(KeyError, match="unknown network 'tiny_test'"):
        export.create("tiny_test")


def test_outermost_module_is_put_in_eval_mode(tmp_path: Path) -> None:
    wrapper = torch.nn.Sequential(_tiny()).train()  # the trap: a wrapper left training
    result = export.export_onnx(wrapper, _tiny_inputs, tmp_path / "w.onnx", ("x",), ("p",), batch=4)
    assert export.training_submodules(wrapper) == []
    # With batch statistics the BN output would differ from eval mode by far more.
    assert result.max_relative_error < 1e-5


def test_training_submodule_after_export_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate the exporter trap: restoring a wrapper's training mode recursively.
    real_export = torch.onnx.export

    def export_then_restore_training(module: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        real_export(module, *args, **kwargs)
        module.train()

    monkeypatch.setattr(torch.onnx, "export", export_then_restore_training)
    with pytest.raises(export.ExportError, match=r"after export: 3 submodule\(s\) in training mode \('', 'fc', 'bn'\)"):
        export.export_onnx(_tiny(), _tiny_inputs, tmp_path / "s.onnx", ("x",), ("p",))


def test_calibrated_logits_make_the_check_input_dependent() -> None:
    item = export.create("posenet_h36m")
    factors = export.calibrate_logits(item)
    assert list(factors) == ["head.final_layer"] and factors["head.final_layer"] > 1.0
    gen = torch.Generator().manual_seed(5)
    with torch.inference_mode():
        coords = item.module(*item.make_inputs(2, gen))
    # Uncalibrated random weights give ~31.5 everywhere (uniform softmax).
    assert float(coords.std()) > 0.5


def test_relative_error_is_normalised_by_the_reference_scale() -> None:
    import numpy as np

    ref = [np.array([1000.0, -2000.0]), np.array([1e-9, 0.0])]
    got = [np.array([1000.2, -2000.0]), np.array([1e-9, 0.0])]
    errors = export.relative_errors(ref, got, ("a", "b"))
    assert errors["a"] == pytest.approx(1e-4) and errors["b"] == 0.0
    with pytest.raises(export.ExportError, match="shape"):
        export.relative_errors(ref, [np.zeros(3), ref[1]], ("a", "b"))


def test_export_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "refinet_b.onnx"
    assert cli.main(["export", "refinet_b", "--output", str(out), "--dynamic-batch"]) == 0
    printed = capsys.readouterr().out
    assert out.is_file()
    assert "onnx.checker: passed" in printed
    assert "max relative error vs PyTorch (batch 2)" in printed


def test_export_command_with_a_bad_checkpoint(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "ckpt.pth.tar"
    torch.save({"state_dict": {"module.fc.weight": torch.zeros(2, 2)}}, bad)
    rc = cli.main(
        ["export", "refinet_a", "--output", str(tmp_path / "a.onnx"), "--checkpoint", str(bad), "--batch", "2"]
    )
    assert rc == 1
    assert "unexpected keys (1): fc.weight" in caplog.text
    assert not (tmp_path / "a.onnx").exists()


def test_export_command_with_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hdnet_ros.nets.refinet import LinearModel

    ckpt = tmp_path / "best_train_base.pth"
    torch.save(
        {"iter": 1, "epoch": 1, "state_dict": {f"module.{k}": v for k, v in LinearModel().state_dict().items()}}, ckpt
    )
    rc = cli.main(["export", "refinet_b", "-o", str(tmp_path / "b.onnx"), "--checkpoint", str(ckpt), "--batch", "2"])
    assert rc == 0
    assert "batch axis fixed at 2" in capsys.readouterr().out


def test_sibling_modules_register_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    # A port in hdnet_ros.nets (MoveNet, ...) only defines register_exportables(register).
    fake = types.ModuleType("hdnet_ros.nets._fake_port")
    fake.register_exportables = lambda reg: reg(  # type: ignore[attr-defined]
        "fake_port", lambda: export.Exportable(_tiny(), _tiny_inputs, ("x",), ("p",))
    )
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setattr(export.pkgutil, "iter_modules", lambda _path: [pkgutil.ModuleInfo(None, "_fake_port", False)])  # type: ignore[arg-type]
    export._discover_plugins.cache_clear()
    try:
        assert "fake_port" in export.registered()
        assert export.create("fake_port").output_names == ("p",)
    finally:
        export.unregister("fake_port")
        export._discover_plugins.cache_clear()
