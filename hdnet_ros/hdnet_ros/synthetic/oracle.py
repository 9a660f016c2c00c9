"""The 2D stage replaced by an oracle: true joints projected, perturbed and dropped the way a
good keypoint detector errs, so the benchmark measures the depth stage alone.

- every keypoint gets Gaussian pixel noise (3 px by default);
- joints outside the image are dropped;
- joints hidden behind another person or an object are dropped with a probability, and kept
  with a low score otherwise (detectors do guess occluded joints);
- joints hidden by the person's own body are kept (detectors predict them), scored lower;
- pelvis and neck are midpoints of their two joints, as :mod:`hdnet_ros.stages.keypoints2d` makes them;
- each person with enough keypoints and at least a tenth of the body visible gets a
  Detection: a box around the visible silhouette and the reported keypoints (detectors box
  an occluded person whole), scored by how much of it is seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import DERIVED_JOINTS, NUM_JOINTS, ROOT
from hdnet_ros.people import Detection, Person
from hdnet_ros.synthetic.render import BACKGROUND, Rendering
from hdnet_ros.synthetic.scene import Scene

FloatArray = npt.NDArray[np.float64]

# A joint this far behind the visible surface of its own body is self-occluded [m].
SELF_OCCLUSION_M = 0.15


@dataclass(frozen=True)
class OracleConfig:
    pixel_noise_px: float = 3.0
    drop_occluded_prob: float = 0.7
    min_keypoints: int = 5  # fewer visible keypoints: the detector misses the person
    min_silhouette_px: int = 40  # at 640 wide; scaled with the image area
    # Detectors miss people of whom less than this share is visible (the share is taken
    # against a body filling about a third of the box around its joints).
    min_visible_fraction: float = 0.1


@dataclass
class GroundTruth:
    """The true state of one detected person, aligned with its Person."""

    person_id: int
    joints: FloatArray  # [J,3] camera frame
    reported: npt.NDArray[np.bool_]  # [J] joints the oracle reported in 2D
    occluded: npt.NDArray[np.bool_]  # [J] joints hidden behind another person or object
    self_occluded: npt.NDArray[np.bool_]  # [J] joints hidden behind the person's own body
    velocity: FloatArray  # pelvis velocity, camera frame [m/s]
    stature: float

    @property
    def root(self) -> FloatArray:
        return self.joints[ROOT]


def _full_area(pixels: FloatArray) -> float:
    """About the image area a whole person covers: a third of the box of their joints."""
    if len(pixels) < 2:
        return 0.0
    extent = pixels.max(axis=0) - pixels.min(axis=0)
    return float(extent[0] * extent[1]) / 3.0


def _amodal_box(
    rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp], keypoints: FloatArray, width: int, height: int
) -> FloatArray:
    """The person's box as a detector draws it: around the visible silhouette and the
    reported keypoints (detectors box occluded people whole, not just the visible sliver),
    the keypoints' extent padded by 10 % for the body around them, clipped to the image."""
    x0, y0, x1, y1 = float(cols.min()), float(rows.min()), float(cols.max()), float(rows.max())
    if len(keypoints):
        lo, hi = keypoints.min(axis=0), keypoints.max(axis=0)
        pad = 0.1 * (hi - lo)
        x0, y0 = min(x0, lo[0] - pad[0]), min(y0, lo[1] - pad[1])
        x1, y1 = max(x1, hi[0] + pad[0]), max(y1, hi[1] + pad[1])
    return np.array([max(x0, 0.0), max(y0, 0.0), min(x1, width - 1.0), min(y1, height - 1.0)])


def joint_visibility(
    scene: Scene, rendering: Rendering, index: int, pixels: FloatArray
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(in_image, occluded_by_other, self_occluded) of person ``index``'s true joint pixels."""
    camera = scene.camera
    joints = scene.people[index].joints
    cols = np.round(pixels[:, 0])
    rows = np.round(pixels[:, 1])
    in_image = (cols >= 0) & (cols < camera.width) & (rows >= 0) & (rows < camera.height) & (joints[:, 2] > 0)
    occluded = np.zeros(NUM_JOINTS, dtype=bool)
    self_occluded = np.zeros(NUM_JOINTS, dtype=bool)
    r = rows[in_image].astype(int)
    c = cols[in_image].astype(int)
    label = rendering.label[r, c]
    surface = rendering.depth[r, c]
    occluded[in_image] = (label != index) & (label != BACKGROUND)
    self_occluded[in_image] = (label == index) & (surface < joints[in_image, 2] - SELF_OCCLUSION_M)
    return in_image, occluded, self_occluded


def observe(
    scene: Scene, rendering: Rendering, config: OracleConfig, rng: np.random.Generator
) -> tuple[list[Person], list[GroundTruth]]:
    """The people a detector + 2D keypoint model would report, and their ground truth."""
    camera = scene.camera
    min_silhouette = config.min_silhouette_px * (camera.width / 640.0) ** 2
    people: list[Person] = []
    truths: list[GroundTruth] = []
    for index, person in enumerate(scene.people):
        true_pixels = camera.project(person.joints)
        in_image, occluded, self_occluded = joint_visibility(scene, rendering, index, true_pixels)
        noisy = true_pixels + rng.normal(0.0, config.pixel_noise_px, size=true_pixels.shape)
        keep = in_image & ~(occluded & (rng.random(NUM_JOINTS) < config.drop_occluded_prob))
        scores = np.where(occluded, rng.uniform(0.3, 0.5, NUM_JOINTS), rng.uniform(0.75, 1.0, NUM_JOINTS))
        scores = np.where(self_occluded & ~occluded, rng.uniform(0.5, 0.8, NUM_JOINTS), scores)
        for joint, (a, b) in DERIVED_JOINTS.items():
            keep[joint] = keep[a] and keep[b]
            noisy[joint] = (noisy[a] + noisy[b]) / 2.0
            scores[joint] = min(scores[a], scores[b])
        scores = np.where(keep, scores, 0.0)
        pixels = np.where(keep[:, None], noisy, np.nan)
        rows, cols = np.nonzero(rendering.label == index)
        if np.count_nonzero(keep[: NUM_JOINTS - len(DERIVED_JOINTS)]) < config.min_keypoints or rows.size < max(
            min_silhouette, config.min_visible_fraction * _full_area(true_pixels[in_image])
        ):
            continue
        box = _amodal_box(rows, cols, pixels[keep], camera.width, camera.height)
        # Detector boxes are not pixel-exact: jitter each side by up to 3 % of the box size.
        size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
        box = box + rng.uniform(-0.03, 0.03, 4) * size
        visible_fraction = float(np.count_nonzero(keep & ~occluded)) / NUM_JOINTS
        score = float(np.clip(0.5 + 0.45 * visible_fraction + rng.normal(0.0, 0.02), 0.05, 1.0))
        people.append(Person(detection=Detection(box=box, score=score), pixels=pixels, scores=scores))
        truths.append(
            GroundTruth(
                person_id=person.person_id,
                joints=person.joints.copy(),
                reported=keep.copy(),
                occluded=occluded,
                self_occluded=self_occluded & ~occluded,
                velocity=person.velocity.copy(),
                stature=person.shape.stature,
            )
        )
    return people, truths
