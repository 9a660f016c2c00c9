"""OpenVINO backend: ONNX, OpenVINO IR (.xml with its .bin) and TFLite files on the CPU.

OpenVINO reads the three formats itself, so a network published as IR (PP-TinyPose,
PicoDet) or as TFLite (BlazePose GHUM) runs as published, without a conversion step.

Precision: OpenVINO's CPU plugin computes in bf16 by default on CPUs with AVX512_BF16 or
AMX (recent Xeons, Zen 4): PP-TinyPose's heatmaps then move by 1e-2 and BlazePose's
landmarks by over 100 px on a random crop (issue 19's measurements). This backend sets
``INFERENCE_PRECISION_HINT f32`` unless it is created with ``precision="bf16"``: its
outputs are then the float network's within float32 summation order, like onnxruntime's
and LiteRT's. bf16 is asked for by name only, and only where the CPU computes it natively
(:func:`native_bf16`): the 2D heatmap network's ``openvino_bf16`` runtime
(:mod:`hdnet_ros.inference.model_file_runtimes`), whose accuracy against annotated people is
float32's (docs/inference.md).

Batches: with ``max_batch`` the batch axis (dimension 0 of every input) is made free for
1..max_batch crops. Sizes up to ``static_batches`` each get a model compiled for that exact
shape; larger ones are padded with zero crops to the next of a few larger static shapes
(:func:`padded_batches`: every ``bucket_step`` crops up to max_batch) and the padding's
outputs dropped. OpenVINO's dynamic-shape kernels were 5-35 % slower per call than a static
shape (PP-TinyPose, 20 crops: 26.2 against 22.3 ms on 2 cores), more than the padding's
crops cost on average (9..24 crops padded to multiples of 4: 9 % less time in all than the
dynamic model); each static shape costs one compile, 130-450 ms on 2 cores, at start-up.
More than max_batch crops run in calls of max_batch. Every compile happens when the backend
is created, never in a frame: the node builds (and so compiles) its stages before it
subscribes to the camera. ``first_batches`` compiles only those static shapes and one
dynamic model for every size (a runtime probe's candidate); the rest come with
:meth:`OpenVinoBackend.compile_static_shapes`, when the probe keeps it, and the dynamic
model goes. ``cache_dir`` is OpenVINO's own cache of compiled models (keyed by the model,
its shape and these properties): a later start loads each in a third of the compile time.
``max_batch=None`` keeps the file's own shapes.

``openvino`` is imported when the backend is created: a CPU install without it keeps
working on the other runtimes; creating this backend there raises BackendUnavailable.

Why this file is long: one backend class whose shapes (static, padded, a probe's dynamic
one, each with and without the skippable outputs) are compiled and run on its shared
state; split, each half would reach into the other's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hdnet_ros.inference.backend import Arrays, Backend, BackendUnavailable, TensorSpec, split_batches
from hdnet_ros.inference.openvino_compiled import COMPILED, Key, file_identity, output_names
from hdnet_ros.logs import get_logger

LOGGER = get_logger(__name__)
# Crop counts up to this run on a model compiled for their exact shape (a frame's people
# are usually fewer); more are padded to a static shape every BUCKET_STEP crops (module doc):
# at most 3 crops' work wasted, against the dynamic shape's 5-35 % of every call.
STATIC_BATCHES = 8
BUCKET_STEP = 4
FILE_SUFFIXES = (".onnx", ".xml", ".tflite")
PRECISIONS = ("f32", "bf16")
_NO_SHAPE = -1  # OpenVinoBackend._shape_for: no compiled shape runs that many crops


def import_openvino() -> Any:
    """The ``openvino`` module, or BackendUnavailable saying how to install it."""
    try:
        import openvino
    except ImportError as error:
        raise BackendUnavailable(
            f"this runtime needs OpenVINO (`pip install openvino`, or the hdnet_ros[cpu] extra), which cannot be "
            f"imported here ({error})"
        ) from error
    return openvino


def native_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes bfloat16 natively on this CPU (its
    ``OPTIMIZATION_CAPABILITIES`` list BF16: AVX512_BF16 or AMX). Elsewhere a bf16 hint
    runs in float32 (or emulated), so no bf16 runtime is offered there."""
    return "BF16" in shared_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@functools.lru_cache(maxsize=1)
def shared_core() -> Any:
    """The process's one ``openvino.Core``: every network compiles its models on it (the
    CPU plugin, its threads and its caches, once; OpenVINO's advice). A Core per network
    made the networks slow each other down: on a 2-core AVX2 machine, PP-TinyPose's 20 crops
    took 70.6-71.7 ms in the frame with BlazePose also on OpenVINO, 44.6-44.9 ms without it
    (docs/benchmarks.md, the ninth session)."""
    return import_openvino().Core()


def compile_properties(threads: int | None, cache_dir: Path | None = None, precision: str = "f32") -> dict[str, str]:
    """The CPU plugin's properties: ``precision`` arithmetic (float32 unless bf16 is asked
    for by name; see the module doc), one stream tuned for the latency of one call, and at
    most ``threads`` threads (a robot shares its cores between nodes; None: OpenVINO's
    default, every core); ``cache_dir``: OpenVINO's cache of compiled models."""
    if precision not in PRECISIONS:
        raise ValueError(f"OpenVINO precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    # Threads not pinned to cores, as onnxruntime's and LiteRT's are not: a robot's other
    # nodes share the cores (pinned or not, the calls took the same time within the noise
    # of this loaded 2-core machine: 0.9-1.2x).
    properties = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": precision,
        "ENABLE_CPU_PINNING": "NO",
    }
    if threads is not None:
        properties["INFERENCE_NUM_THREADS"] = str(threads)
    if cache_dir is not None:
        properties["CACHE_DIR"] = str(cache_dir)
    return properties


def openvino_signature(model_path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """``({input name: shape}, {output name: shape})`` of the file as OpenVINO reads it, with
    no compile (dynamic dimensions are -1). Raises BackendUnavailable without OpenVINO,
    FileNotFoundError / ValueError / RuntimeError for a file it cannot read."""
    import_openvino()  # BackendUnavailable, saying how to install it, before the file checks
    _check_files(model_path)
    model = shared_core().read_model(str(model_path))

    def shapes(ports: Any, prefix: str) -> dict[str, tuple[int, ...]]:
        dims = [tuple(-1 if d is None else d for d in _dims(p.get_partial_shape())) for p in ports]
        return {_tensor_name(p, f"{prefix}_{i}"): shape for i, (p, shape) in enumerate(zip(ports, dims, strict=True))}

    return shapes(model.inputs, "input"), shapes(model.outputs, "output")


class OpenVinoBackend(Backend):
    """A model file on OpenVINO's CPU plugin (see the module doc).

    ``drop_outputs``: outputs removed from the model by name (PP-TinyPose's in-graph arg-max:
    the codec decodes the heatmaps); ``names``: ``{file name: exposed name}`` for tensors
    (BlazePose's ``Identity_3`` -> ``landmarks``). ``skippable``: exposed outputs a caller
    may leave out (``run(..., skip=...)``): every shape is also compiled without them, so
    that the branches only they need are not computed (BlazePose's person mask: a quarter
    of a crop's time); the other outputs are the full model's within float32 summation
    order (to the bit where measured: 2 AVX2 cores). ``precision``: ``f32``, or ``bf16``
    where :func:`native_bf16` (its ``kind`` then says so: ``openvino_bf16``).
    """

    kind = "openvino"

    def __init__(
        self,
        model_path: Path,
        threads: int | None = None,
        max_batch: int | None = None,
        static_batches: int = STATIC_BATCHES,
        bucket_step: int = BUCKET_STEP,
        drop_outputs: Sequence[str] = (),
        names: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        first_batches: Sequence[int] | None = None,
        skippable: Sequence[str] = (),
        precision: str = "f32",
    ) -> None:
        if static_batches < 0:
            raise ValueError(f"static_batches must be at least 0, not {static_batches}")
        if bucket_step < 1:
            raise ValueError(f"bucket_step must be at least 1, not {bucket_step}")
        if max_batch is not None and max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        openvino = import_openvino()
        _check_files(model_path)
        self.model_path = model_path
        self.properties = compile_properties(threads, cache_dir, precision)
        if precision != "f32":
            self.kind = f"openvino_{precision}"
        self._identity = file_identity(model_path)
        self._compiled: set[Key] = set()  # this backend's keys in COMPILED, dropped on close
        self._core: Any = shared_core()
        self._openvino = openvino
        try:
            model = self._read(drop_outputs)
            names = dict(names or {})
            self._input_names = [_tensor_name(port, f"input_{i}") for i, port in enumerate(model.inputs)]
            self._output_names = [_tensor_name(port, f"output_{i}") for i, port in enumerate(model.outputs)]
            fixed = [tuple(_dims(port.get_partial_shape())) for port in model.inputs]
            free_batch = max_batch is not None
            self._inputs = tuple(
                _spec(names.get(n, n), port, free_batch)
                for n, port in zip(self._input_names, model.inputs, strict=True)
            )
            self._outputs = tuple(
                _spec(names.get(n, n), port, free_batch)
                for n, port in zip(self._output_names, model.outputs, strict=True)
            )
            self._fixed = fixed
            self.max_batch = max_batch
            self.static_batches = min(static_batches, max_batch or 0)
            self.padded_batches = padded_batches(self.static_batches, max_batch or 0, bucket_step)
            self._full = _Variant(model, self._outputs, self._compile(model, first_batches))
            self.skippable = frozenset(skippable)
            self._lean = self._lean_variant(drop_outputs, names, first_batches)
            self._padding: dict[str, np.ndarray] = {}  # _run_padded's input buffers, by input
        except RuntimeError as error:  # OpenVINO's own errors for unreadable or unsupported files
            raise RuntimeError(f"OpenVINO cannot load {model_path}: {error}") from error
        LOGGER.debug(
            "OpenVINO %s (batch %s, static to %s, padded to %s, %s)",
            model_path,
            max_batch,
            self.static_batches,
            self.padded_batches,
            self.properties,
        )

    def _read(self, drop_outputs: Sequence[str]) -> Any:
        """The model as read from the file, without the outputs named in ``drop_outputs``."""
        model = self._core.read_model(str(self.model_path))
        unknown = set(drop_outputs) - {name for port in model.outputs for name in port.get_names()}
        if unknown:
            raise ValueError(f"{self.model_path} has no outputs named {sorted(unknown)}")
        for result in list(model.get_results()):
            if set(result.output(0).get_names()) & set(drop_outputs):
                model.remove_result(result)
        return model

    def _lean_variant(
        self, drop_outputs: Sequence[str], names: Mapping[str, str], first_batches: Sequence[int] | None
    ) -> _Variant | None:
        """The model without the ``skippable`` outputs, compiled as the full one is; a probe's
        candidate compiles its probe batch only (no second dynamic model: a slow compile), and
        other sizes run the full model until :meth:`compile_static_shapes`. None: nothing to skip."""
        if not self.skippable:
            return None
        unknown = self.skippable - set(self.output_names)
        if unknown:
            raise ValueError(f"{self.model_path} has no outputs {sorted(unknown)} to skip")
        exposed = {file: names.get(file, file) for file in self._output_names}
        model = self._read([*drop_outputs, *(file for file, name in exposed.items() if name in self.skippable)])
        outputs = tuple(spec for spec in self._outputs if spec.name not in self.skippable)
        return _Variant(model, outputs, self._compile(model, first_batches, dynamic=False))

    def _compile(self, model: Any, first_batches: Sequence[int] | None, dynamic: bool = True) -> dict[int | None, Any]:
        """Infer requests of ``model`` by batch size (the static shapes, then the padded
        ones); ``None`` keys one dynamic model for every size. ``first_batches``: compile
        only these static sizes and (``dynamic``) the dynamic model now
        (:meth:`compile_static_shapes` adds the others later); None: every static and padded
        shape now, no dynamic model."""
        if self.max_batch is None:
            return {None: self._request(self._key(model, "file"), lambda: model)}
        if first_batches is None:
            return self._requests(model, self._static_sizes())
        now = [b for b in range(1, self.static_batches + 1) if b in first_batches]
        return self._requests(model, [*now, *([None] if dynamic else [])])

    @property
    def compiled_batches(self) -> frozenset[int | None]:
        """The batch sizes compiled for the full model (None: the dynamic model)."""
        return frozenset(self._full.requests)

    @property
    def lean_batches(self) -> frozenset[int | None]:
        """The same for the model without the ``skippable`` outputs (empty: none compiled)."""
        return frozenset(self._lean.requests) if self._lean is not None else frozenset()

    def _static_sizes(self) -> list[int]:
        return [*range(1, self.static_batches + 1), *self.padded_batches]

    def compile_static_shapes(self) -> None:
        """Compile the static and padded shapes left out at construction (``first_batches``)
        and drop the dynamic model: the runtime choice calls it on the runtime it keeps, so a
        candidate that loses the probe costs two compiles, not one per batch size. A model
        with the file's own shapes (no ``max_batch``) has nothing more to compile."""
        if self.max_batch is None:
            return
        for variant in (self._full, self._lean):
            if variant is None:
                continue
            missing = [batch for batch in self._static_sizes() if batch not in variant.requests]
            variant.requests.update(self._requests(variant.model, missing))
            if variant.requests.pop(None, None) is not None:  # the probe's dynamic model goes, here and in COMPILED
                dynamic = self._key(variant.model, self._shape_name(None))
                COMPILED.drop({dynamic})
                self._compiled.discard(dynamic)

    def _requests(self, model: Any, batches: Sequence[int | None]) -> dict[int | None, Any]:
        """Infer requests of ``model`` for these batch sizes (None: the dynamic model for
        every size up to max_batch); a shape the process has a compiled model of is not
        copied, reshaped or compiled. One compile at a time: OpenVINO's compiles set the C
        locale and put the old one back, and compiles side by side in threads (0.62x the
        time on 2 cores) raced on it and left the whole process in the C locale, where
        Python reads text files as ASCII (docs/inference.md)."""
        return {
            batch: self._request(
                self._key(model, self._shape_name(batch)), functools.partial(self._reshaped, model, batch)
            )
            for batch in batches
        }

    def _shape_name(self, batch: int | None) -> str:
        return str(self._dimension(batch))

    def _dimension(self, batch: int | None) -> Any:
        """OpenVINO's batch dimension of ``batch`` crops (None: 1..max_batch)."""
        return self._openvino.Dimension(1, self.max_batch) if batch is None else self._openvino.Dimension(batch)

    def _reshaped(self, model: Any, batch: int | None) -> Any:
        """A copy of ``model`` with ``batch`` crops (None: 1..max_batch)."""
        model = model.clone()
        dimension = self._dimension(batch)
        shapes = {
            port: self._openvino.PartialShape([dimension, *dims[1:]])
            for port, dims in zip(model.inputs, self._fixed, strict=True)
        }
        model.reshape(shapes)
        return model

    def _request(self, key: Key, model: Callable[[], Any]) -> Any:
        """An infer request of the compiled model of ``key``: the process's where one was
        compiled from the same file, outputs, shape and properties (:mod:`.openvino_compiled`),
        else ``model()`` compiled."""
        self._compiled.add(key)
        compiled = COMPILED.get(key, lambda: self._core.compile_model(model(), "CPU", self.properties))
        return compiled.create_infer_request()

    def _key(self, model: Any, shape: str) -> Key:
        return (self._identity, output_names(model), shape, tuple(sorted(self.properties.items())))

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def _run(self, inputs: Arrays) -> Arrays:
        return self._infer(inputs, self._full)

    def _run_without(self, inputs: Arrays, skip: frozenset[str]) -> Arrays:
        """The lean model where ``skip`` covers every skippable output and a shape of it runs
        this many crops (a probe's candidate: its probe batch); else the full one."""
        lean = self._lean
        count = len(next(iter(inputs.values())))
        if lean is not None and self.skippable <= skip and self._runs(lean, count):
            return self._infer(inputs, lean)
        return self._run(inputs)

    def _runs(self, variant: _Variant, count: int) -> bool:
        """Whether ``variant`` has a compiled shape for ``count`` crops (in calls of max_batch)."""
        if self.max_batch is not None and count > self.max_batch:
            return all(self._runs(variant, s.stop - s.start) for s in split_batches(count, self.max_batch))
        return self._shape_for(variant, count) != _NO_SHAPE

    def _shape_for(self, variant: _Variant, count: int) -> int | None:
        """The compiled shape of ``variant`` that runs ``count`` crops: their own, the next
        padded one, None (the dynamic model or the file's own shape), or _NO_SHAPE."""
        if count in variant.requests:
            return count
        padded = next((b for b in self.padded_batches if b > count and b in variant.requests), None)
        if padded is not None:
            return padded
        return None if None in variant.requests else _NO_SHAPE

    def _infer(self, inputs: Arrays, variant: _Variant) -> Arrays:
        count = len(next(iter(inputs.values())))
        if count == 0 and self.max_batch is not None:
            return {spec.name: np.zeros((0, *_fixed(spec.shape[1:])), spec.dtype) for spec in variant.outputs}
        if self.max_batch is not None and count > self.max_batch:  # in calls of max_batch, as compiled
            slices = split_batches(count, self.max_batch)
            parts = [self._infer({n: a[s] for n, a in inputs.items()}, variant) for s in slices]
            return {spec.name: np.concatenate([part[spec.name] for part in parts]) for spec in variant.outputs}
        shape = self._shape_for(variant, count)
        if shape == _NO_SHAPE:  # a file's fixed batch (max_batch None) and another count: the file says which
            raise ValueError(f"openvino: batch of {count}; {self.model_path} takes {self._inputs[0].describe()}")
        if shape is not None and shape != count:
            return self._run_padded(inputs, count, shape, variant)
        request = variant.requests[shape]
        # share_inputs: the prepared arrays are contiguous and of the model's types (no copy);
        # the outputs are copies, so the next call does not overwrite what was returned.
        results = request.infer([inputs[spec.name] for spec in self._inputs], share_inputs=True)
        return {spec.name: np.asarray(results[i]) for i, spec in enumerate(variant.outputs)}

    def _run_padded(self, inputs: Arrays, count: int, batch: int, variant: _Variant) -> Arrays:
        """``count`` crops run on the static shape of ``batch``: zero crops after them, their
        outputs dropped (every crop is its own sample: the padding changes no other's output).
        The padded inputs are the first ``batch`` rows of one buffer per input, made at the
        first padded call for the largest padded shape: no fresh megabytes every frame."""
        arrays = []
        for spec in self._inputs:
            array = inputs[spec.name]
            buffer = self._padding.get(spec.name)
            if buffer is None or buffer.dtype != array.dtype:
                buffer = np.zeros((self.padded_batches[-1], *array.shape[1:]), dtype=array.dtype)
                self._padding[spec.name] = buffer
            rows = buffer[:batch]
            rows[:count] = array
            rows[count:] = 0
            arrays.append(rows)
        results = variant.requests[batch].infer(arrays, share_inputs=True)
        return {spec.name: np.asarray(results[i])[:count] for i, spec in enumerate(variant.outputs)}

    def _release(self) -> None:
        COMPILED.drop(self._compiled)
        self._full = _Variant(None, self._outputs, {})
        self._lean = None
        self._padding = {}
        self._core = None


@dataclass
class _Variant:
    """One model of the file (all outputs, or without the skippable ones): its output specs
    in the model's order and its infer requests by batch size (:meth:`OpenVinoBackend._compile`)."""

    model: Any
    outputs: tuple[TensorSpec, ...]
    requests: dict[int | None, Any]


def padded_batches(static_batches: int, max_batch: int, step: int) -> tuple[int, ...]:
    """The static shapes that counts above ``static_batches`` are padded to: every ``step``
    crops after it, and ``max_batch`` (none where max_batch is not above static_batches)."""
    if max_batch <= static_batches:
        return ()
    return tuple(sorted({*range(static_batches + step, max_batch, step), max_batch}))


def _check_files(model_path: Path) -> None:
    """A clear error for what OpenVINO would report less clearly: no file, no IR weights."""
    if model_path.suffix not in FILE_SUFFIXES:
        raise ValueError(f"OpenVINO reads {', '.join(FILE_SUFFIXES)} files, not {model_path}")
    if not model_path.is_file():
        raise FileNotFoundError(f"model file {model_path} does not exist")
    if model_path.suffix == ".xml" and not model_path.with_suffix(".bin").is_file():
        raise FileNotFoundError(f"OpenVINO IR {model_path} has no weights file {model_path.with_suffix('.bin')}")


def _tensor_name(port: Any, fallback: str) -> str:
    """The tensor's name in the file; a tensor without one (OpenVINO raises on asking) gets ``fallback``."""
    return str(port.get_any_name()) if port.get_names() else fallback


def _dims(shape: Any) -> list[int | None]:
    return [int(d.get_length()) if d.is_static else None for d in shape]


def _spec(name: str, port: Any, free_batch: bool) -> TensorSpec:
    dims = _dims(port.get_partial_shape())
    if free_batch and dims:
        dims[0] = None
    return TensorSpec(name, tuple(dims), np.dtype(port.get_element_type().to_dtype()))


def _fixed(dims: tuple[int | None, ...]) -> tuple[int, ...]:
    return tuple(d for d in dims if d is not None)
