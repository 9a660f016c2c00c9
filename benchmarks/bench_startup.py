"""How long building the pipeline takes when a process builds it again.

    python3 benchmarks/bench_startup.py --models-dir ../shared/models [--rounds 3] [--set NAME=VALUE ...]

One process builds the default pipeline (``Pipeline.from_settings``, what the node's
configure and each replay command do) once to warm every cache (the engine and export
files, OpenVINO's disk cache, the runtime choice the process remembers), then, in turn,
``--rounds`` times each way: with the process's compiled OpenVINO models
(``inference/openvino_compiled.py``); with them forgotten before the build (every shape
loaded from OpenVINO's disk cache, side by side as the backend does); and forgotten and
loaded one at a time (as each build did before). Prints the median of each, their ratios,
the machine and how many compiled models the process keeps.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from unittest import mock

import yaml
from hdnet_ros.inference import openvino_backend
from hdnet_ros.inference.openvino_compiled import COMPILED
from hdnet_ros.pipeline import Pipeline
from machine import cpu_name, instruction_set

from hdnet_ros.config import Settings, load_settings


def build_seconds(settings: Settings, forget: bool) -> float:
    """One build's seconds (the previous pipeline dropped first; ``forget``: the process's
    compiled models too)."""
    gc.collect()
    if forget:
        COMPILED.clear()
    start = time.perf_counter()
    Pipeline.from_settings(settings)
    return time.perf_counter() - start


def _seconds(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in values) + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a setting (YAML value)")
    args = parser.parse_args()
    overrides = {"models.models_dir": args.models_dir} | {
        name: yaml.safe_load(value) for name, value in (item.split("=", 1) for item in args.set)
    }
    settings = load_settings(overrides=overrides)
    first = build_seconds(settings, forget=False)
    kept, forgotten, one_at_a_time = [], [], []
    for _ in range(args.rounds):
        forgotten.append(build_seconds(settings, forget=True))
        kept.append(build_seconds(settings, forget=False))
        with mock.patch.object(openvino_backend, "_usable_cores", return_value=1):
            one_at_a_time.append(build_seconds(settings, forget=True))
    print(f"{cpu_name()} ({instruction_set()}), settings {args.set or 'default'}")
    print(f"first build in the process: {first:.2f} s")
    medians = {name: statistics.median(v) for name, v in (("one", one_at_a_time), ("side", forgotten), ("kept", kept))}
    print(f"compiled models forgotten, loaded one at a time: {medians['one']:.2f} s {_seconds(one_at_a_time)}")
    print(f"compiled models forgotten, loaded side by side: {medians['side']:.2f} s {_seconds(forgotten)}")
    print(f"the process's compiled models taken: {medians['kept']:.2f} s {_seconds(kept)}")
    print(
        f"side by side / one at a time {medians['side'] / medians['one']:.3f}, taken / one at a time "
        f"{medians['kept'] / medians['one']:.3f}; compiled models kept: {len(COMPILED)}"
    )


if __name__ == "__main__":
    main()
