"""Exact z-depth rendering of capsules and planes, vectorised in numpy.

Every surface is intersected analytically with the pixel rays, so the rendered depth is the
ground truth the sensor model then degrades. A ray through pixel (u, v) is
t * ((u - cx) / fx, (v - cy) / fy, 1): its parameter t *is* the z-depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel

FloatArray = npt.NDArray[np.float64]

BACKGROUND = -1  # label of planes (floor, wall) and of pixels that see nothing
OBJECT = -2  # label of occluding objects

NEAR_PLANE_M = 0.05


@dataclass(frozen=True)
class Plane:
    """Points p with normal . p = offset (camera frame)."""

    normal: FloatArray
    offset: float


@dataclass(frozen=True)
class Shape:
    """A capsule (segment a-b with radius) carrying the label of what it belongs to."""

    a: FloatArray
    b: FloatArray
    radius: float
    label: int


@dataclass
class Rendering:
    depth: npt.NDArray[np.float32]  # HxW true z-depth [m], inf where nothing is hit
    label: npt.NDArray[np.int16]  # HxW: person index, BACKGROUND or OBJECT


class RayGrid:
    """Normalised ray directions of every pixel centre of a camera (distortion-free)."""

    def __init__(self, camera: CameraModel) -> None:
        self.camera = camera
        u = np.arange(camera.width, dtype=np.float64)
        v = np.arange(camera.height, dtype=np.float64)
        self.x = (u - camera.cx) / camera.fx  # [W]
        self.y = (v - camera.cy) / camera.fy  # [H]

    def matches(self, camera: CameraModel) -> bool:
        mine = self.camera
        return (mine.width, mine.height) == (camera.width, camera.height) and bool(np.array_equal(mine.K, camera.K))


def _bounds(camera: CameraModel, shape: Shape) -> tuple[int, int, int, int] | None:
    """Pixel rectangle (r0, r1, c0, c1) that holds the capsule's image, or None if the
    capsule is behind the camera or outside the image."""
    lo = np.minimum(shape.a, shape.b) - shape.radius
    hi = np.maximum(shape.a, shape.b) + shape.radius
    if hi[2] <= NEAR_PLANE_M:
        return None
    z_lo = max(lo[2], NEAR_PLANE_M)
    # x/z over the box is extremal at its corners; with z clamped to the near plane this
    # bounds the projection even for boxes that straddle it.
    xs = np.array([lo[0] / z_lo, lo[0] / hi[2], hi[0] / z_lo, hi[0] / hi[2]])
    ys = np.array([lo[1] / z_lo, lo[1] / hi[2], hi[1] / z_lo, hi[1] / hi[2]])
    c0 = int(np.floor(camera.fx * xs.min() + camera.cx))
    c1 = int(np.ceil(camera.fx * xs.max() + camera.cx)) + 1
    r0 = int(np.floor(camera.fy * ys.min() + camera.cy))
    r1 = int(np.ceil(camera.fy * ys.max() + camera.cy)) + 1
    c0, c1 = max(c0, 0), min(c1, camera.width)
    r0, r1 = max(r0, 0), min(r1, camera.height)
    if c0 >= c1 or r0 >= r1:
        return None
    return r0, r1, c0, c1


def _sphere_hit(dx: FloatArray, dy: FloatArray, dd: FloatArray, centre: FloatArray, radius: float) -> FloatArray:
    """Entry parameter t of rays t*(dx, dy, 1) into a sphere; inf where they miss."""
    # |t d - c|^2 = r^2  ->  dd t^2 - 2 (d.c) t + |c|^2 - r^2 = 0
    dc = dx * centre[0] + dy * centre[1] + centre[2]
    disc = dc * dc - dd * (float(centre @ centre) - radius * radius)
    with np.errstate(invalid="ignore"):
        t = (dc - np.sqrt(disc)) / dd
    return np.where((disc >= 0) & (t > NEAR_PLANE_M), t, np.inf)


def capsule_hit(dx: FloatArray, dy: FloatArray, shape: Shape) -> FloatArray:
    """Entry depth of rays t*(dx, dy, 1) into a capsule; inf where they miss.

    The capsule is a finite cylinder plus two end spheres. If the ray enters the infinite
    cylinder within the segment, that is the entry; otherwise it can only enter through the
    end sphere on that side (the caps lie inside the spheres), so the nearest of the valid
    hits is the answer.
    """
    dd = dx * dx + dy * dy + 1.0
    axis = shape.b - shape.a
    length2 = float(axis @ axis)
    hit_a = _sphere_hit(dx, dy, dd, shape.a, shape.radius)
    if length2 < 1e-12:
        return hit_a
    hit_b = _sphere_hit(dx, dy, dd, shape.b, shape.radius)
    oa = -shape.a  # ray origin (0) minus a
    ba_d = axis[0] * dx + axis[1] * dy + axis[2]
    ba_oa = float(axis @ oa)
    d_oa = dx * oa[0] + dy * oa[1] + oa[2]
    qa = length2 * dd - ba_d * ba_d
    qb = length2 * d_oa - ba_oa * ba_d
    qc = length2 * float(oa @ oa) - ba_oa * ba_oa - shape.radius**2 * length2
    disc = qb * qb - qa * qc
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-qb - np.sqrt(disc)) / qa
        along = ba_oa + t * ba_d  # position of the hit along the axis, times |axis|
    inside = (disc >= 0) & (qa > 1e-12) & (along > 0) & (along < length2) & (t > NEAR_PLANE_M)
    hit_cyl = np.where(inside, t, np.inf)
    return np.minimum(hit_cyl, np.minimum(hit_a, hit_b))


def plane_depth(grid: RayGrid, plane: Plane) -> FloatArray:
    """z-depth of every pixel's ray on a plane (inf where the ray runs away from it)."""
    n = plane.normal
    denom = n[0] * grid.x[None, :] + n[1] * grid.y[:, None] + n[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = plane.offset / denom
    return np.where(np.isfinite(t) & (t > NEAR_PLANE_M), t, np.inf)


def render(grid: RayGrid, shapes: Sequence[Shape], planes: Sequence[Plane]) -> Rendering:
    """z-buffer of all planes and capsules: the nearest surface per pixel and its label."""
    camera = grid.camera
    depth = np.full((camera.height, camera.width), np.inf)
    for plane in planes:
        depth = np.minimum(depth, plane_depth(grid, plane))
    label = np.full(depth.shape, BACKGROUND, dtype=np.int16)
    for shape in shapes:
        bounds = _bounds(camera, shape)
        if bounds is None:
            continue
        r0, r1, c0, c1 = bounds
        dx = grid.x[None, c0:c1]
        dy = grid.y[r0:r1, None]
        hit = capsule_hit(np.broadcast_to(dx, (r1 - r0, c1 - c0)), np.broadcast_to(dy, (r1 - r0, c1 - c0)), shape)
        window = depth[r0:r1, c0:c1]
        nearer = hit < window
        window[nearer] = hit[nearer]
        label[r0:r1, c0:c1][nearer] = shape.label
    return Rendering(depth=depth.astype(np.float32), label=label)
