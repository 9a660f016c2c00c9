"""Self-occlusion: what a person's own body hides from the depth camera (compiled, per
person).

The torso's facing (how wide the shoulders look, where the nose points) puts the far
shoulder / hip of a turned person behind the near one; a limb hidden behind a surface
where it cannot be (its own torso, seen from behind) lies on the far side of its parent;
face keypoints on the far side of the head go on a head sphere. All such joints are
``DepthSource.INFERRED``.

A person's measurement is held in :class:`PersonResult`-shaped arrays: ``points`` [J,3],
``sigma`` [J], ``inferred`` [J] (rows of the stage's [P,...] arrays).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

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
from hdnet_ros.stages.depth.config import BONE_SPREAD
from hdnet_ros.stages.depth.geometry import behind_on_shell, ray_sphere
from hdnet_ros.stages.depth.jit import compiled
from hdnet_ros.stages.depth.kernel_settings import KernelSettings
from hdnet_ros.stages.depth.sample import HEAD_RADIUS_FRACTION
from hdnet_ros.stages.depth.windows import select_surface

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Left/right pairs across the torso and their joint-centre distances (fractions of stature).
TORSO_PAIRS: tuple[tuple[int, int, float], ...] = (
    (LEFT_SHOULDER, RIGHT_SHOULDER, 0.200),
    (LEFT_HIP, RIGHT_HIP, 0.105),
)
_PAIR_JOINTS = np.array([(left, right) for left, right, _ in TORSO_PAIRS], dtype=np.int64)
_PAIR_WIDTH = np.array([width for _, _, width in TORSO_PAIRS])

NOSE_AHEAD_FRACTION = 0.065  # nose tip ahead of the neck, horizontally (of stature)

_FACE_ORDER = np.array([NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR], dtype=np.int64)


@compiled
def _sign(value: float) -> float:
    """np.sign of a float."""
    if value > 0:
        return 1.0
    if value < 0:
        return -1.0
    return value  # 0 or NaN


@compiled
def finite_point(point: FloatArray) -> bool:
    return math.isfinite(point[0]) and math.isfinite(point[1]) and math.isfinite(point[2])


@compiled
def estimate_facing(
    pixels: FloatArray, seen: BoolArray, points: FloatArray, reference: float, stature: float, fx: float
) -> tuple[float, float, bool]:
    """The torso's yaw (cos, sin, known) from the 2D keypoints of a person whose torso was
    measured (points [J,3]: the torso joints measured so far).

    |cos| comes from how wide the shoulders (else the hips) look against their typical
    width at the torso's depth, its sign from which shoulder is on which side. The sign of
    sin (which side is farther) comes from where the nose is relative to the neck (people
    look where they face), else from the measured depths of the pairs.
    """
    px_per_m = fx / reference
    cos = np.nan
    for pair in range(len(_PAIR_WIDTH) - 1, -1, -1):  # the shoulders win where both are seen
        left, right = _PAIR_JOINTS[pair, 0], _PAIR_JOINTS[pair, 1]
        if seen[left] and seen[right]:
            value = (pixels[left, 0] - pixels[right, 0]) / ((_PAIR_WIDTH[pair] * stature) * px_per_m)
            cos = np.nan if math.isnan(value) else min(max(value, -1.0), 1.0)
    has_cos = math.isfinite(cos)
    sin_abs = math.sqrt(max(1.0 - cos * cos, 0.0)) if not math.isnan(cos) else np.nan
    sign = 0.0
    if seen[NOSE] and seen[LEFT_SHOULDER] and seen[RIGHT_SHOULDER]:
        ahead = pixels[NOSE, 0] - 0.5 * (pixels[LEFT_SHOULDER, 0] + pixels[RIGHT_SHOULDER, 0])
        expected = ((NOSE_AHEAD_FRACTION * stature) * sin_abs) * px_per_m
        if abs(ahead) > 0.3 * expected and expected > 1.0:
            sign = _sign(ahead)
    for pair in range(len(_PAIR_WIDTH)):
        left, right = _PAIR_JOINTS[pair, 0], _PAIR_JOINTS[pair, 1]
        if sign == 0.0 and finite_point(points[left]) and finite_point(points[right]):
            dz = points[left, 2] - points[right, 2]
            if abs(dz) > ((0.5 * _PAIR_WIDTH[pair]) * stature) * sin_abs:
                sign = _sign(dz)
    known = has_cos and not (sign == 0.0 and sin_abs > 0.5)
    if not known:
        return 0.0, 0.0, False
    return cos, sign * sin_abs, True


@compiled
def resolve_torso_pairs(
    rays: FloatArray,
    seen: BoolArray,
    stature: float,
    sin: float,
    points: FloatArray,
    sigma: FloatArray,
    inferred: BoolArray,
) -> None:
    """Put the far shoulder / hip of a turned person (facing known, ``sin`` its yaw's sine)
    behind the near one.

    Seen from the side, the far shoulder's pixel shows the near shoulder's body, so its
    window measures a surface up to a shoulder width in front of it. With the facing known,
    the far joint lies one pair width from the near one along its own ray (the far
    intersection); a measurement in front of that by more than half the expected depth
    step is the near body, and is replaced.
    """
    if not abs(sin) >= 0.35:
        return
    expected = np.empty(3)
    for pair in range(len(_PAIR_WIDTH)):
        left, right = _PAIR_JOINTS[pair, 0], _PAIR_JOINTS[pair, 1]
        near, far = (right, left) if sin > 0 else (left, right)
        if not (seen[far] and finite_point(points[near])):
            continue
        width = _PAIR_WIDTH[pair] * stature
        ray = rays[far]
        _, _, hit = ray_sphere(ray, points[near], width)
        behind_on_shell(ray, points[near], width, expected)
        step = width * abs(sin)
        measured = points[far]
        stands = finite_point(measured) and measured[2] >= expected[2] - 0.5 * step
        if hit and not stands:
            for axis in range(3):
                points[far, axis] = expected[axis]
            sigma[far] = math.hypot(sigma[near], 0.25 * step)
            inferred[far] = True


@compiled
def place_hidden(
    ray: FloatArray,
    parent: FloatArray,
    length: float,
    margin: float,
    reference: float,
    band_m: float,
    point: FloatArray,
) -> float:
    """A joint hidden behind a surface where it cannot be (its own torso, seen from behind)
    lies on the far side of its parent, one bone length away: written to ``point`` [3];
    its sigma, NaN (and ``point`` untouched) when that lies outside the person band."""
    candidate = np.empty(3)
    behind_on_shell(ray, parent, length, candidate)
    if not abs(candidate[2] - reference) <= band_m:
        return np.nan
    for axis in range(3):
        point[axis] = candidate[axis]
    return math.hypot(BONE_SPREAD * length, margin)


@compiled
def resolve_face(
    face: npt.NDArray[np.float32],
    face_count: int,
    face_inside: bool,
    rays: FloatArray,
    seen: BoolArray,
    reference: float,
    stature: float,
    cos: float,
    sin: float,
    settings: KernelSettings,
    points: FloatArray,
    sigma: FloatArray,
    inferred: BoolArray,
    scratch: npt.NDArray[np.uint32],
) -> None:
    """Face keypoints on the far side of the head (the face of someone turned away, the far
    eye and ear in profile) are placed on a head sphere instead of the surface in front.

    The head centre lies one head radius behind the nearest head surface around the face
    keypoints (``face``: the sorted valid depths of the face window); each landmark's depth
    on the sphere follows from the torso's facing.
    """
    band = settings.person_depth_band_m
    surface, _, _ = select_surface(
        face,
        face_count,
        face_inside,
        (reference - band, np.nan),
        (reference + band, np.nan),
        0.0,
        np.nan,
        np.nan,
        settings.min_support_px,
        settings.cluster_gap_m,
        settings.noise_coefficient,
        scratch,
    )
    if not math.isfinite(surface):
        return
    radius = HEAD_RADIUS_FRACTION * stature
    centre_z = surface + 0.95 * radius
    forward_z, left_z = -cos, sin
    # Landmark directions from the head centre (as in an average head: eyes 20 deg apart
    # from the nose, ears at the sides slightly behind): their z components.
    for joint in _FACE_ORDER:
        if joint == NOSE:
            component = forward_z
        elif joint == LEFT_EYE:
            component = 0.94 * forward_z + 0.35 * left_z
        elif joint == RIGHT_EYE:
            component = 0.94 * forward_z - 0.35 * left_z
        elif joint == LEFT_EAR:
            component = left_z - 0.12 * forward_z
        else:
            component = -left_z - 0.12 * forward_z
        dz = component * radius
        z = centre_z + dz
        measured = points[joint]
        # On the near side of the head the measurement stands.
        stands = finite_point(measured) and measured[2] >= z - 0.5 * dz
        if seen[joint] and dz > 0.25 * radius and not stands:
            ray = rays[joint]
            for axis in range(3):
                points[joint, axis] = ray[axis] * (z / ray[2])
            sigma[joint] = math.hypot(settings.noise_coefficient * (z * z), 0.5 * radius)
            inferred[joint] = True
