"""Step 2 of the depth stage: measure every seen joint's centre depth in its window.

Three things make a joint's depth robust (the windows come from :mod:`.sample`):

1. **Person-consistent pixels.** Only depths inside the joint's *feasible interval* count:
   for shoulders and hips an interval around the torso's depth, for every other joint the
   depths where it can be given its already-measured parent joint and the bone between
   them (the viewing ray meets a sphere of the bone's length around the parent).
2. **Occluders.** Well-supported depths *in front of* the feasible interval are something
   between the camera and the joint (another person, an object, the person's own hand):
   they are counted as an occluder and never taken as the joint's depth. If nothing of the
   joint's own surface is left in the window, the joint stays unmeasured and is completed
   from the skeleton later (``DepthSource.INFERRED``).
3. **Surface to centre.** The camera sees the skin, not the joint: the depth of the
   nearest surface cluster is moved along the viewing ray by the body part's
   surface-to-centre offset (``lifting.surface_offset_*``: the part's radius around the
   joint centre as seen from the front, times ~0.9 because a window's median lies
   slightly off the part's crest; docs/evaluation.md).

Joints are measured level by level from the torso outwards (torso, elbows and knees,
wrists and ankles, nose, eyes, ears), all people and all joints of a level at once, so
each joint's parent is measured before it. Between the torso and the limbs the torso's
facing is estimated and the far shoulder / hip of a turned person is put behind the near
one; the face keypoints on the far side of the head are placed on a head sphere last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_EAR,
    LEFT_ELBOW,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NECK,
    NOSE,
    NUM_JOINTS,
    PELVIS,
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
from hdnet_ros.skeleton import ANCESTOR_STEPS, ANCESTORS
from hdnet_ros.stages.depth.arrays import Observed
from hdnet_ros.stages.depth.config import BONE_SPREAD, TORSO_BEHIND_M, TORSO_FRONT_M, LiftingConfig, surface_offsets
from hdnet_ros.stages.depth.sample import FACE_JOINTS, HEAD_RADIUS_FRACTION, Sampled, Windows, clusters

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

LEVELS: tuple[tuple[int, ...], ...] = (
    (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP),
    (LEFT_ELBOW, RIGHT_ELBOW, LEFT_KNEE, RIGHT_KNEE),
    (LEFT_WRIST, RIGHT_WRIST, LEFT_ANKLE, RIGHT_ANKLE),
    (NOSE,),
    (LEFT_EYE, RIGHT_EYE),
    (LEFT_EAR, RIGHT_EAR),
)
LIMB_JOINTS = (LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST, LEFT_KNEE, RIGHT_KNEE)
# Left/right pairs across the torso and their joint-centre distances (fractions of stature).
TORSO_PAIRS: tuple[tuple[int, int, float], ...] = (
    (LEFT_SHOULDER, RIGHT_SHOULDER, 0.200),
    (LEFT_HIP, RIGHT_HIP, 0.105),
)
NOSE_AHEAD_FRACTION = 0.065  # nose tip ahead of the neck, horizontally (of stature)
_TORSO = np.zeros(NUM_JOINTS, dtype=bool)
_TORSO[list(TORSO_JOINTS)] = True
_LIMB = np.zeros(NUM_JOINTS, dtype=bool)
_LIMB[list(LIMB_JOINTS)] = True
_FACE = np.array(FACE_JOINTS)


def _chain_steps() -> FloatArray:
    """The bones from each joint down to (and into) the torso [J,D], as fractions of
    stature, zero-padded: their cumulative sum is the chain's length."""
    steps = np.zeros_like(ANCESTOR_STEPS)
    for joint in range(NUM_JOINTS):
        child = joint
        for column, parent in enumerate(ANCESTORS[joint]):
            if parent < 0 or _TORSO[child]:
                break
            steps[joint, column] = ANCESTOR_STEPS[joint, column]
            child = parent
    return steps


_CHAIN_STEPS = _chain_steps()


@dataclass
class Facing:
    """The torso's yaw per person: their left points along (cos, 0, sin) in the camera
    frame and their forward along (sin, 0, -cos); cos = 1 faces the camera."""

    cos: FloatArray  # [P]
    sin: FloatArray  # [P]
    known: BoolArray  # [P] False where it cannot be told


@dataclass
class Measured:
    """The sensor's measurement of every person."""

    points: FloatArray  # [P,J,3] NaN where unmeasured
    sigma: FloatArray  # [P,J]
    occluded: BoolArray  # [P,J] an occluder was seen in front of the joint
    inferred: BoolArray  # [P,J] placed by the self-occlusion reasoning (DepthSource.INFERRED)
    facing: Facing


@dataclass(frozen=True)
class _Rows:
    """The person-joint pairs of one level that are measured."""

    person: IntArray
    joint: IntArray
    ray: FloatArray  # [R,3]


def measure_joints(observed: Observed, sampled: Sampled, camera: CameraModel, config: LiftingConfig) -> Measured:
    """Measure every seen joint of every person with a torso surface (module doc)."""
    count = len(observed)
    points = np.full((count, NUM_JOINTS, 3), np.nan)
    sigma = np.full((count, NUM_JOINTS), np.nan)
    occluded = np.zeros((count, NUM_JOINTS), dtype=bool)
    inferred = np.zeros((count, NUM_JOINTS), dtype=bool)
    result = Measured(
        points, sigma, occluded, inferred, Facing(np.zeros(count), np.zeros(count), np.zeros(count, dtype=bool))
    )
    measurable = np.isfinite(sampled.reference)
    reference = sampled.reference
    margin = 0.05 + 2.0 * config.noise_coefficient * reference**2
    offsets = surface_offsets(config)
    limb_facing = Facing(result.facing.cos, result.facing.sin, result.facing.known)
    for level_index, level in enumerate(LEVELS):
        if level_index == 1:  # the torso is done: find the facing, fix the far side
            result.facing = estimate_facing(observed, points, reference, sampled.stature, camera, measurable)
            # The facing steers the limbs only where the left elbow was seen (the order in
            # which the first version of this stage measured; kept so its figures hold).
            limb_facing = Facing(
                result.facing.cos, result.facing.sin, result.facing.known & observed.seen[:, LEFT_ELBOW]
            )
            resolve_torso_pairs(result, observed, sampled.stature, limb_facing.known)
        rows = _level_rows(observed, level, measurable)
        if len(rows.person):
            _measure_level(result, rows, sampled, margin, offsets, limb_facing, observed, config)
    resolve_face(result, observed, sampled, config)
    return result


def _level_rows(observed: Observed, level: tuple[int, ...], measurable: BoolArray) -> _Rows:
    joints = np.array(level)
    mask = observed.seen[:, joints] & measurable[:, None]
    person, column = np.nonzero(mask)
    joint = joints[column]
    return _Rows(person, joint, observed.rays[person, joint])


def _with_midpoints(points: FloatArray) -> FloatArray:
    """Points with the pelvis and neck filled where both of their joints are measured."""
    out = points.copy()
    out[:, PELVIS] = (points[:, LEFT_HIP] + points[:, RIGHT_HIP]) / 2.0
    out[:, NECK] = (points[:, LEFT_SHOULDER] + points[:, RIGHT_SHOULDER]) / 2.0
    return out


def _measure_level(
    result: Measured,
    rows: _Rows,
    sampled: Sampled,
    margin_of: FloatArray,
    offsets: FloatArray,
    facing: Facing,
    observed: Observed,
    config: LiftingConfig,
) -> None:
    person, joint, ray = rows.person, rows.joint, rows.ray
    reference = sampled.reference[person]
    margin = margin_of[person]
    known = _with_midpoints(result.points)
    anchor, anchor_length, direct = _anchors(known, person, joint, sampled.stature[person])
    parent = known[person, np.maximum(anchor, 0)]
    lo, hi = _intervals(
        joint,
        ray,
        parent,
        anchor,
        anchor_length,
        direct,
        reference,
        margin,
        sampled.stature[person],
        config.person_depth_band_m,
    )
    offset_z = offsets[joint] * ray[:, 2]
    reject = _LIMB[joint] & facing.known[person] & (facing.cos[person] < -0.3)
    if np.any(reject):
        limbs = np.flatnonzero(reject)
        reject[limbs] = _inside_torso(observed.pixels[person[limbs]], observed.pixels[person[limbs], joint[limbs]])
    # Seen from behind, a limb over the torso is in front of the body, i.e. behind the back
    # the camera sees: a surface at the torso's depth is the back.
    tolerance = 0.08 + 2.0 * config.noise_coefficient * reference**2
    reject_lo = np.where(reject, reference - tolerance, np.nan)
    reject_hi = np.where(reject, reference + tolerance, np.nan)
    windows = _take(sampled.joints, person * NUM_JOINTS + joint)
    z, spread, occluded = select_surface(windows, lo, hi, offset_z, reject_lo, reject_hi, config)
    result.occluded[person, joint] = occluded
    found = np.isfinite(z)
    if np.any(found):
        p, j, r = person[found], joint[found], ray[found]
        zf = z[found]
        result.points[p, j] = r * (zf / r[:, 2])[:, None]
        # The median's error: the sensor noise (spatially correlated, so it does not
        # average away), the surface's own spread in the window, and 2 cm of offset doubt.
        noise = config.noise_coefficient * zf**2
        result.sigma[p, j] = np.sqrt(noise**2 + (0.5 * spread[found]) ** 2 + 0.02**2)
    hidden = ~found & occluded & direct
    if np.any(hidden):
        _place_hidden(result, rows, hidden, known, anchor, anchor_length, margin, reference, config)


def _take(windows: Windows, rows: IntArray) -> Windows:
    return Windows(windows.values[rows], windows.counts[rows], windows.inside[rows])


def _anchors(
    known: FloatArray, person: IntArray, joint: IntArray, stature: FloatArray
) -> tuple[IntArray, FloatArray, BoolArray]:
    """The nearest positioned ancestor of each row's joint (-1: none), the chain length to
    it and whether it is the direct parent."""
    ancestors = ANCESTORS[joint]  # [R,D]
    lengths = np.cumsum(ANCESTOR_STEPS[joint] * stature[:, None], axis=1)
    positioned = (ancestors >= 0) & np.all(np.isfinite(known[person[:, None], np.maximum(ancestors, 0)]), axis=-1)
    first = np.argmax(positioned, axis=1)
    has = positioned[np.arange(len(joint)), first]
    anchor = np.where(has, ancestors[np.arange(len(joint)), first], -1)
    length = np.where(has, lengths[np.arange(len(joint)), first], np.nan)
    return anchor, length, has & (first == 0) & ~_TORSO[joint]


def _intervals(
    joint: IntArray,
    ray: FloatArray,
    parent: FloatArray,
    anchor: IntArray,
    length: FloatArray,
    direct: BoolArray,
    reference: FloatArray,
    margin: FloatArray,
    stature: FloatArray,
    band_m: float,
) -> tuple[FloatArray, FloatArray]:
    """Where each row's joint centre depth can be, as up to two intervals [R,2] (lo, hi;
    NaN: no interval): around the torso for shoulders and hips, one bone from its measured
    parent (the shell), within the chain's length from a measured ancestor, else within
    the chain from the torso; never beyond the person band."""
    torso = _TORSO[joint]
    count = len(joint)
    lo = np.full((count, 2), np.nan)
    hi = np.full((count, 2), np.nan)
    lo[torso, 0] = reference[torso] - TORSO_FRONT_M - margin[torso]
    hi[torso, 0] = reference[torso] + TORSO_BEHIND_M + margin[torso]
    free = ~torso & (anchor < 0)
    if np.any(free):
        chain = np.cumsum(_CHAIN_STEPS[joint[free]] * stature[free, None], axis=1)[:, -1]
        lo[free, 0] = reference[free] - chain - margin[free]
        hi[free, 0] = reference[free] + TORSO_BEHIND_M + chain + margin[free]
    shell = ~torso & (anchor >= 0) & direct
    if np.any(shell):
        lo[shell], hi[shell] = bone_shells(ray[shell], parent[shell], length[shell], BONE_SPREAD, margin[shell])
    ancestor = ~torso & (anchor >= 0) & ~direct
    if np.any(ancestor):
        a, b = bone_interval(ray[ancestor], parent[ancestor], length[ancestor] * (1 + BONE_SPREAD), margin[ancestor])
        lo[ancestor, 0], hi[ancestor, 0] = a, b
    band_lo, band_hi = (reference - band_m)[:, None], (reference + band_m)[:, None]
    with np.errstate(invalid="ignore"):
        keep = (hi > band_lo) & (lo < band_hi)
    return np.where(keep, np.maximum(lo, band_lo), np.nan), np.where(keep, np.minimum(hi, band_hi), np.nan)


# --- geometry of a ray and a sphere around a parent joint ------------------------------


def ray_sphere(ray: FloatArray, centre: FloatArray, radius: FloatArray) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Ray parameters (t_near, t_far) where unit rays from the camera meet spheres, and
    whether they do (where not, both are the point of closest approach)."""
    t_closest = np.sum(ray * centre, axis=-1)
    miss2 = np.sum(centre * centre, axis=-1) - t_closest**2
    hit = miss2 <= radius**2
    half = np.sqrt(np.where(hit, radius**2 - miss2, 0.0))
    return t_closest - half, t_closest + half, hit


def bone_interval(
    ray: FloatArray, parent: FloatArray, max_length: FloatArray, margin: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Centre depths [z_lo, z_hi] where a joint on unit ``ray`` can lie at most
    ``max_length`` from ``parent`` (a sphere around the parent cut by the ray), widened by
    ``margin``. A ray that misses the sphere (2D noise, a long bone) gives its point of
    closest approach."""
    near, far, _ = ray_sphere(ray, parent, max_length)
    z = ray[:, 2]
    return near * z - margin, far * z + margin


def bone_shells(
    ray: FloatArray, parent: FloatArray, length: FloatArray, spread: float, margin: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Centre depths where a joint on unit ``ray`` is ``length`` (+-``spread`` x length)
    from its ``parent``: where the ray crosses the shell between the two spheres [R,2]. Two
    intervals (in front of and behind the parent) when the ray passes inside the inner
    sphere, one otherwise; each widened by ``margin``."""
    outer_near, outer_far, outer_hit = ray_sphere(ray, parent, length * (1.0 + spread))
    inner_near, inner_far, inner_hit = ray_sphere(ray, parent, length * (1.0 - spread))
    z = ray[:, 2]
    lo = np.full((len(z), 2), np.nan)
    hi = np.full((len(z), 2), np.nan)
    # The 2D bone is longer than the 3D one can be: near the closest point.
    closest = np.sum(ray * parent, axis=-1) * z
    lo[:, 0] = np.where(outer_hit, outer_near * z - margin, closest - margin)
    hi[:, 0] = np.where(outer_hit, outer_far * z + margin, closest + margin)
    two = outer_hit & inner_hit
    front_hi = inner_near * z + margin
    back_lo = inner_far * z - margin
    split = two & (front_hi < back_lo)  # else the two touch: one interval
    hi[split, 0] = front_hi[split]
    lo[split, 1] = back_lo[split]
    hi[split, 1] = outer_far[split] * z[split] + margin[split]
    return lo, hi


def behind_on_shell(ray: FloatArray, parent: FloatArray, length: FloatArray) -> FloatArray:
    """The point of each ray ``length`` from ``parent`` on the far side (or the closest
    point when the ray passes farther than ``length``)."""
    _, far, _ = ray_sphere(ray, parent, length)
    return ray * far[:, None]


# --- choosing the joint's surface in its window ------------------------------------------


def select_surface(
    windows: Windows,
    lo: FloatArray,
    hi: FloatArray,
    offset_z: FloatArray,
    reject_lo: FloatArray,
    reject_hi: FloatArray,
    config: LiftingConfig,
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """The joint centre depth of each row [R] (NaN when unsupported), the spread of its
    surface and whether an occluder was seen.

    A row's window depths are split into clusters at jumps of more than the cluster gap,
    nearest first; the first well-supported cluster whose centre depth (surface +
    ``offset_z``, the z-part of the surface-to-centre offset along this pixel's ray) falls
    in one of the row's intervals ``lo..hi`` is the joint. Supported clusters before it are
    surfaces in front of where the joint can be: ``occluded`` reports them. Clusters whose
    surface depth lies in ``reject_lo..reject_hi`` are known occluders (the torso seen
    from behind). Depths behind every interval (the wall past a thin wrist) are not this
    joint's; support is counted among the rest.
    """
    values, counts = windows.values, windows.counts
    rows, width = values.shape
    z = np.full(rows, np.nan)
    spread = np.full(rows, np.nan)
    occluded = np.zeros(rows, dtype=bool)
    with np.errstate(invalid="ignore"):
        limit = np.max(np.where(np.isnan(hi), -np.inf, hi), axis=1) - offset_z
        considered = np.count_nonzero(values <= limit[:, None], axis=1)
    usable = windows.inside & np.any(np.isfinite(lo), axis=1) & (counts >= config.min_support_px)
    usable &= considered >= config.min_support_px
    if not np.any(usable):
        return z, spread, occluded
    index = np.flatnonzero(usable)
    values, considered = values[index], considered[index]
    local = np.arange(len(index))
    min_support = np.maximum(config.min_support_px, (0.1 * considered).astype(np.intp))
    z_mid = values[local, considered // 2].astype(np.float64)
    gap = np.maximum(config.cluster_gap_m, 3.0 * config.noise_coefficient * z_mid**2).astype(np.float32)
    row, start, size = clusters(values, considered, gap)
    flat = values.reshape(-1)
    base = row * width
    median = 0.5 * (flat[base + start + (size - 1) // 2].astype(np.float64) + flat[base + start + size // 2])
    candidate = size >= min_support[row]
    centre = median + offset_z[index][row]
    within = np.any((lo[index][row] <= centre[:, None]) & (centre[:, None] <= hi[index][row]), axis=1)
    with np.errstate(invalid="ignore"):
        known_occluder = (reject_lo[index][row] <= median) & (median <= reject_hi[index][row])
    chosen = candidate & within & ~known_occluder
    # The first chosen cluster of each row; candidates before it are occluders.
    rank = np.arange(len(row))
    first = np.full(len(index), len(row))
    np.minimum.at(first, row[chosen], rank[chosen])
    before = candidate & (rank < first[row])
    occluded_local = np.zeros(len(index), dtype=bool)
    occluded_local[row[before]] = True
    found = first < len(row)
    pick = first[found]
    pick_start, pick_size, pick_base = start[pick], size[pick], base[pick]
    upper = flat[pick_base + pick_start + np.minimum((3 * pick_size) // 4, pick_size - 1)].astype(np.float64)
    lower = flat[pick_base + pick_start + pick_size // 4].astype(np.float64)
    target = index[found]
    z[target] = centre[pick]
    spread[target] = (upper - lower) / 1.349
    occluded[index] = occluded_local
    return z, spread, occluded


# --- self-occlusion: the facing, the far side of the torso, hidden limbs, the face --------


def estimate_facing(
    observed: Observed,
    points: FloatArray,
    reference: FloatArray,
    stature: FloatArray,
    camera: CameraModel,
    measurable: BoolArray,
) -> Facing:
    """The torso's yaw from the 2D keypoints (unknown where it cannot be told).

    |cos| comes from how wide the shoulders (else the hips) look against their typical
    width at the torso's depth, its sign from which shoulder is on which side. The sign of
    sin (which side is farther) comes from where the nose is relative to the neck (people
    look where they face), else from the measured depths of the pairs.
    """
    pixels, seen = observed.pixels, observed.seen
    with np.errstate(divide="ignore", invalid="ignore"):
        px_per_m = camera.fx / reference
        cos = np.full(len(seen), np.nan)
        for left, right, width in reversed(TORSO_PAIRS):  # the shoulders win where both are seen
            both = seen[:, left] & seen[:, right]
            value = np.clip((pixels[:, left, 0] - pixels[:, right, 0]) / (width * stature * px_per_m), -1.0, 1.0)
            cos = np.where(both, value, cos)
        has_cos = np.isfinite(cos) & measurable
        sin_abs = np.sqrt(np.maximum(1.0 - cos**2, 0.0))
        sign = np.zeros(len(seen))
        nose = seen[:, NOSE] & seen[:, LEFT_SHOULDER] & seen[:, RIGHT_SHOULDER]
        ahead = pixels[:, NOSE, 0] - 0.5 * (pixels[:, LEFT_SHOULDER, 0] + pixels[:, RIGHT_SHOULDER, 0])
        expected = NOSE_AHEAD_FRACTION * stature * sin_abs * px_per_m
        by_nose = nose & (np.abs(ahead) > 0.3 * expected) & (expected > 1.0)
        sign = np.where(by_nose, np.sign(ahead), sign)
        for left, right, width in TORSO_PAIRS:
            measured = np.all(np.isfinite(points[:, [left, right]]), axis=(1, 2))
            dz = points[:, left, 2] - points[:, right, 2]
            by_depth = (sign == 0.0) & measured & (np.abs(dz) > 0.5 * width * stature * sin_abs)
            sign = np.where(by_depth, np.sign(dz), sign)
    known = has_cos & ~((sign == 0.0) & (sin_abs > 0.5))
    return Facing(np.where(known, cos, 0.0), np.where(known, sign * sin_abs, 0.0), known)


def resolve_torso_pairs(result: Measured, observed: Observed, stature: FloatArray, active: BoolArray) -> None:
    """Put the far shoulder / hip of a turned person behind the near one.

    Seen from the side, the far shoulder's pixel shows the near shoulder's body, so its
    window measures a surface up to a shoulder width in front of it. With the facing known,
    the far joint lies one pair width from the near one along its own ray (the far
    intersection); a measurement in front of that by more than half the expected depth
    step is the near body, and is replaced.
    """
    sin = result.facing.sin
    turned = active & (np.abs(sin) >= 0.35)
    points = result.points
    for left, right, width_fraction in TORSO_PAIRS:
        near = np.where(sin > 0, right, left)
        far = np.where(sin > 0, left, right)
        people = np.arange(len(sin))
        near_point = points[people, near]
        candidate = turned & observed.seen[people, far] & np.all(np.isfinite(near_point), axis=1)
        if not np.any(candidate):
            continue
        p, n, f = people[candidate], near[candidate], far[candidate]
        width = width_fraction * stature[p]
        ray = observed.rays[p, f]
        _, _, hit = ray_sphere(ray, points[p, n], width)
        expected = behind_on_shell(ray, points[p, n], width)
        step = width * np.abs(sin[p])
        measured = points[p, f]
        with np.errstate(invalid="ignore"):
            stands = np.all(np.isfinite(measured), axis=1) & (measured[:, 2] >= expected[:, 2] - 0.5 * step)
        replace = hit & ~stands
        p, n, f = p[replace], n[replace], f[replace]
        points[p, f] = expected[replace]
        result.sigma[p, f] = np.hypot(result.sigma[p, n], 0.25 * step[replace])
        result.inferred[p, f] = True


def _place_hidden(
    result: Measured,
    rows: _Rows,
    hidden: BoolArray,
    known: FloatArray,
    anchor: IntArray,
    length: FloatArray,
    margin: FloatArray,
    reference: FloatArray,
    config: LiftingConfig,
) -> None:
    """A joint hidden behind a surface where it cannot be (its own torso, seen from behind)
    lies on the far side of its parent, one bone length away."""
    p, j = rows.person[hidden], rows.joint[hidden]
    point = behind_on_shell(rows.ray[hidden], known[p, anchor[hidden]], length[hidden])
    inside = np.abs(point[:, 2] - reference[hidden]) <= config.person_depth_band_m
    p, j = p[inside], j[inside]
    result.points[p, j] = point[inside]
    result.sigma[p, j] = np.hypot(BONE_SPREAD * length[hidden][inside], margin[hidden][inside])
    result.inferred[p, j] = True


def _inside_torso(pixels: FloatArray, point: FloatArray) -> BoolArray:
    """Whether each point [R,2] lies inside (or on) the convex hull of its person's torso
    corners (shoulders and hips, pixels [R,J,2]): the hull of four points is the union of
    the triangles of any three of them."""
    corners = pixels[:, [LEFT_SHOULDER, RIGHT_SHOULDER, RIGHT_HIP, LEFT_HIP]]
    inside = np.zeros(len(point), dtype=bool)
    with np.errstate(invalid="ignore"):
        for a, b, c in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
            inside |= _in_triangle(point, corners[:, a], corners[:, b], corners[:, c])
    return inside & np.all(np.isfinite(corners), axis=(1, 2)) & np.all(np.isfinite(point), axis=1)


def _in_triangle(p: FloatArray, a: FloatArray, b: FloatArray, c: FloatArray) -> BoolArray:
    def side(u: FloatArray, v: FloatArray) -> FloatArray:
        return (v[:, 0] - u[:, 0]) * (p[:, 1] - u[:, 1]) - (v[:, 1] - u[:, 1]) * (p[:, 0] - u[:, 0])

    s1, s2, s3 = side(a, b), side(b, c), side(c, a)
    negative = (s1 < 0) | (s2 < 0) | (s3 < 0)
    positive = (s1 > 0) | (s2 > 0) | (s3 > 0)
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    return ~(negative & positive) & (area != 0)


def resolve_face(result: Measured, observed: Observed, sampled: Sampled, config: LiftingConfig) -> None:
    """Face keypoints on the far side of the head (the face of someone turned away, the far
    eye and ear in profile) are placed on a head sphere instead of the surface in front.

    The head centre lies one head radius behind the nearest head surface around the face
    keypoints; each landmark's depth on the sphere follows from the torso's facing.
    """
    facing = result.facing
    active = facing.known & sampled.face_seen & np.isfinite(sampled.reference)
    if not np.any(active):
        return
    people = np.flatnonzero(active)
    reference = sampled.reference[people]
    band_lo = (reference - config.person_depth_band_m)[:, None]
    band_hi = (reference + config.person_depth_band_m)[:, None]
    lo = np.concatenate((band_lo, np.full_like(band_lo, np.nan)), axis=1)
    hi = np.concatenate((band_hi, np.full_like(band_hi, np.nan)), axis=1)
    none = np.full(len(people), np.nan)
    surface, _, _ = select_surface(_take(sampled.face, people), lo, hi, np.zeros(len(people)), none, none, config)
    ok = np.isfinite(surface)
    people, surface = people[ok], surface[ok]
    if not len(people):
        return
    radius = HEAD_RADIUS_FRACTION * sampled.stature[people]
    centre_z = surface + 0.95 * radius
    cos, sin = facing.cos[people], facing.sin[people]
    forward_z, left_z = -cos, sin
    # Landmark directions from the head centre (as in an average head: eyes 20 deg apart
    # from the nose, ears at the sides slightly behind): their z components.
    direction_z = {
        NOSE: forward_z,
        LEFT_EYE: 0.94 * forward_z + 0.35 * left_z,
        RIGHT_EYE: 0.94 * forward_z - 0.35 * left_z,
        LEFT_EAR: left_z - 0.12 * forward_z,
        RIGHT_EAR: -left_z - 0.12 * forward_z,
    }
    for joint, component in direction_z.items():
        dz = component * radius
        z = centre_z + dz
        measured = result.points[people, joint]
        with np.errstate(invalid="ignore"):
            stands = np.all(np.isfinite(measured), axis=1) & (measured[:, 2] >= z - 0.5 * dz)
        # On the near side of the head the measurement stands.
        place = observed.seen[people, joint] & (dz > 0.25 * radius) & ~stands
        p = people[place]
        ray = observed.rays[p, joint]
        result.points[p, joint] = ray * (z[place] / ray[:, 2])[:, None]
        result.sigma[p, joint] = np.hypot(config.noise_coefficient * z[place] ** 2, 0.5 * radius[place])
        result.inferred[p, joint] = True
