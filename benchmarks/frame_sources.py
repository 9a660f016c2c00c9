"""The sample RGB-D bags as the benchmarks load them, and streams of frames for the
pipeline benchmark: a still scene, and the sample frames made into a pseudo-sequence.

:func:`sample_triplets` reads the one synchronized triplet of each sample bag
(``rgbd_hsr/*.bag``, role -> message, by bag name in name order); :func:`sample_frames`
builds them into frames as the node does.

The sample bags hold one frame each. :func:`shifted_sequence` repeats each of them
``per_frame`` times with the RGB and the depth image shifted together to the right by
``(3 * i) // 2`` pixels at step i (1 or 2 px per frame, 30 Hz stamps), so the people move
and the tracker follows them; each sample frame starts a new scene (tracking restarts).
Every frame gets its own image arrays, as a camera delivers them: nothing that caches on
the depth image (the floor fit) sees the same array twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from frame_timing import FrameSource
from hdnet_ros.frame_input import build_frame
from hdnet_ros.node.frame_processor import Triplet
from hdnet_ros.people import Frame
from hdnet_ros.replay.bag_input import BagInput

ScalarT = TypeVar("ScalarT", bound=np.generic)
SAMPLE_BAGS = "rgbd_hsr"  # under the data directory: one RGB-D triplet per bag


def sample_triplets(data_dir: Path) -> dict[str, Triplet]:
    """Each sample bag's triplet (role -> message) by bag name, in name order; exits when
    there is none."""
    folder = data_dir / SAMPLE_BAGS
    triplets = {}
    for bag in sorted(folder.glob("*.bag")):
        with BagInput(bag, {}) as reader:
            triplets[bag.name] = {item.role: item.message for item in reader.messages()}
    if not triplets:
        raise SystemExit(f"no sample bags in {folder}")
    return triplets


def sample_frames(data_dir: Path) -> dict[str, Frame]:
    """The sample bags' frames by bag name, in name order (``build_frame``, as the node)."""
    return {
        name: build_frame(triplet["rgb"], triplet["depth"], triplet["camera_info"])
        for name, triplet in sample_triplets(data_dir).items()
    }


def shift_right(image: npt.NDArray[ScalarT], pixels: int, fill: float) -> npt.NDArray[ScalarT]:
    """``image`` moved ``pixels`` to the right; the uncovered columns are ``fill``."""
    shifted = np.full_like(image, fill)
    if pixels < image.shape[1]:
        shifted[:, pixels:] = image[:, : image.shape[1] - pixels]
    return shifted


def sequence_shift(step: int) -> int:
    """The shift at ``step`` [px]: 0, 1, 3, 4, 6, ... (1 or 2 px per frame)."""
    return (3 * step) // 2


def still_scene(frame: Frame, copies: int = 2) -> FrameSource:
    """The same scene in every frame, its images taken from ``copies`` distinct arrays in
    turn (the depth stage reuses its floor fit only after checking it on a new image)."""
    rgbs = [frame.rgb.copy() for _ in range(copies)]
    depths = [frame.depth_m.copy() if frame.depth_m is not None else None for _ in range(copies)]

    def source(index: int, stamp_ns: int) -> Frame:
        which = index % copies
        return dataclasses.replace(frame, rgb=rgbs[which], depth_m=depths[which], stamp_ns=stamp_ns)

    return source


def shifted_sequence(
    frames: list[Frame], per_frame: int, with_depth: bool = True
) -> tuple[FrameSource, Callable[[int], bool], int]:
    """(source, new_scene, length) of the pseudo-sequence (module doc); ``with_depth``
    False gives the same RGB frames without depth (the monocular case)."""

    def source(index: int, stamp_ns: int) -> Frame:
        frame = frames[index // per_frame]
        pixels = sequence_shift(index % per_frame)
        depth = frame.depth_m if with_depth else None
        return dataclasses.replace(
            frame,
            rgb=shift_right(frame.rgb, pixels, 0),
            depth_m=shift_right(depth, pixels, np.nan) if depth is not None else None,
            stamp_ns=stamp_ns,
            depth_fault=None,
        )

    def new_scene(index: int) -> bool:
        return index % per_frame == 0

    return source, new_scene, per_frame * len(frames)
