"""main's floor candidates and guessed-joint test (stages/depth/{floor,guessed}.py at
2531b93; the path helpers as they were at 30ee9d3, before perf8 compiled them), the
references of their cheaper forms (``test_depth_glue``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import NUM_JOINTS, ROOT
from hdnet_ros.people import DepthSource, Person
from hdnet_ros.stages.depth.arrays import Lifted, Measured, Observed, RootCandidates
from hdnet_ros.stages.depth.floor import CANDIDATE_STRIDE, GroundConfig
from hdnet_ros.stages.depth.fuse import fuse_depths
from hdnet_ros.stages.depth.guessed import EDGE_SHARE, LIMBS, PATH_SAMPLES, SEEN_SCORE, WIDE_FRACTION

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DepthImage = npt.NDArray[np.float32]


def path_depths(depth: DepthImage, start: FloatArray, end: FloatArray, min_m: float, max_m: float) -> FloatArray:
    """Depths [R,S] along 2D segments [R,2] -> [R,2]: at PATH_SAMPLES evenly spaced points,
    each the median of the valid depths of its 3x3 patch (NaN: none valid)."""
    height, width = depth.shape
    t = np.linspace(0.0, 1.0, PATH_SAMPLES)[None, :, None]
    points = start[:, None, :] + t * (end - start)[:, None, :]  # [R,S,2]
    offsets = np.array([(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    cols = np.clip(np.rint(points[..., None, 0]).astype(np.intp) + offsets[:, 0], 0, width - 1)
    rows = np.clip(np.rint(points[..., None, 1]).astype(np.intp) + offsets[:, 1], 0, height - 1)
    values = depth[rows, cols].astype(np.float64)  # [R,S,9]
    with np.errstate(invalid="ignore"):
        values[~((values >= min_m) & (values <= max_m))] = np.nan
    patches = np.sort(values, axis=-1)  # NaN last
    valid = np.sum(np.isfinite(patches), axis=-1)
    low = np.take_along_axis(patches, np.maximum((valid - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(patches, np.maximum(valid // 2, 0)[..., None], axis=-1)[..., 0]
    return np.where(valid > 0, (low + high) / 2.0, np.nan)


def largest_drop(depths: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The largest step towards the camera [R] between consecutive valid samples [R,S],
    and the depth just beyond it (NaN: no step)."""
    drops = np.zeros(len(depths))
    beyond = np.full(len(depths), np.nan)
    previous = depths[:, 0].copy()
    for column in range(1, depths.shape[1]):
        value = depths[:, column]
        with np.errstate(invalid="ignore"):
            larger = previous - value > drops
        drops = np.where(larger, previous - value, drops)
        beyond = np.where(larger, value, beyond)
        previous = np.where(np.isfinite(value), value, previous)
    return drops, beyond


def wider_than_a_limb(
    depth: DepthImage,
    start: FloatArray,
    end: FloatArray,
    width_px: FloatArray,
    surface_z: FloatArray,
    jump_m: float,
    min_m: float,
    max_m: float,
) -> BoolArray:
    """Whether the surface at each segment's end [R] reaches ``width_px`` to both sides of
    the segment (3x3 medians within ``jump_m`` of ``surface_z``): an object, not a limb."""
    direction = end - start
    length = np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-9)
    side = np.stack((-direction[:, 1], direction[:, 0]), axis=1) / length * width_px[:, None]
    left = path_depths(depth, end + side, end + side, min_m, max_m)[:, 0]
    right = path_depths(depth, end - side, end - side, min_m, max_m)[:, 0]
    with np.errstate(invalid="ignore"):
        return (np.abs(left - surface_z) <= jump_m) & (np.abs(right - surface_z) <= jump_m)


def floor_candidates(
    depth: npt.NDArray[np.float32], camera: CameraModel, config: GroundConfig, rng: np.random.Generator
) -> FloatArray | None:
    found = floor_samples(depth, camera, config, rng)
    return None if found is None else found[1]


def floor_samples(
    depth: npt.NDArray[np.float32], camera: CameraModel, config: GroundConfig, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray] | None:
    """The candidates' pixels [N,2] and points [N,3]."""
    top = depth.shape[0] // 3
    sub = depth[top::CANDIDATE_STRIDE, ::CANDIDATE_STRIDE]
    v, u = np.nonzero(np.isfinite(sub) & (sub > 0))
    if v.size * CANDIDATE_STRIDE**2 < config.min_inliers:
        return None
    pick = rng.choice(v.size, size=min(config.samples, v.size), replace=False)
    uv = np.stack((u[pick] * CANDIDATE_STRIDE, v[pick] * CANDIDATE_STRIDE + top), axis=1).astype(np.float64)
    return uv, camera.back_project(uv, depth[uv[:, 1].astype(int), uv[:, 0].astype(int)])


def guessed_joints(
    observed: Observed,
    scores: FloatArray,
    measured: Measured,
    depth: npt.NDArray[np.float32],
    jump_m: float,
    min_m: float,
    max_m: float,
) -> BoolArray:
    count = len(observed)
    guessed = np.zeros((count, NUM_JOINTS), dtype=bool)
    z = measured.points[..., 2]
    seen = observed.seen
    sensor = np.isfinite(z) & ~measured.inferred & seen
    hidden = seen & measured.occluded & ~sensor
    anchor_z = np.where(sensor, z, np.nan)
    for joint, parent in LIMBS:
        with np.errstate(invalid="ignore"):
            nearer = sensor[:, joint] & (z[:, joint] <= anchor_z[:, parent] - jump_m)
        nearer &= scores[:, joint] < SEEN_SCORE
        below = guessed[:, parent]
        guessed[:, joint] = below & nearer
        for rows, covered in (
            (np.flatnonzero(nearer & ~below & sensor[:, parent]), False),
            (np.flatnonzero(nearer & ~below & hidden[:, parent]), True),
        ):
            if not len(rows):
                continue
            path = path_depths(depth, observed.pixels[rows, parent], observed.pixels[rows, joint], min_m, max_m)
            if covered:
                guessed[rows, joint] = np.abs(path[:, 0] - z[rows, joint]) <= jump_m
            else:
                drop, beyond = largest_drop(path)
                edge = drop >= EDGE_SHARE * (anchor_z[rows, parent] - z[rows, joint])
                onto = edge & (np.abs(beyond - z[rows, joint]) <= jump_m)
                width = WIDE_FRACTION * (observed.boxes[rows, 3] - observed.boxes[rows, 1])
                start, end = observed.pixels[rows, parent], observed.pixels[rows, joint]
                wide = wider_than_a_limb(depth, start, end, width, z[rows, joint], jump_m, min_m, max_m)
                guessed[rows, joint] = onto & wide
        handed_on = guessed[:, joint] | hidden[:, joint]
        anchor_z[:, joint] = np.where(handed_on, anchor_z[:, parent], anchor_z[:, joint])
    return guessed


def drop_guessed(
    self: Any,
    people: list[Person],
    observed: Observed,
    measured: Measured,
    depth: npt.NDArray[np.float32],
    _scores: Any = None,
) -> None:
    """main's ``DepthLifter._drop_guessed`` (30ee9d3), on main's guessed-joint test (it reads
    the scores from the people itself, as main did; the stacked ``_scores`` are the lifter's)."""
    config = self.config
    guessed = np.zeros_like(measured.occluded)
    if config.guessed_jump_m > 0.0:
        scores = np.array([p.scores for p in people], dtype=np.float64).reshape(len(people), -1)
        guessed = guessed_joints(
            observed, scores, measured, depth, config.guessed_jump_m, config.min_depth_m, config.max_depth_m
        )
        measured.points[guessed] = np.nan
        measured.occluded[guessed] = True
    unmeasured = ~np.all(np.isfinite(measured.points), axis=-1) | measured.inferred
    hidden = measured.occluded & unmeasured & observed.seen
    self.hidden_joints += int(np.count_nonzero(hidden))
    for index in np.flatnonzero(np.any(hidden, axis=1)).tolist():
        person, row = people[index], hidden[index]
        person.scores = np.where(row, person.scores * config.guessed_confidence, person.scores)


def choose_roots(lifted: Lifted, candidates: RootCandidates) -> None:
    """main's ``fuse.choose_roots`` (30ee9d3)."""
    sensor = candidates.sensor
    point, sigma = sensor.point.copy(), sensor.sigma.copy()
    source = sensor.source.copy()
    has = sensor.exists
    fused_z, fused_sigma = fuse_depths(point[:, 2], sigma, candidates.network_z, candidates.network_sigma)
    with np.errstate(invalid="ignore"):
        moved = has & np.isfinite(fused_z) & (fused_z != point[:, 2])
    # Along the root's ray: the fusion changes its depth, not its direction.
    point[moved] *= (fused_z[moved] / point[moved, 2])[:, None]
    sigma[moved] = fused_sigma[moved]
    source[moved] = DepthSource.FUSED
    for fallback in (candidates.network, candidates.prior):
        use = ~has & fallback.exists
        point[use], sigma[use], source[use] = fallback.point[use], fallback.sigma[use], fallback.source[use]
        has |= use
    lifted.positions[has, ROOT] = point[has]
    lifted.sigma[has, ROOT] = sigma[has]
    lifted.sources[has, ROOT] = source[has]


def enforce_person_band(lifted: Lifted, reference: FloatArray, band_m: float) -> None:
    """main's ``complete.enforce_person_band`` (30ee9d3)."""
    with np.errstate(invalid="ignore"):
        far = lifted.valid & (np.abs(lifted.positions[..., 2] - reference[:, None]) > band_m)
    lifted.positions[far] = np.nan
    lifted.sigma[far] = np.nan
    lifted.sources[far] = DepthSource.NONE
