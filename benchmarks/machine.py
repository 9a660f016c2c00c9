"""What the benchmarks report alongside their figures: the machine they ran on."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def instruction_set() -> str:
    """The CPU's widest SIMD and int8 dot-product extensions, e.g. "AVX-512 + VNNI"."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        return platform.machine()
    if "avx512f" in flags:
        simd = "AVX-512"
    elif "avx2" in flags:
        simd = "AVX2"
    elif "asimd" in flags:
        simd = "NEON"
    else:
        simd = platform.machine()
    vnni = flags & {"avx512_vnni", "avx_vnni", "asimddp"}
    return (
        f"{simd} + VNNI"
        if vnni & {"avx512_vnni", "avx_vnni"}
        else f"{simd} + dot product"
        if vnni
        else f"{simd}, no VNNI"
    )
