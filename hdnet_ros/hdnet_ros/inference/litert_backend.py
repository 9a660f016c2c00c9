"""LiteRT backend: a float TFLite file as published, behind the ``Backend`` interface.

LiteRT's interpreter is built for one input shape at a time. A batch of N person crops
runs either

* ``"loop"``: one ``invoke`` per crop on the file's batch-1 shape, or
* ``"resize"``: one ``invoke`` on the whole batch, after ``resize_tensor_input`` to [N,...]
  (redone only when N changes). It gives the same values as the loop (checked in the
  tests); whether it is faster depends on the file and the CPU
  (``benchmarks/bench_blazepose.py`` measures both).

``ai_edge_litert`` is imported when the backend is created, so importing
``hdnet_ros.inference`` never needs it. LiteRT's default XNNPACK delegate runs the ops.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hdnet_ros.inference.backend import Arrays, Backend, BackendUnavailable, TensorSpec
from hdnet_ros.logs import get_logger

LOGGER = get_logger(__name__)
BATCHING_MODES = ("loop", "resize")


def _import_interpreter() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise BackendUnavailable(
            "this backend needs LiteRT (`pip install ai-edge-litert`, or the hdnet_ros[cpu] extra), "
            "which is not installed"
        ) from error
    return Interpreter


def litert_signature(model_path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """``({input name: shape}, {output name: shape})`` as LiteRT reports them (batch included).

    Raises ``ValueError`` when LiteRT cannot read the file.
    """
    interpreter = _import_interpreter()(model_path=str(model_path))
    return (
        {str(d["name"]): tuple(int(v) for v in d["shape"]) for d in interpreter.get_input_details()},
        {str(d["name"]): tuple(int(v) for v in d["shape"]) for d in interpreter.get_output_details()},
    )


class LiteRTBackend(Backend):
    """A TFLite file on LiteRT; the batch axis of every tensor is free (see the module doc).

    ``names`` renames the file's tensors (``{file name: exposed name}``; unnamed ones keep
    the file's name), so the backend offers a network's contract rather than the file's
    anonymous ``Identity_3``. The file's float inputs take float32.
    """

    kind = "litert"

    def __init__(
        self,
        model_path: Path,
        threads: int | None = None,
        batching: str = "loop",
        names: Mapping[str, str] | None = None,
    ) -> None:
        if batching not in BATCHING_MODES:
            raise ValueError(f"batching must be one of {BATCHING_MODES}, not {batching!r}")
        if not model_path.is_file():
            raise FileNotFoundError(f"TFLite file {model_path} does not exist")
        interpreter_class = _import_interpreter()
        self._interpreter: Any = interpreter_class(model_path=str(model_path), num_threads=threads)
        self._interpreter.allocate_tensors()
        names = dict(names or {})
        self._input_details = list(self._interpreter.get_input_details())
        self._output_details = list(self._interpreter.get_output_details())
        self._inputs = tuple(_spec(d, names) for d in self._input_details)
        self._outputs = tuple(_spec(d, names) for d in self._output_details)
        self._batching = batching
        self._batch = 1  # the batch size the interpreter is allocated for
        LOGGER.debug("LiteRT %s (%s, %s threads)", model_path, batching, threads)

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def _run(self, inputs: Arrays) -> Arrays:
        count = len(next(iter(inputs.values())))
        if count == 0:
            return {spec.name: np.zeros((0, *_fixed(spec.shape[1:])), spec.dtype) for spec in self._outputs}
        outputs = zip(self._outputs, self._output_details, strict=True)
        if self._batching == "resize":
            self._invoke(inputs, count)
            # get_tensor returns a copy: the next invoke does not overwrite what was returned.
            return {spec.name: self._interpreter.get_tensor(detail["index"]) for spec, detail in outputs}
        # One array per output for the whole call; each crop's result is copied once, from
        # the interpreter's buffer into its row (the view is dropped before the next invoke).
        results = {spec.name: np.empty((count, *_fixed(spec.shape[1:])), spec.dtype) for spec in self._outputs}
        views = [(results[spec.name], self._interpreter.tensor(detail["index"])) for spec, detail in outputs]
        for i in range(count):
            self._invoke({name: array[i : i + 1] for name, array in inputs.items()}, 1)
            for result, view in views:
                result[i] = view()[0]
        return results

    def _invoke(self, inputs: Arrays, batch: int) -> None:
        if batch != self._batch:
            for detail in self._input_details:
                self._interpreter.resize_tensor_input(detail["index"], [batch, *detail["shape"][1:]])
            self._interpreter.allocate_tensors()
            self._batch = batch
        for spec, detail in zip(self._inputs, self._input_details, strict=True):
            self._interpreter.set_tensor(detail["index"], inputs[spec.name])
        self._interpreter.invoke()

    def _release(self) -> None:
        self._interpreter = None


def _fixed(dims: tuple[int | None, ...]) -> tuple[int, ...]:
    return tuple(d for d in dims if d is not None)


def _spec(detail: Mapping[str, Any], names: Mapping[str, str]) -> TensorSpec:
    name = str(detail["name"])
    shape = tuple(int(v) for v in detail["shape"])
    return TensorSpec(names.get(name, name), (None, *shape[1:]), np.dtype(detail["dtype"]))
