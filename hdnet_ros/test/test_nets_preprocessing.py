"""Preprocessing, codecs and joint sets of the published networks (numpy only, no torch)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hdnet_ros.nets import codecs, joint_sets
from hdnet_ros.nets import preprocessing as pp

from hdnet_ros import joints as coco19

# ---------------------------------------------------------------------------------------
# 3DMPPE boxes and crops


def test_process_bbox_demo_box_by_hand() -> None:
    # The RootNet/PoseNet demo box [164, 93, 222, 252] in a 640x480 image:
    # clip -> (164, 93, 221, 251), centre (274.5, 218.5), square 251, x1.25 -> 313.75.
    boxes, valid = pp.process_bbox([[164, 93, 222, 252]], 640, 480)
    assert valid.tolist() == [True]
    np.testing.assert_allclose(boxes[0], [117.625, 61.625, 313.75, 313.75])


def test_process_bbox_pads_the_short_side_and_keeps_the_quirks() -> None:
    boxes, valid = pp.process_bbox([[100, 100, 41, 21], [-10, 20, 100, 50], [0, 0, 0, 10], [700, 10, 50, 50]], 640, 480)
    assert valid.tolist() == [True, True, False, False]
    # Wide box: w 40, h 20 -> h = 40, both x1.25 = 50, centred on (120, 110).
    np.testing.assert_allclose(boxes[0], [95.0, 85.0, 50.0, 50.0])
    # Left of the image: x1 is clipped to 0 but x2 = 0 + w - 1, so the box moves right.
    np.testing.assert_allclose(boxes[1][2], 99 * 1.25)
    np.testing.assert_allclose(boxes[1][0] + boxes[1][2] / 2, 49.5)
    assert np.all(np.isnan(boxes[2:]))


def test_crop_mapping_round_trip() -> None:
    boxes = np.array([[117.625, 61.625, 313.75, 313.75], [10.0, 20.0, 80.0, 160.0]])
    mats = pp.crop_affine(boxes)
    corners = np.stack([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
    np.testing.assert_allclose(pp.apply_affine(corners, mats), [[[0, 0], [256, 256]]] * 2, atol=1e-9)
    pts = np.random.default_rng(0).uniform(0, 256, (2, 5, 2))
    back = pp.apply_affine(pp.apply_affine(pts, pp.invert_affine(mats)), mats)
    np.testing.assert_allclose(back, pts, atol=1e-9)
    # The evaluation's x/64*bw + bx is the inverse affine of the 4x upscaled grid point.
    grid = np.random.default_rng(1).uniform(0, 64, (2, 5, 2))
    np.testing.assert_allclose(
        codecs.output_to_image(grid, boxes), pp.apply_affine(grid * 4, pp.invert_affine(mats)), atol=1e-9
    )


def _official_trans(c_x: float, c_y: float, w: float, h: float, dst_w: int, dst_h: int) -> np.ndarray:
    """gen_trans_from_patch_cv with rot=0: three float32 point pairs -> cv2.getAffineTransform."""
    src = np.array([[c_x, c_y], [c_x, c_y + h * 0.5], [c_x + w * 0.5, c_y]], np.float32)
    dst = np.array([[dst_w * 0.5, dst_h * 0.5], [dst_w * 0.5, dst_h], [dst_w, dst_h * 0.5]], np.float32)
    return cv2.getAffineTransform(src, dst)


def test_crop_affine_equals_the_official_transform() -> None:
    box = np.array([117.625, 61.625, 313.75, 313.75])
    official = _official_trans(box[0] + box[2] / 2, box[1] + box[3] / 2, box[2], box[3], 256, 256)
    np.testing.assert_allclose(pp.crop_affine(box[None])[0], official, atol=1e-4)


def test_crop_patches_samples_the_box_in_rgb() -> None:
    # Channel 0 is a horizontal ramp (value = u), channel 2 a vertical ramp (value = v).
    h, w = 240, 250
    image = np.zeros((h, w, 3), np.uint8)
    image[:, :, 0] = np.arange(w, dtype=np.uint8)[None, :]
    image[:, :, 2] = np.arange(h, dtype=np.uint8)[:, None]
    box = np.array([[50.0, 40.0, 128.0, 128.0]])  # 2x downscale: patch pixel p -> u = 50 + p / 2
    patch = pp.crop_patches(image, pp.crop_affine(box))[0]
    assert patch.dtype == np.float32 and patch.shape == (256, 256, 3)
    np.testing.assert_allclose(patch[100, 64, 0], 50 + 64 / 2, atol=0.05)
    np.testing.assert_allclose(patch[100, 64, 2], 40 + 100 / 2, atol=0.05)
    assert patch[:, :, 1].max() == 0.0


def test_3dmppe_normalisation_quirk() -> None:
    pixels = np.array([[[[255.0, 0.0, 128.0]]]], np.float32)  # one RGB pixel
    out = pp.normalize_3dmppe(pixels)
    assert out.shape == (1, 3, 1, 1)
    # 0..255 pixels with the 0..1 statistics: not (255/255 - mean)/std.
    np.testing.assert_allclose(
        out[0, :, 0, 0], [(255 - 0.485) / 0.229, -0.456 / 0.224, (128 - 0.406) / 0.225], rtol=1e-6
    )
    np.testing.assert_allclose(pp.normalize_imagenet(pixels)[0, 0, 0, 0], (1 - 0.485) / 0.229, rtol=1e-6)


def test_prepare_3dmppe_drops_invalid_boxes() -> None:
    image = np.full((480, 640, 3), 200, np.uint8)
    prepared = pp.prepare_3dmppe(image, [[164, 93, 222, 252], [0, 0, 0, 0], [300, 200, 50, 100]])
    assert prepared.images.shape == (2, 3, 256, 256) and prepared.images.dtype == np.float32
    assert prepared.indices.tolist() == [0, 2]
    np.testing.assert_allclose(prepared.boxes[0], [117.625, 61.625, 313.75, 313.75])
    np.testing.assert_allclose(prepared.images[0, 0, 128, 128], (200 - 0.485) / 0.229, rtol=1e-6)


def test_xyxy_to_xywh() -> None:
    np.testing.assert_allclose(pp.xyxy_to_xywh([[10, 20, 110, 220]]), [[10, 20, 100, 200]])


# ---------------------------------------------------------------------------------------
# HDNet inputs


def test_hdnet_coord_map_by_hand() -> None:
    coord = pp.hdnet_coord_map(fx=1000.0, fy=500.0)
    assert coord.shape == (2, 64, 64) and coord.dtype == np.float32
    # Output column w looks at u - cx = (w - 32) * 1000 / 64 = (w - 32) * 15.625 px.
    np.testing.assert_allclose(coord[0, 7, 0], -0.5)
    np.testing.assert_allclose(coord[0, 50, 32], 0.0)
    np.testing.assert_allclose(coord[0, 0, 48], 0.25)
    np.testing.assert_allclose(coord[1, 40, 3], 8 * 15.625 / 500)
    np.testing.assert_allclose(coord[1, 0, 0], -1.0)


def test_hdnet_coord_map_equals_the_official_warp() -> None:
    # HumanDepth dataset.py: a crop-resolution map of (i - pw/2) / f warped to 64x64.
    fx, fy, pw, ph = 1145.0, 1143.0, 1000, 1000
    grid = np.stack(np.meshgrid(np.arange(pw), np.arange(ph)), axis=-1).astype(np.float32)
    full = (grid - np.array([pw / 2.0, ph / 2.0])) / np.array([fx, fy])
    mat = _official_trans(pw / 2.0, ph / 2.0, pw, ph, 64, 64)
    official = cv2.warpAffine(full.astype(np.float32), mat, (64, 64), flags=cv2.INTER_LINEAR).transpose(2, 0, 1)
    np.testing.assert_allclose(pp.hdnet_coord_map(fx, fy), official, atol=1e-6)


def test_hdnet_image_is_the_principal_point_window() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    image[200:300, 300:400] = (255, 0, 0)  # a red square
    cx, cy = 350.0, 250.0
    img = pp.hdnet_image(image, cx, cy)
    assert img.shape == (1, 3, 256, 256)
    # The principal point lands on (128, 128); 1000 px -> 256, so the square spans 25.6 px.
    red = (1 - 0.485) / 0.229
    np.testing.assert_allclose(img[0, 0, 128, 128], red, rtol=1e-5)
    np.testing.assert_allclose(img[0, 0, 128, 128 + 20], -0.485 / 0.229, rtol=1e-5)
    # Outside the 640x480 image the window is black (warpAffine's constant border).
    np.testing.assert_allclose(img[0, 1, 5, 5], -0.456 / 0.224, rtol=1e-5)
    np.testing.assert_allclose(pp.hdnet_crop_affine(cx, cy), _official_trans(cx, cy, 1000, 1000, 256, 256), atol=1e-4)


def test_hdnet_person_masks() -> None:
    cx, cy = 320.0, 240.0
    boxes = np.array([[cx, cy - 200, 100, 400], [cx + 3, cy + 3, 4, 4], [5000, 5000, 10, 10]])
    masks = pp.hdnet_person_masks(boxes, cx, cy)
    assert masks.shape == (3, 64, 64) and set(np.unique(masks)) <= {0.0, 1.0}
    # u = (w - 32) * 15.625 + cx in [cx, cx + 100] -> w = 32..38; v: |h - 32| * 15.625 <= 200 -> 20..44.
    cols = np.flatnonzero(masks[0].any(axis=0))
    rows = np.flatnonzero(masks[0].any(axis=1))
    assert cols.tolist() == list(range(32, 39)) and rows.tolist() == list(range(20, 45))
    assert masks[0].sum() == 7 * 25
    assert masks[1].sum() == 1 and masks[1, 32, 32] == 1  # smaller than a cell: nearest cell
    assert masks[2].sum() == 0  # outside the window: no support (the caller must skip it)


def test_prepare_hdnet_shapes() -> None:
    inputs = pp.prepare_hdnet(
        np.zeros((480, 640, 3), np.uint8), [[100, 100, 50, 200], [300, 50, 80, 300]], 600.0, 600.0, 320.0, 240.0
    )
    assert inputs.images.shape == (2, 3, 256, 256)
    assert inputs.coord_maps.shape == (2, 2, 64, 64)
    assert inputs.masks.shape == (2, 64, 64)
    assert not np.array_equal(inputs.masks[0], inputs.masks[1])


# ---------------------------------------------------------------------------------------
# Codecs


def test_hdnet_bin_codec_round_trip() -> None:
    codec = codecs.HDNET_BIN_CODEC
    fx, fy = 1145.0, 1143.0
    f = math.sqrt(fx * fy)
    # Bin 30 of 61 is the log-midpoint of [2, 8]: d = 4, Z = 4 sqrt(fx fy).
    np.testing.assert_allclose(codec.index_to_depth(30.0, fx, fy), 4.0 * f)
    np.testing.assert_allclose(codec.depth_to_index(4.0 * f, fx, fy), 30.0)
    np.testing.assert_allclose(codec.index_to_depth([0.0, 60.0], fx, fy), [2.0 * f, 8.0 * f])
    depths = np.random.default_rng(0).uniform(2000, 9000, 20)
    np.testing.assert_allclose(codec.index_to_depth(codec.depth_to_index(depths, fx, fy), fx, fy), depths)
    target = codec.soft_target(30.25)
    assert target.shape == (61,)
    np.testing.assert_allclose(target[29:33], [0.0, 0.75, 0.25, 0.0])
    root = codec.decode_root([0.1, -0.2], 30.0, fx, fy)
    np.testing.assert_allclose(root, [0.4 * f, -0.8 * f, 4.0 * f])


def test_rootnet_k_value_and_back_projection() -> None:
    box = [[117.625, 61.625, 313.75, 313.75]]
    k = codecs.rootnet_k_value(box, 1500.0, 1500.0)
    np.testing.assert_allclose(k, [[2000.0 * 1500.0 / 313.75]])  # sqrt(4e6 f^2 / A)
    cam = codecs.rootnet_to_camera([[32.0, 32.0, 5000.0]], box, 1500.0, 1500.0, 320.0, 240.0)
    u, v = 117.625 + 313.75 / 2, 61.625 + 313.75 / 2
    np.testing.assert_allclose(cam[0], [(u - 320) / 1500 * 5000, (v - 240) / 1500 * 5000, 5000.0])


def test_posenet_depth_bins_are_root_relative() -> None:
    box = [[0.0, 0.0, 64.0, 64.0]]  # 1 grid cell = 1 px
    coords = [[[32.0, 32.0, 32.0], [0.0, 0.0, 0.0], [10.0, 20.0, 48.0]]]
    cam = codecs.posenet_to_camera(coords, box, [4000.0], 1000.0, 1000.0, 32.0, 32.0)
    np.testing.assert_allclose(cam[0, :, 2], [4000.0, 3000.0, 4500.0])
    np.testing.assert_allclose(cam[0, 1, :2], [-32 / 1000 * 3000, -32 / 1000 * 3000])


# ---------------------------------------------------------------------------------------
# Joint sets


def test_joint_sets_sizes_and_roots() -> None:
    sizes = {name: (s.num_joints, s.joint_names[s.root]) for name, s in joint_sets.JOINT_SETS.items()}
    assert sizes == {"h36m17": (17, "Hip"), "h36m18": (18, "Pelvis"), "muco21": (21, "Pelvis"), "itop15": (15, "Torso")}
    assert len(joint_sets.H36M_17.edges) == 16 and len(joint_sets.MUCO_21.edges) == 20


def test_mapping_to_coco19_by_name() -> None:
    idx = coco19.JOINT_INDEX
    h36m = dict(joint_sets.H36M_18.coco19_pairs())
    assert h36m[0] == idx["pelvis"] and h36m[3] == idx["right_ankle"] and h36m[17] == idx["neck"]
    assert 8 not in h36m  # 3DMPPE "Neck" is not the shoulder midpoint
    muco = dict(joint_sets.MUCO_21.coco19_pairs())
    assert muco[5] == idx["left_shoulder"] and muco[14] == idx["pelvis"] and 17 not in muco
    hd = dict(joint_sets.H36M_17.coco19_pairs())
    assert hd[9] == idx["nose"] and hd[6] == idx["left_ankle"]
    # Left/right mapped consistently: each flip pair maps onto a COCO19 flip pair.
    coco_flips = {frozenset(p) for p in coco19.FLIP_PAIRS}
    for s in joint_sets.JOINT_SETS.values():
        pairs = dict(s.coco19_pairs())
        for a, b in s.flip_pairs:
            if a in pairs and b in pairs:
                assert frozenset((pairs[a], pairs[b])) in coco_flips, (s.name, a, b)


def test_to_coco19_reorders_and_derives() -> None:
    s = joint_sets.ITOP_15
    values = np.arange(15 * 3, dtype=float).reshape(15, 3)
    out = s.to_coco19(values)
    assert out.shape == (19, 3)
    np.testing.assert_allclose(out[coco19.RIGHT_KNEE], values[s.index("R_Knee")])
    np.testing.assert_allclose(out[coco19.NECK], values[s.index("Neck")])  # mapped, not derived
    np.testing.assert_allclose(out[coco19.PELVIS], (values[9] + values[10]) / 2)  # derived from hips
    assert np.all(np.isnan(out[coco19.NOSE])) and np.all(np.isnan(out[coco19.LEFT_WRIST]))
    batch = s.to_coco19(np.zeros((4, 15, 2)), derive=False)
    assert batch.shape == (4, 19, 2) and np.all(np.isnan(batch[:, coco19.PELVIS]))
    with pytest.raises(ValueError, match="expected 15 joints"):
        s.to_coco19(np.zeros((17, 3)))
