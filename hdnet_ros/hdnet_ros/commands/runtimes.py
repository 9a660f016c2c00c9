"""``hdnet-ros runtimes``: the runtime choices kept across starts, and forgetting them.

A node or a replay whose networks' runtimes are ``auto`` probes this CPU's runtimes once
and keeps each choice beside the engines (:mod:`hdnet_ros.inference.runtime_choice_store`).
This lists what is kept (the network, the runtime chosen, the probe's reason and times,
when, the CPU and its usable cores), newest first; ``--forget`` deletes the file, so the next
start of every network probes again (a BIOS or power setting changed, which the CPU's
flags do not show, say).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hdnet_ros.inference.runtime_choice_store import FILE_NAME, ChoiceStore

HELP = "list the runtime choices kept across starts (--forget: probe again at the next start)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine-dir",
        type=Path,
        metavar="DIR",
        help="the node's inference.engine_dir, where runtime_choices.json is (default ~/.cache/hdnet_ros/engines)",
    )
    parser.add_argument("--forget", action="store_true", help="delete the kept choices: the next start probes")


def run(args: argparse.Namespace) -> int:
    from hdnet_ros.inference.runtime import InferenceConfig, engine_dir

    directory = args.engine_dir or engine_dir(InferenceConfig())
    store = ChoiceStore(directory / FILE_NAME)
    kept = store.listed()
    if args.forget:
        store.path.unlink(missing_ok=True)
        print(f"forgot {len(kept)} runtime choices ({store.path}): the next start probes")
        return 0
    if not kept:
        print(f"no runtime choices kept in {store.path}: the next start with a runtime on auto probes")
        return 0
    print(f"{len(kept)} runtime choices kept in {store.path}, newest first:")
    for _, choice, described in kept:
        cpu = described.get("cpu", {})
        files = ", ".join(Path(name).name for name in described.get("files", {})) or "?"
        print(
            f"- {described.get('network', '?')} ({files}): {choice.name}, probed {choice.chosen_at} on "
            f"{cpu.get('model') or 'a CPU'} with {cpu.get('usable_cores', '?')} usable cores"
        )
        print(f"  {choice.reason}")
    return 0
