"""Loading the published checkpoint files into the modules of this package.

Containers handled (``shared/docs/seed-methods.md``):

===========  ==============================================  ==========================
format       file                                            weights under
===========  ==============================================  ==========================
``3dmppe``   RootNet/PoseNet ``snapshot_N.pth.tar``           ``network`` (``module.*``)
``hdnet``    HumanDepth ``ckpt.pth.tar``                      ``model`` (no prefix)
``refinet``  RefiNet ``best_<name>.pth``                      ``state_dict`` (``module.*``)
``smap``     SMAP ``iter-N.pth``                              ``model``
``bare``     a plain state_dict (SMAP RefineNet, exports)     the top level
===========  ==============================================  ==========================

Files are always read with ``torch.load(path, map_location="cpu", weights_only=True)``:
the released files were saved from CUDA models, and a checkpoint must never run pickled
code. Loading is strict: every key and shape must match, except ``num_batches_tracked``,
which files written by old PyTorch lack (the module keeps its own counter; it only matters
for BatchNorm with momentum=None during training).
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

# Container key holding the state_dict, per format; None: the file is the state_dict.
CONTAINER_KEYS: dict[str, str | None] = {
    "3dmppe": "network",
    "hdnet": "model",
    "refinet": "state_dict",
    "smap": "model",
    "bare": None,
}
# Tried in this order when the format is "auto": the first key present wins.
_AUTO_ORDER = ("network", "state_dict", "model")
WRAPPER_PREFIXES: tuple[str, ...] = ("module.",)  # DataParallel / DistributedDataParallel
OPTIONAL_SUFFIXES: tuple[str, ...] = ("num_batches_tracked",)
MAX_LISTED = 8


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read or does not fit the module."""


def _listing(label: str, items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    more = f", ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return f"  {label} ({len(items)}): {shown}{more}"


@dataclass
class LoadReport:
    """What a load did: the container format, prefixes stripped, optional keys defaulted."""

    path: str
    format: str
    stripped_prefix: str = ""
    defaulted_keys: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def read_checkpoint(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` a file safely (CPU, weights only), turning failures into CheckpointError."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise CheckpointError(f"checkpoint {name}: file not found")
    if os.path.isdir(name):
        raise CheckpointError(f"checkpoint {name}: is a directory, not a checkpoint file")
    try:
        return torch.load(name, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses classes it cannot rebuild safely; a foreign file lands here
        # as well. torch's message suggests weights_only=False: keep only the cause.
        raise CheckpointError(
            f"checkpoint {name}: not a weights-only PyTorch file (corrupt, not a checkpoint, "
            f"or it pickles objects other than tensors and containers): {_unpickler_cause(exc)}"
        ) from exc
    except EOFError as exc:
        raise CheckpointError(f"checkpoint {name}: empty or truncated file") from exc
    except (RuntimeError, ValueError, zipfile.BadZipFile, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {name}: corrupt or not a PyTorch file: {first_line}") from exc


def _unpickler_cause(exc: Exception) -> str:
    text = str(exc)
    found = re.search(r"WeightsUnpickler error:\s*(.*?)\s*(?:Check the documentation|$)", text, re.DOTALL)
    cause = " ".join((found.group(1) if found else text).split())
    return cause or type(exc).__name__


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def extract_state_dict(
    obj: Any, fmt: str = "auto", path: str = "<memory>"
) -> tuple[dict[str, torch.Tensor], str, dict[str, Any]]:
    """The state_dict inside a loaded container, the format found and the other fields."""
    if fmt != "auto" and fmt not in CONTAINER_KEYS:
        raise CheckpointError(f"checkpoint {path}: unknown format {fmt!r} (known: auto, {', '.join(CONTAINER_KEYS)})")
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {path}: holds a {type(obj).__name__}, not a dict of tensors")
    if fmt == "auto":
        key = next((k for k in _AUTO_ORDER if k in obj and isinstance(obj[k], Mapping)), None)
        fmt = next(f for f, k in CONTAINER_KEYS.items() if k == key)
    key = CONTAINER_KEYS[fmt]
    if key is None:
        state, meta = obj, {}
    elif key not in obj:
        top = sorted(map(str, obj))[:MAX_LISTED]
        raise CheckpointError(f"checkpoint {path}: no {key!r} entry for format {fmt!r} (top-level keys: {top})")
    else:
        state = obj[key]
        meta = {k: v for k, v in obj.items() if k != key and isinstance(v, (int, float, str))}
    if not _is_state_dict(state):
        raise CheckpointError(f"checkpoint {path}: the {fmt!r} weights are not a non-empty dict of tensors")
    return dict(state), fmt, meta


def strip_prefix(
    state: Mapping[str, torch.Tensor], prefixes: Iterable[str] = WRAPPER_PREFIXES
) -> tuple[dict[str, torch.Tensor], str]:
    """Remove a wrapper prefix when *every* key carries it (a partial prefix is a real name)."""
    for prefix in prefixes:
        if state and all(k.startswith(prefix) for k in state):
            return {k[len(prefix) :]: v for k, v in state.items()}, prefix
    return dict(state), ""


def add_prefix(state: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """The inverse of :func:`strip_prefix`, to write files the original code can read."""
    return {prefix + k: v for k, v in state.items()}


def match_state_dict(
    module: nn.Module, state: Mapping[str, torch.Tensor], path: str = "<memory>"
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Check keys and shapes against ``module``; fill optional keys; raise listing all problems."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    defaulted = [k for k in missing if k.endswith(OPTIONAL_SUFFIXES)]
    missing = [k for k in missing if k not in defaulted]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs expected {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or mismatched:
        lines = [f"checkpoint {path} does not fit {type(module).__name__}:"]
        lines += [_listing(label, items) for label, items in (
            ("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)
        ) if items]  # fmt: skip
        raise CheckpointError("\n".join(lines))
    full = dict(state)
    for k in defaulted:
        full[k] = expected[k].clone()
    return full, defaulted


def load_state_dict_strict(module: nn.Module, state: Mapping[str, torch.Tensor], path: str = "<memory>") -> list[str]:
    """Load after :func:`match_state_dict`; returns the optional keys that were defaulted."""
    full, defaulted = match_state_dict(module, state, path)
    module.load_state_dict(full, strict=True)
    return defaulted


def load_checkpoint(module: nn.Module, path: str | os.PathLike[str], fmt: str = "auto") -> LoadReport:
    """Read a published checkpoint and load it into ``module`` (strict, CPU tensors)."""
    name = os.fspath(path)
    state, found, meta = extract_state_dict(read_checkpoint(name), fmt, name)
    state, prefix = strip_prefix(state)
    defaulted = load_state_dict_strict(module, state, name)
    return LoadReport(path=name, format=found, stripped_prefix=prefix, defaulted_keys=defaulted, metadata=meta)
