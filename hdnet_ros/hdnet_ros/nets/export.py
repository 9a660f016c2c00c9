"""ONNX export of the networks, checked against PyTorch through ONNX Runtime.

A registry maps a name to a factory that builds the module and its example inputs, so
that other ports can be added without touching this file. A module of ``hdnet_ros.nets``
that defines ``register_exportables(register)`` is found and called the first time the
registry is read (``hdnet-ros export`` lists it then)::

    def register_exportables(register: Callable[[str, Factory], None]) -> None:
        register("movenet", lambda: Exportable(MoveNet(), make_inputs, ("image",), ("keypoints",)))

Code outside the package calls :func:`register` directly.

:func:`export_onnx` puts the *outermost* module in eval mode and checks that no submodule
is training before and after the export (an exporter that restores a wrapper's training
mode would otherwise turn every BatchNorm into batch statistics), exports with opset 17
and an optional dynamic batch axis, runs ``onnx.checker`` and compares ONNX Runtime with
PyTorch on fresh random inputs. The error reported is, per output,
max|onnx - torch| / max|torch| (a relative error that stays meaningful for outputs near
zero), and the largest over outputs.
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hdnet_ros.logs import get_logger
from hdnet_ros.nets import preprocessing
from hdnet_ros.nets.checkpoints import load_checkpoint
from hdnet_ros.nets.hdnet import HDNet
from hdnet_ros.nets.posenet import posenet_h36m, posenet_muco
from hdnet_ros.nets.refinet import LinearModel, Patch2DModel, PointPatch
from hdnet_ros.nets.rootnet import RootNet

LOG = get_logger(__name__)
OPSET = 17
TOLERANCE = 1e-4
BATCH_AXIS = "batch"

InputMaker = Callable[[int, torch.Generator], tuple[torch.Tensor, ...]]


class ExportError(RuntimeError):
    """The export failed, or the exported graph does not match PyTorch."""


@dataclass
class Exportable:
    """A module ready for export, a maker of valid random inputs for a batch size, and names."""

    module: nn.Module
    make_inputs: InputMaker
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    description: str = ""
    # Submodules whose outputs feed a softmax; see :func:`calibrate_logits`.
    logit_layers: tuple[str, ...] = ()


Factory = Callable[[], Exportable]
_REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Add a network under ``name``; ``factory()`` must build a fresh :class:`Exportable`."""
    if name in _REGISTRY and not replace:
        raise ValueError(f"an exportable network named {name!r} is already registered")
    _REGISTRY[name] = factory


def unregister(name: str) -> None:
    """Remove a network from the registry (no error if it is absent)."""
    _REGISTRY.pop(name, None)


@functools.cache
def _discover_plugins() -> None:
    """Import each ``hdnet_ros.nets`` module once and call its ``register_exportables``."""
    package = importlib.import_module("hdnet_ros.nets")
    for info in pkgutil.iter_modules(package.__path__):
        name = f"{package.__name__}.{info.name}"
        try:
            module = importlib.import_module(name)
        except ImportError as exc:  # an optional back-end is missing: skip that port only
            LOG.warning("not registering exportable networks of %s: %s", name, exc)
            continue
        hook = getattr(module, "register_exportables", None)
        if callable(hook):
            hook(register)


def registered() -> tuple[str, ...]:
    _discover_plugins()
    return tuple(sorted(_REGISTRY))


def create(name: str) -> Exportable:
    """Build the registered network ``name`` (random weights until a checkpoint is loaded)."""
    _discover_plugins()
    if name not in _REGISTRY:
        raise KeyError(f"unknown network {name!r}; registered: {', '.join(registered())}")
    return _REGISTRY[name]()


@dataclass
class ExportResult:
    path: Path
    checker: str  # "passed"; a failing check raises instead
    max_relative_error: float
    relative_errors: dict[str, float] = field(default_factory=dict)
    verify_batch: int = 0
    seconds: float = 0.0


def training_submodules(module: nn.Module) -> list[str]:
    """Names of the submodules (the module itself is "") that are in training mode."""
    return [name for name, sub in module.named_modules() if sub.training]


def _require_eval(module: nn.Module, when: str) -> None:
    training = training_submodules(module)
    if training:
        shown = ", ".join(repr(n) for n in training[:5])
        raise ExportError(
            f"{when}: {len(training)} submodule(s) in training mode ({shown}); BatchNorm/Dropout would export wrongly"
        )


def relative_errors(
    reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], names: Sequence[str]
) -> dict[str, float]:
    """Per output: max|candidate - reference| / max|reference| (1e-12 floor)."""
    errors = {}
    for name, ref, got in zip(names, reference, candidate, strict=True):
        if ref.shape != got.shape:
            raise ExportError(f"output {name!r}: ONNX shape {got.shape} differs from PyTorch {ref.shape}")
        scale = max(float(np.max(np.abs(ref))), 1e-12)
        errors[name] = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))) / scale
    return errors


def calibrate_logits(item: Exportable, batch: int = 2, target_std: float = 2.0, seed: int = 0) -> dict[str, float]:
    """Rescale the random weights of ``item.logit_layers`` so that their outputs have
    standard deviation ``target_std`` on random inputs; returns the factors applied.

    Freshly initialised networks give logits of ~1e-3, so their softmaxes are uniform and
    a soft-argmax returns the grid centre whatever the input: an export check on such a
    network could not fail. Used for checks without a checkpoint only; loading weights
    replaces the scaled ones. Layers are calibrated in order (later ones see the earlier
    ones already scaled).
    """
    module = item.module.eval()
    inputs = item.make_inputs(batch, torch.Generator().manual_seed(seed))
    factors = {}
    for name in item.logit_layers:
        layer = module.get_submodule(name)
        factor = target_std / max(_output_std(module, layer, inputs), 1e-12)
        with torch.no_grad():
            for param in layer.parameters(recurse=False):
                param.mul_(factor)
        factors[name] = factor
    return factors


def _output_std(module: nn.Module, layer: nn.Module, inputs: Sequence[torch.Tensor]) -> float:
    """Standard deviation of ``layer``'s output during one forward pass of ``module``."""
    seen: list[float] = []
    hook = layer.register_forward_hook(lambda _m, _i, out: seen.append(float(out.float().std())))
    try:
        _run_torch(module, inputs)
    finally:
        hook.remove()
    return seen[0]


def _run_torch(module: nn.Module, inputs: Sequence[torch.Tensor]) -> list[np.ndarray]:
    with torch.inference_mode():
        out = module(*inputs)
    outputs = out if isinstance(out, (tuple, list)) else (out,)
    return [o.detach().cpu().numpy() for o in outputs]


def _run_onnxruntime(path: Path, names: Sequence[str], inputs: Sequence[torch.Tensor]) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    feeds = {name: t.cpu().numpy() for name, t in zip(names, inputs, strict=True)}
    return [np.asarray(o) for o in session.run(None, feeds)]


def export_onnx(
    module: nn.Module,
    make_inputs: InputMaker,
    path: str | os.PathLike[str],
    input_names: Sequence[str],
    output_names: Sequence[str],
    *,
    batch: int = 1,
    dynamic_batch: bool = True,
    opset: int = OPSET,
    tolerance: float = TOLERANCE,
    seed: int = 0,
) -> ExportResult:
    """Export ``module`` to ``path`` and verify it; raises ExportError beyond ``tolerance``.

    The graph is traced at ``batch``; with ``dynamic_batch`` it is verified at batch + 1 so
    that the dynamic axis is exercised, otherwise at ``batch``.
    """
    import onnx

    start = time.perf_counter()
    out_path = Path(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    example = make_inputs(batch, generator)

    module.eval()
    _require_eval(module, "before export")
    dynamic_axes = {n: {0: BATCH_AXIS} for n in (*input_names, *output_names)} if dynamic_batch else None
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo; it is kept because it
        # is faster and exports these graphs cleanly (see docs/networks.md).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            example,
            os.fspath(out_path),
            input_names=list(input_names),
            output_names=list(output_names),
            opset_version=opset,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
            dynamo=False,
        )
    _require_eval(module, "after export")
    onnx.checker.check_model(os.fspath(out_path))

    verify_batch = batch + 1 if dynamic_batch else batch
    inputs = make_inputs(verify_batch, generator)
    errors = relative_errors(_run_torch(module, inputs), _run_onnxruntime(out_path, input_names, inputs), output_names)
    worst = max(errors.values())
    if not worst < tolerance:
        raise ExportError(
            f"{out_path}: ONNX Runtime differs from PyTorch, relative errors {errors} (tolerance {tolerance})"
        )
    return ExportResult(
        path=out_path,
        checker="passed",
        max_relative_error=worst,
        relative_errors=errors,
        verify_batch=verify_batch,
        seconds=time.perf_counter() - start,
    )


def export_registered(
    name: str,
    path: str | os.PathLike[str],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_format: str = "auto",
    batch: int = 1,
    dynamic_batch: bool = True,
    tolerance: float = TOLERANCE,
    seed: int = 0,
) -> ExportResult:
    """Build a registered network, load its checkpoint if given, export and verify it."""
    item = create(name)
    if checkpoint is not None:
        load_checkpoint(item.module, checkpoint, checkpoint_format)
    else:
        calibrate_logits(item, seed=seed)
    return export_onnx(
        item.module,
        item.make_inputs,
        path,
        item.input_names,
        item.output_names,
        batch=batch,
        dynamic_batch=dynamic_batch,
        tolerance=tolerance,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------
# Inputs of the published networks: random, but within the range each input really takes.


def _image(batch: int, gen: torch.Generator, size: int = 256) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=gen)


def _hdnet_inputs(batch: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    # A H36M-like camera (f ~ 1145 px) and one random person box per sample.
    coord = torch.from_numpy(preprocessing.hdnet_coord_map(1145.0, 1145.0)).expand(batch, -1, -1, -1).contiguous()
    corners = torch.randint(0, 32, (batch, 2), generator=gen)
    sizes = torch.randint(8, 32, (batch, 2), generator=gen)
    rows = torch.arange(64).view(1, 64, 1)
    cols = torch.arange(64).view(1, 1, 64)
    inside_r = (rows >= corners[:, 0].view(-1, 1, 1)) & (rows < (corners[:, 0] + sizes[:, 0]).view(-1, 1, 1))
    inside_c = (cols >= corners[:, 1].view(-1, 1, 1)) & (cols < (corners[:, 1] + sizes[:, 1]).view(-1, 1, 1))
    return _image(batch, gen), coord, (inside_r & inside_c).float()


def _rootnet_inputs(batch: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    # k = sqrt(4e6 mm^2 * f^2 / box area): about 2e3 .. 2e4 for people at 1..10 m.
    k = 2000.0 + 18000.0 * torch.rand(batch, 1, generator=gen)
    return _image(batch, gen), k


def _posenet_inputs(batch: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    return (_image(batch, gen),)


def _refinet_a_inputs(batch: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    return (torch.randn(batch, 15, 40, 40, generator=gen),)


def _refinet_b_inputs(batch: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    return (torch.randn(batch, 15, 3, generator=gen),)


REFINET_C_POINTS = 2000  # side view (5000 for the top view)


def _refinet_c_inputs(batch: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    points = torch.randn(batch, 15, REFINET_C_POINTS + 1, 3, generator=gen)
    counts = torch.randint(1, REFINET_C_POINTS + 1, (batch, 15), generator=gen).float()
    counts[0, 0] = 0.0  # "no valid count": the release then takes every point
    points[:, :, -1, :] = 0.0
    points[:, :, -1, 0] = counts
    return (points,)


def _builtin(
    build: Callable[[], nn.Module],
    make: InputMaker,
    names: tuple[tuple[str, ...], tuple[str, ...]],
    text: str,
    logit_layers: tuple[str, ...] = (),
) -> Factory:
    return lambda: Exportable(build(), make, names[0], names[1], text, logit_layers)


_IMG = ("img",)
register("hdnet", _builtin(
    HDNet, _hdnet_inputs, (("img", "coord_map", "bbox_mask"), ("heatmap", "pose", "bins", "bin_idx")),
    "HDNet, H36M 17 joints, 61 depth bins", ("out_heatmap", "out_bins"),
))  # fmt: skip
register("rootnet", _builtin(
    RootNet, _rootnet_inputs, (("img", "k_value"), ("root",)), "3DMPPE RootNet", ("root.xy_layer",),
))  # fmt: skip
register("posenet_h36m", _builtin(
    posenet_h36m, _posenet_inputs, (_IMG, ("coords",)), "3DMPPE PoseNet, Human3.6M 18 joints",
    ("head.final_layer",),
))  # fmt: skip
register("posenet_muco", _builtin(
    posenet_muco, _posenet_inputs, (_IMG, ("coords",)), "3DMPPE PoseNet, MuCo 21 joints",
    ("head.final_layer",),
))  # fmt: skip
register("refinet_a", _builtin(
    Patch2DModel, _refinet_a_inputs, (("patches",), ("offsets",)), "RefiNet A (depth patches)",
))  # fmt: skip
register("refinet_b", _builtin(
    LinearModel, _refinet_b_inputs, (("joints",), ("refined",)), "RefiNet B (3D skeleton)",
))  # fmt: skip
register("refinet_c", _builtin(
    PointPatch, _refinet_c_inputs, (("points",), ("offsets",)), "RefiNet C (point patches)",
))  # fmt: skip
