"""The depth floor kept across frames (stages/depth/floor_cadence.py): at most REFIT_FRAMES
frames old, each refit the per-frame fit's own result, a moved camera caught on the frame it
moves, people over the check pixels, blank, NaN and resized images handled."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.stages.depth.config import LiftingConfig
from hdnet_ros.stages.depth.floor import GroundConfig, GroundPlane, estimate_ground_plane, refreshed_plane
from hdnet_ros.stages.depth.floor_cadence import REFIT_FRAMES, FloorCadence
from hdnet_ros.stages.depth.lifter import DepthLifter
from hdnet_ros.synthetic.scene import floor_plane, wall_plane, world_to_camera

CAMERA = CameraModel.from_fov(320, 240, 70.0)
HEIGHT_M, PITCH_DEG = 1.2, 20.0
CONFIG = GroundConfig()


def room_depth(
    rng: np.random.Generator,
    camera: CameraModel = CAMERA,
    height: float = HEIGHT_M,
    pitch_deg: float = PITCH_DEG,
    roll_deg: float = 0.0,
    person: tuple[int, int] | None = None,
) -> np.ndarray:
    """A Kinect-like depth image (noise 0.0015 z^2, fresh each call) of a floor and a wall
    6 m ahead, seen from ``height`` pitched down by ``pitch_deg`` and rolled by ``roll_deg``;
    ``person``: columns (from, to) covered by a person standing 2.5 m away."""
    rotation, _ = world_to_camera(height, pitch_deg)
    rotation = rolled(roll_deg) @ rotation
    v, u = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
    rays = np.stack(((u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)), axis=-1)
    depth = np.full(u.shape, np.inf)
    for plane in (floor_plane(rotation, height), wall_plane(rotation, 6.0, 0.0)):
        with np.errstate(divide="ignore"):
            z = plane.offset / (rays @ plane.normal)
        depth = np.where((z > 0) & (z < depth), z, depth)
    if person is not None:
        depth[camera.height // 4 :, person[0] : person[1]] = 2.5
    depth += rng.normal(size=depth.shape) * 0.0015 * depth**2
    return np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)


def moved_depth(rng: np.random.Generator, moved: dict[str, float]) -> np.ndarray:
    return room_depth(
        rng,
        height=moved.get("height", HEIGHT_M),
        pitch_deg=moved.get("pitch_deg", PITCH_DEG),
        roll_deg=moved.get("roll_deg", 0.0),
    )


def rolled(roll_deg: float) -> np.ndarray:
    roll = np.deg2rad(roll_deg)
    return np.array([[np.cos(roll), -np.sin(roll), 0.0], [np.sin(roll), np.cos(roll), 0.0], [0.0, 0.0, 1.0]])


def assert_same_plane(a: GroundPlane | None, b: GroundPlane | None) -> None:
    assert a is not None and b is not None
    assert np.array_equal(a.normal, b.normal) and a.offset == b.offset and a.inliers == b.inliers


def near_truth(plane: GroundPlane | None, height: float = HEIGHT_M) -> bool:
    return plane is not None and abs(plane.camera_height - height) < 0.03


def test_a_static_camera_s_floor_is_checked_and_refitted_every_n_frames() -> None:
    rng = np.random.default_rng(0)
    cadence = FloorCadence(CONFIG)
    ages = []
    for _ in range(3 * REFIT_FRAMES + 5):
        plane = cadence(room_depth(rng), CAMERA)
        assert near_truth(plane)
        ages.append(cadence.age)
    assert max(ages) == REFIT_FRAMES - 1  # at most N - 1 frames old...
    # ...and kept that long on a static camera: the check does not refit on the sensor's noise.
    assert cadence.refits == 4
    assert ages[: REFIT_FRAMES + 1] == [*range(REFIT_FRAMES), 0]


def test_each_refit_is_the_per_frame_fit_of_the_kept_floor() -> None:
    rng = np.random.default_rng(1)
    cadence = FloorCadence(CONFIG, refit_frames=3)
    kept: GroundPlane | None = None
    refitted = 0
    for frame in range(12):
        depth = room_depth(rng, height=HEIGHT_M + (0.1 if frame >= 7 else 0.0))  # raised at frame 7
        before = cadence.refits
        plane = cadence(depth, CAMERA)
        if cadence.refits > before:
            expected = (refreshed_plane(kept, depth, CAMERA, CONFIG) if kept is not None else None) or (
                estimate_ground_plane(depth, CAMERA, CONFIG)
            )
            assert_same_plane(plane, expected)
            refitted += 1
        else:
            assert plane is kept
        kept = plane
    assert refitted == 5  # frames 0, 3, 6 (cadence), 7 (moved), 10
    assert near_truth(kept, HEIGHT_M + 0.1)


@pytest.mark.parametrize(
    "moved",
    [
        {"height": HEIGHT_M + 0.02},
        {"height": HEIGHT_M - 0.02},
        {"pitch_deg": PITCH_DEG + 1.0},
        {"pitch_deg": PITCH_DEG - 1.0},
        {"roll_deg": 1.0},
    ],
    ids=["raised 2 cm", "lowered 2 cm", "pitched down 1 deg", "pitched up 1 deg", "rolled 1 deg"],
)
def test_a_moved_camera_is_caught_on_the_frame_it_moves(moved: dict[str, float]) -> None:
    rng = np.random.default_rng(2)
    cadence = FloorCadence(CONFIG)
    for _ in range(3):
        cadence(room_depth(rng), CAMERA)
    assert cadence.refits == 1
    cadence(moved_depth(rng, moved), CAMERA)
    assert cadence.refits == 2 and cadence.age == 0  # refitted on the first moved frame
    # The refit from the kept floor moves it by at most FLOOR_KEPT (or starts anew): it
    # may take a few refits, checked frame after frame, to settle on the moved floor.
    for _ in range(2 * REFIT_FRAMES):
        plane = cadence(moved_depth(rng, moved), CAMERA)
    rotation, _ = world_to_camera(moved.get("height", HEIGHT_M), moved.get("pitch_deg", PITCH_DEG))
    up = rolled(moved.get("roll_deg", 0.0)) @ rotation @ np.array([0.0, 1.0, 0.0])
    assert near_truth(plane, moved.get("height", HEIGHT_M))
    assert plane is not None and float(np.degrees(np.arccos(min(float(plane.normal @ up), 1.0)))) < 0.5
    assert cadence.refits < 2 + 2 * REFIT_FRAMES  # kept on some frames once settled


def test_people_over_the_check_pixels_and_spoilt_depth() -> None:
    rng = np.random.default_rng(3)
    cadence = FloorCadence(CONFIG)
    truth = cadence(room_depth(rng), CAMERA)
    assert cadence._check is not None
    columns = np.sort(cadence._check.cols)
    # A person over a few of the check pixels: the floor is kept.
    few = (int(columns[0]) - 1, int(columns[3]) + 1)
    assert cadence(room_depth(rng, person=few), CAMERA) is truth and cadence.refits == 1
    # Over half of them: refitted among the floor's other pixels, the same floor.
    half = (0, int(columns[len(columns) // 2]) + 1)
    assert near_truth(cadence(room_depth(rng, person=half), CAMERA)) and cadence.refits == 2
    # NaN and zero depth over a fifth of the image: the floor is kept or refitted, never lost.
    for bad in (np.nan, 0.0, np.inf):
        spoilt = room_depth(rng)
        spoilt[rng.random(spoilt.shape) < 0.2] = bad
        assert near_truth(cadence(spoilt, CAMERA))


def test_blank_frames_resized_images_and_frames_without_depth() -> None:
    rng = np.random.default_rng(4)
    cadence = FloorCadence(CONFIG)
    assert near_truth(cadence(room_depth(rng), CAMERA))
    # A dropped frame (no depth anywhere) has no floor; the next image is fitted at once.
    for blank in (np.zeros((CAMERA.height, CAMERA.width), np.float32), np.full((240, 320), np.nan, np.float32)):
        assert cadence(blank, CAMERA) is None
        assert near_truth(cadence(room_depth(rng), CAMERA))
    # An image that shows no floor (a wall only) is kept floorless for the cadence's frames.
    wall = np.full((CAMERA.height, CAMERA.width), 3.0, np.float32)
    refits = cadence.refits
    assert cadence(wall, CAMERA) is None and cadence.refits == refits + 1
    for _ in range(REFIT_FRAMES - 1):
        assert cadence(room_depth(rng), CAMERA) is None
    assert near_truth(cadence(room_depth(rng), CAMERA)) and cadence.refits == refits + 2
    # A depth image of another size (and its camera) is fitted anew.
    small = CameraModel.from_fov(160, 120, 70.0)
    assert near_truth(cadence(room_depth(rng, camera=small), small)) and cadence.age == 0
    # The same size with other intrinsics: fitted anew.
    wide = CameraModel.from_fov(160, 120, 90.0)
    assert near_truth(cadence(room_depth(rng, camera=wide), wide)) and cadence.age == 0
    # The lifter: no depth, no floor, and the kept one untouched.
    lifter = DepthLifter(LiftingConfig())
    first = lifter.floor_plane(room_depth(rng), CAMERA)
    assert first is not None and lifter.floor_plane(None, CAMERA) is None
    second = lifter.floor_plane(room_depth(rng), CAMERA)
    assert second is not None and np.array_equal(first[0], second[0]) and lifter.floor_cadence.age == 1


def test_the_cadence_is_refitted_every_frame_when_asked() -> None:
    rng = np.random.default_rng(5)
    cadence = FloorCadence(CONFIG, refit_frames=1)
    for _ in range(4):
        cadence(room_depth(rng), CAMERA)
    assert cadence.refits == 4
    with pytest.raises(ValueError, match="every 1 or more frames"):
        FloorCadence(CONFIG, refit_frames=0)
