"""Each person's own size, with depth as the teacher.

The network's skeleton has a typical adult's scale; a person 8 % taller stands 8 % farther
than the monocular fit says. While the sensor measures a tracked person's root, the ratio
of that depth to the monocular fit's depth at scale 1 (:attr:`Placement.unit_depth`) is a
measurement of their scale; a scalar Kalman filter in the track (carried on the track's
last :class:`~hdnet_ros.people.Person`) keeps it with its uncertainty. When depth is lost
(out of range, a hole, a depth fault) the fit takes the learned scale as its prior, so the
track does not jump where the sensor's root ends.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hdnet_ros.joints import ROOT
from hdnet_ros.people import MEASURED, Person
from hdnet_ros.stages.placement.fit import Placement, PlacementResult

# A person's size does not change; what drifts is the network's skeleton from crop to crop.
# Per update the learned scale may drift by this much (1-sigma, relative), so a scale learnt
# long ago loosens slowly.
PROCESS_SIGMA = 0.003
# One frame's ratio is at best this good (relative 1-sigma): the network's skeleton changes
# its size by a few percent between crops even when the fit is exact.
MIN_MEASUREMENT_SIGMA = 0.03


def scale_prior(previous: Person | None, stranger_sigma: float) -> tuple[float, float]:
    """The scale prior of a person whose track's last person is ``previous`` (None: a new
    track): its learned scale loosened by one update's drift, else 1 with ``stranger_sigma``."""
    if previous is None or not np.isfinite(previous.scale) or not np.isfinite(previous.scale_sigma):
        return 1.0, stranger_sigma
    return float(previous.scale), float(np.hypot(previous.scale_sigma, PROCESS_SIGMA * previous.scale))


def learn_scales(
    people: Sequence[Person],
    expected: Sequence[Person | None],
    placements: Sequence[PlacementResult | None],
    stranger_sigma: float,
) -> int:
    """Set each person's ``scale`` / ``scale_sigma``: the track's prior updated with this
    frame's measurement where the sensor placed the root (SENSOR or FUSED), carried
    otherwise. Returns how many people were measured."""
    measured = 0
    for person, previous, placement in zip(people, expected, placements, strict=True):
        prior, prior_sigma = scale_prior(previous, stranger_sigma)
        observation = _measurement(person, placement)
        if observation is None:
            if previous is not None and np.isfinite(previous.scale):
                person.scale, person.scale_sigma = prior, prior_sigma
            continue
        value, sigma = observation
        gain = prior_sigma**2 / (prior_sigma**2 + sigma**2)
        person.scale = prior + gain * (value - prior)
        person.scale_sigma = float(np.sqrt((1.0 - gain) * prior_sigma**2))
        measured += 1
    return measured


def _measurement(person: Person, placement: PlacementResult | None) -> tuple[float, float] | None:
    """(scale, sigma) from the sensor's root against the fit at scale 1, or None."""
    if not isinstance(placement, Placement) or not person.valid[ROOT]:
        return None
    if int(person.depth_sources[ROOT]) not in MEASURED or placement.unit_depth <= 0:
        return None
    depth = float(person.positions[ROOT, 2])
    sensor_sigma = float(person.position_stddev[ROOT]) if np.isfinite(person.position_stddev[ROOT]) else 0.0
    value = depth / placement.unit_depth
    relative = np.sqrt(
        (placement.unit_depth_sigma / placement.unit_depth) ** 2
        + (sensor_sigma / depth) ** 2
        + MIN_MEASUREMENT_SIGMA**2
    )
    return value, float(value * relative)
