"""Robust per-joint depth from a depth image, and the optional learned skeleton refiner.

A joint's depth comes from a window around its pixel, and four things make it robust:

1. **Size-scaled windows.** The window covers a fixed metric radius (4 cm by default, about
   a forearm's radius) at the person's torso depth, so it spans the same piece of body at
   1 m and at 5 m instead of reaching past a thin limb into the background when near.
2. **Person-consistent pixels.** Only depths inside the joint's *feasible interval* count:
   for shoulders and hips an interval around the torso's depth, for every other joint the
   depths where it can be given its already-measured parent joint and the bone between
   them (the viewing ray meets a sphere of the bone's length around the parent).
3. **Occluders.** Well-supported depths *in front of* the feasible interval are something
   between the camera and the joint (another person, an object, the person's own hand):
   they are counted as an occluder and never taken as the joint's depth. If nothing of the
   joint's own surface is left in the window, the joint stays unmeasured and is completed
   from the skeleton later (``DepthSource.INFERRED``).
4. **Surface to centre.** The camera sees the skin, not the joint: the depth of the
   nearest surface cluster is moved along the viewing ray by the body part's
   surface-to-centre offset. Offsets are the radius of the part around the joint centre
   as seen from the front, times ~0.9 because a window's median lies slightly off the
   part's crest (adult anthropometry, see docs/evaluation.md):

   ======== ===== =========================================================
   part     [m]   reasoning
   ======== ===== =========================================================
   head     0.01  face keypoints (nose tip, eyes, ears) are surface landmarks
   shoulder 0.07  glenohumeral centre behind the front of the shoulder
   hip      0.09  hip joint centre behind the groin / front of the thigh
   elbow    0.04  upper-arm radius
   wrist    0.03  forearm radius at the wrist
   knee     0.05  lower-thigh radius
   ankle    0.04  shank radius at the ankle
   ======== ===== =========================================================

:class:`SkeletonRefiner` applies an optional learned RefiNet-B style MLP to lifted skeletons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.completion import PARENT, TYPICAL_STATURE_M, bone_length, unit_rays
from hdnet_ros.joints import (
    DERIVED_JOINTS,
    LEFT_ANKLE,
    LEFT_EAR,
    LEFT_ELBOW,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NOSE,
    NUM_JOINTS,
    RIGHT_ANKLE,
    RIGHT_EAR,
    RIGHT_ELBOW,
    RIGHT_EYE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    TORSO_JOINTS,
)
from hdnet_ros.people import Person

FloatArray = npt.NDArray[np.float64]
DepthImage = npt.NDArray[np.float32]

JOINT_PART: dict[int, str] = {
    NOSE: "head",
    LEFT_EYE: "head",
    RIGHT_EYE: "head",
    LEFT_EAR: "head",
    RIGHT_EAR: "head",
    LEFT_SHOULDER: "shoulder",
    RIGHT_SHOULDER: "shoulder",
    LEFT_HIP: "hip",
    RIGHT_HIP: "hip",
    LEFT_ELBOW: "elbow",
    RIGHT_ELBOW: "elbow",
    LEFT_WRIST: "wrist",
    RIGHT_WRIST: "wrist",
    LEFT_KNEE: "knee",
    RIGHT_KNEE: "knee",
    LEFT_ANKLE: "ankle",
    RIGHT_ANKLE: "ankle",
}

# Measurement order: torso first, then outwards along the limbs, so each joint's parent is
# already measured when its feasible interval is computed.
MEASURE_ORDER: tuple[int, ...] = (
    LEFT_SHOULDER,
    RIGHT_SHOULDER,
    LEFT_HIP,
    RIGHT_HIP,
    LEFT_ELBOW,
    RIGHT_ELBOW,
    LEFT_KNEE,
    RIGHT_KNEE,
    LEFT_WRIST,
    RIGHT_WRIST,
    LEFT_ANKLE,
    RIGHT_ANKLE,
    NOSE,
    LEFT_EYE,
    RIGHT_EYE,
    LEFT_EAR,
    RIGHT_EAR,
)


@dataclass(frozen=True)
class RobustDepthParams:
    """What the robust measurement needs from LiftingConfig (kept separate so this module
    does not import the lifter)."""

    min_depth_m: float = 0.3
    max_depth_m: float = 10.0
    window_radius_m: float = 0.04
    window_fraction: float = 0.025
    min_window_px: int = 2
    max_window_px: int = 24
    person_depth_band_m: float = 0.6
    cluster_gap_m: float = 0.08
    min_support_px: int = 3
    noise_coefficient: float = 0.0015
    offsets_m: Mapping[str, float] = field(default_factory=dict)
    torso_front_m: float = 0.15  # a torso joint centre may lie this far in front of the torso surface
    torso_behind_m: float = 0.40  # ... and this far behind it
    bone_spread: float = 0.12  # a bone is within this fraction of this person's typical length
    stature_m: float = TYPICAL_STATURE_M


@dataclass(frozen=True)
class JointDepth:
    """A joint centre's depth [m] from its window (NaN when unsupported)."""

    z: float
    spread: float
    support: int
    occluded: bool


NO_DEPTH = JointDepth(float("nan"), float("nan"), 0, False)

# A torso surface agrees with the person's 2D size when its depth is within these factors of
# the bone-length depth (stature spread, foreshortening and keypoint noise fit inside).
PRIOR_AGREEMENT = (0.75, 1.35)
PRIOR_LOG_SD = 0.08  # spread of the size prior's depth (log), measured on the benchmark
# The torso's surface must cover at least this share of the torso region's pixels.
MIN_TORSO_COVERAGE = 0.2


def surface_offsets(offsets_m: Mapping[str, float]) -> FloatArray:
    """Per-joint surface-to-centre offset [m] (0 for midpoint joints and unknown parts)."""
    return np.array([float(offsets_m.get(JOINT_PART.get(j, ""), 0.0)) for j in range(NUM_JOINTS)])


def window_half_px(params: RobustDepthParams, camera: CameraModel, reference_z: float, box_height_px: float) -> int:
    """Half-size of a joint window: the metric radius at the torso's depth, or (radius 0)
    a fraction of the box height; clipped to the configured pixel range."""
    if params.window_radius_m > 0 and np.isfinite(reference_z) and reference_z > 0:
        half = params.window_radius_m * camera.fx / reference_z
    else:
        half = params.window_fraction * box_height_px
    return int(np.clip(int(round(half)), params.min_window_px, params.max_window_px))


def depth_clusters(values: npt.NDArray[np.floating], gap: float) -> list[npt.NDArray[np.floating]]:
    """Sorted depths split where consecutive values jump by more than ``gap``, nearest first."""
    if values.size == 0:
        return []
    ordered = np.sort(values)
    return list(np.split(ordered, np.flatnonzero(np.diff(ordered) > gap) + 1))


def sorted_median(ordered: npt.NDArray[np.floating]) -> float:
    """Median of an already sorted array (np.median would sort it again)."""
    n = ordered.size
    return 0.5 * (float(ordered[(n - 1) // 2]) + float(ordered[n // 2]))


def sorted_spread(ordered: npt.NDArray[np.floating]) -> float:
    """A robust standard deviation of a sorted array: its interquartile range / 1.349."""
    n = ordered.size
    return (float(ordered[min((3 * n) // 4, n - 1)]) - float(ordered[n // 4])) / 1.349


Interval = tuple[float, float]


def measure_joint(
    depth: DepthImage,
    pixel: FloatArray,
    half: int,
    offset_z: float,
    intervals: Sequence[Interval],
    params: RobustDepthParams,
    reject: Interval | None = None,
) -> JointDepth:
    """Depth of the joint centre at ``pixel``, which must lie in one of ``intervals``.

    The window's depth clusters are tried nearest first; the first well-supported one whose
    centre depth (surface + ``offset_z``, the z-part of the surface-to-centre offset along
    this pixel's ray) falls in an interval is the joint. Supported clusters before it are
    surfaces in front of where the joint can be: ``occluded`` reports them. Clusters whose
    surface depth lies in ``reject`` are known occluders (the torso seen from behind).
    """
    height, width = depth.shape
    u, v = int(round(float(pixel[0]))), int(round(float(pixel[1])))
    if not (0 <= u < width and 0 <= v < height) or not intervals:
        return NO_DEPTH
    window = depth[max(v - half, 0) : v + half + 1, max(u - half, 0) : u + half + 1].ravel()
    values = window[np.isfinite(window)]
    values = values[(values >= params.min_depth_m) & (values <= params.max_depth_m)]
    if values.size < params.min_support_px:
        return NO_DEPTH
    # Pixels behind every interval (the wall past a thin wrist) are not this joint; support
    # is counted among the rest.
    considered = values[values <= max(hi for _, hi in intervals) - offset_z]
    if considered.size < params.min_support_px:
        return NO_DEPTH
    min_support = max(params.min_support_px, int(0.1 * considered.size))
    z_mid = float(np.partition(considered, considered.size // 2)[considered.size // 2])
    gap = max(params.cluster_gap_m, 3.0 * params.noise_coefficient * z_mid**2)
    occluded = False
    for cluster in depth_clusters(considered, gap):
        if cluster.size < min_support:
            continue
        median = sorted_median(cluster)
        centre = median + offset_z
        known_occluder = reject is not None and reject[0] <= median <= reject[1]
        if not known_occluder and any(lo <= centre <= hi for lo, hi in intervals):
            return JointDepth(centre, sorted_spread(cluster), int(cluster.size), occluded)
        occluded = True  # a surface where the joint cannot be: something in front of it
    return JointDepth(float("nan"), float("nan"), 0, occluded)


def _torso_region(person: Person, shape: tuple[int, int], min_pixels: int) -> npt.NDArray[np.bool_]:
    """The torso polygon (shoulders and hips), or the central part of the box when too few
    torso joints are seen."""
    polygon = person.pixels[list(TORSO_JOINTS)]
    polygon = polygon[np.all(np.isfinite(polygon), axis=1)]
    mask = np.zeros(shape, dtype=np.uint8)
    if len(polygon) >= 3:
        cv2.fillConvexPoly(mask, np.round(polygon).astype(np.int32), 1)
    if np.count_nonzero(mask) < min_pixels:
        x0, y0, x1, y1 = person.detection.box
        w, h = x1 - x0, y1 - y0
        mask[:] = 0
        r0, r1 = int(y0 + 0.2 * h), int(y0 + 0.55 * h) + 1
        c0, c1 = int(x0 + 0.3 * w), int(x1 - 0.3 * w) + 1
        mask[max(r0, 0) : max(r1, 0), max(c0, 0) : max(c1, 0)] = 1
    return mask.astype(bool)


def _valid(values: npt.NDArray[np.floating], params: RobustDepthParams) -> npt.NDArray[np.floating]:
    values = values[np.isfinite(values)]
    return values[(values >= params.min_depth_m) & (values <= params.max_depth_m)]


def _surface_in_region(
    values: npt.NDArray[np.floating],
    region_pixels: int,
    params: RobustDepthParams,
    size_prior_z: float | None,
    votes: npt.NDArray[np.floating] | None = None,
) -> float:
    """The best-supported depth cluster of a region's valid depths that agrees with the size
    prior and covers at least MIN_TORSO_COVERAGE of the region; NaN otherwise.

    ``votes`` are depths seen around the person's own keypoints: a cluster they also support
    is this person's surface rather than something in front of or behind them.
    """
    values = _valid(values, params)
    if values.size < params.min_support_px:
        return float("nan")
    z_mid = float(np.median(values))
    gap = max(params.cluster_gap_m, 3.0 * params.noise_coefficient * z_mid**2)
    clusters = [c for c in depth_clusters(values, gap) if c.size >= params.min_support_px]
    score = [float(c.size) for c in clusters]
    if votes is not None and votes.size:
        share = [float(np.count_nonzero(np.abs(votes - np.median(c)) <= 2 * gap)) / votes.size for c in clusters]
        score = [s * (0.1 + v) for s, v in zip(score, share, strict=True)]
    if size_prior_z is not None and np.isfinite(size_prior_z):
        lo, hi = PRIOR_AGREEMENT[0] * size_prior_z, PRIOR_AGREEMENT[1] * size_prior_z
        kept = [i for i, c in enumerate(clusters) if lo <= float(np.median(c)) <= hi]
        # Support times the size prior's likelihood: a bigger surface a little off the
        # prior (another person in front) does not beat this person's own torso.
        score = [
            score[i] * float(np.exp(-0.5 * (np.log(float(np.median(clusters[i])) / size_prior_z) / PRIOR_LOG_SD) ** 2))
            for i in kept
        ]
        clusters = [clusters[i] for i in kept]
    if not clusters:
        return float("nan")
    best = clusters[int(np.argmax(score))]
    if best.size < MIN_TORSO_COVERAGE * region_pixels:
        return float("nan")  # a sliver of something, not this person
    centre = float(np.median(best))
    # Re-centre on the pixels near it: a turned torso spans more than one cluster gap.
    for _ in range(2):
        near = values[np.abs(values - centre) < params.person_depth_band_m / 2]
        if near.size < params.min_support_px:
            break
        centre = float(np.median(near))
    return centre


def _joint_windows(person: Person, shape: tuple[int, int], half: int) -> npt.NDArray[np.bool_]:
    """The union of windows around every seen joint."""
    mask = np.zeros(shape, dtype=bool)
    for u, v in person.pixels[np.all(np.isfinite(person.pixels), axis=1)]:
        r, c = int(round(float(v))), int(round(float(u)))
        mask[max(r - half, 0) : max(r + half + 1, 0), max(c - half, 0) : max(c + half + 1, 0)] = True
    return mask


def reference_depth(
    person: Person, depth: DepthImage, camera: CameraModel, params: RobustDepthParams, size_prior_z: float | None
) -> float:
    """The person's torso surface depth: the best-supported depth cluster of the torso
    region that agrees with the person's 2D size.

    A plain median fails when a pole, a railing or another person covers half the torso:
    the region then holds two surfaces. ``size_prior_z`` (the bone-length depth of
    :mod:`hdnet_ros.root_fallback`, accurate to some 10-20 %) rules out surfaces at a depth
    where this person would look much bigger or smaller than they do. When the torso is
    hidden, the windows around the joints that are seen (head, limbs) stand in for it.
    NaN when nothing fits.
    """
    region = _torso_region(person, depth.shape, 4 * params.min_support_px)
    windows = None
    votes = None
    if size_prior_z is not None and np.isfinite(size_prior_z):
        half = max(int(round(params.window_radius_m * camera.fx / size_prior_z)), params.min_window_px)
        windows = _joint_windows(person, depth.shape, half)
        votes = _valid(depth[windows], params)
    centre = _surface_in_region(depth[region], int(np.count_nonzero(region)), params, size_prior_z, votes)
    if np.isfinite(centre) or windows is None:
        return centre
    return _surface_in_region(depth[windows], int(np.count_nonzero(windows)), params, size_prior_z)


def _ray_sphere(ray: FloatArray, centre: FloatArray, radius: float) -> tuple[float, float] | None:
    """Ray parameters (t_near, t_far) where a unit ray from the camera meets a sphere."""
    t_closest = float(ray @ centre)
    miss2 = float(centre @ centre) - t_closest**2
    if miss2 > radius**2:
        return None
    half = float(np.sqrt(radius**2 - miss2))
    return t_closest - half, t_closest + half


def bone_interval(ray: FloatArray, parent: FloatArray, max_length: float, margin: float) -> Interval:
    """Centre depths [z_lo, z_hi] where a joint on unit ``ray`` can lie at most
    ``max_length`` from ``parent`` (a sphere around the parent cut by the ray), widened by
    ``margin``. A ray that misses the sphere (2D noise, a long bone) gives its point of
    closest approach."""
    hit = _ray_sphere(ray, parent, max_length)
    t_lo, t_hi = hit if hit is not None else (float(ray @ parent),) * 2
    return t_lo * float(ray[2]) - margin, t_hi * float(ray[2]) + margin


def bone_shells(ray: FloatArray, parent: FloatArray, length: float, spread: float, margin: float) -> list[Interval]:
    """Centre depths where a joint on unit ``ray`` is ``length`` (+-``spread`` x length) from
    its ``parent``: where the ray crosses the shell between the two spheres. Two intervals
    (in front of and behind the parent) when the ray passes inside the inner sphere, one
    otherwise; each widened by ``margin``."""
    outer = _ray_sphere(ray, parent, length * (1.0 + spread))
    if outer is None:  # the 2D bone is longer than the 3D one can be: near the closest point
        t = float(ray @ parent) * float(ray[2])
        return [(t - margin, t + margin)]
    inner = _ray_sphere(ray, parent, length * (1.0 - spread))
    z = float(ray[2])
    if inner is None:
        return [(outer[0] * z - margin, outer[1] * z + margin)]
    front = (outer[0] * z - margin, inner[0] * z + margin)
    back = (inner[1] * z - margin, outer[1] * z + margin)
    if front[1] >= back[0]:
        return [(front[0], back[1])]
    return [front, back]


def behind_on_shell(ray: FloatArray, parent: FloatArray, length: float) -> FloatArray:
    """The point of the ray ``length`` from ``parent`` on the far side (or the closest point
    when the ray passes farther than ``length``)."""
    hit = _ray_sphere(ray, parent, length)
    t = hit[1] if hit is not None else float(ray @ parent)
    return np.asarray(ray * t, dtype=np.float64)


def _anchor(joint: int, points: FloatArray, params: RobustDepthParams) -> tuple[int, float, bool] | None:
    """The nearest positioned ancestor of ``joint``, the chain length to it and whether it
    is the direct parent."""
    length = 0.0
    child = joint
    while child in PARENT:
        parent = PARENT[child]
        length += bone_length(child, parent, params.stature_m)
        if np.all(np.isfinite(points[parent])):
            return parent, length, parent == PARENT[joint]
        child = parent
    return None


@dataclass
class SkeletonDepth:
    """The sensor's measurement of one person."""

    reference: float  # torso surface depth [m]
    points: FloatArray  # [J,3] NaN where unmeasured
    sigma: FloatArray  # [J]
    occluded: npt.NDArray[np.bool_]  # [J] an occluder was seen in front of the joint
    # [J] placed by the self-occlusion reasoning rather than measured (DepthSource.INFERRED)
    inferred: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(NUM_JOINTS, dtype=bool))
    facing: Facing | None = None
    stature: float = TYPICAL_STATURE_M  # this person's, as estimated from their limbs


@dataclass(frozen=True)
class Facing:
    """The torso's yaw in the camera frame: the person's left points along
    (cos, 0, sin) and their forward along (sin, 0, -cos); cos = 1 faces the camera."""

    cos: float
    sin: float


# Left/right pairs across the torso and their joint-centre distances (fractions of stature).
TORSO_PAIRS: tuple[tuple[int, int, float], ...] = (
    (LEFT_SHOULDER, RIGHT_SHOULDER, 0.200),
    (LEFT_HIP, RIGHT_HIP, 0.105),
)
HEAD_RADIUS_FRACTION = 0.055  # of stature (head breadth ~0.15-0.19 m)
NOSE_AHEAD_FRACTION = 0.065  # nose tip ahead of the neck, horizontally (of stature)


def estimate_facing(
    person: Person, camera: CameraModel, points: FloatArray, reference: float, stature: float
) -> Facing | None:
    """The torso's yaw from the 2D keypoints, or None when it cannot be told.

    |cos| comes from how wide the shoulders (else the hips) look against their typical
    width at the torso's depth, its sign from which shoulder is on which side. The sign of
    sin (which side is farther) comes from where the nose is relative to the neck (people
    look where they face), else from the measured depths of the pairs.
    """
    pixels = person.pixels
    seen = np.all(np.isfinite(pixels), axis=1)
    px_per_m = camera.fx / reference
    cos = None
    for left, right, width in TORSO_PAIRS:
        if seen[left] and seen[right]:
            cos = float(np.clip((pixels[left, 0] - pixels[right, 0]) / (width * stature * px_per_m), -1.0, 1.0))
            break
    if cos is None:
        return None
    sin_abs = float(np.sqrt(max(1.0 - cos**2, 0.0)))
    sign = 0.0
    if seen[NOSE] and seen[LEFT_SHOULDER] and seen[RIGHT_SHOULDER]:
        ahead = pixels[NOSE, 0] - 0.5 * (pixels[LEFT_SHOULDER, 0] + pixels[RIGHT_SHOULDER, 0])
        expected = NOSE_AHEAD_FRACTION * stature * sin_abs * px_per_m
        if abs(ahead) > 0.3 * expected and expected > 1.0:
            sign = float(np.sign(ahead))  # facing image-right (+x) puts the left side farther
    if sign == 0.0:
        for left, right, width in TORSO_PAIRS:
            if np.all(np.isfinite(points[[left, right]])):
                dz = float(points[left, 2] - points[right, 2])
                if abs(dz) > 0.5 * width * stature * sin_abs:
                    sign = float(np.sign(dz))
                    break
    if sign == 0.0 and sin_abs > 0.5:
        return None
    return Facing(cos=cos, sin=sign * sin_abs)


def resolve_torso_pairs(result: SkeletonDepth, rays: FloatArray, seen: npt.NDArray[np.bool_], stature: float) -> None:
    """Put the far shoulder / hip of a turned person behind the near one.

    Seen from the side, the far shoulder's pixel shows the near shoulder's body, so its
    window measures a surface up to a shoulder width in front of it. With the facing known,
    the far joint lies one pair width from the near one along its own ray (the far
    intersection); a measurement in front of that by more than half the expected depth
    step is the near body, and is replaced.
    """
    facing = result.facing
    if facing is None or abs(facing.sin) < 0.35:
        return
    for left, right, width_fraction in TORSO_PAIRS:
        near, far = (right, left) if facing.sin > 0 else (left, right)
        if not (seen[far] and np.all(np.isfinite(result.points[near]))):
            continue
        width = width_fraction * stature
        if _ray_sphere(rays[far], result.points[near], width) is None:
            continue
        expected = behind_on_shell(rays[far], result.points[near], width)
        step = width * abs(facing.sin)
        measured = result.points[far]
        if np.all(np.isfinite(measured)) and measured[2] >= expected[2] - 0.5 * step:
            continue
        result.points[far] = expected
        result.sigma[far] = float(np.hypot(result.sigma[near], 0.25 * step))
        result.inferred[far] = True


def resolve_face(
    result: SkeletonDepth,
    person: Person,
    depth: DepthImage,
    camera: CameraModel,
    rays: FloatArray,
    params: RobustDepthParams,
) -> None:
    """Face keypoints on the far side of the head (the face of someone turned away, the far
    eye and ear in profile) are placed on a head sphere instead of the surface in front.

    The head centre lies one head radius behind the nearest head surface around the face
    keypoints; each landmark's depth on the sphere follows from the torso's facing.
    """
    facing = result.facing
    face = [j for j in (NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR) if np.all(np.isfinite(person.pixels[j]))]
    if facing is None or not face:
        return
    radius = HEAD_RADIUS_FRACTION * params.stature_m
    centre_px = person.pixels[face].mean(axis=0)
    half = max(int(round(0.5 * radius * camera.fx / result.reference)), params.min_window_px)
    band = (result.reference - params.person_depth_band_m, result.reference + params.person_depth_band_m)
    surface = measure_joint(depth, centre_px, half, 0.0, [band], params)
    if not np.isfinite(surface.z):
        return
    centre_z = surface.z + 0.95 * radius
    left = np.array([facing.cos, 0.0, facing.sin])
    forward = np.array([facing.sin, 0.0, -facing.cos])
    # Landmark directions from the head centre (as in an average head: eyes 20 deg apart
    # from the nose, ears at the sides slightly behind).
    directions = {
        NOSE: forward,
        LEFT_EYE: 0.94 * forward + 0.35 * left,
        RIGHT_EYE: 0.94 * forward - 0.35 * left,
        LEFT_EAR: left - 0.12 * forward,
        RIGHT_EAR: -left - 0.12 * forward,
    }
    for joint in face:
        dz = float(directions[joint][2]) * radius
        if dz <= 0.25 * radius:  # on the near side of the head: the measurement stands
            continue
        z = centre_z + dz
        measured = result.points[joint]
        if np.all(np.isfinite(measured)) and measured[2] >= z - 0.5 * dz:
            continue
        result.points[joint] = rays[joint] * (z / float(rays[joint, 2]))
        result.sigma[joint] = float(np.hypot(params.noise_coefficient * z**2, 0.5 * radius))
        result.inferred[joint] = True


LIMB_BONES: tuple[tuple[int, int], ...] = (
    (LEFT_SHOULDER, LEFT_ELBOW),
    (RIGHT_SHOULDER, RIGHT_ELBOW),
    (LEFT_ELBOW, LEFT_WRIST),
    (RIGHT_ELBOW, RIGHT_WRIST),
    (LEFT_HIP, LEFT_KNEE),
    (RIGHT_HIP, RIGHT_KNEE),
    (LEFT_KNEE, LEFT_ANKLE),
    (RIGHT_KNEE, RIGHT_ANKLE),
)


LIMB_JOINTS = frozenset((LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST, LEFT_KNEE, RIGHT_KNEE))


def _turned_away(facing: Facing | None) -> bool:
    return facing is not None and facing.cos < -0.3


def inside_torso(pixels: npt.NDArray[np.floating], joint: int) -> bool:
    """Whether a joint's pixel lies inside the torso's 2D outline (shoulders and hips)."""
    corners = pixels[[LEFT_SHOULDER, RIGHT_SHOULDER, RIGHT_HIP, LEFT_HIP]]
    if not np.all(np.isfinite(corners)) or not np.all(np.isfinite(pixels[joint])):
        return False
    hull = cv2.convexHull(corners.astype(np.float32))
    return bool(cv2.pointPolygonTest(hull, (float(pixels[joint, 0]), float(pixels[joint, 1])), False) >= 0)


def personal_stature(person: Person, camera: CameraModel, reference: float, stature: float) -> float:
    """This person's stature estimated from how long their limbs look at the torso's
    depth: foreshortening only shortens a bone, so the longest-looking bones (the second
    longest, for robustness to keypoint noise) tell the scale. Clipped to adult sizes."""
    pixels = person.pixels
    ratios = []
    for a, b in LIMB_BONES:
        if np.all(np.isfinite(pixels[[a, b]])):
            length_m = float(np.linalg.norm(pixels[a] - pixels[b])) * reference / camera.fx
            ratios.append(length_m / bone_length(a, b, stature))
    if len(ratios) < 3:
        return stature
    return stature * float(np.clip(np.sort(ratios)[-2], 0.88, 1.18))


def _joint_intervals(
    joint: int,
    ray: FloatArray,
    known: FloatArray,
    anchor: tuple[int, float, bool] | None,
    reference: float,
    margin: float,
    params: RobustDepthParams,
) -> list[Interval]:
    """Where the joint's centre depth can be: around the torso for shoulders and hips, one
    bone from its measured parent (the shell), within the chain's length from a measured
    ancestor, else within the chain from the torso; never beyond the person band."""
    if joint in TORSO_JOINTS:
        intervals = [(reference - params.torso_front_m - margin, reference + params.torso_behind_m + margin)]
    elif anchor is None:
        chain = _chain_to_torso(joint, params)
        intervals = [(reference - chain - margin, reference + params.torso_behind_m + chain + margin)]
    elif anchor[2]:
        intervals = bone_shells(ray, known[anchor[0]], anchor[1], params.bone_spread, margin)
    else:
        intervals = [bone_interval(ray, known[anchor[0]], anchor[1] * (1 + params.bone_spread), margin)]
    lo, hi = reference - params.person_depth_band_m, reference + params.person_depth_band_m
    return [(max(a, lo), min(b, hi)) for a, b in intervals if b > lo and a < hi]


def _place_hidden(
    result: SkeletonDepth,
    joint: int,
    ray: FloatArray,
    parent: FloatArray,
    length: float,
    margin: float,
    params: RobustDepthParams,
) -> None:
    """A joint hidden behind a surface where it cannot be (its own torso, seen from behind)
    lies on the far side of its parent, one bone length away."""
    point = behind_on_shell(ray, parent, length)
    if abs(point[2] - result.reference) <= params.person_depth_band_m:
        result.points[joint] = point
        result.sigma[joint] = float(np.hypot(params.bone_spread * length, margin))
        result.inferred[joint] = True


def measure_skeleton(
    person: Person, depth: DepthImage, camera: CameraModel, reference: float, params: RobustDepthParams
) -> SkeletonDepth:
    """Measure every seen joint's centre depth (module doc): the torso joints, the torso's
    facing and its far side, then the limbs outwards from their parents, then the face."""
    points = np.full((NUM_JOINTS, 3), np.nan)
    sigma = np.full(NUM_JOINTS, np.nan)
    occluded = np.zeros(NUM_JOINTS, dtype=bool)
    result = SkeletonDepth(reference, points, sigma, occluded)
    if not np.isfinite(reference):
        return result
    seen = np.all(np.isfinite(person.pixels), axis=1)
    rays = unit_rays(camera, np.where(seen[:, None], person.pixels, 0.0))
    params = replace(params, stature_m=personal_stature(person, camera, reference, params.stature_m))
    result.stature = params.stature_m
    offsets = surface_offsets(params.offsets_m)
    box_height = float(person.detection.box[3] - person.detection.box[1])
    half = window_half_px(params, camera, reference, box_height)
    margin = 0.05 + 2.0 * params.noise_coefficient * reference**2
    for joint in MEASURE_ORDER:
        if not seen[joint]:
            continue
        if joint == LEFT_ELBOW:  # the torso is done: find the facing, fix the far side
            result.facing = estimate_facing(person, camera, points, reference, params.stature_m)
            resolve_torso_pairs(result, rays, seen, params.stature_m)
        known = _with_midpoints(points)
        anchor = None if joint in TORSO_JOINTS else _anchor(joint, known, params)
        intervals = _joint_intervals(joint, rays[joint], known, anchor, reference, margin, params)
        offset_z = offsets[joint] * float(rays[joint, 2])
        reject = None
        if joint in LIMB_JOINTS and _turned_away(result.facing) and inside_torso(person.pixels, joint):
            # Seen from behind, a limb over the torso is in front of the body, i.e. behind
            # the back the camera sees: a surface at the torso's depth is the back.
            tolerance = 0.08 + 2.0 * params.noise_coefficient * reference**2
            reject = (reference - tolerance, reference + tolerance)
        measured = measure_joint(depth, person.pixels[joint], half, offset_z, intervals, params, reject)
        occluded[joint] = measured.occluded
        if np.isfinite(measured.z):
            points[joint] = rays[joint] * (measured.z / float(rays[joint, 2]))
            # The median's error: the sensor noise (spatially correlated, so it does not
            # average away), the surface's own spread in the window, and 2 cm of offset doubt.
            noise = params.noise_coefficient * measured.z**2
            sigma[joint] = float(np.sqrt(noise**2 + (0.5 * measured.spread) ** 2 + 0.02**2))
        elif measured.occluded and anchor is not None and anchor[2]:
            _place_hidden(result, joint, rays[joint], known[anchor[0]], anchor[1], margin, params)
    if result.facing is None:
        result.facing = estimate_facing(person, camera, points, reference, params.stature_m)
    resolve_face(result, person, depth, camera, rays, params)
    return result


def _with_midpoints(points: FloatArray) -> FloatArray:
    """Points with the midpoint joints filled where both of their joints are measured."""
    out = points.copy()
    for joint, (a, b) in DERIVED_JOINTS.items():
        if np.all(np.isfinite(points[[a, b]])):
            out[joint] = (points[a] + points[b]) / 2.0
    return out


def _chain_to_torso(joint: int, params: RobustDepthParams) -> float:
    length = 0.0
    child = joint
    while child in PARENT and child not in TORSO_JOINTS:
        parent = PARENT[child]
        length += bone_length(child, parent, params.stature_m)
        child = parent
    return length


# --- learned refiner -----------------------------------------------------------------


class SkeletonRefiner:
    """An optional learned refiner (RefiNet module B shape) applied to lifted skeletons.

    The checkpoint is written by ``scripts/train_refinet_b.py``
    (:mod:`hdnet_ros.training.refinet_b`); torch is imported only when one is loaded.
    """

    def __init__(self, path: str | Path) -> None:
        from hdnet_ros.training.refinet_b import load_refiner

        self._model: Any = load_refiner(Path(path))

    def refine(self, people: list[Person]) -> None:
        """Replace the root-relative 3D of each person's positioned joints in place."""
        from hdnet_ros.training.refinet_b import refine_people

        refine_people(self._model, people)
