"""How long building the pipeline takes when a process builds it again.

    python3 benchmarks/bench_startup.py --models-dir ../shared/models [--rounds 3] [--set NAME=VALUE ...]

One process builds the default pipeline (``Pipeline.from_settings``, what the node's
configure and each replay command do) once to warm every cache (the engine and export
files, OpenVINO's disk cache, the runtime choice the process remembers), then, in turn,
``--rounds`` times each way: with the process's compiled OpenVINO models
(``inference/openvino_compiled.py``) and with them forgotten before the build (every
shape loaded from OpenVINO's disk cache, as each build did before). Prints the median of
each and their ratio, the machine and how many compiled models the process keeps.

Then, as a restarted node starts (``--processes``, 0: skipped), new processes each build the
pipeline once, in turn: with ``auto``'s runtime choices kept on disk from an earlier start
(``inference/runtime_choice_store.py``: each network's chosen runtime opened alone) and
with ``inference.remember_runtime_choices: false`` (every candidate opened and probed, as
every start did before). Both find the export files and OpenVINO's disk cache warm.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time

import yaml
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


def new_process_seconds(args: argparse.Namespace, remember: bool) -> float:
    """One build's seconds in a new process (imports not counted), choices kept or probed."""
    settings = [*args.set, f"inference.remember_runtime_choices={str(remember).lower()}"]
    command = [sys.executable, __file__, "--models-dir", args.models_dir, "--one-build"]
    command += [item for setting in settings for item in ("--set", setting)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(json.loads(result.stdout.strip().splitlines()[-1])["build_s"])


def _seconds(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in values) + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a setting (YAML value)")
    parser.add_argument("--processes", type=int, default=3, help="new processes each way (0: none)")
    parser.add_argument("--one-build", action="store_true", help=argparse.SUPPRESS)  # a new process's part
    args = parser.parse_args()
    overrides = {"models.models_dir": args.models_dir} | {
        name: yaml.safe_load(value) for name, value in (item.split("=", 1) for item in args.set)
    }
    settings = load_settings(overrides=overrides)
    if args.one_build:
        print(json.dumps({"build_s": build_seconds(settings, forget=False)}))
        return
    first = build_seconds(settings, forget=False)
    kept, forgotten = [], []
    for _ in range(args.rounds):
        forgotten.append(build_seconds(settings, forget=True))
        kept.append(build_seconds(settings, forget=False))
    print(f"{cpu_name()} ({instruction_set()}), settings {args.set or 'default'}")
    print(f"first build in the process: {first:.2f} s")
    forgotten_s, kept_s = statistics.median(forgotten), statistics.median(kept)
    print(f"compiled models forgotten (loaded from the disk cache): {forgotten_s:.2f} s {_seconds(forgotten)}")
    print(f"the process's compiled models taken: {kept_s:.2f} s {_seconds(kept)}")
    print(f"ratio {kept_s / forgotten_s:.3f}; compiled models kept: {len(COMPILED)}")
    if args.processes > 0:
        print_new_processes(args)


def print_new_processes(args: argparse.Namespace) -> None:
    new_process_seconds(args, remember=True)  # keeps the choices if none were
    probed, recalled = [], []
    for _ in range(args.processes):
        probed.append(new_process_seconds(args, remember=False))
        recalled.append(new_process_seconds(args, remember=True))
    probed_s, recalled_s = statistics.median(probed), statistics.median(recalled)
    print(f"new process, every runtime probed: {probed_s:.2f} s {_seconds(probed)}")
    print(f"new process, the kept runtime choices opened: {recalled_s:.2f} s {_seconds(recalled)}")
    print(f"ratio {recalled_s / probed_s:.3f}")


if __name__ == "__main__":
    main()
