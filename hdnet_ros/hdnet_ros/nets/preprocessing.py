"""Input preparation of the published networks, with every quirk written out (numpy + cv2).

Images are HxWx3 uint8 in **RGB** order (``Frame.rgb``). The official code reads BGR with
OpenCV and flips it to RGB before normalising, so the networks see RGB either way.
Boxes are (x, y, w, h) in image pixels, the 3DMPPE convention; :func:`xyxy_to_xywh`
converts a detector's (x_min, y_min, x_max, y_max). Every function is batched over the
P person boxes of one image.

Quirks kept on purpose (the released weights expect them):

* 3DMPPE (RootNet, PoseNet): the crop is float32 in 0..255 and is normalised with the
  ImageNet mean/std of the 0..1 scale: ``(pixel255 - 0.485) / 0.229``. torchvision's
  ``ToTensor`` does not rescale float arrays; the author called it a mistake (POSENET
  issue #69) but trained with it. :func:`normalize_3dmppe`.
* 3DMPPE ``process_bbox`` clips x2 as ``x1_clipped + w - 1``: a box starting left of the
  image is shifted right, not cut, and the width loses one pixel. :func:`process_bbox`.
* HDNet: the input is a fixed 1000x1000 px window centred on the principal point (not on
  the person), so the apparent size at a fixed scale encodes depth/focal; the person is
  selected by a mask on the 64x64 output grid. Pixels are /255 then ImageNet-normalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# 3DMPPE: network input (H, W), its 1/4 output grid, and the box enlargement.
INPUT_SHAPE_3DMPPE: tuple[int, int] = (256, 256)
OUTPUT_SHAPE_3DMPPE: tuple[int, int] = (64, 64)
BBOX_SCALE_3DMPPE = 1.25

# HDNet: crop window (W, H) in original pixels around the principal point, input and output.
HDNET_CROP_SIZE: tuple[float, float] = (1000.0, 1000.0)
HDNET_INPUT_SHAPE: tuple[int, int] = (256, 256)
HDNET_OUTPUT_SHAPE: tuple[int, int] = (64, 64)


def xyxy_to_xywh(boxes_xyxy: npt.ArrayLike) -> FloatArray:
    """(x_min, y_min, x_max, y_max) -> (x, y, w, h), with w = x_max - x_min (continuous)."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    return np.stack((b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), axis=1)


# ---------------------------------------------------------------------------------------
# 3DMPPE (RootNet / PoseNet)


def process_bbox(
    boxes_xywh: npt.ArrayLike,
    image_width: int,
    image_height: int,
    aspect_ratio: float = INPUT_SHAPE_3DMPPE[1] / INPUT_SHAPE_3DMPPE[0],
    scale: float = BBOX_SCALE_3DMPPE,
) -> tuple[FloatArray, BoolArray]:
    """3DMPPE ``process_bbox``, vectorised: clip, pad to the input aspect, enlarge x1.25.

    Returns the processed boxes [P, 4] and a validity flag [P]; the official function
    returns None for an invalid box (empty, or entirely outside the image), whose row here
    is NaN. The clipping quirk (x2 = clipped x1 + w - 1) is kept.
    """
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    x, y, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    x1 = np.maximum(0.0, x)
    y1 = np.maximum(0.0, y)
    x2 = np.minimum(image_width - 1.0, x1 + np.maximum(0.0, w - 1.0))
    y2 = np.minimum(image_height - 1.0, y1 + np.maximum(0.0, h - 1.0))
    valid = (w * h > 0) & (x2 >= x1) & (y2 >= y1)

    bw, bh = x2 - x1, y2 - y1
    c_x, c_y = x1 + bw / 2.0, y1 + bh / 2.0
    # Pad the short side so that w / h == aspect_ratio (the official if/elif: both tests
    # on the clipped size, so at most one side changes).
    wider, taller = bw > aspect_ratio * bh, bw < aspect_ratio * bh
    bw, bh = np.where(taller, bh * aspect_ratio, bw), np.where(wider, bw / aspect_ratio, bh)
    bw, bh = bw * scale, bh * scale
    out = np.stack((c_x - bw / 2.0, c_y - bh / 2.0, bw, bh), axis=1)
    out[~valid] = np.nan
    return out, valid


def crop_affine(boxes_xywh: npt.ArrayLike, out_shape: tuple[int, int] = INPUT_SHAPE_3DMPPE) -> FloatArray:
    """Image -> patch affine matrices [P, 2, 3] (``gen_trans_from_patch_cv`` without rotation).

    The box centre goes to the patch centre (W/2, H/2) and the box's half-axes to the
    patch's: u' = (u - cx) * W / bw + W / 2. Computed in float64; the official float32
    ``cv2.getAffineTransform`` differs by ~1e-5 px.
    """
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    out_h, out_w = out_shape
    sx, sy = out_w / b[:, 2], out_h / b[:, 3]
    cx, cy = b[:, 0] + 0.5 * b[:, 2], b[:, 1] + 0.5 * b[:, 3]
    mats = np.zeros((b.shape[0], 2, 3))
    mats[:, 0, 0], mats[:, 0, 2] = sx, out_w / 2.0 - cx * sx
    mats[:, 1, 1], mats[:, 1, 2] = sy, out_h / 2.0 - cy * sy
    return mats


def invert_affine(mats: npt.ArrayLike) -> FloatArray:
    """Inverses of 2x3 affine matrices [P, 2, 3], by cv2.invertAffineTransform's formula
    (a singular matrix gives zeros, as there)."""
    m = np.asarray(mats, dtype=np.float64).reshape(-1, 2, 3)
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    det = a * e - b * d
    with np.errstate(divide="ignore"):
        scale = np.where(det != 0, 1.0 / det, 0.0)
    a11, a22, a12, a21 = e * scale, a * scale, -b * scale, -d * scale
    b1 = -a11 * c - a12 * f
    b2 = -a21 * c - a22 * f
    return np.stack((np.stack((a11, a12, b1), axis=1), np.stack((a21, a22, b2), axis=1)), axis=1)


def apply_affine(points: npt.ArrayLike, mats: npt.ArrayLike) -> FloatArray:
    """Apply per-person affines [P, 2, 3] to points [P, J, 2] (or [P, 2])."""
    m = np.asarray(mats, dtype=np.float64).reshape(-1, 2, 3)
    p = np.asarray(points, dtype=np.float64)
    squeeze = p.ndim == 2
    if squeeze:
        p = p[:, None, :]
    out = np.einsum("pij,pnj->pni", m[:, :, :2], p) + m[:, None, :, 2]
    return out[:, 0, :] if squeeze else out


def crop_patches(
    image_rgb: npt.NDArray[np.uint8], mats: npt.ArrayLike, out_shape: tuple[int, int] = INPUT_SHAPE_3DMPPE
) -> Float32Array:
    """Warp one patch per affine [P, 2, 3]: float32 [P, H, W, 3], RGB, 0..255.

    Bilinear sampling and a black border, as ``cv2.warpAffine(..., INTER_LINEAR)`` in the
    official ``generate_patch_image``.
    """
    m = np.asarray(mats, dtype=np.float64).reshape(-1, 2, 3)
    out_h, out_w = out_shape
    patches = np.empty((m.shape[0], out_h, out_w, 3), dtype=np.float32)
    for i in range(m.shape[0]):  # one warp per person; cv2 has no batched warp
        patches[i] = cv2.warpAffine(image_rgb, m[i], (out_w, out_h), flags=cv2.INTER_LINEAR)
    return patches


def normalize_3dmppe(patches_rgb255: npt.ArrayLike) -> Float32Array:
    """The 3DMPPE quirk: 0..255 pixels, ImageNet mean/std of the 0..1 scale. -> [P, 3, H, W].

    The resulting values span about -2 .. 1130; the released RootNet/PoseNet weights were
    trained on exactly this, so do **not** divide by 255 here.
    """
    x = np.asarray(patches_rgb255, dtype=np.float32)
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
    std = np.asarray(IMAGENET_STD, dtype=np.float32)
    return np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2))


def normalize_imagenet(patches_rgb255: npt.ArrayLike) -> Float32Array:
    """Standard ImageNet normalisation (pixels / 255, then mean/std) -> [P, 3, H, W] (HDNet)."""
    x = np.asarray(patches_rgb255, dtype=np.float32) / np.float32(255.0)
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
    std = np.asarray(IMAGENET_STD, dtype=np.float32)
    return np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2))


@dataclass(frozen=True)
class Inputs3DMPPE:
    """RootNet/PoseNet inputs for the valid boxes of one image.

    ``indices`` says which input boxes they are (invalid boxes are dropped); ``boxes`` are
    the processed boxes needed to map outputs back (``codecs.output_to_image``) and for k.
    """

    images: Float32Array  # [P, 3, 256, 256], 3DMPPE normalisation
    boxes: FloatArray  # [P, 4] processed (x, y, w, h)
    transforms: FloatArray  # [P, 2, 3] image -> 256x256 patch
    indices: IntArray  # [P] rows of the input boxes


def prepare_3dmppe(image_rgb: npt.NDArray[np.uint8], boxes_xywh: npt.ArrayLike) -> Inputs3DMPPE:
    """Crop and normalise every person box for RootNet/PoseNet (k comes from ``codecs``)."""
    height, width = image_rgb.shape[:2]
    boxes, valid = process_bbox(boxes_xywh, width, height)
    indices = np.flatnonzero(valid)
    boxes = boxes[indices]
    mats = crop_affine(boxes)
    images = normalize_3dmppe(crop_patches(image_rgb, mats))
    return Inputs3DMPPE(images=images, boxes=boxes, transforms=mats, indices=indices)


# ---------------------------------------------------------------------------------------
# HDNet


def hdnet_crop_affine(
    cx: float,
    cy: float,
    crop_size: tuple[float, float] = HDNET_CROP_SIZE,
    out_shape: tuple[int, int] = HDNET_INPUT_SHAPE,
) -> FloatArray:
    """Image -> HDNet grid affine [2, 3]: the crop window centred on (cx, cy) to ``out_shape``."""
    box = np.array([[cx - crop_size[0] / 2.0, cy - crop_size[1] / 2.0, crop_size[0], crop_size[1]]])
    return crop_affine(box, out_shape)[0]


def hdnet_image(
    image_rgb: npt.NDArray[np.uint8], cx: float, cy: float, crop_size: tuple[float, float] = HDNET_CROP_SIZE
) -> Float32Array:
    """HDNet's image input [1, 3, 256, 256]: the principal-point window, ImageNet-normalised.

    Keep the 1000 px window even for smaller images (black border): the network reads
    depth from the person's size at this fixed scale, d = Z / sqrt(fx*fy).
    """
    mat = hdnet_crop_affine(cx, cy, crop_size)
    return normalize_imagenet(crop_patches(image_rgb, mat[None]))


def hdnet_coord_map(
    fx: float,
    fy: float,
    crop_size: tuple[float, float] = HDNET_CROP_SIZE,
    out_shape: tuple[int, int] = HDNET_OUTPUT_SHAPE,
) -> Float32Array:
    """Normalised camera coordinates of the output grid [2, H, W]: ((u-cx)/fx, (v-cy)/fy).

    The official code builds the map at crop resolution and warps it to 64x64; the map is
    linear, so it equals the closed form used here: for output column w,
    (w - W/2) * crop_w / (W * fx) (exact for the 1000 px crop, whose samples fall on
    warpAffine's 1/32 px grid).
    """
    out_h, out_w = out_shape
    xs = (np.arange(out_w) - out_w / 2.0) * crop_size[0] / out_w / fx
    ys = (np.arange(out_h) - out_h / 2.0) * crop_size[1] / out_h / fy
    grid = np.stack((np.broadcast_to(xs[None, :], out_shape), np.broadcast_to(ys[:, None], out_shape)))
    return grid.astype(np.float32)


def hdnet_person_masks(
    boxes_xywh: npt.ArrayLike,
    cx: float,
    cy: float,
    crop_size: tuple[float, float] = HDNET_CROP_SIZE,
    out_shape: tuple[int, int] = HDNET_OUTPUT_SHAPE,
) -> Float32Array:
    """{0, 1} masks [P, H, W] of the output cells whose image position lies in each box.

    The H36M release trains and tests with all-ones masks (one person per image); the
    multi-person use selects a person by its box. A cell's image position is the one its
    coord_map value describes, u = (w - W/2) * crop_w / W + cx. A box smaller than a cell
    (15.6 px) still gets the cell nearest its centre, so the softmax always has support
    inside the box when the box is inside the window.
    """
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    out_h, out_w = out_shape
    u = (np.arange(out_w) - out_w / 2.0) * crop_size[0] / out_w + cx
    v = (np.arange(out_h) - out_h / 2.0) * crop_size[1] / out_h + cy
    in_x = (u[None, :] >= b[:, :1]) & (u[None, :] <= b[:, :1] + b[:, 2:3])  # [P, W]
    in_y = (v[None, :] >= b[:, 1:2]) & (v[None, :] <= b[:, 1:2] + b[:, 3:4])  # [P, H]
    masks = in_y[:, :, None] & in_x[:, None, :]
    # Nearest cell to each box centre, for boxes too small to contain a cell position.
    col = np.rint((b[:, 0] + b[:, 2] / 2.0 - cx) * out_w / crop_size[0] + out_w / 2.0)
    row = np.rint((b[:, 1] + b[:, 3] / 2.0 - cy) * out_h / crop_size[1] + out_h / 2.0)
    inside = (col >= 0) & (col < out_w) & (row >= 0) & (row < out_h)
    empty = ~masks.any(axis=(1, 2)) & inside
    idx = np.flatnonzero(empty)
    masks[idx, row[idx].astype(np.intp), col[idx].astype(np.intp)] = True
    return masks.astype(np.float32)


@dataclass(frozen=True)
class InputsHDNet:
    """HDNet inputs for P people of one image (image and coord_map repeated per person)."""

    images: Float32Array  # [P, 3, 256, 256]
    coord_maps: Float32Array  # [P, 2, 64, 64]
    masks: Float32Array  # [P, 64, 64]


def prepare_hdnet(
    image_rgb: npt.NDArray[np.uint8],
    boxes_xywh: npt.ArrayLike,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    crop_size: tuple[float, float] = HDNET_CROP_SIZE,
) -> InputsHDNet:
    """All HDNet inputs for each person box. The image is shared: it is cropped once."""
    masks = hdnet_person_masks(boxes_xywh, cx, cy, crop_size)
    count = masks.shape[0]
    image = hdnet_image(image_rgb, cx, cy, crop_size)
    coord = hdnet_coord_map(fx, fy, crop_size)
    return InputsHDNet(
        images=np.ascontiguousarray(np.broadcast_to(image, (count, *image.shape[1:]))),
        coord_maps=np.ascontiguousarray(np.broadcast_to(coord, (count, *coord.shape))),
        masks=masks,
    )
