"""Steps 1 and 2 of the depth stage: sample every person's depth and measure every seen
joint's centre depth in its window, as one compiled kernel over all people and joints.

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

Joints are measured level by level from the torso outwards (torso; elbows, knees and
nose; wrists, ankles and eyes; ears), so each joint's parent is measured before it.
Between the torso and the limbs the torso's facing is estimated and the far shoulder / hip
of a turned person is put behind the near one; the face keypoints on the far side of the
head are placed on a head sphere last.

The kernel (numba, :mod:`.jit`) runs person by person and joint by joint, a few hundred
microseconds for a crowd of 20; :func:`.warm.warm_up` compiles it (or loads it from the
cache) before the first frame. Its arithmetic is the former numpy stage's operation for
operation (``test_depth_kernel`` holds it to that implementation within 1e-9 m).
"""

from __future__ import annotations

import math
from typing import TypeVar

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
from hdnet_ros.stages.depth.arrays import Facing, Measured, Observed, PersonMasks
from hdnet_ros.stages.depth.config import BONE_SPREAD, TORSO_BEHIND_M, TORSO_FRONT_M, LiftingConfig
from hdnet_ros.stages.depth.geometry import bone_interval, bone_shells, inside_torso
from hdnet_ros.stages.depth.jit import compiled
from hdnet_ros.stages.depth.kernel_settings import KernelSettings, kernel_settings
from hdnet_ros.stages.depth.occlusion import (
    estimate_facing,
    finite_point,
    place_hidden,
    resolve_face,
    resolve_torso_pairs,
)
from hdnet_ros.stages.depth.sample import Sampled, face_window, personal_stature, window_half_px
from hdnet_ros.stages.depth.torso import TORSO_SAMPLES, VOTE_SAMPLES, covered_face, torso_surface
from hdnet_ros.stages.depth.windows import SORT_SCRATCH, DepthView, select_surface, window_depths

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
DepthImage = npt.NDArray[np.float32]
ArrayT = TypeVar("ArrayT", bound=npt.NDArray[np.generic])

# Each level's joints have their skeleton parents in the levels before it (the nose hangs
# from the neck, the eyes from the nose, the ears from the eyes), so no joint's anchor is
# another joint of its own level.
LEVELS: tuple[tuple[int, ...], ...] = (
    (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP),
    (LEFT_ELBOW, RIGHT_ELBOW, LEFT_KNEE, RIGHT_KNEE, NOSE),
    (LEFT_WRIST, RIGHT_WRIST, LEFT_ANKLE, RIGHT_ANKLE, LEFT_EYE, RIGHT_EYE),
    (LEFT_EAR, RIGHT_EAR),
)
_LEVEL_JOINTS = np.array([joint for level in LEVELS for joint in level], dtype=np.int64)
_LEVEL_ENDS = np.cumsum([len(level) for level in LEVELS]).astype(np.int64)

LIMB_JOINTS = (LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST, LEFT_KNEE, RIGHT_KNEE)

_TORSO = np.zeros(NUM_JOINTS, dtype=bool)
_TORSO[list(TORSO_JOINTS)] = True

_LIMB = np.zeros(NUM_JOINTS, dtype=bool)
_LIMB[list(LIMB_JOINTS)] = True

_ANCESTORS = np.ascontiguousarray(ANCESTORS, dtype=np.int64)
_ANCESTOR_STEPS = np.ascontiguousarray(ANCESTOR_STEPS, dtype=np.float64)


def _chain_steps() -> FloatArray:
    """The bones from each joint down to (and into) the torso [J,D], as fractions of
    stature, zero-padded: their sum is the chain's length."""
    steps = np.zeros_like(_ANCESTOR_STEPS)
    for joint in range(NUM_JOINTS):
        child = joint
        for column, parent in enumerate(_ANCESTORS[joint]):
            if parent < 0 or _TORSO[child]:
                break
            steps[joint, column] = _ANCESTOR_STEPS[joint, column]
            child = parent
    return steps


_CHAIN_STEPS = _chain_steps()


def measure_depth(
    observed: Observed,
    depth: DepthImage,
    camera: CameraModel,
    size_z: FloatArray,
    config: LiftingConfig,
    masks: PersonMasks | None = None,
    sure: BoolArray | None = None,
) -> tuple[Sampled, Measured]:
    """Sample every person's depth (``size_z`` [P]: the expected depth) and measure every
    seen joint of every person with a torso surface (module doc). ``sure`` [P,J]: the seen
    joints the 2D network is sure of (None: every seen joint), whose face may stand for a
    hidden torso (:func:`.torso.torso_surface`)."""
    count = len(observed)
    seen = np.ascontiguousarray(observed.seen, dtype=np.bool_)
    outputs = _measure_people(
        depth_view(depth, config, masks, count),
        np.ascontiguousarray(observed.pixels, dtype=np.float64),
        seen,
        seen if sure is None else np.ascontiguousarray(sure & seen, dtype=np.bool_),
        np.ascontiguousarray(observed.rays, dtype=np.float64),
        np.ascontiguousarray(observed.boxes, dtype=np.float64),
        np.ascontiguousarray(size_z, dtype=np.float64),
        kernel_settings(config, camera.fx),
    )
    reference, stature, points, sigma, occluded, inferred, cos, sin, known = outputs
    return Sampled(reference, stature), Measured(points, sigma, occluded, inferred, Facing(cos, sin, known))


def depth_view(depth: DepthImage, config: LiftingConfig, masks: PersonMasks | None, count: int) -> DepthView:
    """The depth image and masks as the kernel reads them, with the same array types
    whatever the caller's (read-only views: a camera's buffer may be read-only, and one
    type means one compiled kernel)."""
    image = _read_only(np.ascontiguousarray(depth, dtype=np.float32))
    if masks is None:
        inside = np.zeros((count, 0, 0), dtype=np.bool_)
        x0, y0, present = np.zeros(count, np.int64), np.zeros(count, np.int64), np.zeros(count, np.bool_)
    else:
        inside = np.ascontiguousarray(masks.inside, dtype=np.bool_)
        x0, y0 = masks.x0.astype(np.int64), masks.y0.astype(np.int64)
        present = masks.present.astype(np.bool_)
    return DepthView(
        image,
        _read_only(inside),
        x0,
        y0,
        present,
        np.float32(config.min_depth_m),
        np.float32(config.max_depth_m),
    )


def _read_only(array: ArrayT) -> ArrayT:
    view = array.view()
    view.flags.writeable = False
    return view


@compiled
def _measure_people(
    view: DepthView,
    pixels: FloatArray,
    seen: BoolArray,
    sure: BoolArray,
    rays: FloatArray,
    boxes: FloatArray,
    size_z: FloatArray,
    settings: KernelSettings,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, BoolArray, BoolArray, FloatArray, FloatArray, BoolArray]:
    """The kernel over all people: reference [P], stature [P], points [P,J,3], sigma [P,J],
    occluded [P,J], inferred [P,J], facing cos, sin, known [P]."""
    count, joints = seen.shape
    reference = np.full(count, np.nan)
    stature = np.full(count, settings.prior_stature_m)
    points = np.full((count, joints, 3), np.nan)
    sigma = np.full((count, joints), np.nan)
    occluded = np.zeros((count, joints), dtype=np.bool_)
    inferred = np.zeros((count, joints), dtype=np.bool_)
    cos = np.zeros(count)
    sin = np.zeros(count)
    known = np.zeros(count, dtype=np.bool_)
    region = np.empty(TORSO_SAMPLES, dtype=np.float32)
    votes = np.empty(joints * VOTE_SAMPLES, dtype=np.float32)
    window = np.empty((4 * settings.max_window_px + 1) ** 2, dtype=np.float32)
    scratch = np.empty(SORT_SCRATCH + max(len(window), len(votes)), dtype=np.uint32)
    by_face = np.zeros(count, dtype=np.bool_)
    for p in range(count):
        reference[p], by_face[p] = torso_surface(
            view, p, pixels[p], seen[p], sure[p], boxes[p], size_z[p], settings, region, votes, scratch
        )
    torso_z = np.where(by_face, np.nan, reference)  # the surfaces a face may be covered by
    for p in range(count):
        if by_face[p] and covered_face(p, reference[p], pixels, seen, sure, torso_z, settings):
            reference[p] = np.nan
        stature[p] = personal_stature(pixels[p], seen[p], settings.fx, reference[p], settings.prior_stature_m)
        if not math.isfinite(reference[p]):
            continue
        facing = _measure_person(
            view, p, pixels[p], seen[p], rays[p], boxes[p], reference[p], stature[p], settings, window, scratch,
            points[p], sigma[p], occluded[p], inferred[p],
        )  # fmt: skip
        cos[p], sin[p], known[p] = facing
    return reference, stature, points, sigma, occluded, inferred, cos, sin, known


@compiled
def _measure_person(
    view: DepthView,
    p: int,
    pixels: FloatArray,
    seen: BoolArray,
    rays: FloatArray,
    box: FloatArray,
    reference: float,
    stature: float,
    settings: KernelSettings,
    window: npt.NDArray[np.float32],
    scratch: npt.NDArray[np.uint32],
    points: FloatArray,
    sigma: FloatArray,
    occluded: BoolArray,
    inferred: BoolArray,
) -> tuple[float, float, bool]:
    """Measure the seen joints of person ``p`` (torso surface at ``reference``) into their
    rows ``points`` [J,3], ``sigma``, ``occluded``, ``inferred`` [J]; the torso's facing."""
    half = window_half_px(settings, reference, box[3] - box[1])
    noise_term = (2.0 * settings.noise_coefficient) * (reference * reference)
    margin, tolerance = 0.05 + noise_term, 0.08 + noise_term
    cos, sin, known = 0.0, 0.0, False
    start = 0
    for level in range(len(_LEVEL_ENDS)):
        if level == 1:  # the torso is done: find the facing, fix the far side
            cos, sin, known = estimate_facing(pixels, seen, points, reference, stature, settings.fx)
            if known:
                resolve_torso_pairs(rays, seen, stature, sin, points, sigma, inferred)
        anchors = _with_midpoints(points)  # what the level's joints hang from, as the level starts
        for joint in _LEVEL_JOINTS[start : _LEVEL_ENDS[level]]:
            if not seen[joint]:
                continue
            count, inside = window_depths(view, p, pixels[joint, 0], pixels[joint, 1], half, window)
            reject = _LIMB[joint] and known and cos < -0.3 and inside_torso(pixels, pixels[joint])
            _measure_joint(
                joint, window, count, inside, rays[joint], anchors, reference, stature, margin,
                reference - tolerance if reject else np.nan, reference + tolerance if reject else np.nan,
                settings, scratch, points, sigma, occluded, inferred,
            )  # fmt: skip
        start = _LEVEL_ENDS[level]
    if known:
        centre_u, centre_v, face_half, any_face = face_window(pixels, seen, stature, reference, settings)
        if any_face:
            count, inside = window_depths(view, p, centre_u, centre_v, face_half, window)
            resolve_face(
                window,
                count,
                inside,
                rays,
                seen,
                reference,
                stature,
                cos,
                sin,
                settings,
                points,
                sigma,
                inferred,
                scratch,
            )
    return cos, sin, known


@compiled
def _measure_joint(
    joint: int,
    window: npt.NDArray[np.float32],
    count: int,
    inside: bool,
    ray: FloatArray,
    anchors: FloatArray,
    reference: float,
    stature: float,
    margin: float,
    reject_lo: float,
    reject_hi: float,
    settings: KernelSettings,
    scratch: npt.NDArray[np.uint32],
    points: FloatArray,
    sigma: FloatArray,
    occluded: BoolArray,
    inferred: BoolArray,
) -> None:
    """One joint's centre depth from its window's sorted depths (``count``, ``inside``);
    ``reject_lo..reject_hi``: the surface depths of a known occluder (NaN: none)."""
    anchor, length, direct = _anchor(anchors, joint, stature)
    lo, hi = np.empty(2), np.empty(2)
    parent = anchors[max(anchor, 0)]
    _intervals(joint, ray, parent, anchor, length, direct, reference, margin, stature, settings, lo, hi)
    z, spread, occluded[joint] = select_surface(
        window, count, inside, (lo[0], lo[1]), (hi[0], hi[1]), settings.surface_offsets[joint] * ray[2],
        reject_lo, reject_hi, settings.min_support_px, settings.cluster_gap_m, settings.noise_coefficient, scratch,
    )  # fmt: skip
    if math.isfinite(z):
        for axis in range(3):
            points[joint, axis] = ray[axis] * (z / ray[2])
        # The median's error: the sensor noise (spatially correlated, so it does not
        # average away), the surface's own spread in the window, and 2 cm of offset doubt.
        noise = settings.noise_coefficient * (z * z)
        sigma[joint] = math.sqrt((noise * noise + (0.5 * spread) * (0.5 * spread)) + 0.02**2)
    elif occluded[joint] and direct:
        band = settings.person_depth_band_m
        hidden = place_hidden(ray, anchors[anchor], length, margin, reference, band, points[joint])
        if math.isfinite(hidden):
            sigma[joint] = hidden
            inferred[joint] = True


@compiled
def _with_midpoints(points: FloatArray) -> FloatArray:
    """Points [J,3] with the pelvis and neck filled where both of their joints are measured."""
    out = np.empty_like(points)
    for joint in range(len(points)):
        for axis in range(3):
            out[joint, axis] = points[joint, axis]
    for axis in range(3):
        out[PELVIS, axis] = (points[LEFT_HIP, axis] + points[RIGHT_HIP, axis]) / 2.0
        out[NECK, axis] = (points[LEFT_SHOULDER, axis] + points[RIGHT_SHOULDER, axis]) / 2.0
    return out


@compiled
def _anchor(known: FloatArray, joint: int, stature: float) -> tuple[int, float, bool]:
    """The nearest positioned ancestor of ``joint`` (-1: none), the chain length to it and
    whether it is the direct parent."""
    length = 0.0
    for column in range(_ANCESTORS.shape[1]):
        step = _ANCESTOR_STEPS[joint, column] * stature
        length = step if column == 0 else length + step
        ancestor = _ANCESTORS[joint, column]
        if ancestor >= 0 and finite_point(known[ancestor]):
            return ancestor, length, column == 0 and not _TORSO[joint]
    return -1, np.nan, False


@compiled
def _intervals(
    joint: int,
    ray: FloatArray,
    parent: FloatArray,
    anchor: int,
    length: float,
    direct: bool,
    reference: float,
    margin: float,
    stature: float,
    settings: KernelSettings,
    lo: FloatArray,
    hi: FloatArray,
) -> None:
    """Where the joint's centre depth can be, as up to two intervals written to ``lo``,
    ``hi`` [2] (NaN: no interval): around the torso for shoulders and hips, one bone from
    its measured parent (the shell), within the chain's length from a measured ancestor,
    else within the chain from the torso; never beyond the person band."""
    lo[1], hi[1] = np.nan, np.nan
    if _TORSO[joint]:
        lo[0] = (reference - TORSO_FRONT_M) - margin
        hi[0] = (reference + TORSO_BEHIND_M) + margin
    elif anchor < 0:
        chain = 0.0
        for column in range(_CHAIN_STEPS.shape[1]):
            step = _CHAIN_STEPS[joint, column] * stature
            chain = step if column == 0 else chain + step
        lo[0] = (reference - chain) - margin
        hi[0] = ((reference + TORSO_BEHIND_M) + chain) + margin
    elif direct:
        bone_shells(ray, parent, length, BONE_SPREAD, margin, lo, hi)
    else:
        lo[0], hi[0] = bone_interval(ray, parent, length * (1 + BONE_SPREAD), margin)
    band_lo, band_hi = reference - settings.person_depth_band_m, reference + settings.person_depth_band_m
    for k in range(2):
        if hi[k] > band_lo and lo[k] < band_hi:
            lo[k], hi[k] = max(lo[k], band_lo), min(hi[k], band_hi)
        else:
            lo[k], hi[k] = np.nan, np.nan
