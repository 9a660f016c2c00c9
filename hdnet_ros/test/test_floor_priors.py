"""The depth stage's feet cue on the floor, and the floor it gets without the placement
(issue 17): the pelvis stands above the feet (a camera looking down sees it nearer than
them), a person the image's bottom cuts gives no feet, and a pipeline without a 3D
network still takes the TF floor for its priors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import LEFT_ANKLE, NUM_JOINTS, PELVIS, RIGHT_ANKLE
from hdnet_ros.people import CameraPose, Detection, Frame, Person
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.depth.arrays import Observed
from hdnet_ros.stages.depth.floor import ANKLES, GroundPlane, floor_depths, lifted_foot_weight
from hdnet_ros.stages.placement import FloorChoice, FloorConfig
from hdnet_ros.synthetic.scene import world_to_camera
from hdnet_ros.synthetic.walk_away import camera_in_floor

CAMERA = CameraModel(640, 480, np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]))
STATURE = 1.70


def standing_joints(height: float, pitch_deg: float, distance: float) -> np.ndarray:
    """A standing person's ankles and pelvis in the optical frame of a camera ``height`` m
    over the floor pitched ``pitch_deg`` down, ``distance`` m ahead of it on the floor."""
    rotation, translation = world_to_camera(height, pitch_deg)
    world = np.zeros((NUM_JOINTS, 3))
    world[LEFT_ANKLE] = [0.1, 0.039 * STATURE, distance]  # world: y up, the floor at y = 0
    world[RIGHT_ANKLE] = [-0.1, 0.039 * STATURE, distance]
    world[PELVIS] = [0.0, 0.530 * STATURE, distance]
    return np.asarray((world - translation) @ rotation.T)


def floor_in_camera(height: float, pitch_deg: float) -> GroundPlane:
    rotation, _ = world_to_camera(height, pitch_deg)
    up = rotation @ np.array([0.0, 1.0, 0.0])
    return GroundPlane(up, -height, inliers=1000)


def test_the_feet_place_the_pelvis_above_them_when_the_camera_looks_down() -> None:
    for pitch in (0.0, 30.0, 50.0):
        joints = standing_joints(2.4, pitch, 3.0)
        rays = joints / np.linalg.norm(joints, axis=1, keepdims=True)
        plane = floor_in_camera(2.4, pitch)
        cue = floor_depths(rays[None], np.ones((1, 2), bool), CAMERA, plane, STATURE, keypoint_sigma_px=0.0)
        # Exact rays: the pelvis' depth to the millimetre, however far the feet lie behind it.
        assert abs(cue.z[0] - joints[PELVIS, 2]) < 1e-3, (pitch, cue.z[0], joints[PELVIS, 2])
        behind = joints[LEFT_ANKLE, 2] - joints[PELVIS, 2]
        assert behind > 0.5 if pitch >= 50.0 else behind >= 0.0  # what the feet's depth alone missed by


def noisy_feet_cues(lifted_m: float, feet: tuple[bool, bool] = (True, True)) -> tuple[np.ndarray, float]:
    """The feet cue's pelvis depths for a person 6 m ahead of a camera 1.2 m high pitched
    5 deg down, each ankle's pixel moved by 3 px of noise per draw (the same draws whichever
    ``feet`` are used), the right foot raised ``lifted_m`` (mid-step); and the pelvis' true
    depth."""
    draws = 4000
    joints = standing_joints(1.2, 5.0, 6.0)
    rotation, _ = world_to_camera(1.2, 5.0)
    joints[RIGHT_ANKLE] += lifted_m * (rotation @ np.array([0.0, 1.0, 0.0]))
    noisy = CAMERA.project(joints[ANKLES])[None] + np.random.default_rng(7).normal(0.0, 3.0, (draws, 2, 2))
    rays = np.zeros((draws, NUM_JOINTS, 3))
    ankle_rays = np.concatenate((CAMERA.normalized_rays(noisy.reshape(-1, 2)), np.ones((2 * draws, 1))), axis=1)
    rays[:, ANKLES] = (ankle_rays / np.linalg.norm(ankle_rays, axis=1, keepdims=True)).reshape(draws, 2, 3)
    seen = np.tile(np.array(feet), (draws, 1))
    cue = floor_depths(rays, seen, CAMERA, floor_in_camera(1.2, 5.0), STATURE, 3.0)
    return cue.z, float(joints[PELVIS, 2])


def test_two_feet_on_the_floor_under_keypoint_noise_place_the_pelvis_without_bias() -> None:
    """Taking the nearer foot whenever the two hits disagree by more than the noise picks
    the nearer of two noisy draws: 7 cm near here, 9 cm at 5-8 m on the synthetic
    benchmark. Both feet weighed by the probability that one is lifted keep the mean
    within 4 cm (measured 2.2 cm: the margin holds two standard errors of the mean over
    the draws) and the spread below one foot's."""
    z, truth = noisy_feet_cues(lifted_m=0.0)
    one_foot, _ = noisy_feet_cues(lifted_m=0.0, feet=(True, False))
    assert np.all(np.isfinite(z))
    assert abs(np.mean(z) - truth) < 0.04, (np.mean(z), truth)
    assert np.std(z) < 0.85 * np.std(one_foot)  # both feet average the noise (1/sqrt 2 at best)


def test_a_lifted_foot_pulls_the_pelvis_away_less_than_an_average_would() -> None:
    """Mid-step the swing ankle rises 10 cm; from 1.2 m at 6 m its floor hit lies 0.5 m
    beyond the stance foot's, and averaging the two feet would put the pelvis 0.27 m far.
    The cue leans on the nearer foot: measured 0.12 m, bound 0.6 of the average's."""
    z, truth = noisy_feet_cues(lifted_m=0.10)
    left, _ = noisy_feet_cues(lifted_m=0.10, feet=(True, False))
    right, _ = noisy_feet_cues(lifted_m=0.10, feet=(False, True))
    averaged = np.mean((left + right) / 2.0) - truth
    assert averaged > 0.2  # the case is what it claims: the lifted foot's hit lies far
    assert abs(np.mean(z) - truth) < 0.6 * averaged, (np.mean(z) - truth, averaged)


def test_the_lifted_foot_weight_grows_with_the_gap_between_the_feet() -> None:
    gaps = np.array([0.0, 0.1, 0.2, 0.4, 0.6, np.nan])
    weight = lifted_foot_weight(gaps, np.full(6, 0.2), np.full(6, 0.75))
    assert np.all(np.diff(weight[:5]) > 0)  # a wider gap: more likely a lifted foot
    assert weight[0] < 0.3 and weight[4] > 0.5
    assert weight[5] == 1.0  # one foot only: it is the one to use


def person(box: list[float], ankles_v: float) -> Person:
    pixels = np.full((NUM_JOINTS, 2), np.nan)
    pixels[ANKLES] = [[300.0, ankles_v], [340.0, ankles_v]]
    pixels[PELVIS] = [320.0, ankles_v - 150.0]
    scores = np.where(np.isfinite(pixels[:, 0]), 0.9, 0.0)
    return Person(detection=Detection(box=np.array(box), score=0.9), pixels=pixels, scores=scores)


def test_a_person_the_image_bottom_cuts_gives_no_feet_to_the_floor() -> None:
    whole = person([250.0, 100.0, 390.0, 420.0], 410.0)
    cut = person([250.0, 200.0, 390.0, 478.0], 470.0)  # the box ends 1 px short of the bottom
    observed = Observed.of([whole, cut], CAMERA)
    assert observed.floor_ankles is not None
    assert observed.floor_ankles[0].all() and not observed.floor_ankles[1].any()
    assert observed.seen[1, ANKLES].all()  # seen, and used elsewhere: only the feet cue leaves them


def frame(pose: CameraPose | None, depth: bool = False) -> Frame:
    return Frame(
        rgb=np.zeros((480, 640, 3), np.uint8),
        depth_m=np.ones((480, 640), np.float32) if depth else None,
        camera=CAMERA,
        stamp_ns=1,
        frame_id="camera_color_optical_frame",
        floor_pose=pose,
    )


def test_without_the_placement_the_priors_take_the_tf_floor() -> None:
    floors = FloorChoice(FloorConfig())
    rotation, translation = world_to_camera(1.5, 20.0)
    known = floors.for_priors(frame(CameraPose(camera_in_floor(rotation, translation))), placed_it=False)
    assert known is not None
    normal, offset = known
    np.testing.assert_allclose(normal, rotation @ np.array([0.0, 1.0, 0.0]), atol=1e-9)
    assert abs(offset + 1.5) < 1e-9
    # A pose that cannot be a camera over the floor is counted with its reason, never used.
    upside_down = camera_in_floor(np.diag([1.0, -1.0, -1.0]) @ rotation, translation)
    assert floors.for_priors(frame(CameraPose(upside_down)), placed_it=False) is None
    assert floors.for_priors(frame(CameraPose(None, "missing", "no transform")), placed_it=False) is None
    # With a depth image and no TF the depth stage takes its own plane; nothing at all: none.
    assert floors.for_priors(frame(None, depth=True), placed_it=False) is None
    assert floors.for_priors(frame(None), placed_it=False) is None
    assert dict(floors.counts) == {"floor_tf": 1, "tf_tilted": 1, "tf_missing": 1, "floor_none": 3, "floor_depth": 1}


def test_a_pipeline_without_3d_networks_uses_the_tf_floor(models_dir: Path, sample_bags: list[Path]) -> None:
    """The 3D stage off: the TF floor reaches the priors (counted, reported), and it moves the
    roots they place (the sample frame without depth, the camera 1.0 m over the floor)."""
    from hdnet_ros.frame_input import build_frame
    from helpers import sample_messages

    from hdnet_ros.config import load_settings

    settings = load_settings(
        overrides={"models.models_dir": str(models_dir), "networks.pose_3d": "", "networks.root_depth": ""}
    )
    pipeline = Pipeline.from_settings(settings)
    assert pipeline.stages.placement is None
    m = sample_messages(sample_bags[0])
    rgb_only = dataclasses.replace(build_frame(m["rgb"], m["depth"], m["camera_info"]), depth_m=None)
    rotation, translation = world_to_camera(1.0, 10.0)
    without = [p.positions[PELVIS].copy() for p in pipeline.process(rgb_only).people]
    pipeline.reset_tracking()
    posed = dataclasses.replace(rgb_only, floor_pose=CameraPose(camera_in_floor(rotation, translation)))
    with_floor = [p.positions[PELVIS].copy() for p in pipeline.process(posed).people]
    assert pipeline.network_report()["placement"]["floor_tf"] == 1
    moved = [np.linalg.norm(a - b) for a, b in zip(without, with_floor, strict=True) if np.all(np.isfinite(a))]
    assert len(moved) >= 3 and max(moved) > 0.05, moved
