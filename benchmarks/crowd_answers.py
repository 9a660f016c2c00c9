"""BlazePose's answers for the synthetic crowd, made from the crowd's truth.

BlazePose is a single-person network: on the composed crowd (real people's crops pasted
where the capsule bodies stand) it rejects most crops, and a rejected crop skips the
decoding and is retried, which would under-count the glue; answers recorded on other
people (the sample frames') would be decoded, but their skeletons do not fit the crowd's
2D keypoints, so the schedule would see every carried pose land away from its track and
run the network again. Here the network still runs on every crop it is given (its cost),
and the stage is answered with what a perfect BlazePose would say about each crowd person
in that crop: the 2D landmarks where the oracle's keypoints are (the true projection where
the oracle hides a joint), the true 3D skeleton in the crop's axes, the person's rendered
silhouette as the mask, presence 1, and heatmaps that refine nothing. The decoding, the
schedule, the placement and the depth stage then work as on a crowd BlazePose accepts.

Answers are made once per person for the crop the stage cuts for them (the crowd stands
still and the crop is oriented by the oracle's keypoints: the same crop every frame). Handing
them out (gathering a frame's rows) is the benchmark's own work, timed apart
(``ModelClock.scaffold``) and left out of the frame's time.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence

import cv2
import numpy as np
import numpy.typing as npt
from crowd import Crowd
from hdnet_ros.camera import CameraModel
from hdnet_ros.inference.backend import Arrays, Backend, TensorSpec
from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_WRIST,
    NOSE,
    RIGHT_ANKLE,
    RIGHT_EYE,
    RIGHT_HIP,
    RIGHT_WRIST,
    ROOT,
)
from hdnet_ros.people import Person
from hdnet_ros.stages.blazepose import BlazePoseStage
from hdnet_ros.stages.blazepose.crops import CROP_SIZE, NETWORK_TO_PIXEL_CENTRE, Crops, rotation_matrices
from hdnet_ros.stages.blazepose.decode import BLAZEPOSE_OF_COCO, NUM_NETWORK_LANDMARKS, view_rotations
from model_clock import ModelClock

FloatArray = npt.NDArray[np.float64]
HEATMAP_SHAPE = (64, 64, NUM_NETWORK_LANDMARKS)
SURE_LOGIT = 8.0  # a visibility or mask logit the decoding reads as certain (sigmoid 0.9997)
NO_HEATMAP_LOGIT = -10.0  # below MediaPipe's refinement threshold everywhere: nothing refined
# The COCO-19 joint each BlazePose landmark is taken from: its own (BLAZEPOSE_OF_COCO), the
# nearest one for the eyes' corners, the mouth, the hands and the feet, the pelvis for the
# six auxiliary points.
SOURCE_JOINT = np.full(NUM_NETWORK_LANDMARKS, ROOT, dtype=np.int64)
SOURCE_JOINT[list(BLAZEPOSE_OF_COCO)] = np.arange(len(BLAZEPOSE_OF_COCO))
for landmarks, joint in (
    ((1, 3), LEFT_EYE),
    ((4, 6), RIGHT_EYE),
    ((9, 10), NOSE),
    ((17, 19, 21), LEFT_WRIST),
    ((18, 20, 22), RIGHT_WRIST),
    ((29, 31), LEFT_ANKLE),
    ((30, 32), RIGHT_ANKLE),
):
    SOURCE_JOINT[list(landmarks)] = joint


def truth_answers(crowd: Crowd, crops: Crops, camera: CameraModel) -> Arrays:
    """One row of BlazePose outputs per crowd person for the crops ``crops`` (one per
    person, in the crowd's order)."""
    count = len(crowd.people)
    seen = np.stack([np.asarray(p.pixels, dtype=np.float64) for p in crowd.people])
    pixels = np.where(np.isfinite(seen), seen, camera.project(crowd.joints.reshape(-1, 3)).reshape(count, -1, 2))
    linear, offset = crops.affines[:, :, :2], crops.affines[:, :, 2]
    source = pixels[:, SOURCE_JOINT]
    crop_xy = np.einsum("nij,nlj->nli", linear, source) + offset[:, None, :] + NETWORK_TO_PIXEL_CENTRE
    visible = np.isfinite(seen[:, SOURCE_JOINT, 0])
    logits = np.where(visible, SURE_LOGIT, -SURE_LOGIT)
    landmarks = np.concatenate(
        (crop_xy, np.zeros((count, NUM_NETWORK_LANDMARKS, 1)), logits[..., None], logits[..., None]), axis=2
    )
    # The true skeleton, pelvis at the origin, from camera axes into the crop's: the inverse
    # of the decoding's view correction and crop rotation (decode.world_to_camera).
    relative = crowd.joints - crowd.joints[:, ROOT : ROOT + 1]
    hips = (pixels[:, LEFT_HIP] + pixels[:, RIGHT_HIP]) / 2.0
    views = view_rotations(camera.normalized_rays(hips))
    straight = np.einsum("nji,nlj->nli", views, relative[:, SOURCE_JOINT])  # V^T p
    world = straight.copy()
    world[:, :, :2] = np.einsum("nij,nlj->nli", rotation_matrices(crops.angles), straight[:, :, :2])
    masks = np.empty((count, CROP_SIZE, CROP_SIZE, 1), dtype=np.float32)
    for index, affine in enumerate(crops.affines):
        silhouette = cv2.warpAffine((crowd.label == index).astype(np.float32), affine, (CROP_SIZE, CROP_SIZE))
        masks[index, :, :, 0] = np.where(silhouette > 0.5, SURE_LOGIT, -SURE_LOGIT)
    return {
        "landmarks": landmarks.reshape(count, -1).astype(np.float32),
        "world_landmarks": world.reshape(count, -1).astype(np.float32),
        "presence": np.ones((count, 1), dtype=np.float32),
        "mask": masks,
    }


class TruthAnswers(Backend):
    """Runs ``inner`` (the real network, its cost) on the crops it is given and answers for
    the rows :attr:`rows` names (set by :class:`CrowdBlazePose` for each call)."""

    def __init__(self, inner: Backend, answers: Arrays, clock: ModelClock) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.answers = answers
        self.rows: list[int] = []
        self._clock = clock

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self.inner.inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self.inner.outputs

    @property
    def skippable(self) -> frozenset[str]:  # type: ignore[override]
        return self.inner.skippable

    def run(self, inputs: Mapping[str, npt.ArrayLike], skip: Collection[str] = ()) -> Arrays:
        count = len(self.inner.run(inputs, skip)[self.inner.output_names[0]])
        start = time.perf_counter()
        rows, self.rows = self.rows[:count], self.rows[count:]
        answer = {name: array[rows] for name, array in self.answers.items()}
        answer["heatmaps"] = np.broadcast_to(np.float32(NO_HEATMAP_LOGIT), (count, *HEATMAP_SHAPE))
        self._clock.add_scaffold(start)
        return answer

    def _run(self, inputs: Arrays) -> Arrays:  # run() is overridden; kept for the interface
        return self.run(inputs)


class CrowdBlazePose(BlazePoseStage):
    """The BlazePose stage on the crowd: it cuts the crops as always and tells its
    :class:`TruthAnswers` whose crops they are (by the people's boxes)."""

    def __init__(self, stage: BlazePoseStage, crowd: Crowd, clock: ModelClock) -> None:
        crops = stage.prepare(crowd.frame.rgb, crowd.people)
        answers = truth_answers(crowd, Crops(crops.images.copy(), crops.affines, crops.angles), crowd.frame.camera)
        self.truth = TruthAnswers(stage.backend, answers, clock)
        super().__init__(self.truth, stage.config, stage.max_batch, stage.runtime)
        self._index = {_box_key(p): index for index, p in enumerate(crowd.people)}
        self._clock = clock

    def prepare(
        self, rgb: npt.NDArray[np.uint8], people: Sequence[Person], guides: Sequence[FloatArray | None] | None = None
    ) -> Crops:
        start = time.perf_counter()
        self.truth.rows += [self._index[_box_key(p)] for p in people]
        self._clock.add_scaffold(start)
        return super().prepare(rgb, people, guides)


def _box_key(person: Person) -> tuple[float, ...]:
    return tuple(float(v) for v in person.detection.box)
