"""BlazePose's outputs back in the image and the camera, and in the published joint set.

Network outputs per crop (SOURCE.md of ``blazepose_ghum_full``): ``landmarks`` [195] = 39 x
(x, y, z, visibility logit, presence logit), x/y in crop coordinates 0..256; ``heatmaps``
[64,64,39] (logits); ``world_landmarks`` [117] = 39 x (X, Y, Z) metres, origin the hip
centre, axes those of the crop (x right, y down, z away). Landmarks 0-32 are the body
(BlazePose topology, odd = left), 33-38 auxiliary points for placing the next crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import NECK, NUM_COCO_JOINTS, NUM_JOINTS, PELVIS
from hdnet_ros.nets.preprocessing import apply_affine
from hdnet_ros.stages.blazepose.crops import CROP_SIZE, NETWORK_TO_PIXEL_CENTRE, rotation_matrices
from hdnet_ros.stages.blazepose.decode_kernels import heatmap_windows, image_landmarks, refined_landmarks
from hdnet_ros.stages.blazepose.mask import PersonMask
from hdnet_ros.stages.blazepose.root_fit import RootFit
from hdnet_ros.stages.keypoints2d import Keypoints2D, add_derived_joints

FloatArray = npt.NDArray[np.float64]
NUM_NETWORK_LANDMARKS = 39
NUM_BODY_LANDMARKS = 33
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
# BlazePose landmark of each COCO-17 joint: nose, eyes (centres), ears, shoulders, elbows,
# wrists, hips, knees, ankles.
BLAZEPOSE_OF_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
# The feet, which the 19-joint set has no place for: left heel, right heel, left and right toes.
FOOT_LANDMARKS = (29, 30, 31, 32)
_COCO_INDEX = np.array(BLAZEPOSE_OF_COCO)
_FEET_INDEX = np.array(FOOT_LANDMARKS)
HEATMAP_KERNEL = 7  # MediaPipe's RefineLandmarksFromHeatmapCalculator: kernel_size 7
HEATMAP_MIN_CONFIDENCE = 0.5  # ... and its default min_confidence_to_refine


@dataclass(frozen=True)
class BodyEstimate:
    """One person as BlazePose sees it, in the image and the camera.

    ``pixels`` [33,2] image pixels and ``visibility`` [33] (0..1) of the body landmarks;
    ``world`` [33,3] the metric skeleton in metres, camera axes, origin the pelvis (mid-hips);
    ``relative_pose`` [19,3] the same in the published joint set (pelvis at the origin);
    ``feet`` [4,3] heels and toes (left heel, right heel, left toes, right toes), pelvis-relative;
    ``root`` the monocular pelvis fitted from the 2D landmarks, or why there is none;
    ``mask`` the person's pixels (None: not asked for, where the depth stage cannot use it).
    """

    pixels: FloatArray
    visibility: FloatArray
    world: FloatArray
    relative_pose: FloatArray
    feet: FloatArray
    mask: PersonMask | None
    root: RootFit
    rotation: float  # radians the crop was rotated by

    def keypoints(self, min_score: float) -> Keypoints2D:
        """These landmarks as the keypoint stage's COCO-19 keypoints (pixels and scores)."""
        return to_keypoints2d(self.pixels, self.visibility, min_score)

    def feet_keypoints(self, min_score: float) -> tuple[FloatArray, FloatArray]:
        """The feet's pixels [4,2] (NaN where the visibility is below ``min_score``) and scores [4]."""
        index = list(FOOT_LANDMARKS)
        scores = self.visibility[index].copy()
        pixels = np.where((scores >= min_score)[:, None], self.pixels[index], np.nan)
        return pixels, scores


def sigmoid(logits: npt.NDArray[np.floating]) -> FloatArray:
    """1 / (1 + exp(-x)), without overflow for large |x|."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, dtype=np.float64))))


def refine_with_heatmaps(xy: FloatArray, heatmaps: npt.NDArray[np.floating]) -> FloatArray:
    """Landmarks [N,L,2] (network coordinates, 0..256) moved to the sigmoid-weighted mean of
    the 7x7 heatmap cells around them, as MediaPipe does, where the heatmap is confident
    (its largest value in the window >= 0.5); others, and points off the heatmap (or not
    finite: a faulty runtime), stay. ``heatmaps`` [N,S,S,>=L]: landmark j's map is channel j.

    The mean is of cell indices (cell i at i * 4 crop pixels), MediaPipe's convention.
    """
    size = heatmaps.shape[1]
    stride = CROP_SIZE / size
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    windows, cells = heatmap_windows(xy, heatmaps, xy.shape[1], stride, HEATMAP_KERNEL)
    return refined_landmarks(xy, sigmoid(windows), cells, size, stride, HEATMAP_MIN_CONFIDENCE)


def landmarks_to_image(xy: FloatArray, inverse_affines: FloatArray) -> FloatArray:
    """Network crop coordinates [N,L,2] -> image pixels through the inverse crop affines."""
    return apply_affine(xy - NETWORK_TO_PIXEL_CENTRE, inverse_affines)


def crops_to_image(xy: FloatArray, affines: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The crops' inverse affines [N,2,3] (image <- crop) and the landmarks [N,L,2] (network
    coordinates) in the image: ``invert_affine`` and :func:`landmarks_to_image` in one
    compiled pass, their bits (``test_blazepose_glue``)."""
    points = np.ascontiguousarray(xy, dtype=np.float64)
    inverses = np.empty((len(points), 2, 3))
    pixels = np.empty(points.shape)
    image_landmarks(points, np.ascontiguousarray(affines, dtype=np.float64), NETWORK_TO_PIXEL_CENTRE, inverses, pixels)
    return inverses, pixels


def view_rotations(rays: FloatArray) -> FloatArray:
    """Rotations [N,3,3] taking the optical axis to each normalised ray [N,2] (the smallest
    such rotation): a crop sees its person as a camera looking straight at them would."""
    direction = np.concatenate((rays, np.ones((len(rays), 1))), axis=1)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    a, b, c = direction[:, 0], direction[:, 1], direction[:, 2]
    zero = np.zeros_like(a)
    # v = z x d = (-b, a, 0); R = I + [v]x + [v]x^2 / (1 + c)
    cross = np.stack(
        (np.stack((zero, zero, a), axis=1), np.stack((zero, zero, b), axis=1), np.stack((-a, -b, zero), axis=1)),
        axis=1,
    )
    return np.asarray(np.eye(3) + cross + (cross @ cross) / (1.0 + c)[:, None, None])


def world_to_camera(world: FloatArray, angles: FloatArray, views: FloatArray | None = None) -> FloatArray:
    """World landmarks [N,L,3] in crop axes -> camera axes: undo each crop's rotation about
    the viewing axis, then (``views`` [N,3,3]) turn the crop's straight-ahead view onto the
    person's viewing ray."""
    unrotated = world.copy()
    inverse = np.transpose(rotation_matrices(angles), (0, 2, 1))
    unrotated[:, :, :2] = np.einsum("nij,nlj->nli", inverse, world[:, :, :2])
    if views is None:
        return unrotated
    return np.asarray(np.einsum("nij,nlj->nli", views, unrotated))


def pelvis_relative(world: FloatArray) -> FloatArray:
    """Body landmarks [...,L,3] moved so that the mid-hip point is the origin."""
    pelvis = (world[..., LEFT_HIP, :] + world[..., RIGHT_HIP, :]) / 2.0
    return np.asarray(world - pelvis[..., None, :])


def to_joint_set(world: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Pelvis-relative body landmarks [...,33,3] -> (the 19-joint relative poses [...,19,3], the
    feet [...,4,3]).

    The pelvis is the mid-hip point (so exactly the origin) and the neck the mid-shoulder
    point, as :mod:`hdnet_ros.joints` defines them.
    """
    pose = np.full((*world.shape[:-2], NUM_JOINTS, 3), np.nan)
    pose[..., :NUM_COCO_JOINTS, :] = world[..., _COCO_INDEX, :]
    pose[..., PELVIS, :] = (world[..., LEFT_HIP, :] + world[..., RIGHT_HIP, :]) / 2.0
    pose[..., NECK, :] = (world[..., LEFT_SHOULDER, :] + world[..., RIGHT_SHOULDER, :]) / 2.0
    return pose, world[..., _FEET_INDEX, :]


def to_keypoints2d(pixels: FloatArray, visibility: FloatArray, min_score: float) -> Keypoints2D:
    """Body landmarks [33,2] with visibility [33] -> COCO-19 keypoints like the keypoint stage's:
    the score of a joint is its landmark's visibility; pelvis and neck are midpoints."""
    index = list(BLAZEPOSE_OF_COCO)
    return add_derived_joints(pixels[index].copy(), visibility[index].copy(), min_score)
