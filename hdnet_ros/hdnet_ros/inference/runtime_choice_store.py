"""``auto``'s runtime choices kept on disk: a restarted node opens each chosen runtime alone.

Choosing a network's runtime (:mod:`hdnet_ros.inference.runtime_choice`) opens every
candidate (onnxruntime sessions, OpenVINO's compiled batch shapes, LiteRT interpreters) and
times them: a new process on a 2-core machine built the default pipeline in 7.7 s probing
and in 4.7 s with the choices known (warm disk caches; ``benchmarks/bench_startup.py``,
docs/benchmarks.md's thirteenth session). What the probe
measures depends on the CPU, the model files, the settings and the runtimes' versions, and
on nothing a restart changes, so each choice is kept in a JSON file beside the engines
(``<inference.engine_dir>/runtime_choices.json``) under a key made of all of those
(:func:`choice_key`). A start whose key is in the file opens the chosen runtime alone and
logs the earlier probe's reason, times and date; anything else (another CPU or number of
usable cores, a model file with other content, a setting, a runtime upgraded, a candidate
added or described differently) is another key and probes again. A probe made while other
work competes for the cores (:func:`busy_machine`: a robot's boot starting every node at
once) chooses for its start only and is not kept.

The file holds data only (names, reasons, times), read with :mod:`json`; a missing,
unreadable or malformed file, or an entry naming a runtime that is not a candidate now,
is a probe (a malformed file is logged and rewritten). It is written whole under a
temporary name and renamed, so a crash or a second node starting at the same time never
leaves half a file (two nodes probing at once each keep their choice; the later write may
drop the other's, which the next start probes again). A directory that cannot be written
is logged once and the choice is used for this process only. The newest
:data:`CAPACITY` entries are kept. ``inference.remember_runtime_choices: false`` probes at
every start; deleting the file forgets every choice (after a BIOS change that the kernel's
CPU flags do not show, say).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from hdnet_ros.inference.cpu_features import InstructionSet, cpu_identity, usable_cores
from hdnet_ros.inference.engine_cache import atomic_write_bytes, file_sha256
from hdnet_ros.logs import get_logger

LOG = get_logger(__name__)
FILE_NAME = "runtime_choices.json"
# Bump when what a probe measures changes in a way no key part shows (its inputs, its timing).
STORE_FORMAT = 1
# A machine keeps a few configurations (the node's, a replay's, a benchmark's) and each
# upgrade of a runtime adds keys; the oldest beyond this go.
CAPACITY = 64
# The runtimes whose kernels a probe times, and numpy (the inputs' arithmetic around them).
RUNTIME_DISTRIBUTIONS = ("onnxruntime", "openvino", "ai-edge-litert", "tflite-runtime", "torch", "numpy")
_WARNED: set[str] = set()


@dataclass(frozen=True)
class StoredChoice:
    """A probe's choice as kept: the candidate's name, why, its medians [ms a call], when."""

    name: str
    reason: str
    probe_ms: dict[str, float]
    chosen_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason, "probe_ms": self.probe_ms, "chosen_at": self.chosen_at}

    @staticmethod
    def from_dict(entry: Mapping[str, Any]) -> StoredChoice:
        """The entry's choice; ValueError where a field is missing or of the wrong type."""
        name, reason, medians, when = (entry.get(k) for k in ("name", "reason", "probe_ms", "chosen_at"))
        if not (isinstance(name, str) and isinstance(reason, str) and isinstance(when, str)):
            raise ValueError("name, reason and chosen_at must be strings")
        if not isinstance(medians, dict) or not all(isinstance(v, (int, float)) for v in medians.values()):
            raise ValueError("probe_ms must map names to numbers")
        return StoredChoice(name, reason, {str(k): float(v) for k, v in medians.items()}, when)


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def runtime_versions() -> dict[str, str]:
    """The installed version of each of :data:`RUNTIME_DISTRIBUTIONS` ('' where absent),
    read from the packages' metadata (nothing is imported)."""
    versions = {}
    for name in RUNTIME_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


def load_average() -> float | None:
    """The machine's 1-minute load average (None where the system has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def busy_machine() -> str:
    """Why a probe made now is not worth keeping ('' where it is): the 1-minute load
    average above the cores this process may use, i.e. other work was competing for them
    (a robot's boot starting every node at once, a build). Such a probe still chooses for
    this start; a later, quieter start probes again and keeps its choice. The start's own
    imports and compiles add about one runnable thread, under the line on any machine."""
    load, cores = load_average(), usable_cores()
    return f"load average {load:.1f} over {cores} usable cores" if load is not None and load > cores else ""


def choice_key(parts: Mapping[str, Any], files: Sequence[Path]) -> tuple[str, dict[str, Any]]:
    """(key, what it is made of): the sha256 of ``parts`` (the network, its settings, the
    CPU, the probe's settings and candidates, JSON-able) with each file's sha256, the
    runtimes' versions and :data:`STORE_FORMAT`. A file that cannot be read raises OSError."""
    described = {
        **parts,
        "files": {str(path): file_sha256(path) for path in files},
        "versions": runtime_versions(),
        "format": STORE_FORMAT,
    }
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest(), described


def store_key(
    network: str,
    remember: Hashable,
    cpu: InstructionSet,
    probe: Sequence[float],
    candidates: Sequence[Sequence[object]],
    files: Sequence[Path],
) -> tuple[str, dict[str, Any]] | None:
    """:func:`choice_key` of a network's choice: ``remember`` (its files' paths, settings,
    threads), the CPU (flags, model, usable cores), the probe's settings, the candidates as
    they describe themselves; None where a file cannot be read (the probe then runs, and
    opening the file says why)."""
    parts = {
        "network": network,
        "remember": key_part(remember),
        "cpu": {"architecture": cpu.architecture, "flags": sorted(cpu.flags), **cpu_identity()},
        "probe": list(probe),
        "candidates": [list(c) for c in candidates],
    }
    try:
        return choice_key(parts, files)
    except OSError as error:
        LOG.info("%s: cannot key its runtime choice (%s): probing", network, error)
        return None


def key_part(value: Hashable) -> Any:
    """``value`` (a ``remember`` tuple: strings, numbers, reprs) as JSON: tuples as lists."""
    if isinstance(value, tuple):
        return [key_part(item) for item in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else repr(value)


def _warn_once(message: str) -> None:
    """A problem with the file, warned once per process (each network's start meets it again)."""
    if message in _WARNED:
        LOG.debug(message)
        return
    _WARNED.add(message)
    LOG.warning(message)


class ChoiceStore:
    """The choices in ``path`` (module doc)."""

    def __init__(self, path: Path, capacity: int = CAPACITY) -> None:
        self.path = path
        self.capacity = capacity

    def recall(self, key: str) -> StoredChoice | None:
        """The choice kept under ``key``; None where there is none or it cannot be read."""
        entry = self._entries().get(key)
        if entry is None:
            return None
        try:
            return StoredChoice.from_dict(entry)
        except ValueError as error:
            LOG.warning("runtime choice %s in %s is malformed (%s): probing again", key[:12], self.path, error)
            return None

    def listed(self) -> list[tuple[str, StoredChoice, dict[str, Any]]]:
        """Every readable choice as (key, choice, what its key is made of), newest first."""
        listed = []
        for key, entry in self._entries().items():
            try:
                listed.append((key, StoredChoice.from_dict(entry), dict(entry.get("key") or {})))
            except ValueError:
                continue
        return sorted(listed, key=lambda item: item[1].chosen_at, reverse=True)

    def recall_for(self, network: str, key: str, names: Collection[str]) -> tuple[str, str, dict[str, float]] | None:
        """(name, reason, medians) of the choice kept under ``key`` for ``network``, its
        reason saying when and where it was probed; None where there is none or it names
        none of ``names`` (the candidates now)."""
        kept = self.recall(key)
        if kept is None:
            return None
        if kept.name not in names:
            LOG.info("%s: the kept runtime choice %s is not a candidate now: probing again", network, kept.name)
            return None
        return kept.name, f"{kept.reason} (probed {kept.chosen_at}, kept in {self.path})", kept.probe_ms

    def keep(self, key: str, choice: StoredChoice, described: Mapping[str, Any]) -> bool:
        """Keep ``choice`` under ``key`` (with what the key is made of, for a reader);
        whether it was written. A probe on a busy machine (:func:`busy_machine`) is not
        kept, and a file that cannot be written is logged, never raised."""
        busy = busy_machine()
        if busy:
            LOG.info("%s: runtime choice not kept (%s): the next start probes again", described.get("network"), busy)
            return False
        entries = self._entries()
        entries[key] = {**choice.as_dict(), "key": dict(described)}
        newest = sorted(entries.items(), key=lambda item: str(item[1].get("chosen_at", "")), reverse=True)
        document = {"format": STORE_FORMAT, "choices": dict(newest[: self.capacity])}
        try:
            atomic_write_bytes(self.path, json.dumps(document, indent=1, sort_keys=True, default=str).encode())
        except OSError as error:
            _warn_once(f"cannot keep runtime choices in {self.path} ({error}): the next start probes again")
            return False
        return True

    def _entries(self) -> dict[str, dict[str, Any]]:
        """The file's entries by key; {} where it is missing, unreadable or malformed (logged)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as error:
            _warn_once(f"cannot read runtime choices {self.path} ({error}): probing")
            return {}
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            _warn_once(f"runtime choices {self.path} are not JSON ({error}): probing; the file will be rewritten")
            return {}
        choices = document.get("choices") if isinstance(document, dict) else None
        if not isinstance(choices, dict) or document.get("format") != STORE_FORMAT:
            _warn_once(f"runtime choices {self.path} are not of format {STORE_FORMAT}: probing; rewritten")
            return {}
        return {str(k): v for k, v in choices.items() if isinstance(v, dict)}
