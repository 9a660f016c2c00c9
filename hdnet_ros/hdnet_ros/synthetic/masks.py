"""Person masks for the synthetic frames: the renderer's own labels, or a degraded copy.

The depth stage can take a segmentation network's person masks (BlazePose's) to sample
only each person's pixels. Capsule renders cannot be segmented by a network trained on
photographs, so the benchmark measures what a mask is worth with the renderer's exact
person labels ("oracle"), and with labels degraded the way a network's mask is wrong
("noisy": the boundary grown or shrunk by up to ``noise_px`` and shifted by up to as much).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.people import Person
from hdnet_ros.synthetic.oracle import GroundTruth
from hdnet_ros.synthetic.render import Rendering
from hdnet_ros.synthetic.scene import Scene

BoolArray = npt.NDArray[np.bool_]
# A mask covers the person's box grown by this share on each side (a crop's margin).
MARGIN = 0.125


@dataclass(frozen=True)
class RectangleMask:
    """One person's pixels over an image rectangle starting at (x0, y0)."""

    x0: int
    y0: int
    inside: BoolArray


def person_masks(
    scene: Scene,
    rendering: Rendering,
    people: list[Person],
    truths: list[GroundTruth],
    noise_px: int = 0,
    rng: np.random.Generator | None = None,
) -> list[RectangleMask]:
    """Each detected person's mask from the rendered labels (see the module doc)."""
    height, width = rendering.label.shape
    index_of = {person.person_id: index for index, person in enumerate(scene.people)}
    rng = rng or np.random.default_rng(0)
    masks = []
    for person, truth in zip(people, truths, strict=True):
        x0, y0, x1, y1 = person.detection.box
        grow = MARGIN * max(x1 - x0, y1 - y0)
        c0, r0 = max(int(x0 - grow), 0), max(int(y0 - grow), 0)
        c1, r1 = min(int(x1 + grow) + 1, width), min(int(y1 + grow) + 1, height)
        inside = rendering.label[r0:r1, c0:c1] == index_of[truth.person_id]
        if noise_px > 0 and inside.size:
            inside = _degraded(inside, noise_px, rng)
        masks.append(RectangleMask(c0, r0, inside))
    return masks


def _degraded(inside: BoolArray, noise_px: int, rng: np.random.Generator) -> BoolArray:
    grow = int(rng.integers(-noise_px, noise_px + 1))
    mask = inside.astype(np.uint8)
    if grow:
        kernel = np.ones((2 * abs(grow) + 1,) * 2, np.uint8)
        mask = np.asarray(cv2.dilate(mask, kernel) if grow > 0 else cv2.erode(mask, kernel), dtype=np.uint8)
    dy, dx = (int(v) for v in rng.integers(-noise_px, noise_px + 1, 2))
    shifted = np.zeros_like(mask)
    h, w = mask.shape
    shifted[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[
        max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return shifted.astype(bool)
