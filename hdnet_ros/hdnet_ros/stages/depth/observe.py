"""What the 2D stage saw, as the depth stage's arrays (:meth:`.arrays.Observed.of`), in one
compiled pass for a camera without distortion.

The numpy form is ten array calls (validity, zeroed unseen pixels, normalised coordinates,
rays and their norms) whatever the crowd; this pass does the same arithmetic in the same
order (``(u - cx) / fx``, the norm's sum of three squares, then its square root, each
component divided by it) and gives the same bits (``test_depth_glue.py`` compares them).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from hdnet_ros.stages.depth.jit import compiled

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@compiled
def observe(
    pixels: FloatArray,
    cx: float,
    cy: float,
    fx: float,
    fy: float,
    seen: BoolArray,
    normalized: FloatArray,
    rays: FloatArray,
) -> None:
    """Fill ``seen`` [P,J], ``normalized`` [P,J,2] and ``rays`` [P,J,3] from ``pixels``
    [P,J,2]; an unseen joint's are those of pixel (0, 0)."""
    for p in range(pixels.shape[0]):
        for j in range(pixels.shape[1]):
            u, v = pixels[p, j, 0], pixels[p, j, 1]
            ok = math.isfinite(u) and math.isfinite(v)
            seen[p, j] = ok
            x = ((u if ok else 0.0) - cx) / fx
            y = ((v if ok else 0.0) - cy) / fy
            normalized[p, j, 0], normalized[p, j, 1] = x, y
            norm = math.sqrt((x * x + y * y) + 1.0)
            rays[p, j, 0], rays[p, j, 1], rays[p, j, 2] = x / norm, y / norm, 1.0 / norm
