"""MoveNet's int8 arithmetic: the exact int8 steps of the generic TFLite rebuild.

The steps (XNNPACK's integer arithmetic in float32; the same bits as LiteRT's on the CPUs
listed there) live in
:mod:`hdnet_ros.nets.tflite.int8_steps`, where any int8 TFLite file can use them;
``MoveNet(graph, arithmetic="int8")`` runs them. The names stay importable from here.
"""

from __future__ import annotations

from hdnet_ros.nets.tflite.int8_steps import (
    EXACT_LIMIT,
    Dequantize,
    Int8Add,
    Int8ArithmeticError,
    Int8Conv,
    Int8Logistic,
    Int8Mul,
    Int8Quantize,
    Int8ResizeBilinear,
    logistic_table,
    make_int8_step,
    resize_taps,
)
from hdnet_ros.nets.tflite.schema import expose_tensors as expose_all_tensors

__all__ = [
    "EXACT_LIMIT",
    "Dequantize",
    "Int8Add",
    "Int8ArithmeticError",
    "Int8Conv",
    "Int8Logistic",
    "Int8Mul",
    "Int8Quantize",
    "Int8ResizeBilinear",
    "expose_all_tensors",
    "logistic_table",
    "make_int8_step",
    "resize_taps",
]
