"""The CPU a network runs on, as the runtime choice sees it: its instruction set and identity.

Which arithmetic is fastest depends on the instruction set (int8 dot products or not:
:class:`InstructionSet`, from ``/proc/cpuinfo``'s flags); how fast a probe found each
runtime depends also on the CPU's model and the cores the process may use
(:func:`cpu_identity`), which key the choices kept across starts
(:mod:`hdnet_ros.inference.runtime_choice_store`).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Instructions that multiply and add int8 pairs into int32 in one step: where a CPU has
# one, int8 convolutions run several times faster than without (docs/inference.md).
_INT8_DOT_FLAGS = {
    "x86_64": ("avx512_vnni", "avx_vnni", "amx_int8"),
    "aarch64": ("asimddp", "i8mm", "sve2"),
}
_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
# (flag, name) from the most specific down: the first the CPU has names its vector unit.
_VECTOR_UNITS = {
    "x86_64": (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_1", "SSE4")),
    "aarch64": (("sve", "SVE"), ("asimd", "NEON")),
}


@dataclass(frozen=True)
class InstructionSet:
    """The CPU's architecture and feature flags (``/proc/cpuinfo``: x86 ``flags``, aarch64 ``Features``)."""

    architecture: str
    flags: frozenset[str] = frozenset()

    @property
    def int8_dot(self) -> bool:
        """Whether the CPU multiplies int8 pairs into int32 sums in one instruction."""
        return any(flag in self.flags for flag in _INT8_DOT_FLAGS.get(self.architecture, ()))

    @property
    def label(self) -> str:
        """E.g. ``x86_64 AVX-512 + int8 dot product (avx512_vnni)``."""
        unit = next((name for flag, name in _VECTOR_UNITS.get(self.architecture, ()) if flag in self.flags), "")
        dots = [flag for flag in _INT8_DOT_FLAGS.get(self.architecture, ()) if flag in self.flags]
        dot = f" + int8 dot product ({', '.join(dots)})" if dots else ", no int8 dot product"
        return f"{self.architecture} {unit}".strip() + dot


def cpu_instruction_set(machine: str | None = None, cpuinfo: str | None = None) -> InstructionSet:
    """This CPU's :class:`InstructionSet` (``machine`` / ``cpuinfo`` for tests: ``platform.machine()``
    and the text of ``/proc/cpuinfo``). Without a readable cpuinfo the flags are empty."""
    name = (machine or platform.machine()).lower()
    flags = frozenset(_first_field(cpuinfo, ("flags", "Features")).split())
    return InstructionSet(_ARCHITECTURES.get(name, name), flags)


def cpu_identity(cpuinfo: str | None = None) -> dict[str, Any]:
    """What the CPU's speed depends on besides its flags: its model name and the cores this
    process may use (a container or ``taskset`` with fewer cores times differently)."""
    model = _first_field(cpuinfo, ("model name", "Model", "Hardware", "CPU part")).strip()
    return {"model": model, "usable_cores": usable_cores()}


def usable_cores() -> int:
    """The cores this process may run on (its affinity; the machine's where that is unknown)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)


def _first_field(cpuinfo: str | None, keys: tuple[str, ...]) -> str:
    """The value of the first line of ``cpuinfo`` (``/proc/cpuinfo``'s text where None; ''
    where unreadable) whose key is one of ``keys``; '' where none is."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keys:
            return value
    return ""
