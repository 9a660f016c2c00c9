"""OpenVINO's compiled models, kept for the process: a network built again compiles nothing.

Every OpenVINO backend compiles one model per static batch shape (PP-TinyPose: 15), and
even from OpenVINO's on-disk cache each one takes 0.3-0.5 s to load on 2 cores (0.9 s to
compile; its hash of the model and the CPU plugin's import of the blob, not our code):
5-15 s every time a pipeline is built. A process builds pipelines more than once when a
command or a benchmark builds one per run or per setting, when a node's configure failed
and is tried again, and in the test suite. A compiled model serves any number of infer
requests, so the backends of a later build take the compiled models of an earlier one and
create their own requests (no state is shared between them).

A compiled model is known by what went into it: the model file (path and content, and the
weights file of an IR), the outputs left in the model (outputs dropped, a lean variant's),
the batch shape and the compile properties (threads, precision, cache directory). A
changed file is compiled again. At most ``capacity`` compiled
models are kept, the least recently used going first; a backend's ``close`` takes its own
out (a runtime probe's loser does not stay in memory), and a lifecycle node's cleanup
forgets them all (:meth:`CompiledModels.clear`: cleanup frees the models' memory).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from hdnet_ros.inference.engine_cache import file_sha256
from hdnet_ros.model_files import weights_files

# The default pipeline with every network on OpenVINO keeps 31 compiled models (PP-TinyPose's
# 14 shapes, BlazePose's 8 with and 8 without its mask, the detector's; bench_startup.py);
# room for that and two other configurations'.
CAPACITY = 96

Key = tuple[Hashable, ...]


def file_identity(model_path: Path) -> tuple[tuple[str, str], ...]:
    """The model file as a compiled model depends on it: (path, sha256) of the file and, for
    an IR (.xml), of its weights (.bin); the content, as the engine cache keys its files
    (7-14 ms a file at each build, none per frame)."""
    return tuple((str(path.resolve()), file_sha256(path)) for path in weights_files(model_path))


def output_names(model: Any) -> tuple[tuple[str, ...], ...]:
    """The names of an ``openvino.Model``'s outputs, in order (what was dropped shows)."""
    return tuple(tuple(sorted(port.get_names())) for port in model.outputs)


class CompiledModels:
    """Compiled models by key (module doc), the least recently used dropped beyond
    ``capacity``; safe to use from several threads (two threads may compile the same key
    at once: both get a working model, the later is kept)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be at least 0, not {capacity}")
        self.capacity = capacity
        self.hits = 0
        self.compiles = 0
        self._models: OrderedDict[Key, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key, compile_model: Callable[[], Any]) -> Any:
        """The compiled model of ``key``: kept from an earlier compile, else ``compile_model()``'s."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                self.hits += 1
                return self._models[key]
        compiled = compile_model()  # outside the lock: compiles of other keys go on meanwhile
        with self._lock:
            self.compiles += 1
            if self.capacity:
                self._models[key] = compiled
                self._models.move_to_end(key)
                while len(self._models) > self.capacity:
                    self._models.popitem(last=False)
        return compiled

    def drop(self, keys: set[Key]) -> None:
        """Forget these compiled models (their backend closed)."""
        with self._lock:
            for key in keys:
                self._models.pop(key, None)

    def clear(self) -> None:
        """Forget every compiled model (their memory goes once no backend uses them)."""
        with self._lock:
            self._models.clear()

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, key: object) -> bool:
        return key in self._models


# The process's compiled models, shared by every OpenVinoBackend.
COMPILED = CompiledModels()
