"""The compiled depth stage gives the numpy stage's results, is compiled once, and caches
its machine code where a read-only install can.

The reference is the numpy implementation the kernel replaced (``numpy_lifting``, main at
bd03366). Both run on the same inputs, taken where the lifter calls the stage: the
synthetic benchmark's settings (with and without person masks, and with other settings of
the stage) and the three sample RGB-D frames with the pipeline's own 2D keypoints and
BlazePose's masks and roots. Every output of the sample-and-measure kernel (torso depth,
stature, joint positions and sigmas, occlusion flags, facing) and the lifted people the
stage returns (which also pass the compiled completion from the skeleton) must agree
within 1e-9 m, with the same joints measured and the same depth sources.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.frame_input import build_frame
from hdnet_ros.people import Person
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.stages.blazepose import per_track
from hdnet_ros.stages.depth import DepthLifter, LiftingConfig, NetworkEstimates
from hdnet_ros.stages.depth import floor as floor_module
from hdnet_ros.stages.depth import lifter as lifter_module
from hdnet_ros.stages.depth import root as root_module
from hdnet_ros.stages.depth.arrays import Measured, Observed, PersonMasks
from hdnet_ros.stages.depth.complete import _band_people, _complete_people, _take_people, complete_from_skeleton
from hdnet_ros.stages.depth.floor import FloorSamples, GroundConfig
from hdnet_ros.stages.depth.floor_cadence import _check_fit
from hdnet_ros.stages.depth.fuse import _choose_people, _fuse_all
from hdnet_ros.stages.depth.guessed import _guess_people, _hide_people
from hdnet_ros.stages.depth.jit import cache_dir, hash_sources, sources_hash, writable
from hdnet_ros.stages.depth.measure import _measure_people, measure_depth
from hdnet_ros.stages.depth.observe import observe
from hdnet_ros.stages.depth.root import _on_rays, _roots_from_shoulders, _sensor_people
from hdnet_ros.stages.depth.torso import SURE_FACE_SCORE
from hdnet_ros.stages.depth.warm import warm_up
from hdnet_ros.stages.depth.windows import SORT_SCRATCH, sort_depths
from hdnet_ros.synthetic import RayGrid, SyntheticFrame, make_frame
from hdnet_ros.synthetic.benchmark import default_settings
from hdnet_ros.synthetic.masks import person_masks
from hdnet_ros.synthetic.scene import sample_scene
from helpers import sample_messages
from numpy_lifting.complete import complete_from_skeleton as reference_complete_from_skeleton
from numpy_lifting.glue import choose_roots as reference_choose_roots
from numpy_lifting.glue import drop_guessed as reference_drop_guessed
from numpy_lifting.glue import enforce_person_band as reference_enforce_person_band
from numpy_lifting.glue import floor_candidates as numpy_floor_candidates
from numpy_lifting.glue import floor_samples as numpy_floor_samples
from numpy_lifting.measure import measure_joints as reference_measure_joints
from numpy_lifting.root import on_pelvis_ray as reference_on_pelvis_ray
from numpy_lifting.root import pelvis_pixels as reference_pelvis_pixels
from numpy_lifting.root import sensor_roots as reference_sensor_roots
from numpy_lifting.sample import sample_depth as reference_sample_depth
from test_refinement import CAMERA, seated_behind_a_chair

from hdnet_ros.config import load_settings

BOUND_M = 1e-9
FRAMES_PER_SETTING = 3
# Settings of the stage other than the defaults, run on the default setting's frames.
VARIANTS: dict[str, dict[str, Any]] = {
    "windows from the box height": {"window_radius_m": 0.0},
    "more support, finer gaps": {"min_support_px": 6, "cluster_gap_m": 0.04},
    "small windows": {"min_window_px": 3, "max_window_px": 5},
    "near depths invalid": {"min_depth_m": 1.5},
}


def reference_measure(
    observed: Observed,
    depth: np.ndarray,
    camera: CameraModel,
    size_z: np.ndarray,
    config: LiftingConfig,
    masks: PersonMasks | None = None,
    sure: np.ndarray | None = None,
) -> tuple[Any, Measured]:
    sampled = reference_sample_depth(observed, depth, camera, size_z, config, masks, sure)
    return sampled, reference_measure_joints(observed, sampled, camera, config)


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference of two arrays (inf where one is NaN and the other is not;
    booleans: 0 or inf)."""
    if a.dtype == bool:
        return 0.0 if np.array_equal(a, b) else np.inf
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return np.inf
    finite = np.isfinite(a)
    return float(np.max(np.abs(a[finite] - b[finite]), initial=0.0))


@dataclass
class Comparison:
    """Stands in for the lifter's ``measure_depth``: runs the kernel and the reference on
    the same inputs, records how far apart they are, returns the kernel's result."""

    calls: int = 0
    measured_joints: int = 0
    worst: dict[str, float] = field(default_factory=dict)

    def __call__(self, observed: Observed, depth: np.ndarray, camera: CameraModel, *args: Any) -> Any:
        kernel_sampled, kernel = measure_depth(observed, depth, camera, *args)
        reference_sampled, reference = reference_measure(observed, depth, camera, *args)
        pairs = {
            "torso depth": (kernel_sampled.reference, reference_sampled.reference),
            "stature": (kernel_sampled.stature, reference_sampled.stature),
            "points": (kernel.points, reference.points),
            "sigma": (kernel.sigma, reference.sigma),
            "occluded": (kernel.occluded, reference.occluded),
            "inferred": (kernel.inferred, reference.inferred),
            "facing cos": (kernel.facing.cos, reference.facing.cos),
            "facing sin": (kernel.facing.sin, reference.facing.sin),
            "facing known": (kernel.facing.known, reference.facing.known),
        }
        for name, (a, b) in pairs.items():
            self.worst[name] = max(self.worst.get(name, 0.0), difference(np.asarray(a), np.asarray(b)))
        self.calls += 1
        self.measured_joints += int(np.count_nonzero(np.isfinite(kernel.points[..., 2])))
        return kernel_sampled, kernel


@dataclass(frozen=True)
class Case:
    name: str
    people: list[Person]
    depth: np.ndarray
    camera: CameraModel
    config: LiftingConfig
    networks: NetworkEstimates | None = None


def copies(people: list[Person]) -> list[Person]:
    return [replace(p, pixels=p.pixels.copy(), scores=p.scores.copy()) for p in people]


def lift(
    case: Case,
    monkeypatch: pytest.MonkeyPatch,
    measure: Callable[..., Any] = measure_depth,
    complete: Callable[..., Any] = complete_from_skeleton,
) -> list[Person]:
    """The case's people lifted by the stage with ``measure`` as its sample-and-measure
    step and ``complete`` as its completion from the skeleton."""
    people = copies(case.people)
    with monkeypatch.context() as patch:
        patch.setattr(lifter_module, "measure_depth", measure)
        patch.setattr(lifter_module, "complete_from_skeleton", complete)
        DepthLifter(case.config)(people, case.depth, case.camera, case.networks)
    return people


@pytest.fixture(scope="module")
def synthetic_cases() -> list[Case]:
    """The synthetic benchmark's settings (3 frames each, seed 0 as ``run_setting`` draws
    them); the default setting's frames also with exact and with degraded person masks, and
    with each of VARIANTS."""
    cases = []
    for setting in default_settings(FRAMES_PER_SETTING):
        scene_rng, sensor_rng, oracle_rng, mask_rng = (np.random.default_rng([0, stream]) for stream in range(4))
        grid = RayGrid(setting.scene.camera.camera())
        config = LiftingConfig(noise_coefficient=setting.sensor.noise_coefficient or 0.0015)
        for index in range(setting.frames):
            scene = sample_scene(scene_rng, setting.scene)
            frame: SyntheticFrame = make_frame(scene, setting.sensor, setting.oracle, sensor_rng, grid, 0, oracle_rng)
            name = f"{setting.name} frame {index}"
            cases.append(Case(name, frame.people, frame.depth_m, scene.camera, config))
            if setting.name != "default":
                continue
            for noise_px in (0, 3):
                masks = person_masks(scene, frame.rendering, frame.people, frame.truths, noise_px, mask_rng)
                networks = replace(NetworkEstimates.none(len(masks)), masks=PersonMasks.stack(masks))
                masked = Case(
                    f"{name}, masks {noise_px} px", frame.people, frame.depth_m, scene.camera, config, networks
                )
                cases.append(masked)
            for variant, changes in VARIANTS.items():
                changed = replace(config, **changes)
                cases.append(Case(f"{name}, {variant}", frame.people, frame.depth_m, scene.camera, changed))
    return cases


@pytest.fixture(scope="module")
def sample_cases(models_dir: Path, sample_bags: list[Path]) -> list[Case]:
    """The sample frames' people as the pipeline's 2D stage sees them, with BlazePose's
    estimates (masks, roots, poses) and with the depth alone. Every accepted crop gets its
    mask here (the pipeline makes masks only where people overlap: the kernel is checked
    on as many as it can read)."""
    pipeline = Pipeline.from_settings(load_settings(overrides={"models.models_dir": str(models_dir)}))
    cases = []
    for bag in sample_bags:
        messages = sample_messages(bag)
        frame = build_frame(messages["rgb"], messages["depth"], messages["camera_info"])
        assert frame.depth_m is not None
        people, bodies = pipeline.keypoints_of(frame, pipeline.detector(frame.rgb))
        pipeline.reset_tracking()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(per_track, "masks_wanted", lambda _people, chosen, _depth: [True] * len(chosen))
            networks = pipeline.networks_of(frame, people, bodies)
        assert networks is not None and networks.masks is not None and networks.masks.present.any()
        config = pipeline.settings.lifting
        cases.append(Case(f"{bag.name} with BlazePose", people, frame.depth_m, frame.camera, config, networks))
        cases.append(Case(f"{bag.name}, depth alone", people, frame.depth_m, frame.camera, config))
    return cases


def assert_steps_match(cases: list[Case], monkeypatch: pytest.MonkeyPatch) -> Comparison:
    comparison = Comparison()
    for case in cases:
        lift(case, monkeypatch, comparison)
    assert comparison.calls == len(cases)
    worst = {name: value for name, value in comparison.worst.items() if not value <= BOUND_M}
    assert not worst, f"the kernel differs from the numpy stage: {worst}"
    return comparison


def assert_people_match(cases: list[Case], monkeypatch: pytest.MonkeyPatch) -> None:
    for case in cases:
        kernel = lift(case, monkeypatch)
        reference = lift(case, monkeypatch, reference_measure, reference_complete_from_skeleton)
        for a, b in zip(kernel, reference, strict=True):
            assert difference(a.positions, b.positions) <= BOUND_M, case.name
            assert difference(a.position_stddev, b.position_stddev) <= BOUND_M, case.name
            assert np.array_equal(a.depth_sources, b.depth_sources), case.name
            assert difference(a.feet, b.feet) <= BOUND_M, case.name


def test_the_kernel_measures_the_synthetic_benchmark_as_the_numpy_stage(
    synthetic_cases: list[Case], monkeypatch: pytest.MonkeyPatch
) -> None:
    comparison = assert_steps_match(synthetic_cases, monkeypatch)
    assert comparison.measured_joints > 500  # enough joints measured for the check to mean something


def test_the_stage_lifts_the_synthetic_benchmark_as_before(
    synthetic_cases: list[Case], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_people_match(synthetic_cases, monkeypatch)


def test_the_kernel_measures_the_sample_frames_as_the_numpy_stage(
    sample_cases: list[Case], monkeypatch: pytest.MonkeyPatch
) -> None:
    comparison = assert_steps_match(sample_cases, monkeypatch)
    assert comparison.measured_joints > 100


def test_the_stage_lifts_the_sample_frames_as_before(sample_cases: list[Case], monkeypatch: pytest.MonkeyPatch) -> None:
    assert_people_match(sample_cases, monkeypatch)


def test_the_face_that_stands_for_a_hidden_torso_is_the_numpy_stages() -> None:
    # A person hidden up to the face behind a chair back, with the size prior of someone
    # who looks smaller than they are (test_refinement): the last resort for the reference
    # depth, the face, taken by the kernel as the numpy stage takes it.
    person, depth, size_z, face_surface = seated_behind_a_chair(face_score=0.9)
    sure = (person.scores >= SURE_FACE_SCORE)[None]
    comparison = Comparison()
    sampled, _ = comparison(
        Observed.of([person], CAMERA), depth, CAMERA, np.array([size_z]), LiftingConfig(), None, sure
    )
    worst = {name: value for name, value in comparison.worst.items() if not value <= BOUND_M}
    assert not worst, f"the kernel differs from the numpy stage: {worst}"
    assert abs(sampled.reference[0] - face_surface) < 0.04


def reference_floor_candidates(
    depth: np.ndarray, camera: CameraModel, config: GroundConfig, rng: np.random.Generator | None
) -> np.ndarray | None:
    """main's floor candidates; the refresh's (``rng`` None) from the first draw of
    ``default_rng(1)``, as ``floor._fixed_pick`` makes it."""
    return numpy_floor_candidates(depth, camera, config, rng or np.random.default_rng(1))


def reference_floor_samples(
    depth: np.ndarray, camera: CameraModel, config: GroundConfig, rng: np.random.Generator | None
) -> FloorSamples | None:
    """:func:`reference_floor_candidates` with their pixels, as the floor's fits take them."""
    found = numpy_floor_samples(depth, camera, config, rng or np.random.default_rng(1))
    return None if found is None else FloorSamples(*found)


def reference_glue(patch: pytest.MonkeyPatch) -> None:
    """The stage's glue as main's numpy had it before perf8 (``numpy_lifting``): the guessed
    joints, the floor's candidates, the sensor's roots, the pelvis pixels and rays, the choice of
    the root and the person band."""
    patch.setattr(DepthLifter, "_drop_guessed", reference_drop_guessed)
    patch.setattr(floor_module, "_floor_candidates", reference_floor_candidates)
    patch.setattr(floor_module, "_floor_samples", reference_floor_samples)
    patch.setattr(root_module, "sensor_roots", reference_sensor_roots)
    patch.setattr(root_module, "pelvis_pixels", reference_pelvis_pixels)
    patch.setattr(root_module, "on_pelvis_ray", reference_on_pelvis_ray)
    patch.setattr(lifter_module, "choose_roots", reference_choose_roots)
    patch.setattr(lifter_module, "enforce_person_band", reference_enforce_person_band)


def lift_glue(case: Case, monkeypatch: pytest.MonkeyPatch, reference: bool) -> tuple[list[Person], int]:
    """The case's people lifted twice by one stage (the second time from a copy of the
    depth image: the floor fitted on the first is checked), its kernels as they are,
    with the compiled glue or with main's numpy glue; and the hidden joints it counted."""
    people: list[Person] = []
    with monkeypatch.context() as patch:
        if reference:
            reference_glue(patch)
        lifter = DepthLifter(case.config)
        for depth in (case.depth, case.depth.copy()):
            people = copies(case.people)
            lifter(people, depth, case.camera, case.networks)
    return people, lifter.hidden_joints


@pytest.fixture(scope="module")
def crowd_cases() -> list[Case]:
    """Crowds of 12-20 people of the default setting's scenes (people behind people)."""
    setting = default_settings(FRAMES_PER_SETTING)[0]
    scene_rng, sensor_rng, oracle_rng = (np.random.default_rng([1, stream]) for stream in range(3))
    grid = RayGrid(setting.scene.camera.camera())
    config = LiftingConfig(noise_coefficient=setting.sensor.noise_coefficient or 0.0015)
    cases = []
    for index in range(FRAMES_PER_SETTING):
        scene = sample_scene(scene_rng, replace(setting.scene, people_range=(12, 20)))
        frame = make_frame(scene, setting.sensor, setting.oracle, sensor_rng, grid, 0, oracle_rng)
        cases.append(Case(f"crowd {index}", frame.people, frame.depth_m, scene.camera, config))
    return cases


def test_the_glue_lifts_as_main_s_numpy_to_the_bit(
    synthetic_cases: list[Case], crowd_cases: list[Case], sample_cases: list[Case], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled glue (guessed joints, ...) gives the same people as main's numpy glue,
    every array to the bit: positions, sigmas, sources, feet, the 2D scores it lowers, and
    the count of hidden joints."""
    hidden = 0
    for case in [*synthetic_cases, *crowd_cases, *sample_cases]:
        (got, got_hidden), (want, want_hidden) = (lift_glue(case, monkeypatch, flag) for flag in (False, True))
        assert got_hidden == want_hidden, case.name
        hidden += got_hidden
        for a, b in zip(got, want, strict=True):
            for name in ("positions", "position_stddev", "depth_sources", "scores", "feet", "feet_stddev"):
                mine, main = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
                assert mine.dtype == main.dtype and mine.tobytes() == main.tobytes(), (case.name, name)
    assert hidden > 0  # the guessed and hidden joints' rules ran


# --- the kernel's parts ----------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 31, 32, 33, 64, 65, 127, 128, 190, 700, 3000])
def test_depths_sort_as_numpy_sorts_them(count: int) -> None:
    rng = np.random.default_rng(count)
    values = np.empty(count + 3, np.float32)
    scratch = np.empty(SORT_SCRATCH + len(values), np.uint32)
    for draw in (
        rng.uniform(0.3, 10.0, count),  # across several float exponents
        np.round(rng.uniform(2.0, 2.3, count), 2),  # a sensor's depth steps: many repeats
        np.full(count, 3.0),
        rng.choice([0.0, -0.0, 1.0, 0.5], count),  # a range starting at 0
        # A window on one surface (its buckets crowded) with a few depths in front and behind.
        np.where(rng.random(count) < 0.9, rng.normal(2.5, 0.01, count), rng.uniform(0.5, 6.0, count)),
    ):
        values[:count] = draw
        values[count:] = -1.0  # beyond count: untouched
        sort_depths(values, count, scratch)
        assert np.array_equal(values[:count], np.sort(draw.astype(np.float32)))
        assert np.all(values[count:] == -1.0)


def test_the_kernel_is_compiled_once_before_the_first_frame(synthetic_cases: list[Case]) -> None:
    """One signature after the warm-up, whatever the depth image and masks look like (a
    second would be a compile on a frame)."""
    DepthLifter(LiftingConfig())
    kernels = (
        _measure_people, _complete_people, _guess_people, _hide_people, _choose_people, _band_people, _sensor_people,
        _roots_from_shoulders, _on_rays, _take_people, _check_fit, _fuse_all, observe,
    )  # fmt: skip
    assert [len(kernel.signatures) for kernel in kernels] == [1] * len(kernels)
    case = next(c for c in synthetic_cases if c.networks is not None)
    read_only = case.depth.copy()
    read_only.flags.writeable = False
    for depth in (read_only, case.depth.astype(np.float64), np.asfortranarray(case.depth)):
        for networks in (case.networks, None):
            DepthLifter(case.config)(copies(case.people), depth, case.camera, networks)
        lifter = DepthLifter(case.config)  # the floor fitted, then checked on the next image
        for _ in range(2):
            lifter.floor_plane(depth.copy(order="K"), case.camera)
    assert [len(kernel.signatures) for kernel in kernels] == [1] * len(kernels)


def test_the_compiled_code_is_cached_under_a_hash_of_the_stage(tmp_path: Path) -> None:
    warm_up()
    directory = cache_dir()
    assert directory is not None and any(directory.rglob("*.nbi")), "nothing cached: every process compiles"
    assert cache_dir({"NUMBA_CACHE_DIR": str(tmp_path)}) == tmp_path / f"hdnet_ros-{sources_hash()}"
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "hdnet_ros" / "kernels" / sources_hash()
    assert cache_dir({"NUMBA_CACHE_DIR": "relative"}) is None


def test_any_change_to_the_stage_changes_the_cache_directory(tmp_path: Path) -> None:
    """numba checks only a function's own file; a callee changed in another file must not
    be run from the old machine code."""
    stage = Path(lifter_module.__file__).parent
    copy = tmp_path / "depth"
    copy.mkdir()
    for path in stage.glob("*.py"):
        (copy / path.name).write_bytes(path.read_bytes())
    assert hash_sources(copy) == hash_sources(stage) == sources_hash()
    windows = copy / "windows.py"
    windows.write_text(windows.read_text() + "\n# changed\n")
    assert hash_sources(copy) != sources_hash()


def test_an_unwritable_cache_location_is_noticed(tmp_path: Path) -> None:
    """(Then the kernel is compiled in every process instead of cached elsewhere.)"""
    blocker = tmp_path / "a file"
    blocker.write_text("")
    assert not writable(blocker / "kernels")
    assert writable(tmp_path / "kernels")


def test_a_new_process_loads_the_kernels_from_the_cache() -> None:
    """After this process compiled (or loaded) them, another one finds them cached."""
    warm_up()
    script = (
        "from hdnet_ros.stages.depth.warm import warm_up\n"
        "from hdnet_ros.stages.depth.complete import _complete_people\n"
        "from hdnet_ros.stages.depth.measure import _measure_people\n"
        "warm_up()\n"
        "print([sum(k.stats.cache_hits.values()) for k in (_measure_people, _complete_people)],"
        " [sum(k.stats.cache_misses.values()) for k in (_measure_people, _complete_people)])\n"
    )
    package_root = Path(lifter_module.__file__).parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(package_root), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    assert result.stdout.split("\n")[0] == "[1, 1] [0, 0]", result.stdout + result.stderr


BROKEN_NUMBA = """
import importlib.abc
import sys


class _BuiltForAnotherNumpy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "numba":
            raise ImportError("Numba needs NumPy 1.21 or less, got NumPy 1.26.")
        return None


sys.meta_path.insert(0, _BuiltForAnotherNumpy())
"""


def test_a_numba_that_cannot_load_is_named_as_missing(tmp_path: Path) -> None:
    """Ubuntu 22.04's numba under a newer pip numpy: not a traceback, but the missing
    package the command line and the node name with how to install it."""
    (tmp_path / "sitecustomize.py").write_text(BROKEN_NUMBA)
    package_root = Path(lifter_module.__file__).parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(package_root)])}
    script = (
        "try:\n"
        "    import hdnet_ros.stages.depth.jit\n"
        "except ModuleNotFoundError as error:\n"
        "    print(error.name, '|', error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "numba | numba cannot be imported: Numba needs NumPy 1.21 or less, got NumPy 1.26."
