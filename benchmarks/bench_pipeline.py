"""Frame time at the cost of the models (issues 11 and 19), as ratios in one run, with every
target of issue 19 and its verdict (``pipeline_targets.py``).

    python3 benchmarks/bench_pipeline.py --models-dir ../shared/models --data-dir ../shared/data [--quick] [--json F]
        [--set NAME=VALUE ...]

Everything runs in this one process, after a warm-up, with the default CPU pipeline
(YOLOX-Nano, the default 2D network and BlazePose GHUM 3D on the runtimes ``auto`` chooses
for this CPU, printed with the instruction set; ``runtime_figures.py`` times every runtime
of the detector, the 2D network, MoveNet and BlazePose and measures its outputs against the
published network's), its objects frozen as the node and the replay run it. A frame's time is
``Pipeline.process`` plus its Skeleton3DArray, MarkerArray and TF messages (what the node
and the replay do per frame); the model calls are timed inside that same call by proxies
around the networks (``model_clock.py``), so the glue (crops, decoding, lifting, tracking,
messages) is the frame's time less its model calls. Pipelines that are compared take turns
frame by frame, so they share the machine's load; figures are medians over windows of
``blazepose.every_frames`` frames (one cycle of the 3D stage's schedule, see
``frame_timing.py``), p95 over single frames. A ratio of two times measured on the same
frames (whole frame / model calls) or on the same frame indices in turn (3D stage on / off,
every frame / off, and the crowds of different sizes: one more person / detection, t(20) /
t(1)) is the median over windows of the per-window ratio (``frame_timing.window_ratio``), so
that a machine whose speed drifts moves both sides of a ratio alike.

Inputs:

* the synthetic crowd (``crowd.py``): 1, 3, 7, 12 and 20 capsule people in rows, depth from
  the renderer and the sensor model, detections and keypoints from the 2D oracle, the RGB
  image composed from real person crops of the sample frames. The real detector runs on
  the image and the 2D network on every oracle box, then the oracle's answers are used
  (``oracle_stages.py``); BlazePose runs on every crop it is due for and answers with what
  a perfect BlazePose would say about the crowd's people (``crowd_answers.py``), on its
  base periods: the crowd stands still, and the still-person rule would measure its saving
  instead of a person's cost (:func:`crowd_pipeline`);
* the three sample RGB-D frames as a pseudo-sequence (``frame_sources.py``): each repeated
  with the RGB and the depth shifted 1-2 px per frame at 30 Hz stamps;
* for lifting alone, the synthetic crowd with the oracle's 2D (no models) and the sample
  frames with the pipeline's own 2D and BlazePose estimates.

Prints (``pipeline_report.py``) a table ``target | bound | measured | verdict``, the
runtimes' speed and accuracy, and the detailed tables; ``--json`` writes all figures.
Timings depend on the machine and its load: compare the ratios.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import itertools
import json
import os
import pstats
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import yaml
from crowd import CAMERA_HEIGHT_M, CAMERA_PITCH_DEG, ROWS_M, Crowd, make_crowd, person_crops
from crowd_answers import CrowdBlazePose
from frame_sources import sample_frames, sequence_shift, shifted_sequence, still_scene
from frame_timing import (
    MESSAGES,
    RATE_HZ,
    FloatArray,
    PersonSnapshot,
    Run,
    run_in_turn,
    stage_figures,
    window_means,
    window_median,
    window_ratio,
)
from glue_parts import glue_part_figures
from hdnet_ros.camera import CameraModel
from hdnet_ros.inference.runtime_choice import cpu_instruction_set
from hdnet_ros.joints import ROOT
from hdnet_ros.node.frame_processor import core_outputs
from hdnet_ros.people import DepthSource, Frame, Person
from hdnet_ros.pipeline import (
    FrameResult,
    Pipeline,
    Stages,
    freeze_loaded_objects,
    resolve_networks,
    thaw_loaded_objects,
)
from hdnet_ros.stages.blazepose import BlazePoseStage
from hdnet_ros.stages.depth import DepthLifter, NetworkEstimates
from hdnet_ros.stages.keypoints2d import KeypointEstimator
from hdnet_ros.stages.placement import MonocularPlacement
from hdnet_ros.stages.tracking import Tracker
from hdnet_ros.synthetic.benchmark import default_settings, run_setting, summarize
from machine import cpu_name
from measure import time_ms
from model_clock import BLAZEPOSE, DETECTOR, KEYPOINTS, ModelClock, instrument
from oracle_stages import OracleDetector, OracleKeypoints
from panoptic_sequence import Scene, panoptic_scenes, summary
from panoptic_sequence import root_errors as panoptic_root_errors
from pipeline_report import report
from pipeline_targets import targets
from runtime_figures import blazepose_rows, chosen_runtimes, detector_rows, heatmap_rows, movenet_rows

from hdnet_ros.config import Settings, load_settings

CROWD_SIZES = (1, 3, 7, 12, 20)
GLUE_SIZES = (7, 20)  # the crowds whose glue is split into its parts
MEASURED = (DepthSource.SENSOR, DepthSource.FUSED)


@dataclasses.dataclass(frozen=True)
class Plan:
    """How many frames each measurement takes."""

    warm_up: int  # unrecorded frames per pipeline
    crowd_frames: int  # recorded frames per crowd size
    sequence_steps: int  # pseudo-sequence frames per sample frame
    lifting_runs: int
    accuracy_frames: int  # synthetic benchmark frames (default setting)
    runtime_rounds: int  # interleaved timed calls per network runtime
    panoptic_steps: int  # pseudo-sequence frames per Panoptic image
    collector_frames: int  # frames of the 7-person crowd with the collector seeing the models, then frozen
    glue_frames: int  # frames of the 7- and 20-person crowds with the glue's parts timed


FULL = Plan(
    warm_up=6,
    crowd_frames=45,
    sequence_steps=30,
    lifting_runs=200,
    accuracy_frames=40,
    runtime_rounds=20,
    panoptic_steps=15,
    collector_frames=300,
    glue_frames=30,
)
QUICK = Plan(
    warm_up=3,
    crowd_frames=6,
    sequence_steps=3,
    lifting_runs=20,
    accuracy_frames=4,
    runtime_rounds=3,
    panoptic_steps=2,
    collector_frames=20,
    glue_frames=5,
)


def shifts(steps: int, shown: int = 5) -> str:
    """The pseudo-sequence's shifts over ``steps`` steps [px], as text: all of them, or the
    first ``shown`` and the last."""
    values = [sequence_shift(step) for step in range(steps)]
    listed = values if steps <= shown + 1 else [*values[:shown], "...", values[-1]]
    return ", ".join(map(str, listed))


def fresh(settings: Settings, stages: Stages, **changes: Any) -> Pipeline:
    """A pipeline on the already loaded models with its own state: tracker, depth stage,
    placement (the floor it learns from the people) and BlazePose schedule."""
    placement = None
    if stages.placement is not None:
        placement = MonocularPlacement(
            settings.floor,
            settings.placement,
            settings.lifting.keypoint_sigma_px,
            settings.blazepose.root_relative_sigma,
        )
    own = dataclasses.replace(
        stages, lifter=DepthLifter(settings.lifting), tracker=Tracker(settings.tracking), placement=placement
    )
    return Pipeline(settings, dataclasses.replace(own, **changes))


# -- inputs ----------------------------------------------------------------------------


def sample_people(pipeline: Pipeline, frames: list[Frame]) -> list[list[Person]]:
    """The sample frames' people with the pipeline's detections and 2D keypoints."""
    return [pipeline.keypoints_of(frame, pipeline.detector(frame.rgb))[0] for frame in frames]


def accepted_boxes(stage: BlazePoseStage, frames: list[Frame], people: list[list[Person]]) -> list[list[FloatArray]]:
    """The boxes of the sample frames' people whose crops BlazePose accepts, per frame (the
    crowd wears these people)."""
    boxes = []
    for frame, found in zip(frames, people, strict=True):
        outputs = stage.infer(stage.prepare(frame.rgb, found).images)
        accepted = np.asarray(outputs["presence"], dtype=np.float64).reshape(-1) >= stage.config.presence_threshold
        boxes.append([p.detection.box for p, ok in zip(found, accepted, strict=True) if ok])
    if not any(boxes):
        raise SystemExit("BlazePose accepts none of the sample frames' people: no one to paste into the crowd")
    return boxes


def crowd_pipeline(settings: Settings, base: Stages, crowd: Crowd, clock: ModelClock) -> Pipeline:
    """The pipeline on the crowd: real models' cost, the oracle's 2D, BlazePose's answers
    from the crowd's truth (``crowd_answers.py``). The crowd stands still by construction
    (the oracle's keypoints do not move), so BlazePose runs on the base periods
    (``still_period_factor`` 1): what one more person costs in a crowd that moves, not the
    still-person rule's saving (measured on the sample frames' sequence and in
    ``bench_adaptive_period.py``)."""
    assert base.keypoints is not None and base.blazepose is not None
    moving = dataclasses.replace(settings.blazepose, still_period_factor=1)
    return fresh(
        dataclasses.replace(settings, blazepose=moving),
        base,
        detector=OracleDetector(base.detector, crowd.people),
        keypoints=cast(KeypointEstimator, OracleKeypoints(base.keypoints, crowd.people)),
        blazepose=CrowdBlazePose(base.blazepose, crowd, clock),
    )


# -- item 2: lifting and messages ----------------------------------------------------------


def lifting_ms(
    lifter: DepthLifter,
    people: list[Person],
    frame: Frame,
    networks: NetworkEstimates | None,
    runs: int,
    settings: Settings,
) -> dict[str, float]:
    """Median and p95 [ms] of lifting all ``people`` plus building the frame's messages
    (a fresh depth array each call, as from a camera: two copies in turn)."""
    assert frame.depth_m is not None
    depths = itertools.cycle([frame.depth_m.copy(), frame.depth_m.copy()])
    output = settings.output

    def call() -> None:
        lifter(people, next(depths), frame.camera, networks)
        core_outputs(FrameResult(frame, people), output, output.nominal_frame_rate, debug_image=False)

    samples = time_ms(call, runs)
    return {"median_ms": float(np.median(samples)), "p95_ms": float(np.percentile(samples, 95)), "people": len(people)}


def lifting_figures(
    settings: Settings, base: Stages, crowds: dict[int, Crowd], frames: list[Frame], runs: int
) -> dict[str, Any]:
    synthetic = {}
    for count, crowd in crowds.items():
        people = [Person(p.detection, p.pixels.copy(), p.scores.copy()) for p in crowd.people]
        synthetic[count] = lifting_ms(DepthLifter(settings.lifting), people, crowd.frame, None, runs, settings)
    samples = []
    for frame in frames:
        pipeline = fresh(settings, base)  # no tracks: BlazePose runs on everyone, as on a first frame
        people, bodies = pipeline.keypoints_of(frame, pipeline.detector(frame.rgb))
        networks = pipeline.networks_of(frame, people, bodies)
        samples.append(lifting_ms(pipeline.lifter, people, frame, networks, runs, settings))
    return {"synthetic_oracle": synthetic, "sample_frames_with_blazepose": samples}


# -- accuracy --------------------------------------------------------------------------


def synthetic_accuracy(frames: int, seed: int = 0) -> dict[str, float]:
    """The synthetic benchmark's default setting on a fixed small run (seed 0)."""
    setting = default_settings(frames)[0]
    summary = summarize(run_setting(setting, seed).records)
    return {
        "frames": frames,
        "seed": seed,
        "people": summary["people"],
        "mrpe_mm": summary["mrpe_mm"],
        "pck_abs_pct": summary["pck_abs_pct"],
        "ap_root_25_pct": summary["ap_root_25_pct"],
    }


def pairs(
    runs: list[list[PersonSnapshot]], references: list[list[PersonSnapshot]]
) -> list[tuple[PersonSnapshot, PersonSnapshot]]:
    """The same people (the same detection box) in two runs over the same frames."""
    matched = []
    for people, others in zip(runs, references, strict=True):
        by_box = {p.box: p for p in others}
        matched += [(p, by_box[p.box]) for p in people if p.box in by_box]
    return matched


def _mm(values: Sequence[float]) -> dict[str, float]:
    array = 1000.0 * np.asarray(values, dtype=np.float64)
    if not len(array):
        return {"mean_mm": float("nan"), "median_mm": float("nan"), "p95_mm": float("nan"), "count": 0}
    return {
        "mean_mm": float(np.mean(array)),
        "median_mm": float(np.median(array)),
        "p95_mm": float(np.percentile(array, 95)),
        "count": len(array),
    }


def root_errors(matched: list[tuple[PersonSnapshot, PersonSnapshot]]) -> dict[str, float]:
    """|root - the sensor's root| where the reference's root is the sensor's [mm]."""
    return _mm(
        [
            float(np.linalg.norm(p.root - ref.root))
            for p, ref in matched
            if int(ref.sources[ROOT]) == DepthSource.SENSOR and np.all(np.isfinite(p.root))
        ]
    )


def pooled_errors(phases: list[dict[str, float]]) -> dict[str, float]:
    """Root errors of several runs over the same frames as one: the mean over all their
    person-frames (count-weighted); the median and p95 are the largest of the runs'."""
    count = sum(int(errors["count"]) for errors in phases)
    if not count:
        return _mm([])
    mean = sum(errors["mean_mm"] * errors["count"] for errors in phases if errors["count"]) / count
    worst = {key: max(errors[key] for errors in phases if errors["count"]) for key in ("median_mm", "p95_mm")}
    return {"mean_mm": mean, **worst, "count": count}


def moved(anchor: PersonSnapshot, shift_px: int, camera: CameraModel) -> FloatArray:
    """Where ``anchor``'s joints are once the image (RGB and depth) is shifted right by
    ``shift_px``: the same depth, the pixel moved (through the camera's distortion)."""
    positions = anchor.positions
    valid = np.all(np.isfinite(positions), axis=1)
    result = np.full_like(positions, np.nan)
    if np.any(valid):
        rays = camera.normalized_rays(camera.project(positions[valid]) + np.array([shift_px, 0.0]))
        depth = positions[valid, 2]
        result[valid] = np.column_stack((rays * depth[:, None], depth))
    return result


def anchored_errors(
    people: list[list[PersonSnapshot]], every: list[list[PersonSnapshot]], steps: int, camera: CameraModel
) -> dict[str, dict[str, float]]:
    """Each pseudo-sequence frame's joints against the scene's first frame as the every-frame
    run estimated it, moved with the shift (the scene is the same, only shifted): where
    a person's 3D stays when the network does not run. The anchors are the first frame's
    people whose root the sensor measured (SENSOR or FUSED, what the schedule skips): an
    unmeasured first-frame root is itself metres off, a reference that would measure its
    own noise, not the schedule. Frame 0 of each scene is the same in every run and left
    out."""
    roots: list[float] = []
    joints: list[float] = []
    anchors: dict[int, PersonSnapshot] = {}
    counts: dict[str, float] = {"anchors": 0, "first_frame_people": 0}
    for index, (found, reference) in enumerate(zip(people, every, strict=True)):
        step = index % steps
        if step == 0:
            anchors = {p.track_id: p for p in reference if p.track_id and int(p.sources[ROOT]) in MEASURED}
            counts["anchors"] += len(anchors)
            counts["first_frame_people"] += len(reference)
            continue
        by_box = {p.box: p for p in reference}
        for person in found:
            same = by_box.get(person.box)
            anchor = anchors.get(same.track_id) if same is not None else None
            if anchor is None:
                continue
            gaps = np.linalg.norm(person.positions - moved(anchor, sequence_shift(step), camera), axis=1)
            # A joint the run has not placed but the anchor had is not an error of the
            # position: coverage is compared apart (people, joints per person).
            joints += gaps[np.isfinite(gaps)].tolist()
            if np.isfinite(gaps[ROOT]):
                roots.append(float(gaps[ROOT]))
    return {"root": _mm(roots), "joints": _mm(joints), "anchors": counts}


def differences(matched: list[tuple[PersonSnapshot, PersonSnapshot]]) -> dict[str, dict[str, float]]:
    """|scheduled - every frame| of roots and joints valid in both, the joints split by how
    the every-frame run placed them (measured by the sensor, or completed) [mm]."""
    roots, measured, completed = [], [], []
    for p, ref in matched:
        both = np.all(np.isfinite(p.positions), axis=1) & np.all(np.isfinite(ref.positions), axis=1)
        gaps = np.linalg.norm(p.positions - ref.positions, axis=1)
        if both[ROOT]:
            roots.append(float(gaps[ROOT]))
        by_sensor = np.isin(ref.sources, MEASURED)
        measured += gaps[both & by_sensor].tolist()
        completed += gaps[both & ~by_sensor].tolist()
    return {"root": _mm(roots), "measured_joints": _mm(measured), "completed_joints": _mm(completed)}


# -- item 4: the 3D stage scheduled ------------------------------------------------------


EVERY_FRAME = {"blazepose.every_frames": 1, "blazepose.every_frames_without_depth": 1, "blazepose.max_crops": 0}
SEQUENCE_RUNS: dict[str, tuple[bool, dict[str, Any]]] = {
    "3D stage off": (True, {"networks.pose_3d": "", "networks.root_depth": ""}),
    "scheduled": (True, {}),
    "every frame": (True, EVERY_FRAME),
    "no depth": (False, {}),
    "no depth, every frame": (False, EVERY_FRAME),
    "scheduled, phase 1": (True, {}),
    "scheduled, phase 2": (True, {}),
    "no depth, phase 1": (False, {}),
}
# The schedule's cycle starts at an arbitrary frame of each scene: its accuracy is measured
# at every phase of the 3-frame cycle (the schedule's frame counter started 0, 1, 2 frames on).
PHASES = {"scheduled": 0, "scheduled, phase 1": 1, "scheduled, phase 2": 2}
# Without depth the cycle is blazepose.every_frames_without_depth (2) frames: the monocular
# roots at both of its phases. One phase alone is not the schedule's figure: on the sample
# sequence the two gave 372 and 297 mm (the seated man behind the coats takes other crops).
MONOCULAR_PHASES = {"no depth": 0, "no depth, phase 1": 1}


def sequence_runs(common: dict[str, Any], base: Stages, frames: list[Frame], steps: int) -> tuple[list[Run], int]:
    """The runs of SEQUENCE_RUNS on the pseudo-sequence (``common``: the settings of every
    run, each run's own on top), and its length in frames."""
    runs = []
    for name, (with_depth, overrides) in SEQUENCE_RUNS.items():
        settings = load_settings(overrides={**common, **overrides})
        source, new_scene, _ = shifted_sequence(frames, steps, with_depth)
        if resolve_networks(settings) == ("", ""):
            pipeline = fresh(settings, base, blazepose=None, blazepose_root=False)
        else:  # the run's own BlazePose settings (every_frames: the schedule reads its stage's) on the shared network
            assert base.blazepose is not None
            body = base.blazepose
            stage = BlazePoseStage(body.backend, settings.blazepose, body.max_batch, body.runtime)
            pipeline = fresh(settings, base, blazepose=stage)
            pipeline.schedule.frame = PHASES.get(name, MONOCULAR_PHASES.get(name, 0))
        runs.append(Run(name, pipeline, source, new_scene, keep_people=True))
    return runs, steps * len(frames)


def sequence_figures(runs: list[Run], window: int, steps: int, camera: CameraModel) -> dict[str, Any]:
    by_name = {run.name: run for run in runs}
    timing = {run.name: stage_figures(run.timings, window) for run in runs}
    totals = {run.name: [t.total_ms for t in run.timings] for run in runs}
    reference = by_name["3D stage off"].people
    scheduled, every = by_name["scheduled"].people, by_name["every frame"].people
    monocular_phases = {name: root_errors(pairs(by_name[name].people, reference)) for name in MONOCULAR_PHASES}
    monocular = pooled_errors(list(monocular_phases.values()))
    monocular_every = root_errors(pairs(by_name["no depth, every frame"].people, reference))
    fused_scheduled = anchored_errors(scheduled, every, steps, camera)
    fused_every = anchored_errors(every, every, steps, camera)
    phases = {name: anchored_errors(by_name[name].people, every, steps, camera)["joints"] for name in PHASES}
    pooled = sum(p["mean_mm"] * p["count"] for p in phases.values()) / sum(p["count"] for p in phases.values())
    return {
        "timing": timing,
        "schedule": {run.name: schedule_counts(run) for run in runs},
        # The runs took turns on the same frame indices: per-window ratios, as whole / models.
        "on_over_off": window_ratio(totals["scheduled"], totals["3D stage off"], window),
        "every_frame_over_off": window_ratio(totals["every frame"], totals["3D stage off"], window),
        "scheduled_vs_every_frame": differences(pairs(scheduled, every)),
        "fused_vs_moved_first_frame": {"scheduled": fused_scheduled, "every frame": fused_every},
        # The mean: a root placed metres off on the frames the network skips is the failure
        # to see; a median over mostly unchanged joints hides it. Pooled over the three phases.
        "fused_ratio": pooled / fused_every["joints"]["mean_mm"],
        "fused_ratio_by_phase": {name: p["mean_mm"] / fused_every["joints"]["mean_mm"] for name, p in phases.items()},
        "monocular_root_vs_sensor": {"scheduled": monocular, "every frame": monocular_every},
        # The mean, as for the joints: the schedule's failure is a root placed far off.
        # Pooled over the phases of the schedule's cycle without depth, as the joints' over theirs.
        "monocular_ratio": monocular["mean_mm"] / monocular_every["mean_mm"],
        "monocular_ratio_by_phase": {
            name: errors["mean_mm"] / monocular_every["mean_mm"] for name, errors in monocular_phases.items()
        },
    }


PANOPTIC_RUNS: dict[str, dict[str, Any]] = {"panoptic scheduled": {}, "panoptic every frame": EVERY_FRAME}


def panoptic_runs(common: dict[str, Any], base: Stages, scenes: list[Scene], steps: int) -> tuple[list[Run], int]:
    """The Panoptic pseudo-sequence without depth, scheduled and every frame."""
    runs = []
    for name, overrides in PANOPTIC_RUNS.items():
        settings = load_settings(overrides={**common, **overrides})
        source, new_scene, length = shifted_sequence([scene[0] for scene in scenes], steps, with_depth=False)
        assert base.blazepose is not None
        body = base.blazepose
        stage = BlazePoseStage(body.backend, settings.blazepose, body.max_batch, body.runtime)
        runs.append(Run(name, fresh(settings, base, blazepose=stage), source, new_scene, keep_people=True))
    return runs, length


def panoptic_figures(runs: list[Run], scenes: list[Scene], steps: int) -> dict[str, Any]:
    """Root errors against the Panoptic reference, scheduled and every frame, and their ratio."""
    errors = {run.name: panoptic_root_errors(run.people, scenes, steps) for run in runs}
    crops = {run.name: float(np.mean([t.blazepose_crops for t in run.timings])) for run in runs}
    people = {run.name: float(np.mean([t.people for t in run.timings])) for run in runs}
    rows = {
        name: summary(values) | {"crops_per_frame": crops[name], "people": people[name]}
        for name, values in errors.items()
    }
    return {
        "rows": rows,
        "ratio": rows["panoptic scheduled"]["mean_mm"] / rows["panoptic every frame"]["mean_mm"],
    }


def schedule_counts(run: Run) -> dict[str, int]:
    """Why BlazePose ran on whom over the run, warm-up included (the schedule's counts: people
    run as new, refit or on their turn, carried, deferred by ``max_crops``) and the crops
    the network rejected."""
    body = run.pipeline.stages.blazepose
    if body is None:
        return {}
    return dict(run.pipeline.schedule.counts) | {"rejected": int(body.counts.get("low_presence", 0))}


# -- items 1, 3 and 7: the crowd ----------------------------------------------------------


def crowd_figures(runs: dict[int, Run], window: int) -> dict[str, Any]:
    """Per crowd size the stage figures; one more person's cost (the slope between the
    smallest and the largest crowd) over the detection's time, and t(largest) / t(smallest).
    The crowds took turns frame by frame, so window k of every crowd ran at the same time:
    both ratios are medians over windows of the per-window ratio (a machine whose speed
    drifts moves all crowds alike), next to the ratios of the window medians."""
    table = {count: stage_figures(run.timings, window) for count, run in runs.items()}
    first, last = min(table), max(table)
    span = last - first
    extra = {
        key: (table[last][key] - table[first][key]) / span
        for key in [
            "total_ms",
            *(f"{s}_ms" for s in ("keypoints_2d", "pose_3d", "placement", "depth_lifting", "tracking", MESSAGES)),
        ]
        + [f"model_{m}_ms" for m in (KEYPOINTS, BLAZEPOSE)]
    }
    detection = window_median([t.stages_ms["detection"] for run in runs.values() for t in run.timings], window)
    totals = {count: window_means([t.total_ms for t in run.timings], window) for count, run in runs.items()}
    detections = np.mean(
        [window_means([t.stages_ms["detection"] for t in run.timings], window) for run in runs.values()], axis=0
    )
    return {
        "table": table,
        "schedule": {count: schedule_counts(run) for count, run in runs.items()},
        "per_extra_person_ms": extra,
        "detection_ms": detection,
        "detector_model_ms": window_median(
            [t.models_ms[DETECTOR] for run in runs.values() for t in run.timings], window
        ),
        "extra_person_over_detector": float(np.median((totals[last] - totals[first]) / span / detections)),
        "growth": float(np.median(totals[last] / totals[first])),
        "extra_person_over_detector_of_medians": extra["total_ms"] / detection,
        "growth_of_medians": table[last]["total_ms"] / table[first]["total_ms"],
    }


def profile_crowd(run: Run, clock: ModelClock, frames: int, lines: int) -> None:
    """The Python profile of ``frames`` frames of ``run``, by own time."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(frames):
        run.step(clock, record=False)
    profile.disable()
    print(f"\nprofile of {frames} frames of the {run.name} (own time, top {lines}):")
    pstats.Stats(profile).sort_stats("tottime").print_stats(lines)


# -- the cycle collector ---------------------------------------------------------------------


def collector_figures(run: Run, clock: ModelClock, frames: int) -> dict[str, Any]:
    """``frames`` frames of ``run`` with the loaded objects in the collector's sight
    (``gc.unfreeze``), then as many frozen (``freeze_loaded_objects``, as the node and the
    replay run): frame times (median, p95, p99, max) and every collection's pause by
    generation (``gc.callbacks``)."""
    pauses: list[tuple[int, float]] = []
    started: list[float] = []

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses.append((info["generation"], (time.perf_counter() - started.pop()) * 1000.0))

    result: dict[str, Any] = {}
    gc.callbacks.append(timed)
    try:
        for state in ("collected", "frozen"):
            (freeze_loaded_objects if state == "frozen" else thaw_loaded_objects)()
            pauses.clear()
            tracked = len(gc.get_objects())
            before = len(run.timings)
            for _ in range(frames):
                run.step(clock)
            totals = np.array([t.total_ms for t in run.timings[before:]])
            result[state] = {
                "tracked_objects": tracked,
                "frozen_objects": gc.get_freeze_count(),
                "frame_ms": {q: float(np.percentile(totals, p)) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))}
                | {"max": float(totals.max())},
                "collections": {
                    str(generation): {
                        "count": sum(1 for g, _ in pauses if g == generation),
                        "max_ms": max((ms for g, ms in pauses if g == generation), default=0.0),
                    }
                    for generation in range(3)
                },
            }
    finally:
        gc.callbacks.remove(timed)
        freeze_loaded_objects()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="a few frames per measurement (well under a minute)")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="also profile N frames of the 20-person crowd"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of every pipeline (YAML value; a run's own settings, e.g. the every-frame run's, win)",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    started, load_start = time.perf_counter(), os.getloadavg()[0]

    common = {"models.models_dir": args.models_dir} | {
        name: yaml.safe_load(value) for name, value in (item.split("=", 1) for item in args.set)
    }
    settings = load_settings(overrides=common)
    if resolve_networks(settings) != ("blazepose", "blazepose"):
        raise SystemExit(f"BlazePose GHUM 3D is not in {args.models_dir}: the default 3D stage cannot be timed")
    base = Pipeline.from_settings(settings).stages
    assert base.blazepose is not None
    clock = ModelClock()
    instrument(base, clock)
    window = settings.blazepose.every_frames
    frames = list(sample_frames(args.data_dir).values())

    people = sample_people(fresh(settings, base), frames)
    boxes = accepted_boxes(base.blazepose, frames, people)
    crops = person_crops(frames, boxes)
    crowds = {count: make_crowd(count, crops) for count in CROWD_SIZES}  # crowd_scene checks MAX_PEOPLE

    crowd_runs = {
        count: Run(f"{count}-person crowd", crowd_pipeline(settings, base, crowd, clock), still_scene(crowd.frame))
        for count, crowd in crowds.items()
    }
    freeze_loaded_objects()  # as the node and the replay do once the pipeline is built
    run_in_turn(list(crowd_runs.values()), plan.crowd_frames, plan.warm_up, clock)
    runs, length = sequence_runs(common, base, frames, plan.sequence_steps)
    run_in_turn(runs, length, 1, clock)  # the models are warm after the crowd
    scenes = panoptic_scenes(args.data_dir)
    panoptic, panoptic_length = panoptic_runs(common, base, scenes, plan.panoptic_steps)
    run_in_turn(panoptic, panoptic_length, 0, clock)

    row_depths = "/".join(f"{z_m:g}" for z_m, _, _ in ROWS_M)
    figures: dict[str, Any] = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_start": load_start,
        "plan": f"{'quick' if args.quick else 'full'} plan {dataclasses.asdict(plan)}, windows of {window} frames"
        + (f", settings {args.set}" if args.set else ""),
        "crowd_description": (
            f"{', '.join(map(str, CROWD_SIZES))} capsule people in rows at {row_depths} m "
            f"(camera {CAMERA_HEIGHT_M:.1f} m high, {CAMERA_PITCH_DEG:g} deg down), Kinect-like depth, oracle 2D; "
            f"RGB from {len(crops)} real person crops of the sample frames; "
            "BlazePose's answers made from the crowd's truth (crowd_answers.py), on its base periods "
            "(blazepose.still_period_factor 1: the crowd stands still by construction)"
        ),
        "sequence_description": (
            f"the {len(frames)} sample frames (people per frame {[len(p) for p in people]}), each repeated "
            f"{plan.sequence_steps} times at {RATE_HZ:g} Hz with RGB and depth shifted right by "
            f"{shifts(plan.sequence_steps)} px at steps 0-{plan.sequence_steps - 1}"
        ),
        "panoptic_description": (
            f"CMU Panoptic pseudo-sequence: {len(scenes)} images (3 cameras x 5 frames), each repeated "
            f"{plan.panoptic_steps} times shifted like the sample frames, RGB only, the camera's floor pose known; "
            "root (pelvis) error against the reference 3D, scored and eligible people, each image's first frame "
            "left out"
        ),
        "crowd": crowd_figures(crowd_runs, window),
        "sequence": sequence_figures(runs, window, plan.sequence_steps, frames[0].camera),
        "panoptic": panoptic_figures(panoptic, scenes, plan.panoptic_steps),
        "lifting": lifting_figures(settings, base, crowds, frames, plan.lifting_runs),
        "accuracy": synthetic_accuracy(plan.accuracy_frames),
        "runtimes": {
            "instruction_set": cpu_instruction_set().label,
            "chosen": chosen_runtimes(fresh(settings, base)),
            "rows": detector_rows(settings, fresh(settings, base), args.data_dir, plan.runtime_rounds)
            + heatmap_rows(settings, fresh(settings, base), args.data_dir, plan.runtime_rounds)
            + movenet_rows(settings, fresh(settings, base), args.data_dir, plan.runtime_rounds)
            + blazepose_rows(settings, fresh(settings, base), frames, people, plan.runtime_rounds),
        },
    }
    figures["collector"] = collector_figures(crowd_runs[7], clock, plan.collector_frames)
    figures["glue_parts"] = glue_part_figures({n: crowd_runs[n] for n in GLUE_SIZES}, clock, plan.glue_frames)
    if args.profile:
        profile_crowd(crowd_runs[max(CROWD_SIZES)], clock, args.profile, 30)
    figures["targets"] = targets(figures)
    figures["seconds"] = time.perf_counter() - started
    figures["load_end"] = os.getloadavg()[0]
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
