"""Self-occlusion: what a person's own body hides from the depth camera.

The torso's facing (how wide the shoulders look, where the nose points) puts the far
shoulder / hip of a turned person behind the near one; a limb hidden behind a surface
where it cannot be (its own torso, seen from behind) lies on the far side of its parent;
face keypoints on the far side of the head go on a head sphere. All such joints are
``DepthSource.INFERRED``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_EAR,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_SHOULDER,
    NOSE,
    RIGHT_EAR,
    RIGHT_EYE,
    RIGHT_HIP,
    RIGHT_SHOULDER,
)
from hdnet_ros.stages.depth.arrays import Facing, Measured, Observed
from hdnet_ros.stages.depth.config import BONE_SPREAD, LiftingConfig

from numpy_lifting.geometry import behind_on_shell, ray_sphere
from numpy_lifting.sample import HEAD_RADIUS_FRACTION, Sampled
from numpy_lifting.windows import select_surface

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
DepthImage = npt.NDArray[np.float32]


# Left/right pairs across the torso and their joint-centre distances (fractions of stature).
TORSO_PAIRS: tuple[tuple[int, int, float], ...] = (
    (LEFT_SHOULDER, RIGHT_SHOULDER, 0.200),
    (LEFT_HIP, RIGHT_HIP, 0.105),
)

NOSE_AHEAD_FRACTION = 0.065  # nose tip ahead of the neck, horizontally (of stature)


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


def place_hidden(
    result: Measured,
    person: IntArray,
    joint: IntArray,
    ray: FloatArray,
    known: FloatArray,
    anchor: IntArray,
    length: FloatArray,
    margin: FloatArray,
    reference: FloatArray,
    config: LiftingConfig,
) -> None:
    """A joint hidden behind a surface where it cannot be (its own torso, seen from behind)
    lies on the far side of its parent, one bone length away."""
    point = behind_on_shell(ray, known[person, anchor], length)
    inside = np.abs(point[:, 2] - reference) <= config.person_depth_band_m
    p, j = person[inside], joint[inside]
    result.points[p, j] = point[inside]
    result.sigma[p, j] = np.hypot(BONE_SPREAD * length[inside], margin[inside])
    result.inferred[p, j] = True


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
    surface, _, _ = select_surface(sampled.face.rows(people), lo, hi, np.zeros(len(people)), none, none, config)
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
