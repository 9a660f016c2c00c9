"""A carried pose's root between the network's runs: the skeleton of the last run fitted to
each frame's 2D keypoints (the same least squares as BlazePose's own root), and whether
that fit still belongs to the person (:func:`follows`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    NUM_COCO_JOINTS,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    ROOT,
)
from hdnet_ros.people import Person
from hdnet_ros.stages.blazepose.root_fit import MonocularRoot, RootFit, fit_roots
from hdnet_ros.stages.blazepose.run_memory import LastRun

FloatArray = npt.NDArray[np.float64]
# The joints a carried skeleton is fitted to the 2D keypoints by (as BlazePose's own fit:
# torso and legs; the face and hands are left out) ...
FIT_JOINTS = (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE)
# ... and where too few of those are seen: every COCO joint (face and arms too).
WIDER_FIT_JOINTS = tuple(range(NUM_COCO_JOINTS))


def anchored(fit: MonocularRoot, last: LastRun | None) -> MonocularRoot:
    """A carried skeleton's fit to this frame's keypoints scaled along its viewing ray by the
    run's :attr:`~.run_memory.LastRun.depth_scale`: the root moves with the keypoints and
    stays where the network put the person at its run (half-hidden people's keypoints and
    BlazePose's own landmarks disagree on their size by up to tens of per cent)."""
    scale = last.depth_scale if last is not None else 1.0
    if scale == 1.0:
        return fit
    return MonocularRoot(fit.position * scale, fit.sigma * scale, fit.landmarks, fit.rms_px)


def carried_roots(
    people: Sequence[Person], camera: CameraModel, min_score: float, relative_sigma: float
) -> list[RootFit]:
    """Monocular roots of people who carry a pose but were not run this frame: their
    carried metric skeleton fitted to this frame's 2D keypoints (the same least squares as
    BlazePose's own root, on the torso and leg joints), so the network's root follows the
    person between runs. Where too few of those are seen (a person behind a table or
    another person) the face and arms join the fit: a rougher root, but enough to tell
    whether the pose still belongs to the track (:func:`follows`)."""
    if not people:
        return []
    pixels = np.stack([np.asarray(p.pixels, dtype=np.float64) for p in people])
    scores = np.stack([np.asarray(p.scores, dtype=np.float64) for p in people])
    skeletons = np.stack([np.asarray(p.network_pose, dtype=np.float64) for p in people])
    return skeleton_roots(pixels, scores, skeletons, camera, min_score, relative_sigma)


def skeleton_roots(
    pixels: FloatArray,
    scores: FloatArray,
    skeletons: FloatArray,
    camera: CameraModel,
    min_score: float,
    relative_sigma: float,
) -> list[RootFit]:
    """Skeletons [N,J,3] fitted to 2D keypoints ([N,J,2] pixels, [N,J] scores): on the torso
    and legs, else on every COCO joint (:func:`carried_roots`)."""
    return fit_roots(
        pixels,
        scores,
        skeletons,
        camera,
        min_visibility=min_score,
        relative_sigma=relative_sigma,
        landmarks=FIT_JOINTS,
        fallback=WIDER_FIT_JOINTS,
    )


# A carried skeleton's fit follows its track when it lands this close to where the network
# put the person at its last run: a walker moves a few centimetres per frame, and the
# monocular fit scatters by a few per cent of the depth; a fit on the wrong keypoints (the
# pose carried onto someone else) or of a pose that changed (sitting down) lands farther.
FOLLOW_M = 0.2
FOLLOW_RELATIVE = 0.1


def follows(fit: MonocularRoot, reference: FloatArray | None) -> bool:
    """Whether a carried skeleton's fit to this frame is a root of the same person as the
    ``reference`` root (the network's at the track's last run, else the track's; None: nothing to compare,
    the fit is taken)."""
    if reference is None:
        return True
    last = np.asarray(reference, dtype=np.float64)
    step = fit.position - last
    # np.linalg.norm's own arithmetic (the square root of the dot product), without its checks.
    return math.sqrt(float(step.dot(step))) <= max(FOLLOW_M, FOLLOW_RELATIVE * float(last[2]))


def track_reference(previous: Person | None, last: LastRun | None, motion: FloatArray | None) -> FloatArray | None:
    """Where a carried pose should fit: the network's own root at its last accepted
    estimate (:attr:`~.run_memory.LastRun.root`), else the track's last root moved with the camera's
    ``motion`` since (None: neither)."""
    if last is not None and last.root is not None:
        return last.root
    if previous is not None and root_known(previous):
        root = np.asarray(previous.positions[ROOT], dtype=np.float64)
        return root if motion is None else np.asarray(motion[:3, :3] @ root + motion[:3, 3], dtype=np.float64)
    return None


def carried_follows(
    fit: MonocularRoot, previous: Person | None, last: LastRun | None, still: bool, motion: FloatArray | None
) -> bool:
    """Whether a carried skeleton's ``fit`` to this frame's keypoints still belongs to the track
    (:func:`follows` its :func:`track_reference`). A ``still`` person's keypoints are
    their run's, and so is the fit: it is also compared like for like, with the same skeleton's
    fit to the run's keypoints (:attr:`~.run_memory.LastRun.fitted`), or a person whose 2D keypoints and
    BlazePose's own landmarks disagree on where they are (seated, half hidden: by up to tens of
    per cent) would be refitted every frame to the same answer."""
    if follows(fit, track_reference(previous, last, motion)):
        return True
    at_run = last.fitted_now if still and last is not None and last.rejections == 0 else None
    return at_run is not None and follows(fit, at_run)


def root_known(person: Person) -> bool:
    """Whether the person's root position is finite (on Python floats: a tenth of numpy's
    two calls on three values)."""
    return all(math.isfinite(v) for v in person.positions[ROOT].tolist())
