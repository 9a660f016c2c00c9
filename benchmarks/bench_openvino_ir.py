"""Time the OpenVINO IR converter and the networks it converts, on onnxruntime.

    python3 benchmarks/bench_openvino_ir.py [--models-dir ../shared/models] [--rounds 5] [--json ir.json]

* conversion: ``ir_to_onnx`` of each default IR model with its options (model_files.IR_CONVERSIONS),
  median of ``--rounds`` conversions;
* inference: onnxruntime (``--threads``, 2 by default) on the converted PP-TinyPose 256x192
  and 128x96 per crop, at batch 1 (8 calls of one crop) and batch 8 (one call), and the
  converted PP-PicoDet-S per 320x320 frame; the reference ONNX conversion in the models folder
  where one exists, and MoveNet Lightning int8 on LiteRT (one crop per call) for scale.

The sessions are timed in interleaved rounds (every session once per round, ``--runs`` calls
each), so load from other processes falls on all of them alike: the ratios are the figures
to read on a shared machine. Inputs are random: the cost of these dense networks does not
depend on the pixels. Report the figures with the CPU and load average printed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from hdnet_ros.inference import create_backend
from hdnet_ros.model_files import DEFAULT_MODEL_FILES, IR_CONVERSIONS
from hdnet_ros.nets.openvino_ir.convert import ir_to_onnx, save_onnx
from machine import cpu_name
from measure import time_ms

CROPS = 8
# name -> the reference ONNX conversion shipped beside the IR (SOURCE.md), where there is one.
REFERENCES = {
    "pp_tinypose_256x192": "pp_tinypose_256x192/pp_tinypose_256x192.onnx",
    "pp_picodet_s_320_pedestrian": "pp_picodet_s_320_pedestrian/pp_picodet_s_320_pedestrian.onnx",
}
MOVENET = "movenet_lightning_int8"


def conversion_ms(models_dir: Path, rounds: int) -> dict[str, float]:
    times = {}
    for name, options in IR_CONVERSIONS.items():
        xml = models_dir / DEFAULT_MODEL_FILES[name]
        convert = partial(ir_to_onnx, xml, dynamic_batch=options.dynamic_batch, drop_outputs=options.drop_outputs)
        samples = time_ms(convert, rounds)
        times[name] = float(np.median(samples))
    return times


def onnx_calls(path: Path, threads: int, images: np.ndarray, batched: bool) -> Callable[[], object]:
    """One crop per call over ``images`` (batch 1), or all of them in one call (batch N)."""
    backend = create_backend("onnxruntime", path, threads=threads)
    name = backend.input_names[0]
    if batched:
        return lambda: backend.run({name: images})
    return lambda: [backend.run({name: image[None]}) for image in images]


def litert_calls(tflite: Path, threads: int, count: int) -> Callable[[], object]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite), num_threads=threads)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    crops = np.random.default_rng(0).integers(0, 256, size=(count, 192, 192, 3), dtype=np.uint8)

    def run() -> None:
        for crop in crops:
            interpreter.set_tensor(index, crop[None])
            interpreter.invoke()

    return run


def sessions(models_dir: Path, threads: int, workdir: Path) -> list[tuple[str, str, int, Callable[[], object]]]:
    """(network, file, images per call, call) for everything timed."""
    rng = np.random.default_rng(0)
    found = []
    for name, options in IR_CONVERSIONS.items():
        xml = models_dir / DEFAULT_MODEL_FILES[name]
        converted = save_onnx(
            ir_to_onnx(xml, dynamic_batch=options.dynamic_batch, drop_outputs=options.drop_outputs),
            workdir / f"{name}.onnx",
        )
        dims = [d.dim_value for d in ir_to_onnx(xml).graph.input[0].type.tensor_type.shape.dim]
        files = [("converted", converted)]
        if name in REFERENCES and (models_dir / REFERENCES[name]).is_file():
            files.append(("reference", models_dir / REFERENCES[name]))
        count = CROPS if options.dynamic_batch else 1
        images = rng.normal(size=(count, *dims[1:])).astype(np.float32)
        for label, path in files:
            found.append((name, f"{label}, batch 1", count, onnx_calls(path, threads, images, batched=False)))
            if options.dynamic_batch:
                found.append((name, f"{label}, batch {count}", count, onnx_calls(path, threads, images, batched=True)))
    tflite = models_dir / DEFAULT_MODEL_FILES[MOVENET]
    if tflite.is_file():
        found.append((MOVENET, "LiteRT, batch 1", CROPS, litert_calls(tflite, threads, CROPS)))
    return found


def interleaved(timed: list[tuple[str, str, int, Callable[[], object]]], rounds: int, runs: int) -> list[list[float]]:
    """Per session, the ms per image of every call, its rounds interleaved with the others'."""
    samples: list[list[float]] = [[] for _ in timed]
    for _ in range(rounds):
        for index, (_, _, count, call) in enumerate(timed):
            samples[index] += [ms / count for ms in time_ms(call, runs)]
    return samples


def report(timed: list[tuple[str, str, int, Callable[[], object]]], samples: list[list[float]]) -> list[dict[str, Any]]:
    medians = {(name, label): float(np.median(s)) for (name, label, _, _), s in zip(timed, samples, strict=True)}
    rows = []
    for (name, label, _, _), values in zip(timed, samples, strict=True):
        reference = medians.get((name, label.replace("converted", "reference")))
        rows.append(
            {
                "network": name,
                "runtime": label,
                "median_ms_per_image": medians[(name, label)],
                "p90_ms_per_image": float(np.percentile(values, 90)),
                "ratio_to_reference": medians[(name, label)] / reference
                if label.startswith("converted") and reference
                else None,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "models")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=4, help="timed calls per session and round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    missing = [n for n in IR_CONVERSIONS if not (args.models_dir / DEFAULT_MODEL_FILES[n]).is_file()]
    if missing:
        raise SystemExit(f"{missing} not found in {args.models_dir} (--models-dir, or `hdnet-ros assets`)")
    load_before = os.getloadavg()[0]
    conversions = conversion_ms(args.models_dir, args.rounds)
    with tempfile.TemporaryDirectory() as workdir:
        timed = sessions(args.models_dir, args.threads, Path(workdir))
        rows = report(timed, interleaved(timed, args.rounds, args.runs))
    print(f"{cpu_name()}, {args.threads} threads, load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}")
    for name, ms in conversions.items():
        print(f"conversion of {name}: {ms:.0f} ms")
    print(f"{'network':<30} {'runtime':<22} {'ms/image':>9} {'p90':>7} {'x ref':>6}")
    for row in rows:
        ratio = f"{row['ratio_to_reference']:.2f}" if row["ratio_to_reference"] else ""
        median, p90 = row["median_ms_per_image"], row["p90_ms_per_image"]
        print(f"{row['network']:<30} {row['runtime']:<22} {median:>9.2f} {p90:>7.2f} {ratio:>6}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": datetime.date.today().isoformat(),
                    "cpu": cpu_name(),
                    "threads": args.threads,
                    "conversion_ms": conversions,
                    "rows": rows,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
