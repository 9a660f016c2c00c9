"""Time BlazePose GHUM 3D (full) per person crop on its CPU runtimes, at batch 1 and batch 8:
LiteRT as published (one invoke per crop, and one invoke on the batch resized to it), the
PyTorch rebuild's ONNX export on onnxruntime, and the rebuild in PyTorch.

    python3 benchmarks/bench_blazepose.py [--models-dir ../shared/models] [--runs 10] [--json blazepose.json]
        [--agreement [--data-dir ../shared/data]]

Each runtime gets a warm-up, then the ``--runs`` timed calls go round-robin over the
runtimes (call 1 of each, call 2 of each, ...) in a new random order each round, so that a
load change on a shared machine hits all of them alike and no runtime always follows the
one whose threads are still spinning (at batch 1 both LiteRT rows run the same invoke: their
difference shows the noise left). Figures: median (and 90th percentile) wall time per call, that
median per crop, and each median's ratio to LiteRT's per-crop loop at the same batch size
(measured in this one run). The crops are random pixels: the cost of this dense network does
not depend on them. Report the figures with the CPU and load average printed.

``--agreement`` also measures how far apart the float32 runtimes are on the person crops of
the sample RGB-D frames (hand-drawn boxes, square 1.25x, as test_blazepose_network.py cuts
them), and how far each is from the float64 evaluation of the rebuild (the exact result of
the file's weights; slow: torch's float64 convolutions take seconds per crop). Per output,
the largest difference of any crop relative to that crop's largest magnitude (presence:
absolute). ``--variants N`` adds N copies of each crop as another OpenCV build may cut it
(``opencv_variants``) and compares the runtimes on those too: the crop decides how much the
network amplifies float32 rounding, and the test's tolerances are derived from the largest
differences over the crops and their variants, with both OpenCV 4.10 and 5.1 crops.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hdnet_ros.inference import create_backend
from hdnet_ros.inference.litert_backend import LiteRTBackend
from hdnet_ros.nets.blazepose import BLAZEPOSE_INPUT_SIZE, OUTPUT_NAMES, export_blazepose_onnx, load_blazepose
from machine import cpu_name

TFLITE = Path("blazepose_ghum_full") / "pose_landmark_full.tflite"
BATCHES = (1, 8)
REFERENCE = "LiteRT, one invoke per crop"
# Hand-drawn person boxes (x0, y0, x1, y1) in the sample frames (as in test_blazepose_network.py).
BAG_BOXES: dict[str, list[tuple[float, float, float, float]]] = {
    "2019-05-03-12-41-38.bag": [(235, 58, 380, 480), (45, 205, 125, 330), (0, 195, 75, 420)],
    "2019-05-03-12-42-18.bag": [(265, 28, 475, 480), (268, 222, 300, 312)],
    "2019-05-03-12-42-25.bag": [(265, 28, 475, 480), (595, 200, 640, 265)],
}


def round_robin(calls: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """``runs`` wall times in ms of each call, interleaved in a shuffled order per round,
    after one untimed call of each."""
    for call in calls.values():
        call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    order = np.random.default_rng(1)
    for _ in range(runs):
        for name in order.permutation(list(calls)):
            start = time.perf_counter()
            calls[name]()
            samples[name].append((time.perf_counter() - start) * 1000.0)
    return samples


def runtimes(tflite: Path, onnx_path: Path, crops: np.ndarray, threads: int) -> dict[str, Callable[[], object]]:
    loop = LiteRTBackend(tflite, threads=threads, batching="loop")
    resized = LiteRTBackend(tflite, threads=threads, batching="resize")
    onnxruntime = create_backend("onnxruntime", onnx_path, threads=threads)
    model = load_blazepose(tflite)
    image = torch.from_numpy(crops)
    name = loop.input_names[0]

    def in_torch() -> object:
        with torch.inference_mode():
            return model(image)

    return {
        REFERENCE: lambda: loop.run({name: crops}),
        "LiteRT, one invoke, batch resized": lambda: resized.run({name: crops}),
        "onnxruntime, ONNX export of the rebuild": lambda: onnxruntime.run({"image": crops}),
        "PyTorch, the rebuild (fp32)": in_torch,
    }


def rows(tflite: Path, runs: int, threads: int, workdir: Path) -> list[dict[str, Any]]:
    torch.set_num_threads(threads)
    onnx_path = export_blazepose_onnx(load_blazepose(tflite), workdir / "blazepose.onnx")
    results = []
    rng = np.random.default_rng(0)
    for batch in BATCHES:
        crops = rng.random((batch, BLAZEPOSE_INPUT_SIZE, BLAZEPOSE_INPUT_SIZE, 3), dtype=np.float32)
        measured = round_robin(runtimes(tflite, onnx_path, crops, threads), runs)
        reference = float(np.median(measured[REFERENCE]))
        for name, samples in measured.items():
            median = float(np.median(samples))
            results.append(
                {
                    "runtime": name,
                    "batch": batch,
                    "median_ms": median,
                    "p90_ms": float(np.percentile(samples, 90)),
                    "per_crop_ms": median / batch,
                    "ratio_to_litert_loop": median / reference,
                }
            )
    return results


def sample_crops(data_dir: Path) -> np.ndarray:
    """[7,256,256,3] float32 RGB 0..1: the people of the sample frames."""
    from hdnet_ros.frame_input import build_frame
    from hdnet_ros.replay.bag_input import BagInput
    from hdnet_ros.stages.keypoints2d import crop_person

    crops = []
    for name, boxes in BAG_BOXES.items():
        with BagInput(data_dir / "rgbd_hsr" / name, {}) as reader:
            messages = {item.role: item.message for item in reader.messages()}
        rgb = build_frame(messages["rgb"], messages["depth"], messages["camera_info"]).rgb
        crops += [crop_person(rgb, np.asarray(box), BLAZEPOSE_INPUT_SIZE, 1.25)[0] for box in boxes]
    return np.stack(crops).astype(np.float32) / 255.0


def worst_difference(name: str, values: np.ndarray, reference: np.ndarray) -> float:
    """Largest difference of any crop, relative to that crop's largest magnitude (presence: absolute)."""
    difference = np.abs(values.astype(np.float64) - reference).reshape(len(reference), -1).max(axis=1)
    if name == "presence":
        return float(difference.max())
    return float((difference / np.abs(reference).reshape(len(reference), -1).max(axis=1)).max())


def opencv_variants(crops: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` copies of each crop as another OpenCV build may cut it: up to 6 grey levels
    off on 12 % of the pixels (OpenCV 4.10's warpAffine against 5.1's on these crops: up to 4-6
    levels on 7-16 % of the pixels). The crop decides how much the network amplifies float32
    rounding (most for people it is unsure of), so the runtimes' agreement is measured on these."""
    rng = np.random.default_rng(seed)
    levels = np.round(np.repeat(crops, count, axis=0) * 255.0)
    hit = rng.random(levels.shape[:3]) < 0.12
    levels[hit] += rng.integers(-6, 7, (int(hit.sum()), levels.shape[3]))
    return np.asarray(np.clip(levels, 0, 255) / 255.0, dtype=np.float32)


def float32_outputs(tflite: Path, onnx_path: Path, crops: np.ndarray, threads: int) -> dict[str, dict[str, np.ndarray]]:
    """{runtime: outputs} of LiteRT, the ONNX export on onnxruntime and the rebuild in PyTorch."""
    from hdnet_ros.inference.blazepose_runtime import open_blazepose
    from hdnet_ros.inference.runtime import InferenceConfig

    with open_blazepose(tflite, InferenceConfig(), threads) as litert:
        outputs = {"LiteRT": litert.run({"image": crops})}
    with create_backend("onnxruntime", onnx_path, threads=threads) as onnxruntime:
        outputs["onnxruntime"] = onnxruntime.run({"image": crops})
    with torch.inference_mode():
        tensors = load_blazepose(tflite)(torch.from_numpy(crops))
        outputs["PyTorch"] = dict(zip(OUTPUT_NAMES, (t.numpy() for t in tensors), strict=True))
    return outputs


def runtime_agreement(outputs: dict[str, dict[str, np.ndarray]], suffix: str = "") -> dict[str, dict[str, float]]:
    """{'PyTorch - LiteRT', 'onnxruntime - LiteRT': {output: worst difference}}: what the tests bound."""
    reference = outputs["LiteRT"]
    return {
        f"{runtime} - LiteRT{suffix}": {
            name: worst_difference(name, outputs[runtime][name], np.asarray(reference[name], np.float64))
            for name in OUTPUT_NAMES
        }
        for runtime in ("PyTorch", "onnxruntime")
    }


def agreement(tflite: Path, onnx_path: Path, crops: np.ndarray, threads: int) -> dict[str, dict[str, float]]:
    """{comparison: {output: worst difference}} over ``crops``."""
    outputs = float32_outputs(tflite, onnx_path, crops, threads)
    model = load_blazepose(tflite)
    with torch.inference_mode():
        exact_model = model.double()
        exact: dict[str, list[np.ndarray]] = {name: [] for name in OUTPUT_NAMES}
        for crop in crops:  # one at a time: float64 is slow, and this shows progress in top
            for name, value in zip(OUTPUT_NAMES, exact_model(torch.from_numpy(crop[None]).double()), strict=True):
                exact[name].append(value.numpy())
    reference = {name: np.concatenate(values) for name, values in exact.items()}
    table = {
        f"{runtime} - float64": {
            name: worst_difference(name, outputs[runtime][name], reference[name]) for name in OUTPUT_NAMES
        }
        for runtime in outputs
    }
    return table | runtime_agreement(outputs)


def print_agreement(table: dict[str, dict[str, float]]) -> None:
    width = max(map(len, table)) + 2
    print(f"{'':<{width}}" + "".join(f"{name:>16}" for name in OUTPUT_NAMES))
    for label, row in table.items():
        print(f"{label:<{width}}" + "".join(f"{row[name]:>16.1e}" for name in OUTPUT_NAMES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "models")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--agreement", action="store_true", help="also compare the runtimes on the sample crops")
    parser.add_argument(
        "--variants", type=int, default=0, help="with --agreement: also N copies of each crop as another OpenCV cuts it"
    )
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    tflite = args.models_dir / TFLITE
    if not tflite.is_file():
        raise SystemExit(f"{tflite} not found (--models-dir, or `hdnet-ros assets`)")
    table = None
    with tempfile.TemporaryDirectory() as workdir:
        results = rows(tflite, args.runs, args.threads, Path(workdir))
        if args.agreement:
            crops = sample_crops(args.data_dir)
            table = agreement(tflite, Path(workdir) / "blazepose.onnx", crops, args.threads)
            if args.variants:
                variants = opencv_variants(crops, args.variants)
                outputs = float32_outputs(tflite, Path(workdir) / "blazepose.onnx", variants, args.threads)
                table |= runtime_agreement(outputs, f", {len(variants)} variants")
    print(f"{cpu_name()}, {args.threads} threads, load average {os.getloadavg()[0]:.2f}, {args.runs} runs")
    print(f"{'runtime':<42} {'batch':>5} {'median ms':>10} {'p90 ms':>8} {'ms/crop':>8} {'x LiteRT loop':>14}")
    for row in results:
        print(
            f"{row['runtime']:<42} {row['batch']:>5} {row['median_ms']:>10.1f} {row['p90_ms']:>8.1f} "
            f"{row['per_crop_ms']:>8.1f} {row['ratio_to_litert_loop']:>14.2f}"
        )
    if table is not None:
        print("\nagreement on the 7 sample crops (relative to each crop's largest magnitude; presence absolute)")
        print_agreement(table)
    if args.json:
        report = {
            "date": datetime.date.today().isoformat(),
            "cpu": cpu_name(),
            "threads": args.threads,
            "runs": args.runs,
            "rows": results,
            "agreement": table,
        }
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
