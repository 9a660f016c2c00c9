"""The BlazePose GHUM 3D stage: per person a metric 3D skeleton, 2D landmarks, a mask and a
monocular root, from one batched network call per frame.

    people (boxes + first 2D keypoints) -> rotated square crops (crops.py)
        -> BlazePose (one backend call per max_batch crops; crops whose mask nobody reads
           in a call of their own, without it) -> presence gate
        -> landmarks, world skeleton and mask back in the image and the camera (decode.py, mask.py)
        -> monocular root (root_fit.py) -> BodyEstimate per person (None: rejected crop)

The stage runs on any subset of a frame's people (the caller schedules which), and costs one
crop preparation and one network call per ``max_batch`` people, whatever the subset.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.inference.backend import Arrays, Backend, split_batches
from hdnet_ros.inference.blazepose_runtime import BLAZEPOSE_RUNTIMES, SKIPPABLE, choose_blazepose
from hdnet_ros.inference.runtime import InferenceConfig
from hdnet_ros.logs import get_logger
from hdnet_ros.model_files import resolve_model_file
from hdnet_ros.people import Frame, Person
from hdnet_ros.settings_field import setting
from hdnet_ros.stages.blazepose.crops import (
    CROP_SIZE,
    Crops,
    CropSampler,
    crop_affines,
    full_body_boxes,
    rotations_from_up,
    up_vectors,
)
from hdnet_ros.stages.blazepose.decode import (
    LEFT_HIP,
    NUM_BODY_LANDMARKS,
    NUM_NETWORK_LANDMARKS,
    RIGHT_HIP,
    BodyEstimate,
    crops_to_image,
    pelvis_relative,
    refine_with_heatmaps,
    sigmoid,
    to_joint_set,
    to_keypoints2d,
    view_rotations,
    world_to_camera,
)
from hdnet_ros.stages.blazepose.mask import PersonMask, warp_mask
from hdnet_ros.stages.blazepose.root_fit import MonocularRoot, RootFit, RootFitFailure, fit_roots
from hdnet_ros.stages.blazepose.warm import warm_up

__all__ = [
    "BlazePoseConfig",
    "BlazePoseStage",
    "BodyEstimate",
    "MonocularRoot",
    "PersonMask",
    "RootFit",
    "RootFitFailure",
    "open_blazepose_stage",
    "to_keypoints2d",
]

LOG = get_logger(__name__)
FloatArray = npt.NDArray[np.float64]
OUTPUT_NAMES = ("landmarks", "presence", "mask", "heatmaps", "world_landmarks")


@dataclass(frozen=True)
class BlazePoseConfig:
    model: str = setting(
        "blazepose_ghum_full", "BlazePose GHUM 3D landmark model: a known model name or a path (relative to models_dir)"
    )
    runtime: str = setting(
        "auto",
        "runtime on the CPU (inference.backend onnxruntime): litert_fp32 (the published file on LiteRT), onnx_float "
        "(the rebuild's ONNX export on onnxruntime, the same outputs within float32 rounding), openvino (the published "
        "file on OpenVINO, float32, the same within float32 rounding), auto (the fastest here, timed at start-up)",
        choices=BLAZEPOSE_RUNTIMES,
    )
    # MediaPipe's graphs gate on 0.5 (ThresholdingCalculator after the pose flag).
    presence_threshold: float = setting(
        0.5, "crops whose person presence score is below this give no estimate (counted)", min=0.0, max=1.0
    )
    # MediaPipe's detection-to-ROI margin (RectTransformationCalculator scale 1.25, square_long).
    crop_scale: float = setting(1.25, "crop side as a multiple of the box's longer side", min=1.0, max=3.0)
    rotate_crops: bool = setting(
        True, "rotate each crop so the hips-to-shoulders line of the first 2D estimate is vertical"
    )
    # The network sees each crop as if the camera looked straight at the person; turning its
    # skeleton onto the real viewing ray lowered the reprojection error and the disagreement
    # with the sensor's joints on the sample frames (benchmarks/bench_blazepose_root.py).
    view_correction: bool = setting(
        True, "turn each metric skeleton from the crop's straight-ahead view onto the person's viewing ray"
    )
    heatmap_refinement: bool = setting(
        True, "refine the 2D landmarks with the network's heatmaps, as MediaPipe does (7x7 window)"
    )
    root_min_visibility: float = setting(
        0.5, "landmarks with a visibility above this are used in the monocular root fit", min=0.0, max=1.0
    )
    # People's true size is unknown to the network: adult stature varies by ~4 % (1 sigma) and
    # the network's metric scale adds its own error (2-6 % of the depth measured on real frames,
    # docs/networks.md); ~7 % of the depth covers both.
    root_relative_sigma: float = setting(
        0.07, "1-sigma of the monocular root depth from the skeleton's unknown scale, as a fraction of it", min=0.0
    )
    # The shape of a tracked person's skeleton changes little between frames: each track runs
    # on a period and carries its pose between runs (stages/blazepose/schedule.py).
    every_frames: int = setting(
        3,
        "run BlazePose on a tracked person whose root the depth sensor measures every N-th frame, carrying the "
        "pose between (1 = every frame)",
        min=1,
        max=100,
    )
    every_frames_without_depth: int = setting(
        2,
        "the same for people the depth sensor does not measure and in frames without depth: between runs their "
        "carried skeleton fitted to the 2D keypoints gives their root (1 = every frame)",
        min=1,
        max=100,
    )
    # A person whose 2D keypoints have not moved since their last run (seated, standing in a
    # queue or a meeting) keeps their skeleton's shape: their period is lengthened, capped by
    # an age (stages/blazepose/schedule.py; docs/benchmarks.md, "The BlazePose period adapts
    # to motion").
    still_period_factor: int = setting(
        3,
        "lengthen the period (every_frames or every_frames_without_depth) by this factor for a person whose "
        "confident 2D keypoints have not moved since their last run, up to still_max_age_frames (1 = off)",
        min=1,
        max=100,
    )
    still_max_age_frames: int = setting(
        15,
        "the longest a still person's pose is carried before BlazePose runs on them again, in frames (15: 0.5 s "
        "at 30 Hz); never shorter than their period",
        min=1,
        max=1000,
    )
    # A person's mask only changes where their pose does: a still person's last mask, moved
    # with their box, serves the next run too, which then skips the mask's decoder branch
    # (0.6-0.74x a crop's time on OpenVINO; stages/blazepose/per_track.py, docs/inference.md).
    mask_max_age_frames: int = setting(
        15,
        "keep a still person's BlazePose mask, moved with their box, through the runs on them for up to this many "
        "frames instead of making a new one on each run (0 = a new mask on every run)",
        min=0,
        max=1000,
    )
    # A robot among many people needs the 3D stage's cost bounded: three crops (12-15 ms on
    # two AVX-512 VNNI cores, 24-25 ms on two AVX2 cores) give each of 20 people a fresh pose
    # every seven frames; below ~9 people measured by depth (~6 without) the periods alone
    # stay under it. Four crops kept the frame at 20 people over 4x the 1-person frame on
    # the AVX2 machine (4.08-4.41x against 3.82-4.08x) for 0.2-1.9 mm less mean joint error
    # of synthetic crowds' carried poses (docs/benchmarks.md, the eighth session).
    max_crops: int = setting(
        3,
        "most BlazePose crops per frame (0 = no cap): new tracks first, then carried poses that no longer fit the "
        "keypoints, then the oldest poses, the nearer person first",
        min=0,
        max=1000,
    )


class BlazePoseStage:
    """BlazePose on a frame's people: ``stage(frame, people) -> [BodyEstimate | None]``.

    ``counts`` tallies the crops run and the ones rejected (``low_presence``), the people
    whose root could not be fitted (``no_root``) and the crops run without a mask
    (``without_mask``: nobody would read it, or the person keeps their last one).
    """

    def __init__(self, backend: Backend, config: BlazePoseConfig, max_batch: int = 8, runtime: str = "") -> None:
        self.backend = backend
        self.config = config
        self.max_batch = max_batch
        self.runtime = runtime  # the runtime chosen for the network (blazepose.runtime), for reports
        self.counts: Counter[str] = Counter()
        self._sampler = CropSampler(CROP_SIZE)
        warm_up()  # the compiled glue, before the first frame

    def __call__(
        self,
        frame: Frame,
        people: Sequence[Person],
        guides: Sequence[FloatArray | None] | None = None,
        masks: Sequence[bool] | None = None,
    ) -> list[BodyEstimate | None]:
        """One estimate per person (None where the network sees no person in the crop).

        ``guides``: per person COCO-19 pixels [19,2] (NaN where unseen) whose hips,
        shoulders and head orient the crop (:func:`crops.up_vectors`), e.g. a previous frame's estimate
        (``BodyEstimate.keypoints(...).pixels``); where None, the person's own ``pixels``.
        ``masks``: per person whether their mask is wanted (None: everyone's); the others'
        estimates have none, and the runtimes that can do so leave it uncomputed.
        """
        if not people:
            return []
        crops = self.prepare(frame.rgb, people, guides)
        wanted = np.ones(len(people), dtype=bool) if masks is None else np.array(masks, dtype=bool).reshape(-1)
        return self.decode(self.infer(crops.images, wanted), crops, frame.camera, wanted)

    @property
    def skips_masks(self) -> bool:
        """Whether the runtime leaves a mask nobody wants uncomputed (else it costs nothing more)."""
        return set(SKIPPABLE) <= self.backend.skippable

    def prepare(
        self, rgb: npt.NDArray[np.uint8], people: Sequence[Person], guides: Sequence[FloatArray | None] | None = None
    ) -> Crops:
        """The crops of all ``people`` in one batch (a view of a reused buffer)."""
        given = guides if guides is not None else [None] * len(people)
        chosen = np.stack(
            [np.asarray(p.pixels if g is None else g, dtype=np.float64) for p, g in zip(people, given, strict=True)]
        )
        boxes = np.stack([np.asarray(p.detection.box, dtype=np.float64) for p in people])
        boxes = full_body_boxes(boxes, chosen, rgb.shape[1], rgb.shape[0])
        angles = np.zeros(len(people))
        if self.config.rotate_crops:
            angles = rotations_from_up(up_vectors(chosen))
        affines = crop_affines(boxes, angles, self.config.crop_scale)
        return Crops(self._sampler(rgb, affines), affines, angles)

    def infer(self, images: npt.NDArray[np.float32], masks: npt.NDArray[np.bool_] | None = None) -> Arrays:
        """The network's outputs for crops [N,256,256,3], in calls of at most ``max_batch``.
        ``masks`` [N]: whose mask is wanted (None: everyone's); on a runtime that can leave
        it uncomputed (``Backend.skippable``) the crops without run in calls of their own
        that skip it, and their rows of ``mask`` are zeros."""
        self.counts["crops"] += len(images)
        if masks is not None:
            self.counts["without_mask"] += int(np.count_nonzero(~masks))
        if masks is None or masks.all() or not self.skips_masks:
            return self._run(images, ())  # a runtime that computes the mask anyway: one call
        if not masks.any():
            return self._run(images, SKIPPABLE)
        wanted, unwanted = np.flatnonzero(masks), np.flatnonzero(~masks)
        parts = ((wanted, self._run(images[wanted], ())), (unwanted, self._run(images[unwanted], SKIPPABLE)))
        merged: Arrays = {}
        for name in OUTPUT_NAMES:
            first = next(p[name] for _, p in parts if name in p)
            merged[name] = np.zeros((len(images), *first.shape[1:]), dtype=first.dtype)
            for rows, outputs in parts:
                if name in outputs:
                    merged[name][rows] = outputs[name]
        return merged

    def _run(self, images: npt.NDArray[np.float32], skip: tuple[str, ...]) -> Arrays:
        """Crops in calls of at most ``max_batch``; the outputs named in ``skip`` may be absent."""
        parts = [self.backend.run({"image": images[part]}, skip) for part in split_batches(len(images), self.max_batch)]
        names = [name for name in OUTPUT_NAMES if name in parts[0]] if parts else []
        if len(parts) == 1:  # the usual case: the backend's arrays as they are, no copy
            return {name: parts[0][name] for name in names}
        return {name: np.concatenate([p[name] for p in parts]) for name in names}

    def decode(
        self, outputs: Arrays, crops: Crops, camera: CameraModel, masks: npt.NDArray[np.bool_] | None = None
    ) -> list[BodyEstimate | None]:
        """All crops' outputs back to the image and the camera at once; then one estimate per
        crop the network accepts (None for the others), with its mask where ``masks`` [N]
        wants it (None: everyone's)."""
        affines, angles = crops.affines, crops.angles
        count = len(affines)
        presence = np.asarray(outputs["presence"], dtype=np.float64).reshape(count)
        accepted = presence >= self.config.presence_threshold  # NaN presence is a rejection too
        self.counts["low_presence"] += int(count - np.count_nonzero(accepted))
        raw = np.asarray(outputs["landmarks"], dtype=np.float64).reshape(count, NUM_NETWORK_LANDMARKS, 5)
        xy = raw[:, :NUM_BODY_LANDMARKS, :2]
        if self.config.heatmap_refinement:
            xy = refine_with_heatmaps(xy, outputs["heatmaps"])
        inverses, pixels = crops_to_image(xy, affines)
        visibility = sigmoid(raw[:, :NUM_BODY_LANDMARKS, 3])
        world = np.asarray(outputs["world_landmarks"], dtype=np.float64).reshape(count, NUM_NETWORK_LANDMARKS, 3)
        views = None
        if self.config.view_correction:
            views = view_rotations(camera.normalized_rays((pixels[:, LEFT_HIP] + pixels[:, RIGHT_HIP]) / 2.0))
        skeletons = pelvis_relative(world_to_camera(world[:, :NUM_BODY_LANDMARKS], angles, views))
        keep = np.flatnonzero(accepted)
        roots = fit_roots(
            pixels[keep],
            visibility[keep],
            skeletons[keep],
            camera,
            min_visibility=self.config.root_min_visibility,
            relative_sigma=self.config.root_relative_sigma,
        )
        self.counts["no_root"] += sum(isinstance(root, RootFitFailure) for root in roots)
        results: list[BodyEstimate | None] = [None] * count
        relative_poses, feet = to_joint_set(skeletons)  # all crops at once; each estimate a view of its own rows
        for i, root in zip(keep.tolist(), roots, strict=True):
            results[i] = BodyEstimate(
                pixels=pixels[i],
                visibility=visibility[i],
                world=skeletons[i],
                relative_pose=relative_poses[i],
                feet=feet[i],
                mask=(
                    warp_mask(outputs["mask"][i, :, :, 0], affines[i], inverses[i], camera.height, camera.width)
                    if masks is None or masks[i]
                    else None
                ),
                root=root,
                rotation=float(angles[i]),
            )
        return results


def open_blazepose_stage(
    config: BlazePoseConfig,
    inference: InferenceConfig,
    models_dir: str | Path | None,
    threads: int,
    masks_read: bool = True,
) -> BlazePoseStage:
    """The stage with its network on the configured runtime; a missing or wrong model file is
    a ModelFileError naming it. ``masks_read``: whether a depth stage will read the masks
    (False: RGB only, so ``auto`` times the runtimes without the mask)."""
    path = resolve_model_file(config.model, models_dir or None)
    LOG.info("BlazePose GHUM 3D: %s (%s)", path, inference.backend)
    # The schedule gives the network at most max_crops crops a frame, so its batches end
    # there: OpenVINO compiles 3 batch shapes with the mask and 3 without instead of 8 and 8
    # (a second of every start on 2 cores, and their memory), TensorRT's profile ends at 3.
    batch = min(inference.max_batch, config.max_crops) if config.max_crops > 0 else inference.max_batch
    inference = dataclasses.replace(inference, max_batch=batch)
    choice = choose_blazepose(path, inference, threads, config.runtime, () if masks_read else SKIPPABLE)
    return BlazePoseStage(choice.runtime, config, batch, choice.name)
