"""Skeleton knowledge and the completion of joints the depth image could not measure.

Typical bone lengths are fractions of stature from Drillis & Contini (1966) (Winter,
*Biomechanics and Motor Control of Human Movement*), for an adult of 1.70 m, the mean of an
equal mix of men and women. Joint-centre widths are narrower than the skin breadths of that
table: shoulder joint centres 0.20 H apart, hip joint centres 0.105 H apart.

A completed joint is placed on its own viewing ray at the point closest to the nearest
joint of the same skeleton that has a position: the depth error of that guess is bounded by
the bone length, whatever the pose. Completed joints are marked ``DepthSource.INFERRED`` and
get a standard deviation of at least half a bone length, so nobody mistakes them for
measurements.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    BONES,
    DERIVED_JOINTS,
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
)
from hdnet_ros.people import DepthSource, Person

FloatArray = npt.NDArray[np.float64]

TYPICAL_STATURE_M: Final = 1.70
# Relative spread of adult stature (sd 0.09 m over 1.70 m): the irreducible error of any
# depth derived from an assumed body size.
STATURE_RELATIVE_SD: Final = 0.055

# Bone (a, b) -> typical length as a fraction of stature.
BONE_FRACTIONS: Final[dict[tuple[int, int], float]] = {
    (PELVIS, LEFT_HIP): 0.0525,
    (PELVIS, RIGHT_HIP): 0.0525,
    (LEFT_HIP, LEFT_KNEE): 0.245,
    (LEFT_KNEE, LEFT_ANKLE): 0.246,
    (RIGHT_HIP, RIGHT_KNEE): 0.245,
    (RIGHT_KNEE, RIGHT_ANKLE): 0.246,
    (PELVIS, NECK): 0.288,
    (NECK, LEFT_SHOULDER): 0.100,
    (NECK, RIGHT_SHOULDER): 0.100,
    (LEFT_SHOULDER, LEFT_ELBOW): 0.186,
    (LEFT_ELBOW, LEFT_WRIST): 0.146,
    (RIGHT_SHOULDER, RIGHT_ELBOW): 0.186,
    (RIGHT_ELBOW, RIGHT_WRIST): 0.146,
    (NECK, NOSE): 0.127,
    (NOSE, LEFT_EYE): 0.025,
    (NOSE, RIGHT_EYE): 0.025,
    (LEFT_EYE, LEFT_EAR): 0.050,
    (RIGHT_EYE, RIGHT_EAR): 0.050,
}
assert set(BONE_FRACTIONS) == set(BONES), "every drawn bone needs a typical length"


# A standing adult with the arms hanging, as fractions of stature: (left, up, forward) of
# each joint, heights from Drillis & Contini. Distances in this pose bound the distances of
# the same joints in nearly any other pose (bending, sitting and turning shorten them),
# which makes them a size prior for joints that are not connected by one bone.
STANDING_TEMPLATE: Final = np.array(
    [
        [0.000, 0.920, 0.065],  # nose
        [0.019, 0.936, 0.050],  # left eye
        [-0.019, 0.936, 0.050],  # right eye
        [0.053, 0.930, -0.007],  # left ear
        [-0.053, 0.930, -0.007],  # right ear
        [0.100, 0.818, 0.000],  # left shoulder
        [-0.100, 0.818, 0.000],  # right shoulder
        [0.110, 0.632, 0.000],  # left elbow
        [-0.110, 0.632, 0.000],  # right elbow
        [0.115, 0.486, 0.000],  # left wrist
        [-0.115, 0.486, 0.000],  # right wrist
        [0.0525, 0.530, 0.000],  # left hip
        [-0.0525, 0.530, 0.000],  # right hip
        [0.0525, 0.285, 0.000],  # left knee
        [-0.0525, 0.285, 0.000],  # right knee
        [0.0525, 0.039, 0.000],  # left ankle
        [-0.0525, 0.039, 0.000],  # right ankle
        [0.000, 0.530, 0.000],  # pelvis
        [0.000, 0.818, 0.000],  # neck
    ]
)


def bone_length(a: int, b: int, stature: float = TYPICAL_STATURE_M) -> float:
    """Typical length [m] of the bone between joints a and b (in either order)."""
    fraction = BONE_FRACTIONS.get((a, b), BONE_FRACTIONS.get((b, a)))
    if fraction is None:
        raise KeyError(f"joints {a} and {b} are not connected by a bone")
    return fraction * stature


def _neighbours() -> dict[int, list[int]]:
    graph: dict[int, list[int]] = {j: [] for j in range(NUM_JOINTS)}
    for a, b in BONES:
        graph[a].append(b)
        graph[b].append(a)
    return graph


NEIGHBOURS: Final = _neighbours()

# Kinematic parent of each joint (towards the pelvis), for chains measured outwards.
PARENT: Final[dict[int, int]] = {
    NECK: PELVIS,
    LEFT_HIP: PELVIS,
    RIGHT_HIP: PELVIS,
    LEFT_SHOULDER: NECK,
    RIGHT_SHOULDER: NECK,
    LEFT_ELBOW: LEFT_SHOULDER,
    RIGHT_ELBOW: RIGHT_SHOULDER,
    LEFT_WRIST: LEFT_ELBOW,
    RIGHT_WRIST: RIGHT_ELBOW,
    LEFT_KNEE: LEFT_HIP,
    RIGHT_KNEE: RIGHT_HIP,
    LEFT_ANKLE: LEFT_KNEE,
    RIGHT_ANKLE: RIGHT_KNEE,
    NOSE: NECK,
    LEFT_EYE: NOSE,
    RIGHT_EYE: NOSE,
    LEFT_EAR: LEFT_EYE,
    RIGHT_EAR: RIGHT_EYE,
}


def unit_rays(camera: CameraModel, pixels: npt.ArrayLike) -> FloatArray:
    """Unit viewing rays [N,3] of pixels [N,2] (NaN rows for NaN pixels)."""
    xy = camera.normalized_rays(pixels)
    rays = np.concatenate((xy, np.ones((len(xy), 1))), axis=1)
    return np.asarray(rays / np.linalg.norm(rays, axis=1, keepdims=True), dtype=np.float64)


def closest_on_ray(ray: FloatArray, point: FloatArray) -> FloatArray:
    """The point of the unit ray (from the camera centre) nearest to ``point``."""
    t = max(float(ray @ point), 0.05)
    return np.asarray(ray * t, dtype=np.float64)


def _path_lengths(stature: float) -> FloatArray:
    """Shortest skeleton path length [m] between every two joints (Floyd-Warshall)."""
    dist = np.full((NUM_JOINTS, NUM_JOINTS), np.inf)
    np.fill_diagonal(dist, 0.0)
    for a, b in BONES:
        dist[a, b] = dist[b, a] = bone_length(a, b, stature)
    for k in range(NUM_JOINTS):
        dist = np.minimum(dist, dist[:, k : k + 1] + dist[k : k + 1, :])
    return dist


def complete_from_skeleton(person: Person, camera: CameraModel, stature: float = TYPICAL_STATURE_M) -> int:
    """Fill joints that have a 2D pixel but no 3D position from the same skeleton.

    Each is anchored on the joint with a position that is nearest along the skeleton (a
    wrist next to a measured elbow on that elbow, else on the shoulder, ...), and joints are
    filled nearest-first so that a chain grows outwards from what was measured. The depth
    error is bounded by the path length to the anchor; the reported sigma is half of it.
    Returns how many joints it filled.
    """
    has_pixel = np.all(np.isfinite(person.pixels), axis=1)
    rays = unit_rays(camera, np.where(has_pixel[:, None], person.pixels, 0.0))
    paths = _path_lengths(stature)
    filled = 0
    while True:
        known = person.valid
        todo = [j for j in range(NUM_JOINTS) if has_pixel[j] and not known[j] and j not in DERIVED_JOINTS]
        if not todo or not np.any(known):
            break
        reach = paths[np.ix_(np.array(todo), np.flatnonzero(known))]
        row = int(np.argmin(reach.min(axis=1)))
        joint = todo[row]
        anchor = int(np.flatnonzero(known)[int(np.argmin(reach[row]))])
        length = float(reach[row].min())
        anchor_sigma = float(person.position_stddev[anchor]) if np.isfinite(person.position_stddev[anchor]) else 0.0
        person.positions[joint] = closest_on_ray(rays[joint], person.positions[anchor])
        person.position_stddev[joint] = float(np.hypot(anchor_sigma, 0.5 * length))
        person.depth_sources[joint] = DepthSource.INFERRED
        filled += 1
        filled += complete_derived(person)
    filled += complete_derived(person)
    return filled


def complete_derived(person: Person) -> int:
    """Midpoint joints (pelvis, neck) from their two joints when those have positions."""
    filled = 0
    for joint, (a, b) in DERIVED_JOINTS.items():
        if person.valid[joint] or not (person.valid[a] and person.valid[b]):
            continue
        person.positions[joint] = (person.positions[a] + person.positions[b]) / 2.0
        person.position_stddev[joint] = float(np.hypot(person.position_stddev[a], person.position_stddev[b]) / 2.0)
        sources = {int(person.depth_sources[a]), int(person.depth_sources[b])}
        person.depth_sources[joint] = DepthSource.INFERRED if DepthSource.INFERRED in sources else max(sources)
        filled += 1
    return filled


def complete_from_relative_pose(person: Person, relative_pose: npt.ArrayLike) -> int:
    """Joints with no position at all, taken from a root-relative 3D pose [J,3] (metres,
    camera axes) placed at the person's root. Needs a valid root; NaN rows are skipped."""
    rel = np.asarray(relative_pose, dtype=np.float64).reshape(NUM_JOINTS, 3)
    if not person.valid[PELVIS]:
        return 0
    root = person.positions[PELVIS] - rel[PELVIS] if np.all(np.isfinite(rel[PELVIS])) else person.positions[PELVIS]
    fill = ~person.valid & np.all(np.isfinite(rel), axis=1)
    person.positions[fill] = root + rel[fill]
    person.position_stddev[fill] = np.hypot(person.position_stddev[PELVIS], 0.1)
    person.depth_sources[fill] = DepthSource.INFERRED
    return int(np.count_nonzero(fill))


def estimate_pelvis_pixel(
    pixels: npt.NDArray[np.floating], camera: CameraModel, depth_m: float, stature: float = TYPICAL_STATURE_M
) -> FloatArray | None:
    """The pelvis pixel of a person whose two hips were not both seen, from what was:

    one hip (within half a hip width of the pelvis); else the shoulders (one torso length
    below the neck, perpendicular to the shoulder line); else one shoulder or the face,
    straight down the image by the typical distance to the pelvis. None without any of them.
    """
    if not np.isfinite(depth_m) or depth_m <= 0:
        return None
    seen = np.all(np.isfinite(pixels), axis=1)
    px_per_m = camera.fy / depth_m
    for hip in (LEFT_HIP, RIGHT_HIP):
        if seen[hip]:
            return np.asarray(pixels[hip], dtype=np.float64)
    torso_px = bone_length(PELVIS, NECK, stature) * px_per_m
    if seen[LEFT_SHOULDER] and seen[RIGHT_SHOULDER]:
        left, right = pixels[LEFT_SHOULDER], pixels[RIGHT_SHOULDER]
        across = right - left
        down = np.array([-across[1], across[0]])
        norm = float(np.linalg.norm(down))
        down = np.array([0.0, 1.0]) if norm < 1e-6 else down / norm
        if down[1] < 0:
            down = -down
        return np.asarray((left + right) / 2.0 + down * torso_px, dtype=np.float64)
    straight_down = np.array([0.0, 1.0])
    for shoulder in (LEFT_SHOULDER, RIGHT_SHOULDER):
        if seen[shoulder]:
            return np.asarray(pixels[shoulder] + straight_down * torso_px, dtype=np.float64)
    face = [j for j in (NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR) if seen[j]]
    if face:
        head_px = (bone_length(NECK, NOSE, stature) * 0.85 + bone_length(PELVIS, NECK, stature)) * px_per_m
        return np.asarray(pixels[face].mean(axis=0) + straight_down * head_px, dtype=np.float64)
    return None


def pelvis_from_torso(
    person: Person, facing: Any, up: FloatArray, stature: float = TYPICAL_STATURE_M
) -> tuple[FloatArray, float] | None:
    """The pelvis of a person whose hips are not both positioned, from the torso's geometry:

    one hip and the torso's facing (``facing.cos``, ``facing.sin``: the person's left points
    along (cos, 0, sin) in the camera frame) put the pelvis half a hip width inwards; else the
    neck (both shoulders) and the ``up`` direction (the floor's normal) put it one torso
    length below the neck. Returns (point, sigma) or None.
    """
    valid = person.valid
    sources = person.depth_sources
    half_hip = bone_length(PELVIS, LEFT_HIP, stature)
    if facing is not None:
        left = np.array([facing.cos, 0.0, facing.sin])
        for hip, side in ((LEFT_HIP, 1.0), (RIGHT_HIP, -1.0)):
            if valid[hip] and sources[hip] == DepthSource.SENSOR:
                point = person.positions[hip] - side * half_hip * left
                return np.asarray(point, dtype=np.float64), float(np.hypot(person.position_stddev[hip], 0.04))
    if valid[LEFT_SHOULDER] and valid[RIGHT_SHOULDER]:
        neck = (person.positions[LEFT_SHOULDER] + person.positions[RIGHT_SHOULDER]) / 2.0
        unit_up = np.asarray(up, dtype=np.float64) / float(np.linalg.norm(up))
        point = neck - unit_up * bone_length(PELVIS, NECK, stature)
        sigma = float(np.hypot(person.position_stddev[LEFT_SHOULDER], 0.08))
        return np.asarray(point, dtype=np.float64), sigma
    return None
