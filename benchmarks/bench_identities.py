"""The same people in every frame: ghosts and identity changes on real frames.

    python3 benchmarks/bench_identities.py --models-dir ../shared/models --data-dir ../shared/data \
        [--steps 30] [--set NAME=VALUE,...]

The default pipeline (runtimes as ``auto`` chooses them) on the sample frames' pseudo-sequence
(``frame_sources.shifted_sequence``: each sample frame repeated ``--steps`` times, shifted 1-2
px a frame, with depth; tracking restarts with each). Within a scene the image does not
change, so a right output publishes the same people in every frame under the same track ids:
more people than in the scene's first frame are duplicates or ghosts that outlived a frame,
more track ids than people are identities that changed, and a person's root (pelvis) that moves
between two frames is a jump a robot would see as motion. Per scene: the people published in
the first frame, their mean and most over the scene, the track ids published, and the steps
of each track's published root between consecutive frames (how many, how many over 0.5 m and
1 m, the largest); the velocities published (known) and how many are more than 1 m/s off
the scene's apparent motion (the image moves 1.5 px a frame to the right: a person at depth
z moves at 1.5 px x z / f_x a frame); then BlazePose's crops (and those it rejected: no
person seen) and the crowd stage's counts.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from bench_3d_stage_ab import parsed_settings
from frame_sources import sample_frames, sequence_shift, shifted_sequence
from hdnet_ros.joints import ROOT
from hdnet_ros.people import Person
from hdnet_ros.pipeline import Pipeline

from hdnet_ros.config import load_settings

FRAME_NS = 33_333_333
JUMPS_M = (0.5, 1.0)


def root_steps(frames: list[list[Person]]) -> list[float]:
    """The steps [m] of each track's published root between consecutive frames where it has one."""
    steps = []
    for before, after in itertools.pairwise(frames):
        roots = {person.track_id: person.positions[ROOT] for person in before}
        for person in after:
            last = roots.get(person.track_id)
            if last is not None and np.all(np.isfinite(last)) and np.all(np.isfinite(person.positions[ROOT])):
                steps.append(float(np.linalg.norm(person.positions[ROOT] - last)))
    return steps


def velocity_errors(frames: list[list[Person]], px_per_s: float, fx: float) -> list[float]:
    """How far each published velocity is from the scene's apparent motion (the image moving
    ``px_per_s`` to the right) in the x-z plane [m/s]; unknown velocities are left out."""
    errors = []
    for person in itertools.chain.from_iterable(frames):
        if np.all(np.isfinite(person.velocity)) and np.isfinite(person.positions[ROOT, 2]):
            apparent = px_per_s * float(person.positions[ROOT, 2]) / fx
            errors.append(float(np.hypot(person.velocity[0] - apparent, person.velocity[2])))
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=30, help="frames per sample frame")
    parser.add_argument("--set", default="", metavar="NAME=VALUE,...", help="settings of the pipeline")
    args = parser.parse_args()
    settings = load_settings(overrides={"models.models_dir": str(args.models_dir)} | parsed_settings(args.set))
    pipeline = Pipeline.from_settings(settings)
    frames = list(sample_frames(args.data_dir).values())
    source, new_scene, length = shifted_sequence(frames, args.steps)
    counts: list[list[int]] = [[] for _ in frames]
    ids: list[set[int]] = [set() for _ in frames]
    published: list[list[list[Person]]] = [[] for _ in frames]
    for index in range(length):
        if new_scene(index):
            pipeline.reset_tracking()
        people = pipeline.process(source(index, (index + 1) * FRAME_NS)).people
        counts[index // args.steps].append(len(people))
        ids[index // args.steps].update(person.track_id for person in people)
        published[index // args.steps].append(people)
    print(f"sample frames' pseudo-sequence, {args.steps} frames a scene; settings {args.set or 'default'}")
    px_per_s = sequence_shift(2 * args.steps) / (2 * args.steps) / (FRAME_NS * 1e-9)
    print(
        "scene | people, first frame | mean | most | track ids | root steps | over 0.5 m | over 1 m | largest "
        "| velocities known | over 1 m/s off"
    )
    for scene, (count, seen, steps) in enumerate(zip(counts, ids, map(root_steps, published), strict=True)):
        over = " | ".join(f"{sum(step > jump for step in steps):{8 + 2 * (jump < 1)}d}" for jump in JUMPS_M)
        largest = f"{max(steps):5.2f} m" if steps else "-"
        errors = velocity_errors(published[scene], px_per_s, float(frames[scene].camera.K[0, 0]))
        print(
            f"{scene:5d} | {count[0]:19d} | {np.mean(count):4.2f} | {max(count):4d} | {len(seen):9d} | "
            f"{len(steps):10d} | {over} | {largest:>7} | {len(errors):5d} of {sum(count):4d} | "
            f"{sum(e > 1.0 for e in errors):15d}"
        )
    body = pipeline.stages.blazepose
    if body is not None:
        print(f"BlazePose crops {body.counts['crops']}, rejected {body.counts['low_presence']}")
    print(f"crowd stage {dict(pipeline.stages.crowd.counts)}")


if __name__ == "__main__":
    main()
