"""PP-TinyPose in int8 (a static QDQ quantisation by onnxruntime) against its float network.

    python3 benchmarks/bench_tinypose_int8.py [--network pp_tinypose_256x192] [--rounds 7]

Would int8 make the 256x192 network cheap enough to be the default on CPUs with int8 dot
products (VNNI)? The float network's ONNX conversion is quantised with
``onnxruntime.quantization.quantize_static`` (QDQ, per-channel int8 weights, uint8
activations, MinMax ranges) into a temporary folder (never the models directory):

* ``int8 all``: every op onnxruntime quantises, the heatmap head (the last convolution)
  kept in float (a uint8 heatmap ties its arg-max over neighbouring cells);
* ``int8 dense``: only the dense convolutions; the depthwise ones and the head in float
  (onnxruntime's int8 depthwise kernels were 2x slower than its float ones here).

Calibration: person crops made exactly as the stage makes them (the product's detector on
the 15 CMU Panoptic views, the codec's affine crop and encoding): people the accuracy
figures below do not include. Printed: the network's time per crop at batch 1 and 8 for
float and each int8 variant (interleaved rounds, the median) beside MoveNet Lightning int8
on LiteRT through its stage; against float on the crowd benchmark's photos (YOLOX-Nano's
boxes): heatmap arg-max agreement on the joints float publishes (same cell, within one
cell), keypoint movement in crop
pixels, and the crowd benchmark's mean OKS (``bench_crowd_2d``'s scoring).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import onnx
from bench_crowd_2d import build_pipeline, run_row, settings_for
from hdnet_ros.evaluation.annotations import load_sets
from hdnet_ros.evaluation.scoring import PhotoScore
from hdnet_ros.inference.heatmap_codec import encode_crops, topdown_affines, warp_crops
from hdnet_ros.inference.runtime import ir_onnx, open_backend
from hdnet_ros.inference.runtime_choice import probe_ms
from hdnet_ros.model_files import IR_CONVERSIONS, resolve_model_file
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.keypoint_runtimes import probe_frame
from hdnet_ros.stages.topdown_heatmap import HeatmapKeypoints
from machine import cpu_name, instruction_set

PANOPTIC = "panoptic_dev"


def calibration_crops(pipeline: object, stage: HeatmapKeypoints, data_dir: Path) -> np.ndarray:
    """Encoded crops [N,3,H,W] of every confident detection in the Panoptic views."""
    crops = []
    for path in sorted((data_dir / PANOPTIC).glob("*/*.jpg")):
        bgr = cv2.imread(str(path))
        if bgr is None:
            raise SystemExit(f"cannot read {path}")
        rgb = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        boxes = [d.box for d in pipeline.detector.detect(rgb).confident]  # type: ignore[attr-defined]
        if boxes:
            crops.append(warp_crops(rgb, topdown_affines(np.array(boxes), stage.crop), stage.crop))
    if not crops:
        raise SystemExit(f"no person crops in {data_dir / PANOPTIC}")
    return encode_crops(np.concatenate(crops))


def quantise(source: Path, target: Path, crops: np.ndarray, input_name: str, dense_only: bool) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(range(len(crops)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            index = next(self.items, None)
            return None if index is None else {input_name: crops[index : index + 1]}

    prepared = target.with_suffix(".prepared.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    graph = onnx.load(str(prepared)).graph
    excluded = [graph.node[-1].name]  # the heatmap head
    if dense_only:
        excluded += [
            node.name
            for node in graph.node
            if node.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in node.attribute)
        ]
    quantize_static(
        str(prepared),
        str(target),
        Crops(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=excluded,
        op_types_to_quantize=["Conv"] if dense_only else None,
    )
    return target


def agreement(float_stage: HeatmapKeypoints, other: HeatmapKeypoints, photos: list, pipeline: object) -> str:
    """Arg-max agreement (of the joints float publishes) and keypoint movement [crop px]
    against float on the photos' detections."""
    same, near, moved = [], [], []
    for photo in photos:
        found = pipeline.detector.detect(photo.rgb)  # type: ignore[attr-defined]
        boxes = np.array([d.box for d in found.confident + found.candidates]).reshape(-1, 4)
        if not len(boxes):
            continue
        reference, affines = float_stage.heatmaps(photo.rgb, boxes)
        maps, _ = other.heatmaps(photo.rgb, boxes)
        width = reference.shape[3]
        flat = reference.reshape(*reference.shape[:2], -1)
        seen = flat.max(-1) >= float_stage.config.heatmap_min_score  # the joints float publishes
        first, second = flat.argmax(-1), maps.reshape(*maps.shape[:2], -1).argmax(-1)
        same.append((first == second)[seen])
        cells = np.abs(np.stack((first % width - second % width, first // width - second // width)))
        near.append((cells.max(axis=0) <= 1)[seen])
        confident = found.confident
        pairs = zip(float_stage(photo.rgb, confident), other(photo.rgb, confident), affines, strict=False)
        for a, b, affine in pairs:  # the affines of the confident boxes come first
            seen = np.isfinite(a.pixels[:17, 0]) & np.isfinite(b.pixels[:17, 0])
            moved.append(np.linalg.norm(a.pixels[:17][seen] - b.pixels[:17][seen], axis=1) * affine[0, 0])
    distance = np.concatenate(moved)
    return (
        f"arg-max same cell {np.mean(np.concatenate(same)):.3f}, within one cell {np.mean(np.concatenate(near)):.3f}; "
        f"keypoints moved median {np.median(distance):.2f}, p90 {np.percentile(distance, 90):.2f} crop px"
    )


def mean_oks(pipeline: Pipeline, photos: list) -> str:
    scores, _, _, _ = run_row(pipeline, photos, pipeline.detector.detect, 1)
    total = PhotoScore()
    for score in scores.values():
        total.add(score)
    return f"mean OKS {total.mean_oks:.3f}, recall {total.detected}/{total.annotated}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_MODELS_DIR", "../shared/models"))
    )
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_DATA_DIR", "../shared/data")))
    parser.add_argument(
        "--network", default="pp_tinypose_256x192", choices=("pp_tinypose_256x192", "pp_tinypose_128x96")
    )
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    pipeline, _ = build_pipeline(settings_for(args.models_dir, "yolox_nano", args.network, {}))
    movenet, _ = build_pipeline(settings_for(args.models_dir, "yolox_nano", "movenet_lightning_int8", {}))
    float_stage = pipeline.stages.keypoints
    assert isinstance(float_stage, HeatmapKeypoints)
    inference, threads = pipeline.settings.inference, pipeline.settings.models.threads
    conversion = IR_CONVERSIONS[args.network]
    source = ir_onnx(
        resolve_model_file(args.network, args.models_dir),
        inference,
        dynamic_batch=conversion.dynamic_batch,
        drop_outputs=conversion.drop_outputs,
    )
    crops = calibration_crops(pipeline, float_stage, args.data_dir)
    photos = load_sets(args.data_dir)
    print(f"CPU: {cpu_name()} ({instruction_set()}), {threads} threads, load {os.getloadavg()[0]:.2f}")
    print(f"{args.network}: calibration on {len(crops)} Panoptic person crops")
    with tempfile.TemporaryDirectory(prefix="tinypose-int8-") as folder:
        stages = {"float": float_stage}
        for name, dense in (("int8 all", False), ("int8 dense", True)):
            path = quantise(
                source, Path(folder) / f"{name.replace(' ', '_')}.onnx", crops, float_stage.input_name, dense
            )
            stages[name] = HeatmapKeypoints(open_backend(path, inference, threads), float_stage.config, 8)
        one, eight = crops[:1], crops[:8]
        calls: dict[str, Callable[[], object]] = {
            f"{name} b{len(batch)}": partial(stage.backend.run, {stage.input_name: batch})
            for name, stage in stages.items()
            for batch in (one, eight)
        }
        rgb, people = probe_frame(4)
        reference = movenet.stages.keypoints
        assert reference is not None
        calls["MoveNet int8 (LiteRT, stage) 4 people"] = lambda: reference(rgb, people)
        medians = probe_ms(calls, 2, args.rounds)
        for name, ms in medians.items():
            per = 4 if "4 people" in name else int(name.rsplit("b", 1)[1])
            print(f"  {name:40s} {ms / per:6.2f} ms per crop")
        for name, stage in stages.items():
            pipeline.stages.keypoints = stage
            check = "" if name == "float" else agreement(float_stage, stage, photos, pipeline) + "; "
            print(f"  {name:10s} {check}{mean_oks(pipeline, photos)}")
        print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
