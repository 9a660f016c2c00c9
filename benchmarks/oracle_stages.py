"""The stages at the real models' cost with answers the synthetic crowd can use.

The synthetic crowd's 3D truth belongs to the oracle's detections and keypoints, so the
pipeline must see those; the models' cost must still be paid in the same ``process`` call.
Each wrapper runs the real stage on the frame (the detector on the whole image, MoveNet on
every person's crop: preparation, network and decoding) and then hands the pipeline the
oracle's people instead of what the model found. The detector's cost hardly depends on the
number of people; MoveNet's is per crop, so running it on the oracle's boxes costs what
it would cost on those people.

BlazePose runs on the crowd's crops too, but a single-person network rejects most crops of
a dense crowd (two or three people in one crop), and a rejected crop skips the decoding
(landmarks, mask, root fit) and is retried every frame. :class:`RecordedAnswers` runs the
network on the crowd's crops and answers with its outputs for real people's crops recorded
on the sample frames (ones it accepted), so the decoding and the schedule work as for a
crowd BlazePose accepts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import numpy.typing as npt
from hdnet_ros.inference.backend import Arrays, Backend, TensorSpec
from hdnet_ros.people import Detection, Person
from hdnet_ros.stages.detection import FrameDetections, PersonDetector
from hdnet_ros.stages.keypoints2d import KeypointEstimator, Keypoints2D

Image = npt.NDArray[np.uint8]


class OracleDetector(PersonDetector):
    """The real detector's work on the image, the oracle's detections as its answer."""

    def __init__(self, detector: PersonDetector, people: list[Person]) -> None:
        super().__init__(detector.backend, detector.config)
        self.people = people

    def __call__(self, rgb: Image) -> list[Detection]:
        return self.detect(rgb).confident

    def detect(self, rgb: Image) -> FrameDetections:
        """The pipeline's call: the real detector's work, the oracle's people (no low-score candidates)."""
        super().detect(rgb)
        # Fresh detections per frame, as the detector makes them (the tracker keeps them).
        return FrameDetections([Detection(p.detection.box.copy(), p.detection.score) for p in self.people], [])


class OracleKeypoints:
    """The real keypoint estimator on the detections' crops, the oracle's keypoints as its
    answer (``detections`` are the :class:`OracleDetector`'s, in the oracle's order)."""

    def __init__(self, estimator: KeypointEstimator, people: list[Person]) -> None:
        self.estimator = estimator
        self.people = people

    def __call__(self, rgb: Image, detections: list[Detection]) -> list[Keypoints2D]:
        self.estimator(rgb, detections)
        if len(detections) != len(self.people):
            raise ValueError(f"{len(detections)} detections for the oracle's {len(self.people)} people")
        return [Keypoints2D(p.pixels.copy(), p.scores.copy()) for p in self.people]


class RecordedAnswers(Backend):
    """Runs ``inner`` on the crops it is given, answers with ``answers`` (recorded outputs,
    one row per crop, handed out in turn).

    The answers are handed out as slices (views) of the recorded arrays, so substituting
    them costs nothing that the frame's glue would be charged for; calls of up to
    ``max_batch`` crops always find that many consecutive rows.
    """

    def __init__(self, inner: Backend, answers: Arrays, max_batch: int) -> None:
        counts = {len(array) for array in answers.values()}
        if len(counts) != 1 or 0 in counts:
            raise ValueError(f"recorded answers need the same number (> 0) of rows per output, got {counts}")
        self.inner = inner
        self.kind = inner.kind
        self._rows = counts.pop()
        self._max_batch = max_batch
        # The rows again after the last, so that a slice starting at any row is long enough.
        repeats = -(-(self._rows + max_batch) // self._rows)
        self.answers = {name: np.concatenate([array] * repeats) for name, array in answers.items()}
        self._next = 0

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self.inner.inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self.inner.outputs

    def run(self, inputs: Mapping[str, npt.ArrayLike], skip: Collection[str] = ()) -> Arrays:
        count = len(self.inner.run(inputs, skip)[self.inner.output_names[0]])
        if count > self._max_batch:
            raise ValueError(f"{count} crops in one call, more than the max_batch of {self._max_batch}")
        start = self._next % self._rows
        self._next += count
        return {name: array[start : start + count] for name, array in self.answers.items()}

    def _run(self, inputs: Arrays) -> Arrays:  # run() is overridden; kept for the interface
        return self.run(inputs)
