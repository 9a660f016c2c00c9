"""One track: the person it follows, its root's filter and its box, and where that box
goes when the root moves (:func:`moved_boxes`, all tracks in one projection)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.people import Person, TrackingState
from hdnet_ros.stages.tracking.kalman import RootKalman

FloatArray = npt.NDArray[np.float64]


@dataclass
class Track:
    track_id: int
    box: FloatArray
    person: Person  # last associated person, for LOST predictions
    kalman: RootKalman | None = None
    # The root of the last 3D update, in the coordinates of the camera that saw ``box``: the
    # box moves from its projection there to the predicted root's in this frame's camera
    # (with the person, and with the camera where the tracker follows it).
    last_root: FloatArray | None = None
    hits: int = 1
    updates_3d: int = 0
    time_since_update_s: float = 0.0
    state: TrackingState = TrackingState.NEW
    confirmed: bool = False
    # The camera's turn since ``person`` was seen (3x3, v_now = turn v_then; None: none): the
    # person's body, predicted while LOST, keeps its own orientation, not the robot's.
    turn: FloatArray | None = None

    def predicted_box(self, camera: CameraModel | None) -> FloatArray:
        """The last box moved (and scaled) with the predicted root; unmoved without 3D."""
        return moved_boxes([self], [self.kalman.position if self.kalman is not None else None], camera)[0]


def moved_boxes(tracks: Sequence[Track], roots: Sequence[FloatArray | None], camera: CameraModel | None) -> FloatArray:
    """Each track's last box [T,4] moved (and scaled) from the root of its last 3D update to
    ``roots`` (its predicted root now, or ahead), all tracks in one projection; unmoved
    without 3D (no filter, no root, no camera, a root behind the camera)."""
    boxes = np.array([track.box for track in tracks], dtype=np.float64).reshape(-1, 4)
    movable = [
        i for i, t in enumerate(tracks) if t.kalman is not None and t.last_root is not None and roots[i] is not None
    ]
    if camera is None or not movable:
        return boxes
    before = np.array([tracks[i].last_root for i in movable], dtype=np.float64)
    after = np.array([roots[i] for i in movable], dtype=np.float64)
    ahead = (before[:, 2] > 0) & (after[:, 2] > 0)
    rows = np.asarray(movable)[ahead]
    before, after = before[ahead], after[ahead]
    pixels = camera.project(np.stack((before, after), axis=1).reshape(-1, 3)).reshape(-1, 2, 2)
    finite = np.all(np.isfinite(pixels), axis=(1, 2))
    rows, before, after, pixels = rows[finite], before[finite], after[finite], pixels[finite]
    box = boxes[rows]
    scale = before[:, 2] / after[:, 2]
    shift = pixels[:, 1] - pixels[:, 0]
    centre = np.stack(((box[:, 0] + box[:, 2]) / 2.0, (box[:, 1] + box[:, 3]) / 2.0), axis=1) + shift
    half = np.stack((box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]), axis=1) * scale[:, None] / 2.0
    boxes[rows] = np.concatenate((centre - half, centre + half), axis=1)
    return boxes
