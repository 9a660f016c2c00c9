"""The crowd benchmark: the 2D pipeline end to end on annotated crowd and COCO photos.

    python3 benchmarks/bench_crowd_2d.py [--models-dir ../shared/models] [--data-dir ../shared/data]
        [--runs 3] [--json crowd_2d.json] [--quick]

Every detector x 2D network pair runs the product's pipeline as far as 2D goes: detection
(with its tiles and low-score candidates) -> the 2D network on every crop, batched ->
the crowd rules (:mod:`hdnet_ros.stages.crowd`); the 3D networks and tracking are off
(single photos). "ground truth" feeds the annotated boxes as detections instead (score 1,
no candidates). Photos: ``crowd_keypoints`` (AI Challenger, PoseTrack 2018, MHP: 8 images,
27 people) and ``coco_keypoints`` (2 images, 5 people with keypoints), every set mapped to
COCO-17 (:mod:`hdnet_ros.evaluation.annotations`).

Measures per set and pair (:mod:`hdnet_ros.evaluation.scoring`): detection recall at IoU
0.5, mean OKS over annotated people (a missed person scores 0), PCK@0.1 of the box
diagonal, published skeletons with joints of another person; the cost of a frame
(detection, and the 2D stage: crops, network, decoding, crowd rules; medians over the
photos of ``--runs`` calls each) and of the 2D stage per person (its time on all photos
over all the crops it ran, candidates included: crowded frames weigh most). Ablations on the
default pair (:mod:`crowd_ablations` for those the product does not run): the crowd rules
off, the detector's tiles off, other people's boxes masked out of each crop, the flip test,
the heatmap networks' former keypoint threshold (0.3), a second crop around the skeleton
where the first one fits its box poorly, YOLOX-Nano's and PP-PicoDet's boxes fused; the flip
test and the former threshold also on PP-TinyPose 256x192. The targets are printed with
values and verdicts at the end, with the 2D network, runtime and keypoint threshold that
ran and the CPU they ran on.

The networks published as OpenVINO IR run as the product runs them: converted to ONNX
once (``nets/openvino_ir``, cached), on onnxruntime.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from crowd_ablations import RefinedKeypoints, fused_detections, masked_people
from hdnet_ros.camera import CameraModel
from hdnet_ros.evaluation.annotations import ALL_SETS, AnnotatedPhoto, load_sets
from hdnet_ros.evaluation.scoring import PhotoScore, Skeleton2D, score_photo
from hdnet_ros.inference.runtime_choice import cpu_instruction_set
from hdnet_ros.joints import NUM_COCO_JOINTS
from hdnet_ros.people import Detection, Frame, Person
from hdnet_ros.pipeline import Pipeline, build_stages
from hdnet_ros.stages.detection import FrameDetections
from machine import cpu_name
from measure import time_ms

from hdnet_ros.config import Settings, load_settings

GROUND_TRUTH = "ground truth"
DETECTORS = ("yolox_nano", "yolox_nano_humanart", "pp_picodet_s_320_pedestrian")
NETWORKS = ("movenet_lightning_int8", "pp_tinypose_256x192", "pp_tinypose_128x96")
MOVENET = "movenet_lightning_int8"
PICODET = "pp_picodet_s_320_pedestrian"
LARGE = "pp_tinypose_256x192"
TARGET_RECALL = 0.95
TARGET_OKS = 0.80
TARGET_COST_RATIO = 1.5  # on a CPU with fast int8 (VNNI); below 1.0 on one without


@dataclasses.dataclass
class Row:
    detector: str
    network: str
    variant: str
    runtime: str
    scores: dict[str, PhotoScore]
    detection_ms: float  # per frame, median over photos
    keypoints_ms: float  # the 2D stage per frame, median over photos
    keypoints_ms_per_person: float  # the 2D stage per person: its time on all photos over all their crops

    def total(self) -> PhotoScore:
        total = PhotoScore()
        for score in self.scores.values():
            total.add(score)
        return total


def build_pipeline(settings: Settings) -> tuple[Pipeline, str]:
    """The product's pipeline for ``settings`` and the runtime its 2D network runs on."""
    pipeline = Pipeline(settings, build_stages(settings))
    keypoints = pipeline.stages.keypoints
    return pipeline, keypoints.runtime if keypoints is not None else ""


def settings_for(models_dir: Path, detector: str, network: str, overrides: dict[str, Any]) -> Settings:
    values = {
        "models.models_dir": str(models_dir),
        "detector.model": detector if detector != GROUND_TRUTH else Settings().detector.model,
        "keypoints.model": network,
        "networks.pose_3d": "",
        "networks.root_depth": "",
        "tracking.enabled": False,
    }
    if network == MOVENET:  # the published int8 file on LiteRT: the cost target's reference
        values["keypoints.runtime"] = "litert_int8"
    return load_settings(overrides={**overrides, **values})  # the pair's models win over --set


def photo_frame(photo: AnnotatedPhoto) -> Frame:
    height, width = photo.rgb.shape[:2]
    return Frame(photo.rgb, None, CameraModel.from_fov(width, height, 60.0), 1, "photo")


def truth_detections(photo: AnnotatedPhoto) -> FrameDetections:
    return FrameDetections([Detection(p.box.copy(), 1.0) for p in photo.people], [])


Detect = Callable[[np.ndarray], FrameDetections]
PeopleOf = Callable[[Pipeline, Frame, FrameDetections], list[Person]]


def plain_people(pipeline: Pipeline, frame: Frame, found: FrameDetections) -> list[Person]:
    return pipeline.people_of(frame, found)[0]


def run_row(
    pipeline: Pipeline,
    photos: list[AnnotatedPhoto],
    detect: Detect | None,
    runs: int,
    people_of: PeopleOf = plain_people,
) -> tuple[dict[str, PhotoScore], float, float, float]:
    """Scores per set, and the median costs (detection per frame, 2D per frame and per
    person); ``detect`` None: the annotated boxes."""
    scores: dict[str, PhotoScore] = {}
    detection_ms, keypoint_ms, crops = [], [], []
    for photo in photos:
        frame = photo_frame(photo)
        if detect is None:
            found, detect_cost = truth_detections(photo), 0.0
        else:
            start = time.perf_counter()
            found = detect(photo.rgb)
            detect_cost = (time.perf_counter() - start) * 1000.0
            if runs > 1:
                detect_cost = float(np.median(time_ms(functools.partial(detect, photo.rgb), runs)))
        people = people_of(pipeline, frame, found)
        count = len(found.confident) + len(found.candidates)
        if runs > 1 and count:
            cost = float(np.median(time_ms(functools.partial(people_of, pipeline, frame, found), runs)))
            keypoint_ms.append(cost)
            crops.append(count)
        detection_ms.append(detect_cost)
        skeletons = [Skeleton2D(p.detection.box, np.asarray(p.pixels[:NUM_COCO_JOINTS], np.float64)) for p in people]
        scores.setdefault(photo.set_name, PhotoScore()).add(score_photo(skeletons, photo.people))
    median = lambda v: float(np.median(v)) if v else float("nan")  # noqa: E731
    per_person = sum(keypoint_ms) / sum(crops) if crops else float("nan")
    return scores, median(detection_ms), median(keypoint_ms), per_person


@dataclasses.dataclass(frozen=True)
class Variant:
    """A row's changes from the product as configured: settings, and how the benchmark
    runs detection (``fused``: YOLOX-Nano's and PP-PicoDet's boxes fused) and the 2D stage
    (``people``: plain, masked or refined)."""

    name: str = "default"
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    people: str = "plain"
    fused: bool = False


def measure(
    models_dir: Path,
    photos: list[AnnotatedPhoto],
    detector: str,
    network: str,
    runs: int,
    variant: Variant = Variant(),
    common: dict[str, Any] | None = None,
) -> Row:
    settings = settings_for(models_dir, detector, network, {**(common or {}), **variant.overrides})
    pipeline, runtime = build_pipeline(settings)
    detect: Detect | None = None if detector == GROUND_TRUTH else pipeline.detector.detect
    if variant.fused:
        picodet = build_pipeline(
            dataclasses.replace(settings, detector=dataclasses.replace(settings.detector, model=PICODET))
        )
        second, threshold = picodet[0].detector, settings.detector.score_threshold
        detect = lambda rgb: fused_detections(pipeline.detector.detect(rgb), second.detect(rgb), threshold)  # noqa: E731
    people_of: PeopleOf = plain_people
    name = variant.name
    refined = None
    if variant.people == "masked":
        people_of = masked_people
    elif variant.people == "refined":
        refined = RefinedKeypoints(pipeline)
        pipeline.stages.keypoints = refined
    scores, detect_ms, keypoints, per_person = run_row(pipeline, photos, detect, runs, people_of)
    if refined is not None:  # each photo ran once, then once untimed and ``runs`` times timed
        passes = runs + 2 if runs > 1 else 1
        name += f" ({refined.counts['refined'] / passes:.0f} of {refined.counts['crops'] / passes:.0f})"
    return Row(detector, network, name, runtime, scores, detect_ms, keypoints, per_person)


def print_rows(rows: list[Row], set_names: list[str]) -> None:
    header = f"{'detector':28s} {'2D network':24s} {'variant':36s} {'set':12s} {'recall':>11s} {'OKS':>6s}"
    print(header + f" {'PCK@0.1':>8s} {'taken':>6s} {'det ms':>7s} {'2D ms':>7s} {'2D ms/p':>8s}  runtime")
    for row in rows:
        for name in [*set_names, "all"]:
            score = row.total() if name == "all" else row.scores.get(name)
            if score is None:
                continue
            costs = (
                f" {row.detection_ms:7.1f} {row.keypoints_ms:7.1f} {row.keypoints_ms_per_person:8.2f}  {row.runtime}"
                if name == "all"
                else ""
            )
            print(
                f"{row.detector:28s} {row.network:24s} {row.variant:36s} {name:12s} "
                f"{score.detected:4d}/{score.annotated:<3d}{score.recall:4.2f} {score.mean_oks:6.3f} {score.pck:8.3f} "
                f"{score.skeletons_with_taken_joints:6d}{costs}"
            )


def verdicts(default: Row, movenet_per_person: float, fast_int8: bool) -> list[tuple[str, str, bool]]:
    total = default.total()
    ratio = default.keypoints_ms_per_person / movenet_per_person
    cost_bound = TARGET_COST_RATIO if fast_int8 else 1.0
    return [
        (
            f"recall >= {TARGET_RECALL}",
            f"{total.recall:.3f} ({total.detected}/{total.annotated})",
            total.recall >= TARGET_RECALL,
        ),
        (f"mean OKS >= {TARGET_OKS}", f"{total.mean_oks:.3f}", total.mean_oks >= TARGET_OKS),
        (
            "no published skeleton takes joints from another person",
            f"{total.skeletons_with_taken_joints} skeletons, {total.taken_joints} joints",
            total.skeletons_with_taken_joints == 0,
        ),
        (
            f"2D stage per person <= {cost_bound}x MoveNet int8's"
            + (" (fast int8 here)" if fast_int8 else " (no fast int8 here: cheaper than it)"),
            f"{default.keypoints_ms_per_person:.2f} / {movenet_per_person:.2f} ms = {ratio:.2f}x",
            ratio <= cost_bound,
        ),
    ]


def ablations(default_network: str, runs: int) -> list[tuple[str, Variant, int]]:
    """(2D network, variant, timed runs) of the ablations on the default detector: the cost is
    timed where the variant changes it."""
    found = [
        (default_network, Variant("crowd rules off", {"crowd.enabled": False}), 1),
        (default_network, Variant("no tiles", {"detector.tiles_from_px": 0}), 1),
        (default_network, Variant("others masked", people="masked"), 1),
        (default_network, Variant("YOLOX-Nano + PicoDet boxes fused", fused=True), runs),
    ]
    if default_network == MOVENET:
        return found
    heatmaps = [default_network, *([LARGE] if default_network != LARGE else [])]
    found.append((default_network, Variant("second crop", people="refined"), runs))
    found += [(network, Variant("flip test", {"keypoints.flip_test": True}), runs) for network in heatmaps]
    found += [(network, Variant("threshold 0.3", {"keypoints.heatmap_min_score": 0.3}), 1) for network in heatmaps]
    return found


def print_oks_costs(rows: list[Row], detector: str, movenet_per_person: float) -> None:
    """What mean OKS >= TARGET_OKS costs: each row of the default detector that reaches it, with
    its 2D cost per person against MoveNet int8's."""
    reaching = [r for r in rows if r.detector == detector and r.total().mean_oks >= TARGET_OKS]
    print(f"\nrows with {detector} at mean OKS >= {TARGET_OKS}, 2D cost per person against MoveNet int8's:")
    for row in sorted(reaching, key=lambda r: r.keypoints_ms_per_person):
        cost = row.keypoints_ms_per_person / movenet_per_person
        timed = f"{cost:.2f}x" if np.isfinite(cost) else "(not timed)"
        print(f"  {row.network:24s} {row.variant:36s} OKS {row.total().mean_oks:.3f}  {timed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_MODELS_DIR", "../shared/models"))
    )
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HDNET_ROS_DATA_DIR", "../shared/data")))
    parser.add_argument("--runs", type=int, default=3, help="timed calls per photo (1: accuracy only)")
    parser.add_argument(
        "--quick", action="store_true", help="the default detector and network, MoveNet, 256x192 and ablations"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a setting for every run (YAML value)"
    )
    args = parser.parse_args()
    common = {name: yaml.safe_load(value) for name, value in (item.split("=", 1) for item in args.set)}
    photos = load_sets(args.data_dir)
    set_names = [s.name for s in ALL_SETS]
    defaults = load_settings(overrides=common)
    default_detector, default_network = defaults.detector.model, defaults.keypoints.model
    pairs = [(d, n) for d in (GROUND_TRUTH, *DETECTORS) for n in NETWORKS]
    if args.quick:
        networks = dict.fromkeys((default_network, MOVENET, LARGE))
        pairs = [(GROUND_TRUTH, default_network), *((default_detector, n) for n in networks)]
    load_before = os.getloadavg()[0]
    rows = [measure(args.models_dir, photos, d, n, args.runs, common=common) for d, n in pairs]
    rows += [
        measure(args.models_dir, photos, default_detector, network, runs, variant, common)
        for network, variant, runs in ablations(default_network, args.runs)
    ]
    load_after = os.getloadavg()[0]
    cpu = cpu_instruction_set()
    print(f"photos: {len(photos)} ({', '.join(set_names)}), annotated people {sum(len(p.people) for p in photos)}")
    print(f"CPU: {cpu_name()} ({cpu.label}), threads {defaults.models.threads}, ", end="")
    print(f"load average {load_before:.2f} before, {load_after:.2f} after; 3D networks and tracking off")
    print_rows(rows, set_names)
    default = next(
        r for r in rows if (r.detector, r.network, r.variant) == (default_detector, default_network, "default")
    )
    movenet = next(r for r in rows if (r.detector, r.network) == (default_detector, MOVENET))
    threshold = defaults.keypoints.heatmap_min_score if default_network != MOVENET else defaults.keypoints.min_score
    print(
        f"\ntargets (default: {default_detector} + {default_network} on {default.runtime}, keypoints scored "
        f">= {threshold} published, crowd rules on; MoveNet int8 on {movenet.runtime}; one run):"
    )
    results = verdicts(default, movenet.keypoints_ms_per_person, cpu.int8_dot)
    for name, value, met in results:
        print(f"  {name:72s} {value:34s} {'met' if met else 'MISSED'}")
    print_oks_costs(rows, default_detector, movenet.keypoints_ms_per_person)
    if args.json:
        meta = {
            "date": datetime.date.today().isoformat(),
            "cpu": cpu_name(),
            "instruction_set": cpu.label,
            "load_average": [load_before, load_after],
            "runs": args.runs,
        }
        table = [
            {
                **{k: v for k, v in dataclasses.asdict(r).items() if k != "scores"},
                "sets": {
                    name: {"recall": s.recall, "oks": s.mean_oks, "pck": s.pck, "taken": s.skeletons_with_taken_joints}
                    for name, s in [*r.scores.items(), ("all", r.total())]
                },
            }
            for r in rows
        ]
        targets = [{"target": n, "value": v, "met": m} for n, v, m in results]
        args.json.write_text(json.dumps({"meta": meta, "rows": table, "targets": targets}, indent=2))


if __name__ == "__main__":
    main()
