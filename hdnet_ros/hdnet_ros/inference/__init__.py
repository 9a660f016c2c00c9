"""Inference backends (onnxruntime, TensorRT, PyTorch) behind one interface, and codecs.

Importing this package needs numpy only: torch, TensorRT and onnxruntime are imported by
the backend that uses them, when it is created. See docs/inference.md.
"""

from __future__ import annotations

from hdnet_ros.inference.backend import (
    BACKEND_KINDS,
    PRECISIONS,
    Backend,
    BackendUnavailable,
    BatchProfile,
    TensorSpec,
)
from hdnet_ros.inference.factory import create_backend

__all__ = [
    "BACKEND_KINDS",
    "PRECISIONS",
    "Backend",
    "BackendUnavailable",
    "BatchProfile",
    "TensorSpec",
    "create_backend",
]
