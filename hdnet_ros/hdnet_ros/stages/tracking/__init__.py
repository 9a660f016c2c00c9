"""The tracking stage: the same id for the same person, frame after frame (:mod:`.tracker`);
each track (:mod:`.track`) filters its root with :mod:`.kalman`, people are told apart by
their boxes (:mod:`.boxes`)."""

from hdnet_ros.stages.tracking.boxes import hidden_roots, iou, overlap_matrix
from hdnet_ros.stages.tracking.kalman import RootKalman
from hdnet_ros.stages.tracking.track import Track
from hdnet_ros.stages.tracking.tracker import Tracker, TrackingConfig

__all__ = ["RootKalman", "Track", "Tracker", "TrackingConfig", "hidden_roots", "iou", "overlap_matrix"]
