"""TFLite's layout and padding conventions, as the torch steps need them.

TFLite is channels last (NHWC); the steps run rank-4 activations as NCHW, the layout
torch's and TensorRT's convolutions are fast in. Tensors of other ranks keep TFLite's
layout. numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

# NHWC axis -> NCHW axis.
NCHW_AXIS = (0, 2, 3, 1)


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME padding: the odd pixel goes after, which torch's symmetric padding can't express."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def spatial_pads(options: Mapping[str, Any], size: Sequence[int], kernel: Sequence[int]) -> list[tuple[int, int]]:
    """(before, after) per spatial axis (h, w) of an op with ``padding`` SAME or VALID in its
    ``options`` (``stride``, ``dilation`` where it has one)."""
    if options["padding"] != "SAME":
        return [(0, 0), (0, 0)]
    stride, dilation = options["stride"], options.get("dilation", (1, 1))
    return [same_padding(size[a], kernel[a], stride[a], dilation[a]) for a in range(2)]


def broadcast_constant(values: npt.NDArray[np.float32], rank: int) -> npt.NDArray[np.float32]:
    """A constant broadcast against activations of ``rank``, in the layout they have inside.

    Against rank-4 (NHWC in the file, NCHW inside) it is padded to 4 dimensions and moved to
    NCHW; against other ranks it stays as stored.
    """
    if values.ndim == 0 or rank != 4:
        return values
    padded = values.reshape((1,) * (4 - values.ndim) + values.shape)
    return np.ascontiguousarray(padded.transpose(0, 3, 1, 2))
