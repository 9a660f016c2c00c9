"""Time the ported networks on the CPU through ONNX Runtime, at batch 1 and batch 8.

    python3 benchmarks/bench_networks.py [--runs 10] [--json networks.json] [--models hdnet rootnet ...]

Each network is exported from the registry (``hdnet_ros.nets.export``, random weights,
dynamic batch axis, checked against PyTorch), then run in one ONNX Runtime session per
network: a warm-up, then ``--runs`` timed runs per batch size in the same process. The
figures are medians (with the minimum and the 90th percentile) of wall time per call;
weights do not change the cost of these dense networks. Report them with the CPU they came
from, and with the load average the script prints: other processes inflate the medians.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from hdnet_ros.nets.export import calibrate_logits, create, export_onnx, registered
from machine import cpu_name
from measure import time_ms

BATCHES = (1, 8)


def bench_network(name: str, workdir: Path, runs: int, threads: int) -> dict[str, Any]:
    path = workdir / f"{name}.onnx"
    item = create(name)
    calibrate_logits(item)
    result = export_onnx(item.module, item.make_inputs, path, item.input_names, item.output_names)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0: ONNX Runtime's default (one per core)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    row: dict[str, Any] = {
        "network": name,
        "parameters": sum(p.numel() for p in item.module.parameters()),
        "onnx_mb": path.stat().st_size / 1e6,
        "max_relative_error": result.max_relative_error,
    }
    generator = torch.Generator().manual_seed(0)
    for batch in BATCHES:
        inputs = item.make_inputs(batch, generator)
        feeds = {n: t.numpy() for n, t in zip(item.input_names, inputs, strict=True)}
        samples = time_ms(partial(session.run, None, feeds), runs)
        row[f"batch{batch}_median_ms"] = float(np.median(samples))
        row[f"batch{batch}_p90_ms"] = float(np.percentile(samples, 90))
        # The fastest run is the best estimate of the uncontended cost on a shared machine.
        row[f"batch{batch}_min_ms"] = float(np.min(samples))
    path.unlink()
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| network | parameters | batch 1 ms: median (min, p90) | batch 8 ms: median (min, p90) | batch 8 ms/item |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        cells = [
            f"{r[f'batch{b}_median_ms']:.1f} ({r[f'batch{b}_min_ms']:.1f}, {r[f'batch{b}_p90_ms']:.1f})"
            for b in BATCHES
        ]
        print(f"| {r['network']} | {r['parameters']:,} | {' | '.join(cells)} | {r['batch8_median_ms'] / 8:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(registered()), help="registry names (default: all)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per batch size")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: default)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    # Other processes on a small machine change the figures: record the load around the run.
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            rows.append(bench_network(name, Path(tmp), args.runs, args.threads))
            print(f"{name}: done", flush=True)
    meta = {
        "cpu": cpu_name(),
        "date": datetime.date.today().isoformat(),
        "onnxruntime": ort.__version__,
        "torch": torch.__version__,
        "threads": args.threads or "default",
        "runs": args.runs,
        "loadavg_1min_before_after": [load_before, os.getloadavg()[0]],
    }
    print(
        f"CPU: {meta['cpu']} ({os.cpu_count()} CPUs); onnxruntime {meta['onnxruntime']}; {meta['runs']} runs per "
        f"figure; 1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "networks": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
