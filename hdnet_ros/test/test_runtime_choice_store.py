"""``auto``'s runtime choices kept across processes (inference/runtime_choice_store.py): a
later start opens the chosen runtime alone; another CPU, model file, setting or runtime
version probes again; a broken, foreign or unwritable file is a logged probe, never a crash.
The probe is replaced by injected timings (the decision itself: test_runtime_choice.py),
and a new process is stood for by forgetting this process's choices."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hdnet_ros.inference import runtime_choice, runtime_choice_store
from hdnet_ros.inference.runtime_choice import Candidate, InstructionSet, choose_runtime, forget_choices
from hdnet_ros.inference.runtime_choice_store import ChoiceStore, StoredChoice, cpu_identity

AVX2 = InstructionSet("x86_64", frozenset({"avx2"}))
VNNI = InstructionSet("x86_64", frozenset({"avx2", "avx512f", "avx512_vnni"}))
MEDIANS = {"litert_int8": 80.0, "onnx_float": 36.0}


class Runtimes:
    """Two fake candidates that record what was opened, and the probes asked for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, medians: Mapping[str, float] = MEDIANS) -> None:
        self.opened: list[str] = []
        self.probes = 0
        self.failing: dict[str, Exception] = {}

        def fake_probe(calls: Mapping[str, Any], warm_up: int, rounds: int) -> dict[str, float]:
            self.probes += 1
            return {name: medians[name] for name in calls}

        monkeypatch.setattr(runtime_choice, "probe_ms", fake_probe)

    def candidates(self, description: str = "computes") -> list[Candidate[str]]:
        def opener(name: str) -> Any:
            def open_it() -> str:
                if name in self.failing:
                    raise self.failing[name]
                self.opened.append(name)
                return name

            return open_it

        return [
            Candidate("litert_int8", description, opener("litert_int8"), lambda _: None, int8=True),
            Candidate("onnx_float", description, opener("onnx_float"), lambda _: None),
        ]

    def choose(self, store: ChoiceStore | None, model: Path, cpu: InstructionSet = AVX2, **kwargs: Any) -> Any:
        """A start: this process's choices forgotten, then ``auto`` for ``model``."""
        forget_choices()
        self.opened.clear()
        description = kwargs.pop("description", "computes")
        return choose_runtime(
            "MoveNet",
            self.candidates(description),
            "auto",
            instruction_set=cpu,
            remember=(str(model), "threads 2"),
            store=store,
            files=(model,),
            **kwargs,
        )


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "models" / "movenet.tflite"
    path.parent.mkdir()
    path.write_bytes(b"weights v1")
    return path


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No choices of this process; a quiet machine (the suite's own load may be anything)."""
    monkeypatch.setattr(runtime_choice_store, "load_average", lambda: 0.0)
    forget_choices()
    yield
    forget_choices()


def test_a_probe_on_a_busy_machine_chooses_but_is_not_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A robot's boot starts every node at once: a probe then times the runtimes against
    everything else and is used for this start only; a quieter start keeps its choice."""
    cores = cpu_identity()["usable_cores"]
    monkeypatch.setattr(runtime_choice_store, "load_average", lambda: cores + 0.5)
    runtimes = Runtimes(monkeypatch)
    store = ChoiceStore(tmp_path / "runtime_choices.json")
    with caplog.at_level(logging.INFO):
        assert runtimes.choose(store, model).name == "onnx_float"
    assert not store.path.exists()
    assert f"runtime choice not kept (load average {cores + 0.5:.1f} over {cores} usable cores)" in caplog.text
    monkeypatch.setattr(runtime_choice_store, "load_average", lambda: float(cores))  # at the line: quiet enough
    runtimes.choose(store, model)
    runtimes.choose(store, model)
    assert runtimes.probes == 2 and store.path.exists()
    monkeypatch.setattr(runtime_choice_store, "load_average", lambda: None)  # a system without one
    assert runtime_choice_store.busy_machine() == ""


def test_a_later_start_opens_the_kept_choice_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path
) -> None:
    runtimes = Runtimes(monkeypatch)
    store = ChoiceStore(tmp_path / "engines" / "runtime_choices.json")
    first = runtimes.choose(store, model)
    assert (first.name, runtimes.probes, runtimes.opened) == ("onnx_float", 1, ["litert_int8", "onnx_float"])
    again = runtimes.choose(store, model)
    assert (again.name, runtimes.probes, runtimes.opened) == ("onnx_float", 1, ["onnx_float"])
    assert again.probe_ms == first.probe_ms
    assert again.reason.startswith("chosen by an earlier start's probe: the fastest in the probe")
    assert str(store.path) in again.reason
    # The file is data a reader can follow: what the key is made of sits beside the choice.
    document = json.loads(store.path.read_text())
    (entry,) = document["choices"].values()
    assert entry["name"] == "onnx_float" and entry["key"]["network"] == "MoveNet"
    assert entry["key"]["files"] == {str(model): runtime_choice_store.file_sha256(model)}
    assert entry["key"]["cpu"]["usable_cores"] == cpu_identity()["usable_cores"] >= 1


def test_what_the_probe_measured_changing_probes_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path
) -> None:
    """Another CPU, new weights under the same name, another setting, a runtime upgraded
    or a candidate described differently: each is a probe, and then kept beside the others."""
    runtimes = Runtimes(monkeypatch)
    store = ChoiceStore(tmp_path / "runtime_choices.json")
    runtimes.choose(store, model)
    runtimes.choose(store, model, cpu=VNNI)
    assert runtimes.probes == 2
    model.write_bytes(b"weights v2")  # the same size, other content
    runtimes.choose(store, model)
    assert runtimes.probes == 3
    runtimes.choose(store, model, rounds=7)
    runtimes.choose(store, model, description="computes in another way")
    assert runtimes.probes == 5
    versions = runtime_choice_store.runtime_versions() | {"onnxruntime": "99.0"}
    monkeypatch.setattr(runtime_choice_store, "runtime_versions", lambda: versions)
    runtimes.choose(store, model)
    assert runtimes.probes == 6
    runtimes.choose(store, model)
    assert runtimes.probes == 6 and len(json.loads(store.path.read_text())["choices"]) == 6  # each one kept


def test_without_a_store_or_with_probing_off_nothing_is_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path
) -> None:
    runtimes = Runtimes(monkeypatch)
    runtimes.choose(None, model)
    runtimes.choose(None, model)
    assert runtimes.probes == 2
    store = ChoiceStore(tmp_path / "runtime_choices.json")
    by_features = runtimes.choose(store, model, rounds=0)
    assert by_features.name == "onnx_float" and not store.path.exists()


def test_a_kept_choice_that_no_longer_opens_falls_back_and_stays_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path
) -> None:
    """The kept runtime failing to open is said and another opens; a choice without a probe
    (one runtime left) is not kept over the probe's, which serves again once it opens."""
    runtimes = Runtimes(monkeypatch)
    store = ChoiceStore(tmp_path / "runtime_choices.json")
    runtimes.choose(store, model)
    runtimes.failing["onnx_float"] = RuntimeError("its export was deleted")
    fallback = runtimes.choose(store, model)
    assert (fallback.name, runtimes.probes) == ("litert_int8", 1)
    assert "the only one that runs here; not available: onnx_float (its export was deleted)" in fallback.reason
    del runtimes.failing["onnx_float"]
    again = runtimes.choose(store, model)
    assert (again.name, runtimes.probes, runtimes.opened) == ("onnx_float", 1, ["onnx_float"])
    # With three candidates and one failing, the probe between the other two is kept.
    third = Candidate("openvino", "computes", lambda: "openvino", lambda _: None)
    forget_choices()
    runtimes.failing["onnx_float"] = RuntimeError("its export was deleted")
    monkeypatch.setattr(runtime_choice, "probe_ms", lambda calls, *_: dict.fromkeys(calls, 10.0))
    chosen = choose_runtime(
        "MoveNet",
        [*runtimes.candidates(), third],
        "auto",
        instruction_set=AVX2,
        store=store,
        remember="three",
        files=(model,),
    )
    assert chosen.name == "openvino" and len(json.loads(store.path.read_text())["choices"]) == 2


@pytest.mark.parametrize(
    "content",
    [
        "{ not json",
        '{"format": 0, "choices": {}}',  # another format
        '["a list"]',
        '{"format": 1, "choices": {"KEY": {"name": 3}}}',  # a malformed entry
        '{"format": 1, "choices": {"KEY": {"name": "tensorrt", "reason": "r", "probe_ms": {}, "chosen_at": "t"}}}',
    ],
)
def test_a_broken_or_foreign_file_is_a_logged_probe_and_is_rewritten(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    runtimes = Runtimes(monkeypatch)
    store = ChoiceStore(tmp_path / "runtime_choices.json")
    runtimes.choose(store, model)
    key = next(iter(json.loads(store.path.read_text())["choices"]))
    store.path.write_text(content.replace("KEY", key))
    with caplog.at_level(logging.INFO):
        assert runtimes.choose(store, model).name == "onnx_float"
    assert runtimes.probes == 2
    assert str(store.path) in caplog.text or "choice tensorrt is not a candidate now" in caplog.text
    kept = store.recall(key)
    assert kept is not None and (kept.name, kept.probe_ms) == ("onnx_float", MEDIANS)
    runtimes.choose(store, model)
    assert runtimes.probes == 2  # the rewritten file serves the next start


def test_an_unwritable_place_is_logged_once_and_the_choice_still_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("a file where the engines directory would be")
    store = ChoiceStore(blocker / "runtime_choices.json")
    runtimes = Runtimes(monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert runtimes.choose(store, model).name == "onnx_float"
        runtimes.choose(store, model, cpu=VNNI)
    assert runtimes.probes == 2
    assert caplog.text.count("cannot keep runtime choices") == 1
    assert caplog.text.count("cannot read runtime choices") == 1
    assert sorted(tmp_path.iterdir()) == sorted([blocker, model.parent])  # no temporary file left behind


def test_a_model_file_that_cannot_be_read_probes_without_keeping(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runtimes = Runtimes(monkeypatch)
    store = ChoiceStore(tmp_path / "runtime_choices.json")
    assert runtimes.choose(store, tmp_path / "missing.tflite").name == "onnx_float"
    assert not store.path.exists()


def test_the_newest_choices_are_kept_and_no_temporary_file_stays(tmp_path: Path) -> None:
    store = ChoiceStore(tmp_path / "runtime_choices.json", capacity=3)
    for k in range(5):
        choice = StoredChoice("onnx_float", f"probe {k}", {"onnx_float": float(k)}, f"2026-12-0{k + 1}T00:00:00+00:00")
        assert store.keep(f"key{k}", choice, {"k": k})
    assert set(json.loads(store.path.read_text())["choices"]) == {"key2", "key3", "key4"}
    assert store.recall("key0") is None and store.recall("key4") == choice
    assert os.listdir(tmp_path) == ["runtime_choices.json"]


def test_the_cpu_identity_reads_the_model_name() -> None:
    assert cpu_identity("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t: avx2\n")["model"] == "AMD EPYC 9R14"
    assert cpu_identity("processor\t: 0\nFeatures\t: asimd\nCPU part\t: 0xd0c\n")["model"] == "0xd0c"
    assert cpu_identity("")["model"] == ""


def test_the_command_lists_the_kept_choices_and_forgets_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hdnet_ros.cli import main

    engines = tmp_path / "engines"
    assert main(["runtimes", "--engine-dir", str(engines)]) == 0
    assert "no runtime choices kept" in capsys.readouterr().out
    runtimes = Runtimes(monkeypatch)
    store = ChoiceStore(engines / runtime_choice_store.FILE_NAME)
    runtimes.choose(store, model)
    runtimes.choose(store, model, cpu=VNNI)
    assert main(["runtimes", "--engine-dir", str(engines)]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith(f"2 runtime choices kept in {store.path}")
    assert listed.count("- MoveNet (movenet.tflite): onnx_float, probed ") == 2
    assert "  the fastest in the probe (onnx_float 36.0 ms, litert_int8 80.0 ms)" in listed  # AVX2's
    assert "  the fastest in the probe, 2.22x faster than litert_int8" in listed  # VNNI's: int8 preferred
    assert main(["runtimes", "--engine-dir", str(engines), "--forget"]) == 0
    assert "forgot 2 runtime choices" in capsys.readouterr().out and not store.path.exists()
    runtimes.choose(store, model)
    assert runtimes.probes == 3
