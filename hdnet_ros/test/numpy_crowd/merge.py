"""main's copy (649e036), kept as the reference, with the fifteenth session's rule: boxes
also overlap where the smaller lies MERGE_MIN_COVER inside the larger, and the OKS takes
the larger box's area (``stages/crowd/merge.py``).

Two detections that converge on one person: merged (OKS between their skeletons).

Two boxes on one person (a second, shifted box NMS let through; a box on a person behind
whose crop the network spent on the one in front) give two skeletons on the same joints.
Their object keypoint similarity (COCO's OKS, over the joints both have, the smaller box
as the area) is near 1 for such a pair and low for two people side by side; a pair at or
above ``merge_oks`` whose boxes also overlap (IoU >= MERGE_MIN_IOU) is one person. Two
boxes apart whose skeletons converge are two people, one given the other's joints: the
ownership rules sort those out joint by joint instead of dropping a person. The better
one stays: a confident detection before a low-score candidate, then the larger box (of
two boxes around one skeleton, the smaller holds a part of the person), then the higher
detection score.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hdnet_ros.stages.crowd.skeletons import Skeletons, pairwise_oks
from hdnet_ros.stages.tracking.boxes import intersection_matrix, iou_matrix

BoolArray = npt.NDArray[np.bool_]

MERGE_MIN_IOU = 0.3
MERGE_MIN_COVER = 0.7


def duplicates(skeletons: Skeletons, candidate: BoolArray, merge_oks: float) -> BoolArray:
    """People [P] that repeat a better person's skeleton (to be dropped)."""
    count = len(skeletons)
    dropped = np.zeros(count, dtype=bool)
    if count < 2:
        return dropped
    similarity = np.nan_to_num(pairwise_oks(skeletons, larger=True), nan=0.0)
    boxes = skeletons.boxes
    area = np.maximum(boxes[:, 2] - boxes[:, 0], 0.0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0.0)
    smaller = np.minimum(area[:, None], area[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(smaller > 0, intersection_matrix(boxes, boxes) / smaller, 0.0)
    similarity[(iou_matrix(boxes, boxes) < MERGE_MIN_IOU) & (cover < MERGE_MIN_COVER)] = 0.0
    np.fill_diagonal(similarity, 0.0)  # no one repeats themselves
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
