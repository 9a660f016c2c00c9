"""A one-input ONNX session for the default CPU models (detector)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from hdnet_ros.model_files import ModelFileError


class InferenceSession(Protocol):
    input_shape: tuple[int, ...]

    def run(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...


class OnnxRuntimeSession:
    """onnxruntime on the CPU with a fixed thread count (robots share their cores)."""

    def __init__(self, model_path: Path, threads: int = 2) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise ModelFileError(f"model file {model_path} could not be loaded by onnxruntime: {error}") from error
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self.input_shape = tuple(d if isinstance(d, int) else 1 for d in model_input.shape)

    def run(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        outputs = self._session.run(None, {self._input_name: tensor})
        return np.asarray(outputs[0], dtype=np.float32)


def open_onnx_session(model_path: Path, threads: int = 2) -> OnnxRuntimeSession:
    return OnnxRuntimeSession(model_path, threads)
