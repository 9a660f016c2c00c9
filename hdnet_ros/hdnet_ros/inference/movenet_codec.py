"""MoveNet SinglePose decoding in numpy: head tensors -> [N,17,3] (y, x, score).

The TFLite model decodes inside its graph (ARG_MAX, GATHER_ND, ...), which neither
tflite2onnx nor TensorRT handle. The rebuilt network (:mod:`hdnet_ros.nets.movenet`) stops
before it; this module is that decoding, so any backend's head tensors give the TFLite
model's output:

1. person centre: the centre heatmap weighted by ``1 / (distance to the grid centre + 1.8)``
   (a prior for the person the crop was made around); its arg-max cell ``(cy, cx)``,
2. each joint's rough position: the centre cell plus the regression read there,
3. each joint's cell: the arg-max of its heatmap weighted by
   ``1 / (distance to the rough position + 1.8)`` (a neighbour's joint far from the rough
   position loses against this person's),
4. each joint's position: that cell plus the offset read there, divided by the grid size;
   its score: the heatmap value there.

Outputs are normalised to the crop: y and x in 0..1 (pixel = value * 192), as the TFLite
model's.

Two arithmetics. The default is float. ``int8=INT8_DECODING`` repeats the int8 model's
roundings instead: every intermediate of the graph's decoding is an int8 tensor, some of
them coarse (squared distances in steps of 11 cells², the output in steps of 0.79 px of the
crop), and its arg-maxes break ties on those coarse values. Fed the int8 model's own head
tensors, the int8 arithmetic reproduces LiteRT's output exactly (tested), which pins down
what the decoding is; the float one moves some joints of those same tensors by whole grid
cells. The graph's QUANTIZE ops (float -> int8) are computed in float32 as LiteRT computes
them (``Grid.quantize``). LiteRT's float SQRT is not correctly rounded and errs differently
per CPU, but every one of its 256 possible inputs has a root at least 32 ulp from a rounding
boundary of the int8 distance after it, so those last bits never reach the keypoints
(tested); the decoding is the same on every CPU. Fed a float network (the rebuilt MoveNet
on any backend) the float arithmetic is the steadier one: see docs/inference.md for the
figures.

numpy only (runs wherever the network runs, torch or not); numpy>=1.21 APIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

GRID_SIZE = 48
NUM_KEYPOINTS = 17
# The constant of both distance weightings (tensor add_1/y of the graph).
DISTANCE_BIAS = 1.8

FloatArray = npt.NDArray[np.float32]
_Float64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Grid:
    """An int8 tensor's value grid: value = scale * (q - zero_point), q in -128..127.

    ``scale == 0`` stands for no grid (float arithmetic).
    """

    scale: float
    zero_point: int

    def snap(self, values: npt.ArrayLike) -> _Float64:
        """Round to the grid and saturate, as TFLite's requantisation does.

        Rounding is half away from zero (TFLite's ``TfLiteRound``), not numpy's half-even.
        """
        if self.scale <= 0.0:
            return np.asarray(values, dtype=np.float64)
        scaled = np.asarray(values, dtype=np.float64) / self.scale
        q = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) + self.zero_point
        return (np.clip(q, -128, 127) - self.zero_point) * self.scale

    def quantize(self, values: npt.ArrayLike) -> _Float64:
        """Float values onto the grid as the graph's QUANTIZE ops (float32 -> int8) compute it:
        in float32, times the float32 reciprocal of the scale, rounded half to even.

        Not the same as :meth:`snap`: float64 puts the centre row 13 at 13 / 0.10196078 =
        127.49999 grid steps, float32 at exactly 127.5, and LiteRT's int8 then is 128.
        """
        if self.scale <= 0.0:
            return np.asarray(values, dtype=np.float64)
        scaled = np.asarray(values, dtype=np.float32) * (np.float32(1.0) / np.float32(self.scale))
        q = np.clip(np.rint(scaled).astype(np.float64) + self.zero_point, -128, 127)
        return (q - self.zero_point) * self.scale

    def requantize(self, values: npt.ArrayLike, source: Grid) -> _Float64:
        """Values on ``source``'s grid moved onto this one as XNNPACK's int8 -> int8 convert
        does it: an 8-bit fixed-point multiplier ``round(256 * source.scale / scale)``, then
        ``(q * multiplier + 128) >> 8``, which rounds half up. The coarse multiplier makes it
        differ from exact rounding by a step now and then, which is why it is spelt out."""
        if self.scale <= 0.0 or source.scale <= 0.0:
            return self.snap(values)
        q = np.rint(np.asarray(values, dtype=np.float64) / source.scale)  # q - zero point of the source
        ratio = np.float32(source.scale) / np.float32(self.scale)
        multiplier = float(np.rint(np.float64(ratio) * 256.0))
        out = np.floor((q * multiplier + 128.0) / 256.0) + self.zero_point
        return (np.clip(out, -128, 127) - self.zero_point) * self.scale


@dataclass(frozen=True)
class Int8Decoding:
    """The grids of the TFLite graph's decoding tensors (file tensor names in ``TENSOR_NAMES``).

    The defaults are MoveNet SinglePose Lightning int8 v4's; ``from_tensor_grids`` reads
    another file's (tests check the defaults against the file).
    """

    center: Grid = Grid(0.00390625, -128)
    center_prior: Grid = Grid(0.002178649418056011, -128)
    weighted_center: Grid = Grid(0.0020440402440726757, -128)
    center_y: Grid = Grid(0.10196078568696976, -128)
    center_x: Grid = Grid(0.10588235408067703, -128)
    regression: Grid = Grid(0.6884398460388184, -21)
    rough_y: Grid = Grid(0.21009913086891174, -128)
    rough_x: Grid = Grid(0.17527824640274048, -128)
    cell: Grid = Grid(0.18431372940540314, -128)
    dy: Grid = Grid(0.3881896734237671, 10)
    dx: Grid = Grid(0.3521214723587036, -1)
    dy2: Grid = Grid(11.256119728088379, -128)
    dx2: Grid = Grid(7.974749565124512, -128)
    distance2: Grid = Grid(14.999095916748047, -128)
    distance: Grid = Grid(0.24252831935882568, -128)
    distance_bias: Grid = Grid(0.0070588234812021255, -128)
    biased_distance: Grid = Grid(0.24958714842796326, -128)
    heatmaps: Grid = Grid(0.00390625, -128)
    weighted_heatmaps: Grid = Grid(0.0019921548664569855, -128)
    joint_y: Grid = Grid(0.18431372940540314, -128)
    joint_x: Grid = Grid(0.18431372940540314, -128)
    offsets: Grid = Grid(0.19978104531764984, -9)
    position_y: Grid = Grid(0.196648970246315, -128)
    position_x: Grid = Grid(0.196648970246315, -128)
    grid_scale: Grid = Grid(8.169934881152585e-05, -128)
    keypoints: Grid = Grid(0.0040968540124595165, -128)
    scores: Grid = Grid(0.0040968540124595165, -128)

    @classmethod
    def from_tensor_grids(cls, grids: Mapping[str, tuple[float, int]]) -> Int8Decoding:
        """From ``{file tensor name: (scale, zero_point)}``."""
        missing = [name for name in TENSOR_NAMES.values() if name not in grids]
        if missing:
            raise KeyError(f"decoding tensors missing from the file: {missing}")
        return cls(**{field: Grid(float(grids[name][0]), int(grids[name][1])) for field, name in TENSOR_NAMES.items()})


# Int8Decoding field -> tensor name in the TFLite file.
TENSOR_NAMES: dict[str, str] = {
    "center": "Sigmoid_1",
    "center_prior": "truediv_2;add_1",
    "weighted_center": "truediv_2;add_11",
    "center_y": "tfl.quantize1",
    "center_x": "tfl.quantize2",
    "regression": "kpt_regress_0/conv2d_6/BiasAdd;kpt_regress_0/conv2d_6/Conv2D;conv2d_6/bias1",
    "rough_y": "add_2",
    "rough_x": "add_3",
    "cell": "strided_slice_3",
    "dy": "sub_5",
    "dx": "sub_6",
    "dy2": "pow_2;pow/y",
    "dx2": "pow_3;pow/y",
    "distance2": "add_4",
    "distance": "tfl.quantize3",
    "distance_bias": "add_1/y",
    "biased_distance": "add_5",
    "heatmaps": "Sigmoid",
    "weighted_heatmaps": "tfl.quantize4",
    "joint_y": "tfl.quantize5",
    "joint_x": "tfl.quantize6",
    "offsets": (
        "kpt_offset_0/conv2d_7/BiasAdd;kpt_regress_0/conv2d_6/Conv2D;kpt_offset_0/conv2d_7/Conv2D;conv2d_7/bias1"
    ),
    "position_y": "add_6",
    "position_x": "add_7",
    "grid_scale": "Reshape_13",
    "keypoints": "mul_2",
    "scores": "Sigmoid1",
}
assert set(TENSOR_NAMES) == {f.name for f in fields(Int8Decoding)}

INT8_DECODING = Int8Decoding()


# The same decoding without any rounding.
_FLOAT_DECODING = Int8Decoding(**{f.name: Grid(0.0, 0) for f in fields(Int8Decoding)})


def center_prior(grid_size: int = GRID_SIZE) -> _Float64:
    """[H,W] weights ``1 / (distance to cell (24, 24) + 1.8)`` (the graph's ``truediv_2;add_1``)."""
    ys, xs = np.mgrid[0:grid_size, 0:grid_size].astype(np.float64)
    centre = grid_size / 2.0
    return 1.0 / (np.sqrt((ys - centre) ** 2 + (xs - centre) ** 2) + DISTANCE_BIAS)


def _as_batch(array: npt.ArrayLike, channels: int, name: str) -> _Float64:
    """[N,H,W,C] float64; a single [H,W,C] map gets a batch axis."""
    result = np.asarray(array, dtype=np.float64)
    if result.ndim == 3:
        result = result[None]
    if result.ndim != 4 or result.shape[3] != channels:
        raise ValueError(f"{name}: expected [N,H,W,{channels}], got {result.shape}")
    return result


def _argmax_cells(maps: _Float64, width: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Row and column of the first maximum over the (H, W) axes 1-2 of [N,H,W,...].

    First maximum in row-major order, as TFLite's ARG_MAX over the flattened grid: with
    int8 values ties are common and the order decides them.
    """
    flat = maps.reshape(maps.shape[0], -1, *maps.shape[3:])
    rows, cols = np.divmod(np.argmax(flat, axis=1), width)
    return rows.astype(np.int64), cols.astype(np.int64)


def decode_movenet(
    center_heatmap: npt.ArrayLike,
    keypoint_heatmaps: npt.ArrayLike,
    keypoint_offsets: npt.ArrayLike,
    center_regression: npt.ArrayLike,
    int8: Int8Decoding | None = None,
) -> FloatArray:
    """[N,17,3] = (y, x, score) per crop, y and x normalised to the crop (TFLite's meaning).

    Inputs are the network's head tensors, channels last ([N,48,48,C], or [48,48,C] for one
    crop): centre heatmap (C=1), joint heatmaps (17), offsets (34), regression (34).
    ``int8``: ``None`` for float arithmetic, or the int8 model's roundings (``INT8_DECODING``).
    """
    q = int8 if int8 is not None else _FLOAT_DECODING
    center = q.center.snap(_as_batch(center_heatmap, 1, "center_heatmap")[..., 0])
    heatmaps = q.heatmaps.snap(_as_batch(keypoint_heatmaps, NUM_KEYPOINTS, "keypoint_heatmaps"))
    offsets = q.offsets.snap(_as_batch(keypoint_offsets, 2 * NUM_KEYPOINTS, "keypoint_offsets"))
    regression = q.regression.snap(_as_batch(center_regression, 2 * NUM_KEYPOINTS, "center_regression"))
    batch, height, width = center.shape
    rows = np.arange(batch)

    # 1. the person centre cell
    prior = q.center_prior.snap(center_prior(height))
    center_y, center_x = _argmax_cells(q.weighted_center.snap(center * prior[None]), width)

    # 2. rough joint positions regressed from the centre cell: [N,17] each, in grid cells
    reg = regression[rows, center_y, center_x].reshape(batch, NUM_KEYPOINTS, 2)
    rough_y = q.rough_y.snap(q.center_y.quantize(center_y)[:, None] + reg[..., 0])
    rough_x = q.rough_x.snap(q.center_x.quantize(center_x)[:, None] + reg[..., 1])

    # 3. each joint's cell: heatmap divided by (distance to its rough position + 1.8)
    ys = q.cell.snap(np.arange(height))[None, :, None, None]
    xs = q.cell.snap(np.arange(width))[None, None, :, None]
    dy2 = q.dy2.snap(q.dy.snap(ys - rough_y[:, None, None, :]) ** 2)
    dx2 = q.dx2.snap(q.dx.snap(xs - rough_x[:, None, None, :]) ** 2)
    # The graph dequantizes to float32 for its SQRT and DIV; the float decoding stays float64.
    real = np.float32 if int8 is not None else np.float64
    distance = q.distance.quantize(np.sqrt(q.distance2.snap(dy2 + dx2).astype(real)))
    biased = q.biased_distance.snap(distance + q.distance_bias.snap(DISTANCE_BIAS))
    weighted = heatmaps.astype(real) / biased.astype(real)
    joint_y, joint_x = _argmax_cells(q.weighted_heatmaps.quantize(weighted), width)  # [N,17]

    # 4. sub-cell position from the offsets at that cell, score from the heatmap there
    joints = np.arange(NUM_KEYPOINTS)[None, :]
    own = offsets[rows[:, None], joint_y, joint_x].reshape(batch, NUM_KEYPOINTS, NUM_KEYPOINTS, 2)
    own = own[:, joints[0], joints[0]]  # joint j's offset channels at joint j's cell
    grid_scale = q.grid_scale.snap(1.0 / height)
    result = np.empty((batch, NUM_KEYPOINTS, 3), dtype=np.float32)
    result[..., 0] = q.keypoints.snap(q.position_y.snap(q.joint_y.quantize(joint_y) + own[..., 0]) * grid_scale)
    result[..., 1] = q.keypoints.snap(q.position_x.snap(q.joint_x.quantize(joint_x) + own[..., 1]) * grid_scale)
    result[..., 2] = q.scores.requantize(heatmaps[rows[:, None], joint_y, joint_x, joints], q.heatmaps)
    return result


def decode_movenet_outputs(outputs: Mapping[str, npt.ArrayLike], int8: Int8Decoding | None = None) -> FloatArray:
    """:func:`decode_movenet` on a backend's named outputs (names as in the ONNX export)."""
    return decode_movenet(
        outputs["center_heatmap"],
        outputs["keypoint_heatmaps"],
        outputs["keypoint_offsets"],
        outputs["center_regression"],
        int8=int8,
    )
