"""BlazePose's person crops, made the way MediaPipe's pose graphs make them.

MediaPipe (``pose_detection_to_roi.pbtxt``) turns a person into a square region: centred on
the person, side the longer extent times 1.25 (``RectTransformationCalculator`` with
``square_long``), rotated so that the vector from the hip centre towards the head points
straight up (``rotation_vector_target_angle_degrees: 90``). Here the square is centred on the
detector's box and the up vector is the hips-to-shoulders line of a first 2D estimate
(MoveNet's keypoints of the same frame, or a previous frame's; :func:`up_vectors`); without
one the crop is not rotated.

A person the image's bottom cuts above the knees is framed as MediaPipe frames them: its detector
gives the hip centre and a point that, with it, spans the whole body, and the region
extends beyond the image where the body does (:func:`full_body_boxes`). Centred on the
visible part instead, the network sees a half body at a full body's place and size and
draws the whole body into it: on Panoptic's level camera, BlazePose's hips of people cut at
the thighs came out 130-250 px above the truth and two of eight crops were rejected. A
person cut lower (the knees in view) keeps the box's crop: the box then spans most of the
body, and reframing them about the hips moved the sample RGB-D frames' standing man (cut
at the shins) 7 % nearer than the sensor.

Coordinates: an affine ``A`` [2,3] maps image pixel-centre coordinates to crop pixel-centre
coordinates (OpenCV's convention: pixel ``i`` has its centre at ``i``), so the crop centre is
``(CROP_SIZE - 1) / 2``. The network reports landmarks in continuous crop coordinates (the
crop spans 0..256), half a pixel from the pixel-centre ones: :data:`NETWORK_TO_PIXEL_CENTRE`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
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
from hdnet_ros.stages.blazepose.crop_kernels import scale_to_floats

FloatArray = npt.NDArray[np.float64]
CROP_SIZE = 256
CROP_CENTRE = (CROP_SIZE - 1) / 2.0
# Network coordinates (0..256 over the crop) minus this = pixel-centre coordinates.
NETWORK_TO_PIXEL_CENTRE = 0.5
# The hips-to-shoulders line of each body side (COCO indices of Person.pixels).
TORSO_SIDES = ((LEFT_HIP, LEFT_SHOULDER), (RIGHT_HIP, RIGHT_SHOULDER))
HIPS = (LEFT_HIP, RIGHT_HIP)
SHOULDERS = (LEFT_SHOULDER, RIGHT_SHOULDER)
HEAD = (NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR)


def up_vectors(pixels: FloatArray) -> FloatArray:
    """The direction [N,2] in which each person's body points up, from COCO keypoints
    [N,J,2] (NaN where unseen); NaN rows where the keypoints cannot tell.

    First the hips-to-shoulders line: each body side whose hip and shoulder are both seen
    gives a vector and the sides are averaged (with both seen, mid-shoulders minus mid-hips;
    a left hip is never paired with a right shoulder, whose diagonal leans by the torso's
    width). Without a seen side: hips to head (MediaPipe's own alignment runs from the hip
    centre towards the head), then shoulders to head; each group's seen points are averaged.
    """
    sides = np.stack([pixels[:, shoulder] - pixels[:, hip] for hip, shoulder in TORSO_SIDES], axis=1)
    up = _mean_seen(sides)
    head = _mean_seen(pixels[:, HEAD])
    for base in (_mean_seen(pixels[:, HIPS]), _mean_seen(pixels[:, SHOULDERS])):
        up = np.where(np.isnan(up), head - base, up)
    return up


def _mean_seen(points: FloatArray) -> FloatArray:
    """Mean [N,2] of the finite points of each row of points [N,K,2]; NaN where none is."""
    seen = np.all(np.isfinite(points), axis=2)
    count = seen.sum(axis=1)
    total = np.where(seen[:, :, None], points, 0.0).sum(axis=1)
    mean = total / np.maximum(count, 1)[:, None]
    mean[count == 0] = np.nan
    return np.asarray(mean, dtype=np.float64)


def rotations_from_up(up: FloatArray) -> FloatArray:
    """Crop rotation angles [N] (radians) that turn each up vector [N,2] to point straight up
    in the crop; 0 where the vector is NaN or zero (no estimate: no rotation)."""
    usable = np.all(np.isfinite(up), axis=1) & (np.hypot(up[:, 0], up[:, 1]) > 0)
    angle = -np.pi / 2.0 - np.arctan2(up[:, 1], up[:, 0])
    wrapped = np.angle(np.exp(1j * angle))  # to (-pi, pi]
    return np.where(usable, wrapped, 0.0)


def rotation_matrices(angles: FloatArray) -> FloatArray:
    """2D rotations [N,2,2]: ``R @ v`` turns image-axis vectors into crop-axis vectors."""
    cos, sin = np.cos(angles), np.sin(angles)
    return np.stack((np.stack((cos, -sin), axis=-1), np.stack((sin, cos), axis=-1)), axis=-2)


# A box is reframed where the image cuts the body within this share of the hips-to-head
# reach from the hips: the knees lie about 0.25 of the stature below the hips, the top of
# the head 0.47 above them (Drillis & Contini), so below ~0.5 the knees are beyond the image.
KNEES_CUT_REACH = 0.5
# A box whose edge lies within this share of its longer side (at least a few pixels) of an
# image border is cut by it: detectors clip their boxes a few pixels short of the image.
CUT_MARGIN = 0.02
MIN_CUT_MARGIN_PX = 3.0


def cut_borders(boxes: FloatArray, width: int, height: int) -> npt.NDArray[np.bool_]:
    """Which image borders (left, top, right, bottom) each box [N,4] reaches [N,4]."""
    margin = np.maximum(MIN_CUT_MARGIN_PX, CUT_MARGIN * np.max(boxes[:, 2:] - boxes[:, :2], axis=1))
    return np.stack(
        (
            boxes[:, 0] <= margin,
            boxes[:, 1] <= margin,
            boxes[:, 2] >= width - 1 - margin,
            boxes[:, 3] >= height - 1 - margin,
        ),
        axis=1,
    )


def full_body_boxes(boxes: FloatArray, pixels: FloatArray, width: int, height: int) -> FloatArray:
    """Boxes [N,4] around each person's whole body, beyond the image where its bottom cuts
    them above the knees (module doc): such a box becomes the square centred on the hip
    centre (COCO keypoints [N,J,2], NaN unseen) whose half side reaches the top of the box
    and its sides the image does not cut (MediaPipe's full-body circle about the hips: a
    standing person's head and feet lie about half their height from the hips), never
    smaller than the box's own square. The others are returned as they are: people inside
    the image, cut below the knees, at the top or only at a side (their legs, the body's
    length, are in view: reframing background people cut by a side moved the floor the
    sample RGB-D frames' people give and the standing man 0.18 m off), or whose hips are
    unseen."""
    result = boxes.copy()
    cut = cut_borders(boxes, width, height)
    hips = _mean_seen(pixels[:, HIPS]) if len(boxes) else np.zeros((0, 2))
    left, top, right, bottom = 0, 1, 2, 3
    for i in np.flatnonzero(cut[:, bottom] & ~cut[:, top] & np.all(np.isfinite(hips), axis=1)):
        centre = hips[i]
        head = centre[1] - boxes[i, 1]
        if head <= 0 or boxes[i, 3] - centre[1] >= KNEES_CUT_REACH * head:
            continue
        sides = [centre[0] - boxes[i, 0]] * (not cut[i, left]) + [boxes[i, 2] - centre[0]] * (not cut[i, right])
        half = max(head, *sides, float(np.max(boxes[i, 2:] - boxes[i, :2])) / 2.0)
        result[i] = np.concatenate((centre - half, centre + half))
    return result


def crop_affines(boxes: FloatArray, angles: FloatArray, scale: float, size: int = CROP_SIZE) -> FloatArray:
    """Affines [N,2,3] from image pixels to square crops around boxes [N,4] (x0, y0, x1, y1).

    The crop's side is the box's longer side times ``scale``, its centre the box centre, its
    axes rotated by ``angles`` [N]: crop = s R (p - c) + crop centre.
    """
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    sides = np.maximum(np.max(boxes[:, 2:] - boxes[:, :2], axis=1) * scale, 1.0)
    linear = rotation_matrices(angles) * (size / sides)[:, None, None]
    offsets = (size - 1) / 2.0 - np.einsum("nij,nj->ni", linear, centres)
    return np.concatenate((linear, offsets[:, :, None]), axis=2)


@dataclass(frozen=True)
class Crops:
    """A frame's person crops: images [N,256,256,3] (RGB 0..1, a view of the sampler's
    buffer), the affines [N,2,3] that made them and their rotation angles [N] (radians)."""

    images: npt.NDArray[np.float32]
    affines: FloatArray
    angles: FloatArray


class CropSampler:
    """Warps all the person crops of a frame into one reused float32 batch (RGB, 0..1).

    The buffers grow to the largest batch seen and are then reused, so a frame allocates
    nothing. Measured on 2 cores: eight ``cv2.warpAffine`` calls into one uint8 batch plus one
    conversion cost 1.4 ms, one ``cv2.remap`` over all crops' maps stacked 3.8 ms (building
    and sampling float maps is slower than warpAffine's fixed-point path). The conversion is
    compiled (:mod:`.crop_kernels`; four crops 0.13 -> 0.04 ms).
    """

    def __init__(self, size: int = CROP_SIZE) -> None:
        self.size = size
        self._pixels = np.empty((0, size, size, 3), dtype=np.uint8)
        self._floats = np.empty((0, size, size, 3), dtype=np.float32)

    def __call__(self, rgb: npt.NDArray[np.uint8], affines: FloatArray) -> npt.NDArray[np.float32]:
        """Crops [N,size,size,3] of ``rgb`` through ``affines`` [N,2,3]; black outside the image.

        The result is a view of the sampler's buffer: valid until the next call.
        """
        count = len(affines)
        if count > len(self._pixels):
            self._pixels = np.empty((count, self.size, self.size, 3), dtype=np.uint8)
            self._floats = np.empty((count, self.size, self.size, 3), dtype=np.float32)
        pixels, floats = self._pixels[:count], self._floats[:count]
        for affine, out in zip(affines, pixels, strict=True):
            cv2.warpAffine(
                rgb,
                affine,
                (self.size, self.size),
                dst=out,
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=(0, 0, 0),
            )
        scale_to_floats(pixels, np.float32(1.0 / 255.0), floats)
        return floats
