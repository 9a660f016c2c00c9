"""The person mask of one crop, warped back into the image."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
# Value the warp gives pixels whose source lies outside the crop: a logit that is "not this person".
OUTSIDE_LOGIT = -1.0


@dataclass(frozen=True)
class PersonMask:
    """The pixels of one person: ``inside`` [h,w] covers image pixels x0..x0+w-1, y0..y0+h-1
    (the crop's bounding rectangle, clipped to the image)."""

    x0: int
    y0: int
    inside: npt.NDArray[np.bool_]

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.inside.shape[0]), int(self.inside.shape[1]))

    def contains(self, pixels: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """For image pixels [M,2] (x, y; rounded to the nearest pixel): is each this person's?
        Pixels outside the rectangle or NaN are not."""
        uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        finite = np.all(np.isfinite(uv), axis=1)
        cols = np.rint(np.where(finite, uv[:, 0], -1.0)).astype(np.int64) - self.x0
        rows = np.rint(np.where(finite, uv[:, 1], -1.0)).astype(np.int64) - self.y0
        height, width = self.shape
        within = finite & (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        result = np.zeros(len(uv), dtype=bool)
        result[within] = self.inside[rows[within], cols[within]]
        return result

    def in_image(self, height: int, width: int) -> npt.NDArray[np.bool_]:
        """The mask as a full image-sized boolean array (for overlays and tests)."""
        full = np.zeros((height, width), dtype=bool)
        h, w = self.shape
        full[self.y0 : self.y0 + h, self.x0 : self.x0 + w] = self.inside[: height - self.y0, : width - self.x0]
        return full


def crop_rectangle(inverse_affine: FloatArray, size: int, height: int, width: int) -> tuple[int, int, int, int]:
    """The image pixels (x0, y0, x1, y1; exclusive ends) the crop covers, clipped to the image."""
    image = _corners(size) @ inverse_affine[:, :2].T + inverse_affine[:, 2]
    x0, y0 = np.maximum(np.floor(image.min(axis=0)), 0).astype(int)
    x1 = int(min(np.ceil(image[:, 0].max()) + 1, width))
    y1 = int(min(np.ceil(image[:, 1].max()) + 1, height))
    return int(x0), int(y0), max(x1, int(x0)), max(y1, int(y0))


@functools.lru_cache(maxsize=4)
def _corners(size: int) -> FloatArray:
    """The outer corners [4,2] of a crop of ``size`` pixels (pixel-centre coordinates; read only)."""
    edge = np.array([-0.5, size - 0.5])
    corners = np.array([[x, y] for x in edge for y in edge])
    corners.flags.writeable = False
    return corners


def warp_mask(
    logits: npt.NDArray[np.floating], affine: FloatArray, inverse_affine: FloatArray, height: int, width: int
) -> PersonMask:
    """The crop's mask logits [size,size] as a PersonMask in the image (logit > 0 = person).

    The logits, not a thresholded mask, are interpolated: the boundary then falls where the
    network put it, between crop pixels, instead of on a staircase of crop pixels.
    """
    size = int(logits.shape[0])
    x0, y0, x1, y1 = crop_rectangle(inverse_affine, size, height, width)
    if x1 <= x0 or y1 <= y0:
        return PersonMask(x0, y0, np.zeros((0, 0), dtype=bool))
    # Image pixel (x0 + i, y0 + j) -> crop: the affine with its origin moved to the rectangle.
    to_crop = affine.copy()
    to_crop[:, 2] += affine[:, :2] @ np.array([x0, y0], dtype=np.float64)
    warped = cv2.warpAffine(
        np.ascontiguousarray(logits, dtype=np.float32),
        to_crop,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=OUTSIDE_LOGIT,
    )
    return PersonMask(x0, y0, np.asarray(warped > 0.0))


def moved_mask(mask: PersonMask, shift: npt.ArrayLike, height: int, width: int) -> PersonMask:
    """``mask`` moved by ``shift`` (x, y pixels, rounded) and clipped to the image: an earlier
    frame's mask carried with its person's box."""
    dx, dy = (int(v) for v in np.rint(np.asarray(shift, dtype=np.float64)))
    x0, y0 = mask.x0 + dx, mask.y0 + dy
    rows, cols = mask.shape
    left, top = max(-x0, 0), max(-y0, 0)
    right, bottom = min(cols, width - x0), min(rows, height - y0)
    if right <= left or bottom <= top:
        return PersonMask(min(max(x0, 0), width), min(max(y0, 0), height), np.zeros((0, 0), dtype=bool))
    return PersonMask(x0 + left, y0 + top, mask.inside[top:bottom, left:right])
