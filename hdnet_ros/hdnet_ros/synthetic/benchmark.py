"""The synthetic benchmark: settings, runs through the depth stage and the tracker, and summaries.

A *setting* fixes the scene distribution, the sensor model and the 2D oracle; a run renders
its frames under a seed, lifts every oracle person with the same :class:`DepthLifter` the
pipeline uses, and keeps per-person records that the summaries turn into metrics.

Conventions (see docs/evaluation.md): GT people are the ones the oracle detects; annotated
joints are the ones it reports in 2D (a joint it drops is not the depth stage's to find);
a joint or root without a prediction counts as a miss in PCK, AP_root and PCOD.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from hdnet_ros import metrics
from hdnet_ros.joints import NUM_JOINTS, ROOT
from hdnet_ros.people import CameraPose, DepthSource, Person
from hdnet_ros.stages.depth import DepthLifter, LiftingConfig, NetworkEstimates
from hdnet_ros.stages.depth.arrays import PersonMasks
from hdnet_ros.stages.depth.config import JOINT_PART
from hdnet_ros.stages.tracking import Tracker, TrackingConfig
from hdnet_ros.synthetic import make_frame
from hdnet_ros.synthetic.masks import person_masks
from hdnet_ros.synthetic.oracle import GroundTruth, OracleConfig, observe
from hdnet_ros.synthetic.render import RayGrid, render
from hdnet_ros.synthetic.scene import CameraSetup, SceneConfig, sample_scene
from hdnet_ros.synthetic.sensor import SENSOR_PRESETS, SensorModel, apply_sensor
from hdnet_ros.synthetic.sequences import SequenceConfig, walking_sequence

FloatArray = npt.NDArray[np.float64]

RANGE_BINS_M: tuple[tuple[float, float], ...] = ((0.8, 2.0), (2.0, 3.5), (3.5, 5.0), (5.0, 8.0))


@dataclass(frozen=True)
class Setting:
    name: str
    scene: SceneConfig
    sensor: SensorModel
    oracle: OracleConfig
    frames: int
    description: str = ""


@dataclass
class PersonRecord:
    frame: int
    positions: FloatArray  # [J,3] predicted
    sources: npt.NDArray[np.uint8]  # [J]
    score: float
    truth: GroundTruth

    @property
    def gt_root_z(self) -> float:
        return float(self.truth.root[2])


@dataclass
class SettingResult:
    setting: Setting
    records: list[PersonRecord]
    frames: int
    seconds: float = 0.0


def default_settings(frames: int, width: int = 640, height: int = 480) -> list[Setting]:
    """The benchmark's table: the default setting, then one factor varied at a time."""
    camera = CameraSetup(width=width, height=height)
    scale = width / 640.0
    oracle = OracleConfig(pixel_noise_px=3.0 * scale)
    near = SceneConfig(camera=camera, distance_range_m=(0.8, 5.0))
    kinect = SENSOR_PRESETS["kinect"]
    return [
        Setting("default", near, kinect, oracle, frames, "Kinect-like noise, 3 px 2D noise, 0.8-5 m, occlusion on"),
        Setting("ideal_depth", near, SENSOR_PRESETS["ideal"], oracle, frames, "exact depth, 3 px 2D noise"),
        Setting("noise_x2", near, SENSOR_PRESETS["kinect_x2"], oracle, frames, "twice the noise and artefacts"),
        Setting(
            "occlusion_off", replace(near, occlusion=False), kinect, oracle, frames, "no objects, people never overlap"
        ),
        Setting(
            "far_no_depth",
            SceneConfig(camera=camera, distance_range_m=(5.0, 8.0)),
            replace(kinect, max_range_m=4.5),
            oracle,
            frames,
            "people at 5-8 m, sensor range 4.5 m (no depth on anyone): root prior only",
        ),
    ]


def run_setting(
    setting: Setting,
    seed: int,
    lifter: DepthLifter | None = None,
    post: Callable[[list[Person]], None] | None = None,
    mask_noise_px: int | None = None,
) -> SettingResult:
    """Render the setting's frames and lift every oracle person; ``post`` (e.g. a learned
    refiner) runs on each frame's lifted people. ``mask_noise_px``: give the depth stage
    person masks from the rendered labels, degraded by up to this many pixels (0: exact;
    None: no masks, the default)."""

    lifter = lifter or DepthLifter(LiftingConfig(noise_coefficient=setting.sensor.noise_coefficient or 0.0015))
    # Separate generators for scenes, sensor and 2D noise: settings that differ only in the
    # sensor see the same scenes and the same keypoints.
    scene_rng, sensor_rng, oracle_rng, mask_rng = (np.random.default_rng([seed, stream]) for stream in range(4))
    grid = RayGrid(setting.scene.camera.camera())
    records: list[PersonRecord] = []
    start = time.perf_counter()
    for frame_index in range(setting.frames):
        scene = sample_scene(scene_rng, setting.scene)
        synthetic = make_frame(scene, setting.sensor, setting.oracle, sensor_rng, grid, oracle_rng=oracle_rng)
        networks = None
        if mask_noise_px is not None:
            masks = person_masks(
                scene, synthetic.rendering, synthetic.people, synthetic.truths, mask_noise_px, mask_rng
            )
            networks = replace(NetworkEstimates.none(len(masks)), masks=PersonMasks.stack(masks))
        lifter(synthetic.people, synthetic.depth_m, scene.camera, networks)
        if post is not None:
            post(synthetic.people)
        for person, truth in zip(synthetic.people, synthetic.truths, strict=True):
            records.append(
                PersonRecord(
                    frame_index, person.positions.copy(), person.depth_sources.copy(), person.detection.score, truth
                )
            )
    return SettingResult(setting, records, setting.frames, time.perf_counter() - start)


def _stack(records: Sequence[PersonRecord]) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    pred = np.array([r.positions for r in records]).reshape(-1, NUM_JOINTS, 3)
    gt = np.array([r.truth.joints for r in records]).reshape(-1, NUM_JOINTS, 3)
    mask = np.array([r.truth.reported for r in records]).reshape(-1, NUM_JOINTS)
    return pred, gt, mask


def _by_frame(records: Sequence[PersonRecord]) -> dict[int, list[PersonRecord]]:
    frames: dict[int, list[PersonRecord]] = {}
    for record in records:
        frames.setdefault(record.frame, []).append(record)
    return frames


def summarize(
    records: Sequence[PersonRecord], frame_groups: dict[int, list[PersonRecord]] | None = None
) -> dict[str, Any]:
    """Every depth metric over ``records`` (lengths in mm, rates in %).

    AP_root and PCOD need whole frames: ``frame_groups`` (default: the records' own frames)
    gives them; for a range bin the AP is computed over the bin's people only.
    """
    if not records:
        return {"people": 0}
    pred, gt, mask = _stack(records)
    root = metrics.mrpe(pred[:, ROOT], gt[:, ROOT])
    frames = frame_groups if frame_groups is not None else _by_frame(records)
    ap_frames = [
        metrics.RootPredictions(
            pred_roots=np.array([r.positions[ROOT] for r in group]),
            scores=np.array([r.score for r in group]),
            gt_roots=np.array([r.truth.root for r in group]),
        )
        for group in frames.values()
    ]
    ordinal = metrics.pcod([([r.positions[ROOT, 2] for r in g], [r.gt_root_z for r in g]) for g in frames.values()])
    sources = np.array([r.sources for r in records])
    has_position = np.all(np.isfinite(pred), axis=-1)
    reported = int(mask.sum())
    result: dict[str, Any] = {
        "people": len(records),
        "root_coverage_pct": 100.0 * float(np.mean(np.all(np.isfinite(pred[:, ROOT]), axis=1))),
        "mrpe_mm": 1000.0 * root.mrpe,
        "mrpe_x_mm": 1000.0 * root.x,
        "mrpe_y_mm": 1000.0 * root.y,
        "mrpe_z_mm": 1000.0 * root.z,
        "mpjpe_abs_mm": 1000.0 * metrics.mpjpe(pred, gt, mask, root_relative=False),
        "mpjpe_rel_mm": 1000.0 * metrics.mpjpe(pred, gt, mask, root_relative=True),
        "pck_abs_pct": 100.0 * metrics.pck3d(pred, gt, mask),
        "pck_rel_pct": 100.0 * metrics.pck3d(pred, gt, mask, root_relative=True),
        "bone_error_mm": 1000.0 * metrics.bone_length_error(np.where(mask[..., None], pred, np.nan), gt),
        "joint_coverage_pct": 100.0 * float(np.count_nonzero(has_position & mask)) / max(reported, 1),
        "inferred_pct": 100.0 * float(np.count_nonzero((sources == DepthSource.INFERRED) & mask)) / max(reported, 1),
        "pcod_pct": 100.0 * ordinal.rate,
        "pcod_pairs": ordinal.pairs,
    }
    for threshold in metrics.AP_THRESHOLDS_M:
        result[f"ap_root_{round(threshold * 100)}_pct"] = 100.0 * metrics.ap_root(ap_frames, threshold)
    return result


def part_bias(records: Sequence[PersonRecord]) -> dict[str, dict[str, float]]:
    """Per body part: signed mean z error [mm] and count of sensor-measured joints. A bias
    far from 0 would mean its surface-to-centre offset is off."""
    pred, gt, mask = _stack(records)
    sources = np.array([r.sources for r in records])
    out: dict[str, dict[str, float]] = {}
    for part in sorted(set(JOINT_PART.values())):
        joints = [j for j, p in JOINT_PART.items() if p == part]
        sel = mask[:, joints] & (sources[:, joints] == DepthSource.SENSOR)
        dz = (pred[:, joints, 2] - gt[:, joints, 2])[sel]
        err = np.linalg.norm(pred[:, joints] - gt[:, joints], axis=-1)[sel]
        out[part] = {
            "z_bias_mm": 1000.0 * float(np.median(dz)) if dz.size else float("nan"),
            "error_mm": 1000.0 * float(np.mean(err)) if err.size else float("nan"),
            "count": float(dz.size),
        }
    return out


def summarize_by_range(result: SettingResult, bins: Iterable[tuple[float, float]] = RANGE_BINS_M) -> dict[str, Any]:
    """The setting's summary, overall and per range bin of the true root depth."""
    table: dict[str, Any] = {"all": summarize(result.records)}
    for lo, hi in bins:
        chosen = [r for r in result.records if lo <= r.gt_root_z < hi]
        if chosen:
            table[f"{lo:g}-{hi:g} m"] = summarize(chosen, _by_frame(chosen))
    return table


# --- tracking ----------------------------------------------------------------------------


@dataclass
class TrackingRun:
    mot: metrics.MotResult
    velocity_error_mps: float
    speed_error_mps: float
    person_frames: int
    sequences: int
    frames: int
    per_sequence_switches: list[int] = field(default_factory=list)
    # The truth's own count, without CLEAR-MOT's matching of roots (a root 0.5 m off is
    # matched to a neighbour there): how often a person's track id differs from the one they
    # had the last frame they were seen, of how many such pairs of frames.
    identity_changes: int = 0
    identity_pairs: int = 0
    # Of the matched person-frames, the share published with a velocity (the tracker's
    # velocity is unknown until its filter knows it well enough: max_velocity_sigma).
    velocity_known: float = float("nan")


def run_tracking(
    sequences: int,
    frames: int,
    seed: int,
    width: int = 640,
    height: int = 480,
    num_people: int = 4,
    tracking: TrackingConfig | None = None,
    lifting: LiftingConfig | None = None,
    sensor: SensorModel | None = None,
    match_threshold_m: float = 0.5,
    pan_amplitude_deg: float = 0.0,
    follow_camera: bool = True,
) -> TrackingRun:
    """Walking sequences through oracle -> DepthLifter -> Tracker, scored with CLEAR MOT.

    ``pan_amplitude_deg``: the camera pans back and forth (:class:`SequenceConfig`), and the
    velocities are scored against the people's own (in the world, in the camera's axes);
    ``follow_camera``: the tracker is given the camera's pose in the world each frame, as
    TF gives it ``tracking.fixed_frame``'s."""
    camera = CameraSetup(width=width, height=height)
    oracle = OracleConfig(pixel_noise_px=3.0 * width / 640.0)
    sensor = sensor or SENSOR_PRESETS["kinect"]
    lifter = DepthLifter(lifting or LiftingConfig())
    rng = np.random.default_rng(seed)
    pooled = metrics.MotResult()
    velocity_errors: list[float] = []
    speed_errors: list[float] = []
    matched = 0
    switches: list[int] = []
    changes = pairs = 0
    for _ in range(sequences):
        last_ids: dict[int, int] = {}
        tracker = Tracker(tracking or TrackingConfig())
        config = SequenceConfig(
            camera=camera, num_people=num_people, frames=frames, pan_amplitude_deg=pan_amplitude_deg
        )
        seq_frames: list[metrics.TrackingFrame] = []
        truth_velocity: list[dict[int, FloatArray]] = []
        hyp_velocity: list[dict[int, npt.NDArray[np.floating]]] = []
        grid = RayGrid(camera.camera())
        for stamp, scene in walking_sequence(rng, config):
            rendering = render(grid, scene.shapes(), scene.planes)
            depth = apply_sensor(rendering.depth, scene.camera, sensor, rng)
            people, truths = observe(scene, rendering, oracle, rng)
            lifter(people, depth, scene.camera)
            if follow_camera and scene.camera_pose is not None:
                tracker.follow_camera(CameraPose(scene.camera_pose), stamp)
            published = tracker.update(people, stamp, scene.camera)
            for person, truth in zip(people, truths, strict=True):  # observe's people are the truths'
                if truth.person_id in last_ids:
                    pairs += 1
                    changes += person.track_id != last_ids[truth.person_id]
                last_ids[truth.person_id] = person.track_id
            seq_frames.append(
                metrics.TrackingFrame(
                    gt_ids=[t.person_id for t in truths],
                    gt_positions=np.array([t.root for t in truths]).reshape(-1, 3),
                    hyp_ids=[p.track_id for p in published],
                    hyp_positions=np.array([p.root for p in published]).reshape(-1, 3),
                )
            )
            truth_velocity.append({t.person_id: t.velocity for t in truths})
            hyp_velocity.append({p.track_id: p.velocity for p in published})
        mot = metrics.clear_mot(seq_frames, match_threshold_m)
        switches.append(mot.id_switches)
        matched += len(mot.matched_pairs)
        for frame_index, gid, hid in mot.matched_pairs:
            v_hat, v_true = hyp_velocity[frame_index][hid], truth_velocity[frame_index][gid]
            if np.all(np.isfinite(v_hat)):
                velocity_errors.append(float(np.linalg.norm(v_hat - v_true)))
                speed_errors.append(abs(float(np.linalg.norm(v_hat)) - float(np.linalg.norm(v_true))))
        # Pool the sequences' counts (identities never cross sequences).
        pooled.gt_count += mot.gt_count
        pooled.matches += mot.matches
        pooled.misses += mot.misses
        pooled.false_positives += mot.false_positives
        pooled.id_switches += mot.id_switches
        pooled.distance_sum += mot.distance_sum
    return TrackingRun(
        mot=pooled,
        velocity_error_mps=float(np.mean(velocity_errors)) if velocity_errors else float("nan"),
        speed_error_mps=float(np.mean(speed_errors)) if speed_errors else float("nan"),
        person_frames=pooled.gt_count,
        sequences=sequences,
        frames=frames * sequences,
        per_sequence_switches=switches,
        identity_changes=changes,
        identity_pairs=pairs,
        velocity_known=len(velocity_errors) / matched if matched else float("nan"),
    )
