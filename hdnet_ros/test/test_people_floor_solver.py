"""The people floor's faster solver (people_floor.py with people_floor_kernel.py and
people_floor_solver.py) gives the floors main's solver gave (``numpy_placement.people_floor``:
a search from every start every frame, scipy's numeric Jacobian, the covariance by central
differences), and its cadence (people_floor.REESTIMATE_FRAMES) offers them at most that many
frames late.

The estimator solving every frame (``reestimate_frames=1``) is compared with main's at every
frame. On its default cadence, the properties that replace that equality: at every frame
where it solves, its floor is main's at that frame (the same observations, the tolerances
below); at every other frame it offers the floor of its last solve, at most
REESTIMATE_FRAMES - 1 frames old; its first floor comes at most REESTIMATE_FRAMES - 1 frames
after main's; it starts again at the same frames as main (a moved camera is checked every
frame, and caught on the frame it moves).

What is compared, and to what: the compiled residuals to the numpy ones within 1e-9
(relative above 1); the analytic Jacobian to central differences within 1e-4 (relative
above 1) on the rows under 100 sigmas (beyond, an ankle ray grazing the floor makes the
rows so curved that the differences, not the derivative, are off); the estimators frame by
frame over sequences: the same decision (no floor, its up only, the floor with its height)
and the same restarts, normals within 0.01 deg, camera heights within 1 mm, every sigma and
the covariance within 1 % (both stop their solves at scipy's tolerances, 1e-8 relative,
from other starts: their minima differ by ~1e-5 in the parameters; measured at most
0.0004 deg, 0.03 mm and 0.03 % on the recorded sample and Panoptic sequences,
``benchmarks/bench_people_floor.py``).

Sequences: synthetic crowds of 2-5 standing people a frame seen by cameras 1-3.5 m high
pitched 0-45 deg, with keypoint-like noise on the rays, skeleton ups off by ~7 deg, hip
heights off by ~7 %, ankles unseen, rays that miss the floor, trunks unseen and a wrong
person now and then, strangers or six tracked people seen again (the design effect); a
camera that moves halfway; and, where the models and the sample
bags are there, the observations the pipeline makes of the three sample RGB-D frames,
each repeated as a pseudo-sequence (the rays turned by 1.5 px a frame, with 0.5 px noise).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.stages.placement import people_floor as live
from hdnet_ros.stages.placement.fit import ANKLE_HEIGHT_M
from hdnet_ros.stages.placement.floor import Floor, tangent_basis
from hdnet_ros.stages.placement.people_floor import FloorObservation, PeopleFloor
from numpy_placement import people_floor as reference
from scipy.spatial.transform import Rotation

ANGLE_DEG = 0.01
HEIGHT_M = 1e-3
SIGMA_RELATIVE = 0.01
Sequence = list[list[FloorObservation]]


def camera_rotation(pitch_deg: float) -> np.ndarray:
    """World (x forward, y left, z up) to the optical frame (x right, y down, z forward)
    of a camera pitched down by ``pitch_deg``."""
    level = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    return np.asarray(Rotation.from_euler("x", -pitch_deg, degrees=True).as_matrix() @ level)


def unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / np.linalg.norm(v, axis=-1, keepdims=True))


def person(rng: np.random.Generator, height: float, rotation: np.ndarray, frame: int) -> FloorObservation:
    """One standing person 2-7 m in front of the camera, seen with noise (module doc)."""
    where = np.array([rng.uniform(2.0, 7.0), rng.uniform(-2.0, 2.0), -height])
    hip = rng.uniform(0.85, 1.0)
    lean = unit(np.array([*rng.normal(0.0, 0.05, 2), 1.0]))
    feet = where + np.array([[0.0, 0.12, ANKLE_HEIGHT_M], [0.0, -0.12, ANKLE_HEIGHT_M]]) + rng.normal(0, 0.03, (2, 3))
    pelvis = where + hip * lean
    neck = pelvis + 0.5 * lean
    noise = 0.002  # ~2 px at 900 px focal length
    rays = unit((np.vstack((feet, pelvis, neck)) @ rotation.T) + rng.normal(0.0, noise, (4, 3)))
    seen = rng.random(2) > 0.25
    ankles = rays[:2][seen]
    if rng.random() < 0.02 and len(ankles):  # an ankle ray above the horizon: it misses the floor
        ankles[0] = unit(ankles[0] - 2.0 * (ankles[0] @ rotation[:, 2]) * rotation[:, 2])
    skeleton_up = unit(Rotation.from_rotvec(rng.normal(0.0, 0.12, 3)).apply(rotation[:, 2]))
    hip_height = hip * rng.normal(1.0, 0.07)
    if rng.random() < 0.03:  # a wrong person: its legs half as long
        hip_height *= 0.5
    neck_ray = rays[3] if rng.random() > 0.2 else None
    return FloorObservation(ankles, rays[2], hip_height, skeleton_up, frame, neck_ray)


def crowd_sequence(
    seed: int, frames: int, cameras: list[tuple[float, float]] | None = None, tracks: int = 0
) -> Sequence:
    """``frames`` frames of a random camera (height, pitch), or of ``cameras`` in turn, each
    for an equal share of the frames; with ``tracks`` (>= 5) each frame's people carry
    distinct track ids of that many people, so that people are seen again (their
    observations then count less: the design effect, ``live.repeats``)."""
    rng = np.random.default_rng(seed)
    ids = np.random.default_rng(seed + 1000)  # apart: the untracked sequences stay as they were
    if cameras is None:
        cameras = [(rng.uniform(1.0, 3.5), rng.uniform(0.0, 45.0))]
    sequence = []
    for frame in range(frames):
        height, pitch = cameras[frame * len(cameras) // frames]
        rotation = camera_rotation(pitch)
        people = [person(rng, height, rotation, frame) for _ in range(rng.integers(3, 6))]
        if tracks:
            chosen = ids.choice(tracks, size=len(people), replace=False)
            people = [dataclasses.replace(p, track=int(t)) for p, t in zip(people, chosen, strict=True)]
        sequence.append(people)
    return sequence


def assert_same_floor(mine: Floor | None, theirs: Floor | None, where: str) -> None:
    assert (mine is None) == (theirs is None), f"{where}: {mine} against main's {theirs}"
    if mine is None or theirs is None:
        return
    assert mine.source == theirs.source, where
    angle = np.degrees(np.arccos(np.clip(mine.normal @ theirs.normal, -1.0, 1.0)))
    assert angle < ANGLE_DEG, where
    assert abs(mine.camera_height - theirs.camera_height) < HEIGHT_M, where
    assert mine.sigma_tilt_rad == pytest.approx(theirs.sigma_tilt_rad, rel=SIGMA_RELATIVE), where
    assert mine.sigma_offset_m == pytest.approx(theirs.sigma_offset_m, rel=SIGMA_RELATIVE), where
    if theirs.covariance is not None:
        assert mine.covariance is not None
        scale = float(np.abs(theirs.covariance).max())
        np.testing.assert_allclose(mine.covariance, theirs.covariance, rtol=0, atol=SIGMA_RELATIVE * scale)


Floors = list[tuple[Floor | None, Floor | None, bool]]  # (this, main's, whether this solved) a frame


def run_both(sequence: Sequence, reestimate_frames: int = live.REESTIMATE_FRAMES) -> tuple[PeopleFloor, Floors]:
    """Both estimators over ``sequence``, this one on the cadence ``reestimate_frames``; the
    floors checked (module doc): main's at every frame this one solves, the last solve's
    floor between, the first floor at most ``reestimate_frames - 1`` frames late, the same
    restarts."""
    mine, theirs = PeopleFloor(reestimate_frames), reference.PeopleFloor()
    floors: Floors = []
    for observations in sequence:
        estimates = mine.estimates
        floors.append((mine.add(observations), theirs.add(observations), mine.estimates > estimates))
    assert mine.restarts == theirs.restarts
    last: Floor | None = None
    since = 0
    for frame, (floor, main_floor, solved) in enumerate(floors):
        if solved:
            assert_same_floor(floor, main_floor, f"frame {frame} (a solve)")
            last, since = floor, 0
        else:
            since += 1
            assert floor is last and since < reestimate_frames, f"frame {frame}: {since} frames after a solve"
    first_mine = next((i for i, (floor, _, _) in enumerate(floors) if floor is not None), len(floors))
    first_main = next((i for i, (_, floor, _) in enumerate(floors) if floor is not None), len(floors))
    assert first_main <= first_mine <= first_main + reestimate_frames - 1 or first_main == len(floors)
    return mine, floors


def random_problems(count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, live._Stacked]]:
    """(params, up, basis, stacked) of crowds with every kind of observation."""
    rng = np.random.default_rng(7)
    problems = []
    for seed in range(count):
        observations = [o for frame in crowd_sequence(seed, 4) for o in frame]
        stacked = live._Stacked.of(observations)
        up = stacked.mean_up
        params = np.array([*rng.normal(0.0, 0.15, 2), np.log(rng.uniform(0.5, 4.0))])
        problems.append((params, up, tangent_basis(up), stacked))
    return problems


def test_the_compiled_residuals_are_the_numpy_ones() -> None:
    kinds: list[int] = []
    for params, up, basis, stacked in random_problems(40):
        mine = live._residuals(params, up, basis, stacked)
        arrays = reference._Stacked(stacked.ankles, stacked.pelvis, stacked.hips, stacked.ups, stacked.trunks)
        theirs = reference._residuals(params, up, basis, arrays)
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-9)
        kinds += [
            int(np.count_nonzero(np.isnan(stacked.ankles[:, :, 0]).all(axis=1))),  # no ankle seen
            int(np.count_nonzero(mine == live.MISS_PENALTY)),  # an ankle ray that misses the floor
            int(np.count_nonzero(np.isnan(stacked.trunks[:, 0]))),  # no trunk seen
        ]
    assert np.all(np.sum(np.reshape(kinds, (-1, 3)), axis=0) > 0)  # the problems held every kind of row


def test_the_jacobian_is_the_residuals_derivative() -> None:
    step = 1e-6
    for params, up, basis, stacked in random_problems(40):

        def rows(at: np.ndarray) -> np.ndarray:
            return live._residuals(at, up, basis, stacked)  # noqa: B023 (used in this iteration only)

        jacobian = live._jacobian(params, up, basis, stacked)
        differences = np.stack(
            [
                (
                    live._residuals(params + step * e, up, basis, stacked)
                    - live._residuals(params - step * e, up, basis, stacked)
                )
                / (2 * step)
                for e in np.eye(3)
            ],
            axis=1,
        )
        moderate = np.abs(rows(params)) < 100.0
        error = np.abs(jacobian - differences)[moderate] / np.maximum(1.0, np.abs(differences[moderate]))
        assert error.max() < 1e-4
        constant = np.all(differences == 0.0, axis=1)  # unseen ankles or trunks, the penalty's rows
        assert np.all(jacobian[constant] == 0.0)


def test_the_compiled_solver_reaches_scipys_minima() -> None:
    """people_floor_solver against scipy's least_squares (trf, soft-L1, the same analytic
    Jacobian and tolerances) from a search's starts and from random ones: the same minimum
    (parameters within 1e-5: both stop at 1e-8 relative on the same model and steps, measured
    apart by at most 8e-8 on the sample sequence's 61 solves), the same cost, the same verdict."""
    from hdnet_ros.stages.placement.people_floor_solver import solve_floor
    from scipy.optimize import least_squares

    compared = 0
    for _, up, basis, stacked in random_problems(12):
        for start in [*live._search_starts(live._height_start(stacked, up)), np.array([0.3, -0.2, 0.5])]:
            arguments = (up, basis, stacked)
            theirs = least_squares(
                live._residuals, start, jac=live._jacobian, args=arguments, loss="soft_l1", f_scale=live.LOSS_SCALE
            )
            x, cost, evaluations, converged = solve_floor(
                start, up, basis, *stacked.arrays, live._CONSTANTS, live.LOSS_SCALE
            )
            assert converged == theirs.success
            np.testing.assert_allclose(x, theirs.x, rtol=0, atol=1e-5)
            assert cost == pytest.approx(theirs.cost, rel=1e-9)
            assert evaluations <= 2 * theirs.nfev + 2
            compared += 1
    assert compared >= 48


def test_the_trust_step_minimises_the_model_in_its_ball() -> None:
    """Each step is the model's minimum within the radius: no point of the ball (random
    directions and lengths) has a lower model value; inside steps are Newton's."""
    from hdnet_ros.stages.placement.people_floor_solver import _trust_step

    rng = np.random.default_rng(3)
    for trial in range(200):
        root = rng.normal(size=(3, 3))
        hessian = root @ root.T
        if trial % 4 == 0:  # a direction without curvature (a parameter the rows do not see)
            hessian[:, 2] = hessian[2, :] = 0.0
        gradient = rng.normal(size=3) * rng.uniform(0.01, 10.0)
        radius = rng.uniform(0.01, 3.0)
        step = _trust_step(gradient, hessian, radius)
        assert np.linalg.norm(step) <= radius * (1 + 1e-6)
        directions = rng.normal(size=(2000, 3))
        points = directions / np.linalg.norm(directions, axis=1, keepdims=True) * radius * rng.random((2000, 1))
        at_step = float(quadratic(step, gradient, hessian))
        assert at_step <= quadratic(points, gradient, hessian).min() + 1e-9 * max(1.0, abs(at_step))


def quadratic(points: np.ndarray, gradient: np.ndarray, hessian: np.ndarray) -> np.ndarray:
    """The model ``g p + p H p / 2`` at points [..., 3]."""
    return np.asarray(points @ gradient + 0.5 * np.einsum("...i,ij,...j->...", points, hessian, points))


@pytest.mark.parametrize("seed", range(4))
def test_the_floors_are_mains_over_a_static_cameras_frames(seed: int) -> None:
    """Solving every frame, the floors are main's at every frame (run_both)."""
    estimator, floors = run_both(crowd_sequence(seed, 30), reestimate_frames=1)
    assert all(solved for _, _, solved in floors)
    assert sum(theirs is not None for _, theirs, _ in floors) >= 20  # the floors were compared
    # most frames started from the last minima: a search as the observations doubled
    assert estimator.searches <= 10


@pytest.mark.parametrize("seed", range(2))
def test_the_floors_are_mains_with_people_seen_again(seed: int) -> None:
    """Tracked people (6 of them, seen again and again) count for less than as many
    strangers: main's floor with the design effect, every frame and on the cadence; the
    sigmas are wider than the same observations untracked give."""
    tracked = crowd_sequence(seed, 30, tracks=6)
    assert live.repeats([o for frame in tracked for o in frame]) > 3.0  # people were seen again
    _, floors = run_both(tracked, reestimate_frames=1)
    run_both(tracked)
    _, strangers = run_both(crowd_sequence(seed, 30), reestimate_frames=1)
    # from the second frame on someone has been seen before (the first frame's people are all new)
    ratios = [
        mine.sigma_offset_m / theirs.sigma_offset_m
        for (mine, _, _), (theirs, _, _) in list(zip(floors, strangers, strict=True))[1:]
        if mine is not None
        and theirs is not None
        and mine.height_known
        and theirs.height_known
        and theirs.sigma_offset_m > live.TF_SIGMA_OFFSET_M
    ]
    assert len(ratios) >= 10 and min(ratios) > 1.0


@pytest.mark.parametrize("seed", range(2))
def test_the_cadence_offers_mains_floors_at_most_its_frames_late(seed: int) -> None:
    """On the default cadence over 60 frames of a static camera (~240 observations kept at
    the end): main's floor at each solve, the last solve's between (run_both), and
    far fewer solves than frames once many observations are kept."""
    estimator, floors = run_both(crowd_sequence(seed, 60))
    assert sum(solved and theirs is not None for _, theirs, solved in floors) >= 5  # solves compared
    assert sum(not solved and theirs is not None for _, theirs, solved in floors) >= 20  # frames kept
    late = [solved for _, _, solved in floors[40:]]  # 120-300 observations kept
    assert sum(late) <= len(late) // 3
    assert estimator.estimates < len(floors) // 2


def test_the_cadence_is_checked() -> None:
    with pytest.raises(ValueError, match="reestimate_frames"):
        PeopleFloor(reestimate_frames=0)
    with pytest.raises(ValueError, match="reestimate_share"):
        PeopleFloor(reestimate_share=float("nan"))


def test_a_moved_camera_starts_again_and_searches() -> None:
    """The camera moves at frame 15 (2.5 m high pitched 30 deg, then 1.2 m and 5 deg): the
    estimate starts again from a search, not from the minima of the old floor."""
    sequence = crowd_sequence(11, 30, [(2.5, 30.0), (1.2, 5.0)])
    estimator = PeopleFloor()
    for observations in sequence[:15]:
        estimator.add(observations)
    restarts, searches, before = estimator.restarts, estimator.searches, estimator.floor
    estimator.add(sequence[15])  # the frame the camera moves: caught whatever the cadence
    assert estimator.restarts == restarts + 1 and estimator.searches == searches + 1
    for observations in sequence[16:19]:
        estimator.add(observations)
    assert before is not None and estimator.floor is not None
    assert abs(before.camera_height - 2.5) < 0.3 and abs(estimator.floor.camera_height - 1.2) < 0.3
    for reestimate_frames in (1, live.REESTIMATE_FRAMES):
        run_both(sequence, reestimate_frames)


def test_a_reset_forgets_the_floor_and_its_minima() -> None:
    sequence = crowd_sequence(3, 10)
    estimator = PeopleFloor()
    for observations in sequence:
        estimator.add(observations)
    searches = estimator.searches
    estimator.add(sequence[0])
    assert estimator.searches == searches  # a frame more: solved from the last minima, if at all
    estimator.reset()
    assert estimator.floor is None and not estimator.observations
    estimates = estimator.estimates
    estimator.add(sequence[0] + sequence[1])
    assert estimator.estimates == estimates + 1  # a new recording: solved at once,
    assert estimator.searches == searches + 1  # from a search


def turned(sequence: list[FloorObservation], angle: float, rng: np.random.Generator) -> list[FloorObservation]:
    """The observations with every ray turned by ``angle`` about the image's y axis (the image
    shifted sideways) and 0.5 px of noise."""
    rotation = Rotation.from_rotvec([0.0, angle, 0.0])

    def ray(v: np.ndarray) -> np.ndarray:
        return unit(rotation.apply(v) + rng.normal(0.0, 5e-4, np.shape(v)))

    return [
        FloorObservation(
            ray(o.ankle_rays) if len(o.ankle_rays) else o.ankle_rays,
            ray(o.pelvis_ray),
            o.hip_height,
            o.skeleton_up,
            o.frame,
            None if o.neck_ray is None else ray(o.neck_ray),
        )
        for o in sequence
    ]


@pytest.fixture(scope="module")
def sample_observations(models_dir: Path, sample_bags: list[Path]) -> list[list[FloorObservation]]:
    """The observations the pipeline made of each sample RGB-D frame (the depth stage offers no
    floor on them, so the people's floor is the one used), with every person posed (no cap
    on BlazePose's crops: the default of three leaves too few people with a pose in the one
    frame each bag gives) and the detector on OpenVINO. These frames in a row led the
    solver from its last minima into a local minimum at frame 16 (cost 51.64 against the
    search's 51.09: 17 deg and 1.5 m off), which the restart's test lets through, until each
    solve also started from the observations' own height (docs/evaluation.md)."""
    from hdnet_ros.frame_input import build_frame
    from hdnet_ros.pipeline import Pipeline
    from helpers import sample_messages

    from hdnet_ros.config import load_settings

    overrides = {"models.models_dir": str(models_dir), "blazepose.max_crops": 0, "detector.runtime": "openvino"}
    pipeline = Pipeline.from_settings(load_settings(overrides=overrides))
    placement = pipeline.stages.placement
    assert placement is not None
    recorded: list[list[FloorObservation]] = []
    add: Callable[[list[FloorObservation]], Floor | None] = placement.people_floor.add

    def recording(observations: list[FloorObservation]) -> Floor | None:
        recorded.append(list(observations))
        return add(observations)

    placement.people_floor.add = recording  # type: ignore[method-assign]
    for bag in sample_bags:
        m = sample_messages(bag)
        pipeline.reset_tracking()
        pipeline.process(build_frame(m["rgb"], m["depth"], m["camera_info"]))
    return recorded


def test_the_floors_are_mains_over_the_sample_frames(sample_observations: list[list[FloorObservation]]) -> None:
    rng = np.random.default_rng(0)
    assert len(sample_observations) == 3 and sum(map(len, sample_observations)) >= 6  # people stood in them
    sequence = [
        turned(observations, 1.5 * step / 900.0, rng) for observations in sample_observations for step in range(12)
    ]
    for reestimate_frames in (1, live.REESTIMATE_FRAMES):
        _, floors = run_both(sequence, reestimate_frames)
        assert sum(solved and theirs is not None for _, theirs, solved in floors) >= 3
    assert sum(theirs is not None for _, theirs, _ in floors) >= 10
