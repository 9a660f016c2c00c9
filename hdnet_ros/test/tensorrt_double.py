"""Test doubles of the ``tensorrt`` module as TensorRT 10 and TensorRT 11 offer it.

Each double has exactly the surface its version's Python bindings give for what the backend
touches (NVIDIA/TensorRT ``python/src/infer/pyCore.cpp`` and ``pyGraph.cpp``, release/10.x
and the 11.x main branch; the 10.x-to-11.x migration guide's "Removed Python APIs"):

* both: ``Logger``, ``Builder`` (``create_network(flags=0)``, ``create_builder_config``,
  ``create_optimization_profile``, ``build_serialized_network``), ``OnnxParser``
  (``parse_from_file``, ``num_errors``, ``get_error``), ``IBuilderConfig``
  (``set_memory_pool_limit``, ``set_flag``, ``add_optimization_profile``,
  ``progress_monitor``), ``MemoryPoolType.WORKSPACE``, ``IProgressMonitor``, the network's
  inputs and layers (``num_layers``, ``get_layer``, ``ILayer.type``, ``num_outputs``,
  ``get_output``, ``ITensor.dtype``), ``LayerType``, ``DataType``;
* TensorRT 10 only: ``BuilderFlag.FP16`` / ``INT8``, ``IInt8EntropyCalibrator2``,
  ``IBuilderConfig.int8_calibrator`` and ``set_calibration_profile``.

Objects have ``__slots__`` and the enums are ``enum.Enum``: touching or setting what a
version lacks raises AttributeError, as on the pybind11 objects. Every call is recorded.
"""

from __future__ import annotations

import enum
import importlib.machinery
import types
from dataclasses import dataclass, field
from typing import Any

VERSIONS = {10: "10.13.3", 11: "11.1.0"}


@dataclass
class Recorder:
    """What the network looks like (inputs, layers) and every call made on the double."""

    input_shape: tuple[int, ...] = (-1, 3)
    parses: bool = True
    # (layer type name, output dtype names) per layer of the parsed network
    layers: list[tuple[str, tuple[str, ...]]] = field(default_factory=lambda: [("CONVOLUTION", ("FLOAT",))])
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    config: Any = None

    def record(self, *call: Any) -> None:
        self.calls.append(call)

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] == name]


FLAGS_BOTH = ("TF32", "REFIT", "DEBUG", "GPU_FALLBACK", "SPARSE_WEIGHTS", "DIRECT_IO")
FLAGS_10_ONLY = ("FP16", "INT8", "BF16", "FP8", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS")
LAYER_TYPES = ("CONVOLUTION", "ACTIVATION", "ELEMENTWISE", "SHUFFLE", "QUANTIZE", "DEQUANTIZE")
DATA_TYPES = ("FLOAT", "HALF", "BF16", "INT8", "INT32", "INT64", "BOOL", "UINT8", "FP8")


def tensorrt_module(major: int, recorder: Recorder) -> types.ModuleType:
    """A ``tensorrt`` module of TensorRT ``major`` (10 or 11) that records into ``recorder``."""
    ten = major == 10
    module = types.ModuleType("tensorrt")
    module.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    module.__version__ = VERSIONS[major]  # type: ignore[attr-defined]
    record = recorder.record
    builder_flag = enum.Enum("BuilderFlag", FLAGS_BOTH + (FLAGS_10_ONLY if ten else ()))  # type: ignore[misc]
    layer_type = enum.Enum("LayerType", LAYER_TYPES)  # type: ignore[misc]
    data_type = enum.Enum("DataType", DATA_TYPES)  # type: ignore[misc]
    memory_pool = enum.Enum("MemoryPoolType", ("WORKSPACE", "TACTIC_DRAM"))  # type: ignore[misc]

    class Tensor:
        __slots__ = ("dtype", "name", "shape")

        def __init__(self, name: str, shape: tuple[int, ...], dtype: Any) -> None:
            self.name, self.shape, self.dtype = name, shape, dtype

    class Layer:
        __slots__ = ("_outputs", "type")

        def __init__(self, kind: str, dtypes: tuple[str, ...]) -> None:
            self.type = layer_type[kind]
            self._outputs = [Tensor(f"out{k}", (), data_type[d]) for k, d in enumerate(dtypes)]

        @property
        def num_outputs(self) -> int:
            return len(self._outputs)

        def get_output(self, index: int) -> Tensor:
            return self._outputs[index]

    class Network:
        __slots__ = ()

        @property
        def num_inputs(self) -> int:
            return 1

        def get_input(self, index: int) -> Tensor:
            return Tensor("x", recorder.input_shape, data_type.FLOAT)

        @property
        def num_layers(self) -> int:
            return len(recorder.layers)

        def get_layer(self, index: int) -> Layer:
            return Layer(*recorder.layers[index])

    class Profile:
        __slots__ = ()

        def set_shape(self, name: str, low: tuple[int, ...], opt: tuple[int, ...], high: tuple[int, ...]) -> None:
            record("set_shape", name, low, opt, high)

    def set_memory_pool_limit(self: Any, pool: Any, size: int) -> None:
        record("pool", pool.name, size)

    def set_flag(self: Any, flag: Any) -> None:
        assert isinstance(flag, builder_flag), f"{flag!r} is not a BuilderFlag"
        record("flag", flag.name)

    def add_optimization_profile(self: Any, profile: Profile) -> int:
        record("profile")
        return 0

    def set_calibration_profile(self: Any, profile: Profile) -> None:
        record("calibration_profile")

    config_namespace: dict[str, Any] = {
        "__slots__": ("progress_monitor", "int8_calibrator") if ten else ("progress_monitor",),
        "set_memory_pool_limit": set_memory_pool_limit,
        "set_flag": set_flag,
        "add_optimization_profile": add_optimization_profile,
    }
    if ten:
        config_namespace["set_calibration_profile"] = set_calibration_profile
    builder_config = type("IBuilderConfig", (), config_namespace)

    class Builder:
        __slots__ = ()

        def __init__(self, logger: Any) -> None:
            pass

        def create_network(self, flags: int = 0) -> Network:
            record("create_network", flags)
            return Network()

        def create_builder_config(self) -> Any:
            config = builder_config()
            config.progress_monitor = None
            if ten:
                config.int8_calibrator = None
            recorder.config = config
            return config

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Any) -> bytes:
            calibrator = getattr(config, "int8_calibrator", None)
            record("build", calibrator is not None, config.progress_monitor is not None)
            return b"serialized"

    class OnnxParser:
        __slots__ = ()

        def __init__(self, network: Network, logger: Any) -> None:
            pass

        def parse_from_file(self, path: str) -> bool:
            record("parse_from_file", path)
            return recorder.parses

        @property
        def num_errors(self) -> int:
            return 0 if recorder.parses else 1

        def get_error(self, index: int) -> str:
            return "In node 3 (Foo): UNSUPPORTED_NODE: no importer for op Foo"

    class Logger:
        WARNING = "warning"

        def __init__(self, level: str) -> None:
            self.level = level

    class IProgressMonitor:
        def __init__(self) -> None:
            pass

    members: dict[str, Any] = {
        "Logger": Logger,
        "Builder": Builder,
        "OnnxParser": OnnxParser,
        "BuilderFlag": builder_flag,
        "MemoryPoolType": memory_pool,
        "LayerType": layer_type,
        "DataType": data_type,
        "IProgressMonitor": IProgressMonitor,
    }
    if ten:

        class IInt8EntropyCalibrator2:
            def __init__(self) -> None:
                pass

        members["IInt8EntropyCalibrator2"] = IInt8EntropyCalibrator2
    for name, value in members.items():
        setattr(module, name, value)
    return module
