"""Whether the published root's 1-sigma is honest without depth, on the sample RGB-D frames.

    python3 benchmarks/bench_root_sigma.py [--models-dir ../shared/models] [--data-dir ../shared/data]
        [--steps 10] [--json sigma.json]

``Keypoint3D.position_stddev`` is the 1-sigma of a joint along its viewing ray. A robot's
planner inflates people by it, so a root stated to 0.1 m that is 0.8 m off is worse than
a wide one. Each sample frame is repeated ``--steps`` times, shifted right by a pixel or
two a frame (``frame_sources.shifted_sequence``: the tracker and its filter see a still
scene), and run RGB-only twice: the default pipeline (BlazePose on its schedule) and with
the 3D stage off (every root from the size and floor priors). The reference is the
sensor's root of the same people in the same frames (the 3D stage off, with depth; the
people matched by their detection box, roots the sensor measured only).

Per run and root source: the people-frames, the mean root error, the median stated
sigma, and the share of people-frames whose error along the ray is within 1, 2 and 3
stated sigmas (a Gaussian's 68, 95 and 99.7 %), with the worst ratios. The root
sources are the published ones: NETWORK (the placement's fit of BlazePose's skeleton) and
INFERRED (the priors).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from frame_sources import sample_frames, shifted_sequence
from hdnet_ros.joints import ROOT
from hdnet_ros.people import DepthSource, Person
from hdnet_ros.pipeline import Pipeline
from machine import cpu_name

from hdnet_ros.config import load_settings

FloatArray = npt.NDArray[np.float64]
RATE_NS = 33_333_333  # 30 Hz
THREE_D_OFF = {"networks.pose_3d": "", "networks.root_depth": ""}
RUNS: dict[str, dict[str, Any]] = {"default (BlazePose scheduled)": {}, "3D stage off (priors)": THREE_D_OFF}


@dataclasses.dataclass(frozen=True)
class RootSample:
    """One person-frame: its scene, root source, error along the ray [m], stated sigma [m] and
    the sensor's depth [m]."""

    scene: int
    source: int
    error_along_ray_m: float
    error_m: float
    sigma_m: float
    reference_z_m: float


def fresh(common: dict[str, Any], overrides: dict[str, Any]) -> Pipeline:
    return Pipeline.from_settings(load_settings(overrides={**common, **overrides}))


def matched_samples(scene: int, people: list[Person], reference: list[Person]) -> list[RootSample]:
    """The people of ``people`` whose detection box the reference has, with a sensor root."""
    by_box = {tuple(p.detection.box.tolist()): p for p in reference}
    samples = []
    for person in people:
        sensor = by_box.get(tuple(person.detection.box.tolist()))
        root = person.positions[ROOT]
        if sensor is None or int(sensor.depth_sources[ROOT]) != DepthSource.SENSOR or not np.all(np.isfinite(root)):
            continue
        error = root - sensor.positions[ROOT]
        samples.append(
            RootSample(
                scene,
                int(person.depth_sources[ROOT]),
                float(error @ root / np.linalg.norm(root)),
                float(np.linalg.norm(error)),
                float(person.position_stddev[ROOT]),
                float(sensor.positions[ROOT, 2]),
            )
        )
    return samples


def run(common: dict[str, Any], overrides: dict[str, Any], data_dir: Path, steps: int) -> list[RootSample]:
    """The run's person-frames against the sensor's roots (module doc)."""
    frames = list(sample_frames(data_dir).values())
    with_depth, _, _ = shifted_sequence(frames, steps, with_depth=True)
    without_depth, _, _ = shifted_sequence(frames, steps, with_depth=False)
    samples: list[RootSample] = []
    for scene in range(len(frames)):  # each a scene of its own: fresh tracks, floor and schedule
        reference_pipeline, monocular = fresh(common, THREE_D_OFF), fresh(common, overrides)
        for index in range(scene * steps, (scene + 1) * steps):
            stamp = 1_000_000_000 + index * RATE_NS
            reference = reference_pipeline.process(with_depth(index, stamp)).people
            people = monocular.process(without_depth(index, stamp)).people
            samples += matched_samples(scene, people, reference)
    return samples


def calibration(samples: list[RootSample]) -> dict[str, Any]:
    """Per root source: counts, mean error, median sigma, shares within 1-3 sigma, the worst."""
    figures: dict[str, Any] = {}
    for source in sorted({s.source for s in samples}):
        chosen = [s for s in samples if s.source == source]
        sigmas = np.array([s.sigma_m for s in chosen])
        ratios = np.abs([s.error_along_ray_m for s in chosen]) / sigmas
        worst = sorted(chosen, key=lambda s: -abs(s.error_along_ray_m) / s.sigma_m)[:3]
        figures[DepthSource(source).name] = {
            "person_frames": len(chosen),
            "mean_error_m": float(np.mean([s.error_m for s in chosen])),
            "median_sigma_m": float(np.median(sigmas)),
            "within_sigmas": {str(k): float(np.mean(ratios <= k)) for k in (1, 2, 3)},
            "worst": [
                {
                    "scene": s.scene,
                    "reference_z_m": s.reference_z_m,
                    "error_along_ray_m": s.error_along_ray_m,
                    "sigma_m": s.sigma_m,
                }
                for s in worst
            ],
        }
    return figures


def report(figures: dict[str, Any]) -> None:
    print(f"The published root's sigma without depth, sample frames x {figures['steps']} steps; {figures['cpu']}")
    print(
        "| run | root | person-frames | mean error | median sigma | within 1 / 2 / 3 sigma | worst: z, error / sigma |"
    )
    print("|---|---|---:|---:|---:|---|---|")
    for name, sources in figures["runs"].items():
        for source, row in sources.items():
            shares = " / ".join(f"{100 * v:.0f} %" for v in row["within_sigmas"].values())
            worst = ", ".join(
                f"{w['reference_z_m']:.1f} m: {w['error_along_ray_m']:+.2f} / {w['sigma_m']:.2f}" for w in row["worst"]
            )
            print(
                f"| {name} | {source} | {row['person_frames']} | {1000 * row['mean_error_m']:.0f} mm | "
                f"{1000 * row['median_sigma_m']:.0f} mm | {shares} | {worst} |"
            )
    print("A Gaussian: 68 / 95 / 99.7 %.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", default="../shared/models")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--steps", type=int, default=10, help="frames per sample frame (shifted copies)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    common = {"models.models_dir": args.models_dir}
    runs = {name: calibration(run(common, overrides, args.data_dir, args.steps)) for name, overrides in RUNS.items()}
    figures = {"cpu": cpu_name(), "steps": args.steps, "runs": runs}
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
