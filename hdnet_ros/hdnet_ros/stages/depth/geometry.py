"""Geometry of a joint around its parent (compiled): where a viewing ray meets a bone's
sphere, and whether a pixel lies on the torso's outline. Vectors are 1-D arrays; sums run
in numpy's order (x + y, then + z)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER
from hdnet_ros.stages.depth.jit import compiled

FloatArray = npt.NDArray[np.float64]

# The torso's corners in order around it, and the four triangles of three of them.
TORSO_CORNERS = np.array([LEFT_SHOULDER, RIGHT_SHOULDER, RIGHT_HIP, LEFT_HIP], dtype=np.int64)
CORNER_TRIANGLES = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]], dtype=np.int64)


@compiled
def dot3(a: FloatArray, b: FloatArray) -> float:
    return (a[0] * b[0] + a[1] * b[1]) + a[2] * b[2]


@compiled
def ray_sphere(ray: FloatArray, centre: FloatArray, radius: float) -> tuple[float, float, bool]:
    """Ray parameters (t_near, t_far) where a unit ray from the camera meets a sphere, and
    whether it does (where not, both are the point of closest approach)."""
    t_closest = dot3(ray, centre)
    miss2 = dot3(centre, centre) - t_closest * t_closest
    hit = miss2 <= radius * radius
    half = math.sqrt(radius * radius - miss2 if hit else 0.0)
    return t_closest - half, t_closest + half, hit


@compiled
def bone_interval(ray: FloatArray, parent: FloatArray, max_length: float, margin: float) -> tuple[float, float]:
    """Centre depths [z_lo, z_hi] where a joint on unit ``ray`` can lie at most
    ``max_length`` from ``parent`` (a sphere around the parent cut by the ray), widened by
    ``margin``. A ray that misses the sphere (2D noise, a long bone) gives its point of
    closest approach."""
    near, far, _ = ray_sphere(ray, parent, max_length)
    z = ray[2]
    return near * z - margin, far * z + margin


@compiled
def bone_shells(
    ray: FloatArray, parent: FloatArray, length: float, spread: float, margin: float, lo: FloatArray, hi: FloatArray
) -> None:
    """Centre depths where a joint on unit ``ray`` is ``length`` (+-``spread`` x length)
    from its ``parent``: where the ray crosses the shell between the two spheres, written to
    ``lo``, ``hi`` [2]. Two intervals (in front of and behind the parent) when the ray passes
    inside the inner sphere, one otherwise (the second NaN); each widened by ``margin``."""
    outer_near, outer_far, outer_hit = ray_sphere(ray, parent, length * (1.0 + spread))
    inner_near, inner_far, inner_hit = ray_sphere(ray, parent, length * (1.0 - spread))
    z = ray[2]
    lo[1] = np.nan
    hi[1] = np.nan
    # The 2D bone is longer than the 3D one can be: near the closest point.
    closest = dot3(ray, parent) * z
    lo[0] = outer_near * z - margin if outer_hit else closest - margin
    hi[0] = outer_far * z + margin if outer_hit else closest + margin
    front_hi = inner_near * z + margin
    back_lo = inner_far * z - margin
    if outer_hit and inner_hit and front_hi < back_lo:  # else the two touch: one interval
        hi[0] = front_hi
        lo[1] = back_lo
        hi[1] = outer_far * z + margin


@compiled
def behind_on_shell(ray: FloatArray, parent: FloatArray, length: float, out: FloatArray) -> None:
    """The point of ``ray`` ``length`` from ``parent`` on the far side (or the closest point
    when the ray passes farther than ``length``), written to ``out`` [3]."""
    _, far, _ = ray_sphere(ray, parent, length)
    for axis in range(3):
        out[axis] = ray[axis] * far


@compiled
def cross_2d(a: FloatArray, b: FloatArray, c: FloatArray) -> float:
    """(b - a) x (c - a) of image points: twice the signed area of triangle abc, positive
    when c lies to the left of a -> b."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


@compiled
def _in_triangle(p: FloatArray, a: FloatArray, b: FloatArray, c: FloatArray) -> bool:
    s1, s2, s3 = cross_2d(a, b, p), cross_2d(b, c, p), cross_2d(c, a, p)
    negative = s1 < 0 or s2 < 0 or s3 < 0
    positive = s1 > 0 or s2 > 0 or s3 > 0
    return not (negative and positive) and cross_2d(a, b, c) != 0


@compiled
def inside_torso(pixels: FloatArray, point: FloatArray) -> bool:
    """Whether ``point`` [2] lies inside (or on) the convex hull of the person's torso
    corners (shoulders and hips of ``pixels`` [J,2]): the hull of four points is the union
    of the triangles of any three of them."""
    for corner in TORSO_CORNERS:
        if not (math.isfinite(pixels[corner, 0]) and math.isfinite(pixels[corner, 1])):
            return False
    if not (math.isfinite(point[0]) and math.isfinite(point[1])):
        return False
    for triangle in CORNER_TRIANGLES:
        a = pixels[TORSO_CORNERS[triangle[0]]]
        b = pixels[TORSO_CORNERS[triangle[1]]]
        c = pixels[TORSO_CORNERS[triangle[2]]]
        if _in_triangle(point, a, b, c):
            return True
    return False
