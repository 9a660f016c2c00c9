"""Two detections that converge on one person: merged (OKS between their skeletons).

Two boxes on one person (a second, shifted box NMS let through; a box around the head and
shoulders of a person whose whole body has a box too; a box on a person behind whose crop
the network spent on the one in front) give two skeletons on the same joints. Their object
keypoint similarity (COCO's OKS over the joints both have) is near 1 for such a pair and
low for two people side by side; a pair at or above ``merge_oks`` whose boxes also overlap
(IoU >= MERGE_MIN_IOU, or the smaller box at least MERGE_MIN_COVER inside the larger) is
one person. The OKS takes the larger box's area as the person's: a part box (a seated
person's head and shoulders) understates the size of the person whose joints it repeats,
and OKS's tolerance, which grows with the person, would then part a skeleton from itself
(on the sample frames' seated row such pairs shared 9-12 confident joints a few pixels
apart at OKS 0.5-0.7 over the smaller box, and were published as two people). Two boxes
apart whose skeletons converge are two people, one given the other's joints: the ownership
rules sort those out joint by joint instead of dropping a person. The better one stays: a
confident detection before a low-score candidate, then the larger box (of two boxes around
one skeleton, the smaller holds a part of the person), then the higher detection score.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hdnet_ros.stages.crowd.skeletons import Skeletons, pair_oks
from hdnet_ros.stages.tracking.boxes import overlap_matrix

BoolArray = npt.NDArray[np.bool_]

MERGE_MIN_IOU = 0.3
# A head-and-shoulders box inside the whole body's box has an IoU of 0.2-0.3 with it but
# lies wholly inside it (the sample frames' part boxes: 0.95-1.0 of their area).
MERGE_MIN_COVER = 0.7


def overlapping(boxes: npt.NDArray[np.float64]) -> BoolArray:
    """Pairs of boxes [P,P] that may hold one person: IoU >= MERGE_MIN_IOU, or the smaller
    box at least MERGE_MIN_COVER inside the larger (the tracker's 2D gate, unwidened); never
    a box with itself."""
    near = overlap_matrix(boxes, boxes, MERGE_MIN_IOU, widen=0.0, min_cover=MERGE_MIN_COVER)
    np.fill_diagonal(near, False)
    return near


def duplicates(skeletons: Skeletons, candidate: BoolArray, merge_oks: float) -> BoolArray:
    """People [P] that repeat a better person's skeleton (to be dropped)."""
    count = len(skeletons)
    dropped = np.zeros(count, dtype=bool)
    if count < 2:
        return dropped
    # The OKS of the overlapping pairs only; the others' similarity is zero.
    rows, cols = np.nonzero(overlapping(skeletons.boxes))
    similarity = np.zeros((count, count))
    similarity[rows, cols] = np.nan_to_num(pair_oks(skeletons, rows, cols, larger=True), nan=0.0)
    if not np.any(similarity >= merge_oks):  # the usual frame: nothing to merge, no ranking
        return dropped
    boxes = skeletons.boxes
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.lexsort((-skeletons.box_scores, -area, candidate))  # best first
    for rank, best in enumerate(order):
        if dropped[best]:
            continue
        for other in order[rank + 1 :]:
            if not dropped[other] and similarity[best, other] >= merge_oks:
                dropped[other] = True
    return dropped
