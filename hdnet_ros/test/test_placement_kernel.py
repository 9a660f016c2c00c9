"""The compiled placement fit (``stages.placement.fit_kernel``, behind ``fit.place_person``)
gives what main's numpy fit gave (``numpy_placement.fit``, kept as the reference): every
Placement field within 1e-9 (relative above 1), the same standing decision, the same
failure reasons.

Inputs: people standing, walking, seated and raised on a table, seen by cameras 1-3.5 m
high pitched 0-50 deg, 2-12 m away, with skeleton errors (the legs turned, noise), keypoint
noise, random keypoints unseen or outside the image, ankles the 2D network is unsure of, a
distorted lens, scale priors of a stranger and of a track; floors of every source (none,
TF, the depth image, the people with a full covariance, the people's up direction only)
and floors that disagree with the person. Degenerate ones: too few points, too small a
span, skeletons and pixels that do not belong together (fits that diverge or land behind
the camera). A fit that runs off to more than 1e6 m ends in steps whose normal equations
have condition numbers of 1e16-1e25: there rounding alone decides the failure's digits
(and whether its last step leaves a point behind the camera), in numpy as in the kernel,
so only the kind of failure is compared there. A fit to pixels that are not its skeleton's
(a pixel RMS over 100 px) stops after its 8 steps without converging, carrying the rounding
of every step (up to 1e-9 relative here): compared to 1e-7.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    NUM_COCO_JOINTS,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
)
from hdnet_ros.skeleton import STANDING_TEMPLATE
from hdnet_ros.stages.placement import fit, fit_kernel
from hdnet_ros.stages.placement.fit import Cues, Placement, PlacementFailure
from hdnet_ros.stages.placement.floor import Floor, FloorConfig, floor_from_plane, floor_from_pose
from numpy_placement import fit as reference
from scipy.spatial.transform import Rotation

CAMERA = CameraModel(1280, 720, np.array([[900.0, 0, 639.5], [0, 900.0, 359.5], [0, 0, 1]]))
DISTORTED = CameraModel(
    1920,
    1080,
    np.array([[1400.0, 0, 950.0], [0, 1395.0, 545.0], [0, 0, 1]]),
    np.array([-0.22, 0.11, 1e-4, -2e-4, -0.02]),
)
FIELDS = ("position", "covariance", "scale", "scale_sigma", "unit_depth", "unit_depth_sigma", "points", "rms_px")
FLOORS = ("none", "tf", "depth", "people", "people_up")
LEGS = [LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE, 17, 18, 19, 20]
RUN_OFF_M = 1e6
ASTRAY_PX = 100.0


def camera_pose(height: float, pitch_deg: float) -> np.ndarray:
    """The optical frame in the floor frame, at ``height``, looking along +x pitched down."""
    pitch = np.deg2rad(pitch_deg)
    z = np.array([np.cos(pitch), 0.0, -np.sin(pitch)])
    x = np.array([0.0, -1.0, 0.0])
    pose = np.eye(4)
    pose[:3, :3] = np.stack((x, np.cross(z, x), z), axis=1)
    pose[:3, 3] = (0.0, 0.0, height)
    return pose


def body(rng: np.random.Generator, kind: str) -> np.ndarray:
    """World joints [21,3] (COCO 17, heels, toes) of someone facing about -x on the floor."""
    template = STANDING_TEMPLATE[:NUM_COCO_JOINTS].copy() * rng.uniform(1.5, 1.95)
    template[:, 1] += 0.025
    if kind == "walking":
        template[[LEFT_KNEE, LEFT_ANKLE], 2] += (0.15, 0.3)
        template[[RIGHT_KNEE, RIGHT_ANKLE], 2] -= (0.1, 0.25)
    if kind == "seated":
        drop = template[LEFT_HIP, 1] - 0.45
        template[:LEFT_HIP, 1] -= drop
        template[[LEFT_HIP, RIGHT_HIP], 1] = 0.45
        template[[LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE], 1] = (0.47, 0.47, 0.09, 0.09)
        template[[LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE], 2] = 0.42
    ankles = template[[LEFT_ANKLE, RIGHT_ANKLE]]
    points = np.concatenate((template, ankles + np.array([0.0, -0.05, -0.05]), ankles + np.array([0.0, -0.06, 0.15])))
    turn = Rotation.from_rotvec([0.0, rng.uniform(-0.6, 0.6), 0.0]).as_matrix()
    points = points @ turn.T
    left, up, forward = points[:, 0], points[:, 1], points[:, 2]
    where = (rng.uniform(2.0, 12.0), rng.uniform(-2.5, 2.5))
    lift = 0.75 if kind == "on a table" else 0.0
    return np.stack((where[0] - forward, where[1] - left, up + lift), axis=1)


def floor_of(rng: np.random.Generator, kind: str, pose: np.ndarray) -> Floor | None:
    """The floor under the camera as each source gives it (a little off the truth)."""
    if kind == "none":
        return None
    tf = floor_from_pose(pose, FloorConfig())
    assert isinstance(tf, Floor)
    if kind == "tf":
        return tf
    tilt = Rotation.from_rotvec(rng.normal(0.0, 0.02, 3)).as_matrix()
    normal = tilt @ tf.normal
    offset = tf.offset + rng.normal(0.0, 0.05)
    if kind == "depth":
        return floor_from_plane(normal, offset)
    if kind == "people_up":
        return Floor(normal, offset, "people_up", float("inf"), float(rng.uniform(0.01, 0.15)))
    root = rng.normal(0.0, 1.0, (3, 3)) * (0.02, 0.02, 0.05)
    covariance = root @ root.T + np.diag((1e-5, 1e-5, 1e-4))
    return Floor(normal, offset, "people", float(np.sqrt(covariance[2, 2])), 0.02, covariance)


def case(seed: int) -> tuple[Cues, CameraModel, Floor | None, float]:
    """One random person, camera and floor (module doc)."""
    rng = np.random.default_rng(seed)
    camera = DISTORTED if rng.random() < 0.2 else CAMERA
    pose = camera_pose(rng.uniform(1.0, 3.5), rng.uniform(0.0, 50.0))
    kind = rng.choice(["standing", "standing", "walking", "seated", "on a table"])
    world = body(rng, str(kind))
    points = (world - pose[:3, 3]) @ pose[:3, :3]
    pixels = camera.project(points) + rng.normal(0.0, rng.uniform(0.5, 6.0), (len(points), 2))
    skeleton = points - (points[LEFT_HIP] + points[RIGHT_HIP]) / 2.0
    skeleton[LEGS] = Rotation.from_rotvec([rng.uniform(-0.35, 0.35), 0.0, 0.0]).apply(skeleton[LEGS])
    skeleton = skeleton * rng.uniform(0.9, 1.1) + rng.normal(0.0, rng.uniform(0.0, 0.04), skeleton.shape)
    weights = rng.uniform(0.2, 1.0, len(points))
    weights[rng.random(len(points)) < rng.uniform(0.0, 0.4)] = 0.0
    pixels[rng.random(len(points)) < 0.1] = np.nan
    if rng.random() < 0.1:  # the feet's points unknown to the network
        skeleton[17:] = np.nan
    if rng.random() < 0.1:  # pixels that are someone else's: fits that go astray
        pixels = rng.uniform(0.0, camera.width, (len(points), 2))
    prior = (1.0, 0.07) if rng.random() < 0.5 else (float(rng.uniform(0.85, 1.15)), float(rng.uniform(0.005, 0.05)))
    floor = floor_of(rng, FLOORS[seed % len(FLOORS)], pose)
    return Cues(skeleton, pixels, weights, *prior), camera, floor, float(rng.uniform(1.0, 5.0))


def degenerate(seed: int) -> tuple[Cues, CameraModel, Floor | None, float]:
    """Few points, a tiny skeleton, a person behind the camera, the image's edge."""
    cues, camera, floor, sigma = case(seed)
    variant = seed % 4
    skeleton, pixels, weights = cues.skeleton.copy(), cues.pixels.copy(), cues.weights.copy()
    if variant == 0:  # three points seen
        weights[:] = 0.0
        weights[[LEFT_HIP, RIGHT_HIP, LEFT_KNEE]] = 1.0
    elif variant == 1:  # a skeleton 10 cm tall
        skeleton *= 0.05
    elif variant == 2:  # a skeleton the wrong way round: its points behind the camera
        skeleton[:, 2] -= 8.0
    else:  # keypoints on the image's border and beyond
        pixels[:, 0] = np.where(np.arange(len(pixels)) % 2 == 0, -0.5, camera.width - 0.5)
    return Cues(skeleton, pixels, weights, cues.scale, cues.scale_sigma), camera, floor, sigma


def run_off(result: object) -> bool:
    match = re.search(r"diverged \(([-0-9.e+]+) m away\)", getattr(result, "reason", ""))
    return match is not None and abs(float(match.group(1))) > RUN_OFF_M


def assert_same(expected: object, given: object) -> None:
    """given equals expected (module doc)."""
    if isinstance(expected, PlacementFailure) or isinstance(given, PlacementFailure):
        if run_off(expected) or run_off(given):  # rounding decides (module doc)
            for result in (expected, given):
                assert isinstance(result, PlacementFailure)
                assert run_off(result) or "behind the camera" in result.reason
            return
        assert expected == given
        return
    assert isinstance(expected, Placement) and isinstance(given, Placement)
    assert expected.standing == given.standing
    bound = 1e-9 if expected.rms_px < ASTRAY_PX else 1e-7  # module doc
    for name in FIELDS:
        a, b = np.asarray(getattr(expected, name)), np.asarray(getattr(given, name))
        np.testing.assert_allclose(b, a, rtol=bound, atol=bound, err_msg=name)


def outcome(result: object, floor: Floor | None) -> str:
    if isinstance(result, PlacementFailure):
        return re.sub(r"\d[\d.e+-]*", "#", result.reason)
    assert isinstance(result, Placement)
    return f"{'standing' if result.standing else 'free'} on {'no' if floor is None else floor.source} floor"


@pytest.mark.parametrize("block", range(4))
def test_the_compiled_fit_gives_the_numpy_fits_results(block: int) -> None:
    outcomes: set[str] = set()
    for seed in range(block * 150, (block + 1) * 150):
        cues, camera, floor, sigma = case(seed)
        expected = reference.place_person(cues, camera, floor, sigma)
        assert_same(expected, fit.place_person(cues, camera, floor, sigma))
        outcomes.add(outcome(expected, floor))
    # every kind of floor decision is exercised (a test that compares only failures proves little)
    for source in ("tf", "depth", "people", "people_up"):
        assert f"standing on {source} floor" in outcomes
    assert {"free on no floor", "free on tf floor"} <= outcomes


def test_degenerate_people_fail_for_the_same_reasons() -> None:
    reasons: set[str] = set()
    for seed in range(160):
        cues, camera, floor, sigma = degenerate(seed)
        expected = reference.place_person(cues, camera, floor, sigma)
        assert_same(expected, fit.place_person(cues, camera, floor, sigma))
        reasons.add(outcome(expected, floor))
    assert {
        "# torso, leg and foot points seen; the fit needs #",
        "the seen points span # m; at least # m fixes a scale",
        "the fitted skeleton lies (partly) behind the camera",
    } <= reasons


def test_a_floor_known_by_its_up_only_and_one_sure_ankle() -> None:
    """The people's floor without a height (an infinite offset sigma: the free offset's wide
    prior, the offset started under the free fit) with only one ankle the 2D network is
    sure of (the wider stance sigma), and with ankle rays that never meet the floor."""
    for seed in range(40):
        cues, camera, _, sigma = case(seed * 5 + 4)
        rng = np.random.default_rng(seed)
        weights = cues.weights.copy()
        weights[[LEFT_ANKLE, RIGHT_ANKLE]] = (0.9, 0.3)
        one_ankle = Cues(cues.skeleton, cues.pixels, weights, cues.scale, cues.scale_sigma)
        pose = camera_pose(rng.uniform(1.0, 3.5), rng.uniform(0.0, 50.0))
        up_only = floor_of(rng, "people_up", pose)
        level = Floor(np.array([0.0, -0.02, -1.0]), -1.5, "tf", 0.01, 0.01)  # its up along -z: rays never meet it
        for floor in (up_only, level):
            assert_same(
                reference.place_person(one_ankle, camera, floor, sigma),
                fit.place_person(one_ankle, camera, floor, sigma),
            )


@pytest.mark.parametrize("size", [1, 3, 5])
def test_singular_systems_fall_back_as_numpy_did(size: int) -> None:
    """A normal matrix with an exactly zero pivot: numpy raised LinAlgError and the fit
    took least squares (a step) or the pseudo-inverse (a covariance); the kernel's LU says
    False and falls back the same way."""
    rng = np.random.default_rng(size)
    root = rng.normal(size=(size + 3, size))
    root[:, -1] = 0.0  # an unknown no row constrains
    normal = root.T @ root
    out = np.empty(size)
    assert not fit_kernel._lu_solve(normal, np.ones(size), size, out)
    np.testing.assert_allclose(fit_kernel._inverse(normal), reference._inverse(normal), rtol=1e-9, atol=1e-12)
    regular = normal + np.eye(size)
    assert fit_kernel._lu_solve(regular, np.arange(1.0, size + 1), size, out)
    np.testing.assert_allclose(out, np.linalg.solve(regular, np.arange(1.0, size + 1)), rtol=1e-12)
    np.testing.assert_allclose(fit_kernel._inverse(regular), np.linalg.inv(regular), rtol=1e-12, atol=1e-14)


def test_the_kernel_cache_is_named_after_the_placement_sources(tmp_path) -> None:
    """numba keys a cached function on its own file only; the kernel reads fit_constants.py
    and posture.py, so the cache directory is named after a hash of every placement source."""
    from hdnet_ros.stages.depth.jit import hash_sources
    from hdnet_ros.stages.placement import jit

    stage_dir = jit.KERNELS.sources
    assert stage_dir == Path(jit.__file__).resolve().parent
    named = jit.cache_dir({"NUMBA_CACHE_DIR": str(tmp_path)})
    assert named is not None and named.parent == tmp_path
    assert named.name == f"hdnet_ros-placement-{hash_sources(stage_dir)}"
    home = jit.cache_dir({"XDG_CACHE_HOME": str(tmp_path)})
    assert home == tmp_path / "hdnet_ros" / "kernels" / f"placement-{hash_sources(stage_dir)}"
    assert jit.cache_dir({"NUMBA_CACHE_DIR": "relative/dir"}) is None
    copy = tmp_path / "copy"
    copy.mkdir()
    for source in stage_dir.glob("*.py"):
        (copy / source.name).write_bytes(source.read_bytes())
    assert hash_sources(copy) == hash_sources(stage_dir)
    (copy / "fit_constants.py").write_text((copy / "fit_constants.py").read_text() + "\n# changed\n")
    assert hash_sources(copy) != hash_sources(stage_dir)


def test_the_warm_up_compiles_what_the_fit_calls() -> None:
    """The placement compiles its kernel when it is made, with the argument types of a real
    person's fit (with and without a distorted lens, with and without a floor), so no frame
    compiles it again."""
    from hdnet_ros.stages.placement import FloorConfig, MonocularPlacement, PlacementConfig

    MonocularPlacement(FloorConfig(), PlacementConfig(), 3.0, 0.07)
    compiled = len(fit_kernel.place.signatures)
    for seed in range(10):
        cues, camera, floor, sigma = case(seed)
        fit.place_person(cues, camera, floor, sigma)
        fit.place_person(cues, DISTORTED, None, sigma)
    assert len(fit_kernel.place.signatures) == compiled == 1
