"""The rebuilt network: the ops a chosen set of output tensors needs, run in the file's order.

Channels last in and out, as the file: the input is the file's input tensor, batch axis
free; each output is the chosen tensor in the file's layout. Inside, rank-4 activations
are NCHW (``layout``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hdnet_ros.logs import get_logger
from hdnet_ros.nets.tflite.float_steps import Identity, make_float_step
from hdnet_ros.nets.tflite.graph import TfliteGraph, fold_constant_dequantize, ops_for_outputs
from hdnet_ros.nets.tflite.int8_steps import Dequantize, make_int8_step

LOGGER = get_logger(__name__)
ARITHMETICS = ("float", "int8")


class TfliteModule(nn.Module):
    """A TFLite graph executed op by op with torch ops, up to ``outputs`` (tensor indices).

    ``forward(x)`` takes the file's input, batch-first, and returns the tuple of the
    ``outputs`` tensors, in their order.

    ``arithmetic``:

    * ``"float"``: float32 weights (int8 ones dequantised, float16 ones widened) and float
      activations: fp16-capable, exports to ONNX for any runtime;
    * ``"int8"``: an int8 file's own integer arithmetic as LiteRT's default (XNNPACK)
      kernels compute it, to the bit on the CPUs listed in :mod:`.int8_steps`; int8 values
      inside, the real values of the outputs out. fp32 only.

    ``steps`` are the torch steps, ``wiring`` per step the tensor indices it reads
    (activations only) and the one it writes.
    """

    def __init__(self, graph: TfliteGraph, outputs: Sequence[int], arithmetic: str = "float") -> None:
        super().__init__()
        if arithmetic not in ARITHMETICS:
            raise ValueError(f"arithmetic must be one of {ARITHMETICS}, not {arithmetic!r}")
        graph = fold_constant_dequantize(graph)
        ops = ops_for_outputs(graph, list(outputs))
        activations = {graph.input_index} | {t for op in ops for t in op.outputs}
        self.arithmetic = arithmetic
        if arithmetic == "int8":
            self.steps = nn.ModuleList(make_int8_step(op, graph, activations) for op in ops)
            # int8 values inside, real values out.
            self.outputs = nn.ModuleList(Dequantize(graph.tensors[i]) for i in outputs)
        else:
            self.steps = nn.ModuleList(make_float_step(op, graph, activations) for op in ops)
            self.outputs = nn.ModuleList(Identity() for _ in outputs)
        self.wiring: tuple[tuple[tuple[int, ...], int], ...] = tuple(
            (tuple(i for i in op.inputs if i in activations), op.outputs[0]) for op in ops
        )
        self.input_index = graph.input_index
        self.output_indices = tuple(outputs)
        self._input_rank4 = len(graph.tensors[graph.input_index].shape) == 4
        self._output_rank4 = tuple(len(graph.tensors[i].shape) == 4 for i in outputs)
        self._release_after = self._last_uses()
        # Follows .half()/.to(): the dtype the input is cast to.
        self._dtype_probe: torch.Tensor
        self.register_buffer("_dtype_probe", torch.zeros(()), persistent=False)
        LOGGER.debug("%s rebuilt: %d ops, %s arithmetic", graph.path, len(ops), arithmetic)

    def _last_uses(self) -> list[tuple[int, ...]]:
        """For each step, the tensors no later step reads (freed as the network runs)."""
        keep = set(self.output_indices)
        seen: set[int] = set()
        release: list[tuple[int, ...]] = []
        for inputs, _ in reversed(self.wiring):
            release.append(tuple(i for i in set(inputs) if i not in seen and i not in keep))
            seen.update(inputs)
        return release[::-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        dtype = self._dtype_probe.dtype
        if self.arithmetic == "int8" and dtype not in (torch.float32, torch.float64):
            raise TypeError(f"the int8 arithmetic needs float32 (its sums reach 2^24), not {dtype}")
        x = x.to(dtype)
        values: dict[int, torch.Tensor] = {self.input_index: x.permute(0, 3, 1, 2) if self._input_rank4 else x}
        for step, (inputs, output), release in zip(self.steps, self.wiring, self._release_after, strict=True):
            values[output] = step(*[values[i] for i in inputs])
            for index in release:
                del values[index]
        results = []
        for convert, index, rank4 in zip(self.outputs, self.output_indices, self._output_rank4, strict=True):
            value = convert(values[index])
            results.append(value.permute(0, 2, 3, 1) if rank4 else value)
        return tuple(results)
