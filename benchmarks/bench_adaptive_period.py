"""The BlazePose schedule's period on moving people: how wrong the carried poses get.

The sample frames' pseudo-sequence shows the crops an adaptive period saves on still
people, but its people do not move, so it cannot show what carrying a pose too long costs.
Here synthetic people walk, pause and walk on (``synthetic.sequences.walking_sequence``:
capsule bodies, Kinect-like depth, the 2D oracle with its pixel noise), and the schedule
runs on them as in the pipeline (the tracker's ``expected``, the depth stage's sources),
once per ``blazepose.still_period_factor`` on the same sequences. BlazePose's answer is
known: where the schedule runs the network, the person takes their true pelvis-relative
skeleton (a perfect network; the 2D keypoints stay the oracle's noisy ones); between runs
they carry it. The joint error of a person's pose in a frame is the mean distance of its
joints to the true pelvis-relative skeleton of that frame: 0 in frames the network ran,
the pose's change since its run in the others.

Run: ``python3 benchmarks/bench_adaptive_period.py [--frames 150 --sequences 4 --factors 1 3]``.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter

import numpy as np
import numpy.typing as npt
from hdnet_ros.joints import NUM_COCO_JOINTS, ROOT
from hdnet_ros.people import Person
from hdnet_ros.stages.blazepose import BlazePoseConfig, BodyEstimate, MonocularRoot, PersonMask
from hdnet_ros.stages.blazepose.run_memory import Estimate
from hdnet_ros.stages.blazepose.schedule import BlazePoseSchedule
from hdnet_ros.stages.depth import DepthLifter, LiftingConfig
from hdnet_ros.stages.keypoints2d import Keypoints2D
from hdnet_ros.stages.tracking import Tracker, TrackingConfig
from hdnet_ros.synthetic.oracle import GroundTruth, OracleConfig, observe
from hdnet_ros.synthetic.render import RayGrid, render
from hdnet_ros.synthetic.scene import CameraSetup
from hdnet_ros.synthetic.sensor import SENSOR_PRESETS, apply_sensor
from hdnet_ros.synthetic.sequences import SequenceConfig, walking_sequence

FloatArray = npt.NDArray[np.float64]
MIN_SCORE = 0.3  # keypoints.min_score's default
ROOT_SIGMA = 0.07  # blazepose.root_relative_sigma's default
MOVING_MPS = 0.05  # a person whose pelvis moves faster than this is walking
JOINTS = [*range(NUM_COCO_JOINTS), ROOT]
_NO_MASK = PersonMask(0, 0, np.zeros((1, 1), dtype=bool))


def true_skeleton(truth: GroundTruth) -> FloatArray:
    """The person's true joints relative to their pelvis [J,3]."""
    return np.asarray(truth.joints - truth.joints[ROOT], dtype=np.float64)


def truth_estimate(truth: GroundTruth) -> Estimate:
    """A perfect BlazePose answer: the true skeleton and pelvis (what the schedule keeps of
    an estimate: its pose and its root)."""
    pose = true_skeleton(truth)
    root = MonocularRoot(np.asarray(truth.root, dtype=np.float64), ROOT_SIGMA * float(truth.root[2]), 8, 0.0)
    body = BodyEstimate(
        np.zeros((33, 2)), np.ones(33), np.zeros((33, 3)), pose, np.full((4, 3), np.nan), _NO_MASK, root, 0.0
    )
    return Estimate(
        body, Keypoints2D(np.full((len(pose), 2), np.nan), np.zeros(len(pose))), np.zeros((4, 2)), np.zeros(4)
    )


@dataclasses.dataclass
class Tally:
    """Crops and joint errors of one factor's runs."""

    frames: int = 0
    crops: int = 0
    errors: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {"walking": [], "still": []})
    counts: Counter[str] = dataclasses.field(default_factory=Counter)

    def add(self, people: list[Person], truths: list[GroundTruth], run: npt.NDArray[np.bool_]) -> None:
        self.frames += 1
        self.crops += int(np.count_nonzero(run))
        for person, truth in zip(people, truths, strict=True):
            if person.network_pose is None:
                continue
            error = np.linalg.norm(np.asarray(person.network_pose)[JOINTS] - true_skeleton(truth)[JOINTS], axis=1)
            moving = float(np.linalg.norm(truth.velocity)) > MOVING_MPS
            self.errors["walking" if moving else "still"].append(1000.0 * float(np.mean(error)))


def run_sequences(blazepose: BlazePoseConfig, args: argparse.Namespace) -> Tally:
    """The schedule with the settings ``blazepose`` on the sequences of ``args.seed``."""
    camera = CameraSetup()
    oracle = OracleConfig(pixel_noise_px=args.noise_px)
    config = SequenceConfig(
        camera=camera,
        num_people=args.people,
        frames=args.frames,
        frame_rate_hz=args.rate,
        pause_probability=args.pause,
        occlusion=False,
    )
    tally = Tally()
    rng = np.random.default_rng(args.seed)
    grid = RayGrid(camera.camera())
    for _ in range(args.sequences):
        schedule = BlazePoseSchedule(blazepose)
        tracker, lifter = Tracker(TrackingConfig()), DepthLifter(LiftingConfig())
        for stamp, scene in walking_sequence(rng, config):
            rendering = render(grid, scene.shapes(), scene.planes)
            depth = apply_sensor(rendering.depth, scene.camera, SENSOR_PRESETS["kinect"], rng)
            people, truths = observe(scene, rendering, oracle, rng)
            expected = tracker.expected(people, stamp)
            plan = schedule.plan(people, expected, True, scene.camera, MIN_SCORE, ROOT_SIGMA)
            estimates = [truth_estimate(t) if ran else None for t, ran in zip(truths, plan.run, strict=True)]
            for person, estimate in zip(people, estimates, strict=True):
                if estimate is not None:
                    person.network_pose, person.network_pose_age = estimate.body.relative_pose, 0
            schedule.ran(people, expected, plan.run, estimates)
            tally.add(people, truths, plan.run)
            lifter(people, depth, scene.camera)
            tracker.update(people, stamp, scene.camera)
        tally.counts.update(schedule.counts)
    return tally


def variant(text: str) -> BlazePoseConfig:
    """``FACTOR/EVERY/WITHOUT[/MAX_CROPS]`` (still_period_factor, every_frames,
    every_frames_without_depth, max_crops: the default where left out)."""
    values = [int(v) for v in text.split("/")]
    factor, every, without = values[:3]
    config = BlazePoseConfig(still_period_factor=factor, every_frames=every, every_frames_without_depth=without)
    return dataclasses.replace(config, max_crops=values[3]) if len(values) > 3 else config


def report(name: str, tally: Tally) -> str:
    parts = [f"{name}: {tally.crops / tally.frames:.2f} crops a frame"]
    for kind, values in tally.errors.items():
        if values:
            array = np.array(values)
            parts.append(
                f"{kind} {len(array)} person-frames: joint error mean {array.mean():.1f}, "
                f"p50 {np.median(array):.1f}, p95 {np.percentile(array, 95):.1f}, max {array.max():.1f} mm"
            )
    parts.append(f"schedule {dict(sorted(tally.counts.items()))}")
    return "\n  ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--people", type=int, default=5)
    parser.add_argument("--rate", type=float, default=30.0, help="frames a second")
    parser.add_argument("--pause", type=float, default=0.5, help="chance of a pause at each waypoint")
    parser.add_argument("--noise-px", type=float, default=2.0, help="the 2D oracle's keypoint noise (1 sigma)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["1/3/2", "3/3/2", "1/4/3"],
        help="FACTOR/EVERY/WITHOUT[/MAX_CROPS]: still_period_factor, every_frames, every_frames_without_depth, "
        "max_crops",
    )
    args = parser.parse_args()
    print(f"{args.sequences} sequences x {args.frames} frames at {args.rate:g} Hz, {args.people} people", end="")
    print(f", 2D noise {args.noise_px:g} px, pause chance {args.pause:g}")
    for text in args.variants:
        print(report(f"factor/every/without {text}", run_sequences(variant(text), args)), flush=True)


if __name__ == "__main__":
    main()
