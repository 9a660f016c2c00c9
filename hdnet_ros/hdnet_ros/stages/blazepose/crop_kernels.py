"""The crops' conversion to the network's input in one compiled pass: uint8 RGB to float32
0..1 as ``np.multiply(pixels, np.float32(1 / 255))`` computes it (each value cast to float32
and multiplied in float32: the same bits), a third of numpy's time (its mixed-type multiply
goes through a cast buffer)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hdnet_ros.stages.blazepose.jit import compiled


@compiled
def scale_to_floats(  # pragma: no cover - compiled
    pixels: npt.NDArray[np.uint8], scale: np.float32, out: npt.NDArray[np.float32]
) -> None:
    """``out[...] = float32(pixels) * scale`` (contiguous arrays of the same shape)."""
    source, target = pixels.reshape(-1), out.reshape(-1)
    for index in range(source.size):
        target[index] = np.float32(source[index]) * scale
