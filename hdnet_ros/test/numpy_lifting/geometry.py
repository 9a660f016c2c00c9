"""Geometry of a joint around its parent: where a viewing ray meets a bone's sphere, and
whether a pixel lies on the torso's outline."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hdnet_ros.joints import LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
DepthImage = npt.NDArray[np.float32]


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


def inside_torso(pixels: FloatArray, point: FloatArray) -> BoolArray:
    """Whether each point [R,2] lies inside (or on) the convex hull of its person's torso
    corners (shoulders and hips, pixels [R,J,2]): the hull of four points is the union of
    the triangles of any three of them."""
    corners = pixels[:, [LEFT_SHOULDER, RIGHT_SHOULDER, RIGHT_HIP, LEFT_HIP]]
    inside = np.zeros(len(point), dtype=bool)
    with np.errstate(invalid="ignore"):
        for a, b, c in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
            inside |= _in_triangle(point, corners[:, a], corners[:, b], corners[:, c])
    return inside & np.all(np.isfinite(corners), axis=(1, 2)) & np.all(np.isfinite(point), axis=1)


def cross_2d(a: FloatArray, b: FloatArray, c: FloatArray) -> FloatArray:
    """(b - a) x (c - a) of image points [R,2]: twice the signed area of triangle abc,
    positive when c lies to the left of a -> b."""
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def _in_triangle(p: FloatArray, a: FloatArray, b: FloatArray, c: FloatArray) -> BoolArray:
    s1, s2, s3 = cross_2d(a, b, p), cross_2d(b, c, p), cross_2d(c, a, p)
    negative = (s1 < 0) | (s2 < 0) | (s3 < 0)
    positive = (s1 > 0) | (s2 > 0) | (s3 > 0)
    return ~(negative & positive) & (cross_2d(a, b, c) != 0)
