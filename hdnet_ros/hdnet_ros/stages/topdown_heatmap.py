"""Stage 2 with a top-down heatmap network (PP-TinyPose): 2D keypoints on every person's crop.

Unlike MoveNet (a single-pose network with its own person-centre prior, square crops),
a top-down heatmap network is trained to find the joints of the person centred in its
crop, and its crops follow the box's aspect (3:4), so a neighbour standing beside the
person fills less of it. All crops of a frame go through the network in batches of
``inference.heatmap_max_batch``; the crop and the decoding are the codec's
(:mod:`hdnet_ros.inference.heatmap_codec`). With ``keypoints.flip_test`` every crop also
runs mirrored in the same batches and the heatmaps are averaged (the codec's flip test).
Keypoints scored below ``keypoints.heatmap_min_score`` are not seen: the score at which
PP-TinyPose's joints are right as often as wrong (``benchmarks/bench_score_calibration.py``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hdnet_ros.inference.backend import Backend, TensorSpec, split_batches
from hdnet_ros.inference.heatmap_codec import (
    TopDownCrop,
    mirrored_affines,
    topdown_affines,
    unmirrored_heatmaps,
    warp_crops,
)
from hdnet_ros.joints import FLIP_PAIRS, NUM_COCO_JOINTS
from hdnet_ros.model_files import ModelFileError
from hdnet_ros.people import Detection
from hdnet_ros.stages.heatmap_kernels import decode_image_points, encode_planes, warm_up
from hdnet_ros.stages.keypoints2d import KeypointConfig, Keypoints2D, with_derived_joints

FloatArray = npt.NDArray[np.float64]


def is_heatmap_network(backend: Backend) -> bool:
    """Whether a network looks like a COCO-17 top-down heatmap network: one [N,3,H,W]
    image in, a [N,17,h,w] output."""
    images = backend.inputs
    fixed = len(images) == 1 and len(images[0].shape) == 4 and images[0].shape[1] == 3
    return fixed and any(len(s.shape) == 4 and s.shape[1] == NUM_COCO_JOINTS for s in backend.outputs)


def _heatmap_output(outputs: tuple[TensorSpec, ...]) -> TensorSpec:
    """The [N,17,h,w] heatmaps among a network's outputs (an arg-max output may sit beside)."""
    for spec in outputs:
        if len(spec.shape) == 4 and spec.shape[1] == NUM_COCO_JOINTS:
            return spec
    found = ", ".join(spec.describe() for spec in outputs)
    raise ModelFileError(f"not a COCO-17 heatmap network: no [N,{NUM_COCO_JOINTS},h,w] output among {found}")


class HeatmapKeypoints:
    """A COCO-17 top-down heatmap network (input [N,3,H,W] RGB ImageNet-normalised,
    output [N,17,H/s,W/s]) with its codec."""

    def __init__(self, backend: Backend, config: KeypointConfig, max_batch: int = 8) -> None:
        (image,) = backend.inputs
        if len(image.shape) != 4 or image.shape[1] != 3 or image.shape[2] is None or image.shape[3] is None:
            raise ModelFileError(f"a top-down heatmap network needs a fixed [N,3,H,W] input, not {image.describe()}")
        self.backend = backend
        self.runtime = backend.kind
        self.config = config
        # A file with a fixed batch (an IR converted as published) takes that many crops per call.
        self.max_batch = max_batch if image.shape[0] is None else min(max_batch, int(image.shape[0]))
        self.input_name = image.name
        self.crop = TopDownCrop(width=int(image.shape[3]), height=int(image.shape[2]), padding=config.crop_scale)
        heatmaps = _heatmap_output(backend.outputs)
        self.output_name = heatmaps.name
        self.flip_test = config.flip_test
        # Crop pixels per heatmap cell along x (where the mirrored crops' axis lies).
        self.stride_x = self.crop.width / heatmaps.shape[3] if heatmaps.shape[3] else float("nan")
        if self.flip_test and not np.isfinite(self.stride_x):
            raise ModelFileError(f"keypoints.flip_test needs a fixed heatmap width, not {heatmaps.describe()}")
        warm_up()  # the codec's compiled kernels, before the first frame

    @property
    def description(self) -> str:
        flip = ", flip test" if self.flip_test else ""
        return f"top-down heatmaps, {self.crop.width}x{self.crop.height} crops (padding {self.crop.padding}{flip})"

    def heatmaps(self, rgb: npt.NDArray[np.uint8], boxes: FloatArray) -> tuple[npt.NDArray[np.float32], FloatArray]:
        """The network's heatmaps [N,17,h,w] for boxes [N,4] (with the flip test: the mean
        of each crop's and its mirror's) and the crops' affines [N,2,3]."""
        affines = topdown_affines(boxes, self.crop)
        crops = warp_crops(rgb, affines, self.crop)
        if not self.flip_test:
            return self._run(crops), affines
        mirrored = warp_crops(rgb, mirrored_affines(affines, self.crop, self.stride_x), self.crop)
        maps = self._run(np.concatenate((crops, mirrored)))
        count = len(crops)
        return 0.5 * (maps[:count] + unmirrored_heatmaps(maps[count:], FLIP_PAIRS)), affines

    def _run(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        parts = [
            self.backend.run({self.input_name: encode_planes(crops[part])})[self.output_name]
            for part in split_batches(len(crops), self.max_batch)
        ]
        # One call per frame is the usual case (heatmap_max_batch): its array as it is.
        maps = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return maps.astype(np.float32, copy=False)

    def __call__(self, rgb: npt.NDArray[np.uint8], detections: list[Detection]) -> list[Keypoints2D]:
        if not detections:
            return []
        boxes = np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
        heatmaps, affines = self.heatmaps(rgb, boxes)
        stride = (self.crop.width / heatmaps.shape[3], self.crop.height / heatmaps.shape[2])
        # The codec's decoding and its way back to the image, the gathering and the Newton
        # step with the affine compiled (heatmap_kernels).
        pixels, scores = decode_image_points(heatmaps, affines, stride)
        pixels, scores = with_derived_joints(pixels, scores, self.config.heatmap_min_score)
        return [Keypoints2D(p, s) for p, s in zip(pixels, scores, strict=True)]
