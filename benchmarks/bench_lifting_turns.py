"""Lifting + messages at 7 and 20 people: two versions of the package taking turns, and
whether their outputs are equal (issue 19; branch perf19).

    python3 benchmarks/bench_lifting_turns.py --other /work/main [--rounds 3] [--runs 400]

The call is ``bench_pipeline.py``'s ``lifting_ms``: ``DepthLifter(people, depth, camera,
None)`` on the synthetic crowd with the oracle's 2D keypoints (no networks; a fresh depth
array each call, two copies in turn, as from a camera) plus ``core_outputs`` (the
Skeleton3DArray, MarkerArray and TF messages). The crowds are ``crowd.py``'s with a grey
crop for everyone's RGB (the call never reads the image, so no detector or sample frames
are needed). Each round runs one process on the other checkout's package (``--other``: a
checkout's root, say main's) and one on this one's, in turn; each times the crowds in
blocks of BLOCK calls, one crowd after the other, and prints medians of wall time and of
the thread's CPU time (what other processes took left out). Two processes cannot share one
moment's load, so the rounds alternate to share the machine's over time: on a loaded
machine compare the rounds' pairs, not single figures.

Equality: each process also keeps its people (every array and number of every person) and
the messages' CDR bytes after its first and its last call on each crowd; the parent
compares the two versions: the people's floats within 1e-9 (NaN where the other has NaN),
everything else and the messages' bytes exactly.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SIZES = (7, 20)
BLOCK = 20  # calls of one crowd in a row
WARM_UP = 60  # untimed calls of each crowd first
TOLERANCE_M = 1e-9
PERSON_FIELDS = (
    "pixels", "scores", "positions", "position_stddev", "depth_sources", "track_id", "tracking_state", "velocity",
    "feet", "feet_stddev", "feet_sources", "feet_pixels", "feet_scores", "scale", "scale_sigma",
)  # fmt: skip


def measure(runs: int) -> dict[str, Any]:
    """This process's package: medians [ms] of the call per crowd, and its outputs."""
    from crowd import make_crowd
    from hdnet_ros.node.frame_processor import core_outputs
    from hdnet_ros.people import Person
    from hdnet_ros.pipeline import FrameResult
    from hdnet_ros.stages.depth import DepthLifter

    from hdnet_ros.config import load_settings

    settings = load_settings()
    output = settings.output
    grey = [np.full((120, 50, 3), 128, np.uint8)]
    calls, outputs = {}, {}
    for count in SIZES:
        crowd = make_crowd(count, grey)
        assert crowd.frame.depth_m is not None
        people = [Person(p.detection, p.pixels.copy(), p.scores.copy()) for p in crowd.people]
        depths = itertools.cycle([crowd.frame.depth_m.copy(), crowd.frame.depth_m.copy()])
        lifter = DepthLifter(settings.lifting)
        frame = crowd.frame

        def call(people: list[Any] = people, depths: Any = depths, lifter: Any = lifter, frame: Any = frame) -> Any:
            lifter(people, next(depths), frame.camera, None)
            return core_outputs(FrameResult(frame, people), output, output.nominal_frame_rate, debug_image=False)

        outputs[count] = [snapshot(people, call())]
        calls[count] = (call, people)
    load = os.getloadavg()[0]
    samples: dict[int, list[tuple[float, float]]] = {count: [] for count in SIZES}
    blocks = -(-(WARM_UP + runs) // BLOCK)
    for block in range(blocks):
        for count, (call, _) in calls.items():
            for _ in range(BLOCK):
                wall, cpu = time.perf_counter(), time.thread_time()
                call()
                if block * BLOCK >= WARM_UP:
                    samples[count].append((time.perf_counter() - wall, time.thread_time() - cpu))
    for count, (call, people) in calls.items():
        outputs[count].append(snapshot(people, call()))
    figures = {
        str(count): {
            "median_ms": 1000.0 * float(np.median([wall for wall, _ in values])),
            "cpu_median_ms": 1000.0 * float(np.median([cpu for _, cpu in values])),
            "p95_ms": 1000.0 * float(np.percentile([wall for wall, _ in values], 95)),
        }
        for count, values in samples.items()
    }
    return {
        "package": sys.modules["hdnet_ros"].__file__,
        "load": [load, os.getloadavg()[0]],
        "sizes": figures,
        "outputs": outputs,
    }


def snapshot(people: list[Any], outputs: Any) -> dict[str, Any]:
    """The people's fields (arrays as float64 or their own integers) and the messages' bytes."""
    from hdnet_ros.ros_types import typestore

    store = typestore()

    def cdr(message: Any) -> bytes:
        return bytes(store.serialize_cdr(message, message.__msgtype__))

    fields = [{name: np.array(getattr(person, name)) for name in PERSON_FIELDS} for person in people]
    messages = {
        "skeletons": cdr(outputs.skeletons),
        "markers": cdr(outputs.markers),
        "transforms": [cdr(transform) for transform in outputs.transforms],
    }
    return {"people": fields, "messages": messages}


def differences(other: dict[str, Any], ours: dict[str, Any]) -> tuple[list[str], float]:
    """What differs between two snapshots (module doc), and the largest float difference."""
    found, largest = [], 0.0
    if other["messages"] != ours["messages"]:
        found += [name for name in other["messages"] if other["messages"][name] != ours["messages"][name]]
    for index, (a, b) in enumerate(zip(other["people"], ours["people"], strict=True)):
        for name in PERSON_FIELDS:
            x, y = a[name], b[name]
            if x.shape != y.shape or x.dtype != y.dtype:
                found.append(f"person {index} {name}: {x.dtype}{x.shape} / {y.dtype}{y.shape}")
            elif x.dtype.kind == "f":
                if not np.array_equal(np.isnan(x), np.isnan(y)):
                    found.append(f"person {index} {name}: NaN elsewhere")
                    continue
                gap = float(np.max(np.abs(np.nan_to_num(x - y, nan=0.0)), initial=0.0))
                largest = max(largest, gap)
                if gap > TOLERANCE_M:
                    found.append(f"person {index} {name}: {gap:.3g}")
            elif not np.array_equal(x, y):
                found.append(f"person {index} {name}")
    if len(other["people"]) != len(ours["people"]):
        found.append("people")
    return found, largest


def child(checkout: Path, runs: int) -> dict[str, Any]:
    environment = dict(os.environ, PYTHONPATH=f"{checkout / 'hdnet_ros'}:{HERE}")
    with tempfile.NamedTemporaryFile(suffix=".pickle") as result:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", result.name, "--runs", str(runs)]
        subprocess.run(command, env=environment, check=True)
        return dict(pickle.loads(Path(result.name).read_bytes()))


def report(rounds: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    print("ms per call, median (thread CPU median) | " + " | ".join(f"{n} people: other / this" for n in SIZES))
    summary: dict[str, Any] = {"rounds": []}
    for index, (other, ours) in enumerate(rounds, start=1):
        cells = []
        for count in SIZES:
            a, b = other["sizes"][str(count)], ours["sizes"][str(count)]
            cells.append(
                f"{a['median_ms']:.3f} ({a['cpu_median_ms']:.3f}) / {b['median_ms']:.3f} ({b['cpu_median_ms']:.3f})"
            )
        loads = f"load {other['load'][0]:.1f}-{other['load'][1]:.1f} / {ours['load'][0]:.1f}-{ours['load'][1]:.1f}"
        print(f"round {index} ({loads}) | " + " | ".join(cells))
        summary["rounds"].append(
            {"other": other["sizes"], "this": ours["sizes"], "load": [other["load"], ours["load"]]}
        )
    for count in SIZES:
        pairs = [(o["sizes"][str(count)]["median_ms"], t["sizes"][str(count)]["median_ms"]) for o, t in rounds]
        other_ms, this_ms = float(np.median([p[0] for p in pairs])), float(np.median([p[1] for p in pairs]))
        print(f"{count} people, median of the rounds: other {other_ms:.3f} ms, this {this_ms:.3f} ms "
              f"({this_ms - other_ms:+.3f} ms, x{this_ms / other_ms:.3f})")  # fmt: skip
    equal = True
    for count in SIZES:
        snapshots = zip(rounds[0][0]["outputs"][count], rounds[0][1]["outputs"][count], strict=True)
        for moment, (a, b) in zip(("first call", "last call"), snapshots, strict=True):
            found, largest = differences(a, b)
            equal = equal and not found
            verdict = "equal" if not found else "DIFFERENT: " + "; ".join(found[:8])
            print(f"outputs, {count} people, {moment}: {verdict} (largest float difference {largest:.3g})")
    summary["outputs_equal"] = equal
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--other", type=Path, help="the other checkout's root (main's)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=400, help="timed calls of each crowd per process")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.child.write_bytes(pickle.dumps(measure(args.runs)))
        return
    if args.other is None:
        parser.error("--other")
    rounds = []
    for _ in range(args.rounds):
        other = child(args.other, args.runs)
        rounds.append((other, child(HERE.parent, args.runs)))
    summary = report(rounds)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    if not summary["outputs_equal"]:
        raise SystemExit("the outputs differ")


if __name__ == "__main__":
    main()
