"""Time MoveNet on its CPU runtimes: LiteRT (the int8 file) and the PyTorch rebuild's two
arithmetics, in PyTorch and exported to ONNX on onnxruntime, for the 8 person crops of a busy
frame; plus the numpy decoding of the head tensors.

    python3 benchmarks/bench_movenet.py [--models-dir ../shared/models] [--runs 10] [--json movenet.json]

LiteRT runs one crop per call (its model has batch 1), the rebuilds one batch of 8. Each
runtime gets a warm-up, then ``--runs`` timed calls in the same process; figures are medians
(with the 90th percentile) of wall time for all 8 crops, and each median's ratio to LiteRT's.
The crops are random pixels: the cost of these dense networks does not depend on them.
Report the figures with the CPU and load average printed: other processes inflate them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hdnet_ros.inference import create_backend
from hdnet_ros.inference.movenet_codec import INT8_DECODING, decode_movenet_outputs
from hdnet_ros.nets.movenet import OUTPUT_NAMES, export_movenet_onnx, load_movenet
from machine import cpu_name
from measure import time_ms

CROPS = 8
TFLITE = Path("movenet_lightning_int8") / "movenet_singlepose_lightning_int8.tflite"


def litert_call(tflite: Path, crops: np.ndarray, threads: int) -> Callable[[], object]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite), num_threads=threads)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]

    def run() -> None:
        for crop in crops:
            interpreter.set_tensor(index, crop[None])
            interpreter.invoke()

    return run


def time_rebuild(
    tflite: Path, arithmetic: str, crops: np.ndarray, runs: int, threads: int, workdir: Path
) -> list[tuple[str, list[float]]]:
    """One arithmetic of the rebuild: PyTorch, its ONNX export on onnxruntime, its decoding."""
    model = load_movenet(tflite, arithmetic=arithmetic)
    image = torch.from_numpy(crops)
    with torch.inference_mode():
        in_torch = time_ms(lambda: model(image), runs)
        heads = dict(zip(OUTPUT_NAMES, (t.numpy() for t in model(image)), strict=True))
    onnx_path = export_movenet_onnx(model, workdir / f"movenet_{arithmetic}.onnx")
    with create_backend("onnxruntime", onnx_path, threads=threads) as backend:
        in_onnxruntime = time_ms(lambda: backend.run({"image": crops}), runs)
    decoding = INT8_DECODING if arithmetic == "int8" else None
    decode = time_ms(lambda: decode_movenet_outputs(heads, int8=decoding), runs)
    return [
        (f"PyTorch, {arithmetic} arithmetic", in_torch),
        (f"onnxruntime, {arithmetic} arithmetic", in_onnxruntime),
        (f"decoding ({arithmetic})", decode),
    ]


def rows(tflite: Path, crops: np.ndarray, runs: int, threads: int, workdir: Path) -> list[dict[str, Any]]:
    torch.set_num_threads(threads)
    measured = [("LiteRT (XNNPACK), int8 file", time_ms(litert_call(tflite, crops, threads), runs))]
    for arithmetic in ("int8", "float"):
        measured += time_rebuild(tflite, arithmetic, crops, runs, threads, workdir)
    reference = float(np.median(measured[0][1]))
    return [
        {
            "runtime": name,
            "median_ms": float(np.median(samples)),
            "p90_ms": float(np.percentile(samples, 90)),
            "ratio_to_litert": float(np.median(samples)) / reference,
        }
        for name, samples in measured
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "models")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    tflite = args.models_dir / TFLITE
    if not tflite.is_file():
        raise SystemExit(f"{tflite} not found (--models-dir, or `hdnet-ros assets`)")
    crops = np.random.default_rng(0).integers(0, 256, size=(CROPS, 192, 192, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as workdir:
        results = rows(tflite, crops, args.runs, args.threads, Path(workdir))
    print(f"{cpu_name()}, {args.threads} threads, load average {os.getloadavg()[0]:.2f}, {CROPS} crops per call")
    print(f"{'runtime':<36} {'median ms':>10} {'p90 ms':>8} {'x LiteRT':>9}")
    for row in results:
        print(f"{row['runtime']:<36} {row['median_ms']:>10.1f} {row['p90_ms']:>8.1f} {row['ratio_to_litert']:>9.2f}")
    if args.json:
        report = {
            "date": datetime.date.today().isoformat(),
            "cpu": cpu_name(),
            "threads": args.threads,
            "rows": results,
        }
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
