"""Tiles of a large frame: small people at the network's resolution.

A detector sees the whole frame at its input size (320 or 416 px): in a 1920x1080 frame a
person 250 px tall shrinks to 70 px, and in a crowd seen from above such people are
missed (on the PoseTrack crowd photo 4-6 of 11 at score 0.3, whichever detector). Frames
whose shorter side is at least ``detector.tiles_from_px`` are therefore also cut into
overlapping square tiles (slicing-aided inference, as SAHI does): two rows of tiles 0.6 x
the shorter side, overlapping by at least a quarter of a tile, each run through the
network. The whole frame still runs first (large people). A box that touches a tile's
inner edge belongs to a person the tile cuts: such a person lies whole in the
neighbouring tile or in the whole frame, so the cut box is dropped; so is a box taller
than half a tile (a part of a large person, whom the whole frame shows at 30 % of the
network's input or more). The rest are merged with the whole frame's by the detector's
NMS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

TILE_FRACTION = 0.6  # tile side / the frame's shorter side
MIN_OVERLAP = 0.25  # of a tile side, between neighbouring tiles
EDGE_PX = 2.0  # a box within this of a tile's inner edge is cut by it
MAX_BOX_FRACTION = 0.5  # of a tile side: larger people are the whole frame's


@dataclass(frozen=True)
class Tile:
    """A square window of the frame: top-left corner and side [px]."""

    x0: int
    y0: int
    side: int


def _starts(length: int, side: int) -> list[int]:
    """Tile starts along one axis: evenly spread, first at 0, last flush with the end."""
    if length <= side:
        return [0]
    count = math.ceil((length - side) / (side * (1.0 - MIN_OVERLAP))) + 1
    return [int(round(v)) for v in np.linspace(0, length - side, count)]


def tile_grid(height: int, width: int, tiles_from_px: int) -> list[Tile]:
    """The tiles of a ``height`` x ``width`` frame (none below ``tiles_from_px``; 0: never)."""
    short = min(height, width)
    if tiles_from_px <= 0 or short < tiles_from_px:
        return []
    side = int(round(TILE_FRACTION * short))
    return [Tile(x0, y0, side) for y0 in _starts(height, side) for x0 in _starts(width, side)]


def whole_in_tile(xyxy: FloatArray, tile: Tile, height: int, width: int) -> npt.NDArray[np.bool_]:
    """Boxes [N,4] in tile pixels that no inner edge of the tile cuts (an edge on the
    frame's border cuts nothing) and that are small enough to be the tile's (module doc)."""
    x0, y0, x1, y1 = xyxy.T
    end = tile.side - EDGE_PX
    cut_left = (x0 <= EDGE_PX) & (tile.x0 > 0)
    cut_top = (y0 <= EDGE_PX) & (tile.y0 > 0)
    cut_right = (x1 >= end) & (tile.x0 + tile.side < width)
    cut_bottom = (y1 >= end) & (tile.y0 + tile.side < height)
    small = np.maximum(x1 - x0, y1 - y0) <= MAX_BOX_FRACTION * tile.side
    return small & ~(cut_left | cut_top | cut_right | cut_bottom)
