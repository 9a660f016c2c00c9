"""The per-CPU runtime choice (inference/runtime_choice.py) with injected CPU features and
probe timings: the runtimes cannot be made to run another CPU's kernels here (onnxruntime's
MLAS and XNNPACK read cpuid), so the decision is tested as the pure function it is, and the
probe on the real networks in test_blazepose_network.py and test_runtime.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest
from hdnet_ros.inference import runtime_choice
from hdnet_ros.inference.runtime_choice import (
    Candidate,
    InstructionSet,
    choose_runtime,
    cpu_instruction_set,
    decide,
    forget_choices,
    preferred_order,
)
from hdnet_ros.model_files import ModelFileError
from hdnet_ros.settings_field import SettingsError

# /proc/cpuinfo lines as the kernel writes them (shortened to the flags that matter).
ZEN4 = "processor\t: 0\nflags\t\t: fpu sse4_1 avx avx2 fma avx512f avx512bw avx512_vnni avx_vnni\n"
HASWELL = "processor\t: 0\nflags\t\t: fpu sse4_1 avx avx2 fma\n"
# An Intel Xeon with AMX (the twenty-second session's machine; its own flags, shortened).
XEON_AMX = (
    "processor\t: 0\nflags\t\t: fpu sse4_1 avx avx2 fma avx512f avx512bw avx512_bf16 avx512_fp16 "
    "avx512_vnni avx_vnni amx_bf16 amx_int8 amx_tile\n"
)
CORTEX_A76 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 atomics asimddp\n"
CORTEX_A57 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32\n"

VNNI = cpu_instruction_set("x86_64", ZEN4)
AVX2 = cpu_instruction_set("x86_64", HASWELL)


def test_instruction_sets_from_cpuinfo() -> None:
    assert VNNI.int8_dot and VNNI.label == "x86_64 AVX-512 + int8 dot product (avx512_vnni, avx_vnni)"
    assert not AVX2.int8_dot and AVX2.label == "x86_64 AVX2, no int8 dot product"
    amx = cpu_instruction_set("x86_64", XEON_AMX)
    assert amx.int8_dot and amx.label == "x86_64 AVX-512 + int8 dot product (avx512_vnni, avx_vnni, amx_int8)"
    a76 = cpu_instruction_set("aarch64", CORTEX_A76)
    a57 = cpu_instruction_set("arm64", CORTEX_A57)
    assert a76.int8_dot and a76.architecture == "aarch64" and "asimddp" in a76.label
    assert not a57.int8_dot and a57.label == "aarch64 NEON, no int8 dot product"
    assert cpu_instruction_set("x86_64", "") == InstructionSet("x86_64")  # no cpuinfo: no flags
    # An x86 flag on an aarch64 machine means nothing.
    assert not cpu_instruction_set("aarch64", "Features\t: asimd avx512_vnni\n").int8_dot


class Recorder:
    """Fake candidates: what was opened and closed, in order."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.closed: list[str] = []

    def candidate(
        self, name: str, int8: bool = False, fails: Exception | None = None, outputs: str = ""
    ) -> Candidate[str]:
        def open_it() -> str:
            if fails is not None:
                raise fails
            self.opened.append(name)
            return f"runtime:{name}"

        return Candidate(
            name, f"{name} computes", open_it, lambda _: None, self.closed.append, int8=int8, outputs=outputs
        )

    def movenet_like(self, fails: Mapping[str, Exception] | None = None) -> list[Candidate[str]]:
        fails = fails or {}
        return [
            self.candidate("litert_int8", int8=True, fails=fails.get("litert_int8")),
            self.candidate("onnx_float", fails=fails.get("onnx_float")),
            self.candidate("onnx_int8", fails=fails.get("onnx_int8")),
        ]


def test_preferred_order_follows_int8_dot_products() -> None:
    candidates = Recorder().movenet_like()
    assert preferred_order(candidates, VNNI) == ["litert_int8", "onnx_float", "onnx_int8"]
    assert preferred_order(candidates, AVX2) == ["onnx_float", "onnx_int8", "litert_int8"]


@pytest.mark.parametrize(
    ("medians", "preferred", "expected"),
    [
        # The VNNI dev machine (issue 19): LiteRT's int8 file 4.7 ms a crop, the float rebuild ~2x.
        ({"litert_int8": 19.0, "onnx_float": 37.0, "onnx_int8": 110.0}, ["litert_int8", "onnx_float"], "litert_int8"),
        # An AVX2 machine without VNNI: LiteRT's int8 kernels at 20 ms a crop.
        ({"litert_int8": 80.0, "onnx_float": 36.0, "onnx_int8": 120.0}, ["onnx_float", "litert_int8"], "onnx_float"),
        # The features guessed wrong: the probe overrules them when clearly faster ...
        ({"litert_int8": 19.0, "onnx_float": 37.0}, ["onnx_float", "litert_int8"], "litert_int8"),
        # ... but not by a difference within the probe's noise (10 %).
        ({"litert_int8": 35.0, "onnx_float": 37.0}, ["onnx_float", "litert_int8"], "onnx_float"),
        ({"litert_int8": 33.0, "onnx_float": 37.0}, ["onnx_float", "litert_int8"], "litert_int8"),
        # Candidates that were not timed (not available) are passed over.
        ({"onnx_float": 37.0}, ["litert_int8", "onnx_float"], "onnx_float"),
    ],
)
def test_decide(medians: dict[str, float], preferred: list[str], expected: str) -> None:
    name, reason = decide(medians, preferred)
    assert name == expected
    assert all(f"{candidate} {ms:.1f} ms" in reason for candidate, ms in medians.items() if candidate in preferred)


def test_decide_without_timings_is_an_error() -> None:
    with pytest.raises(ValueError, match="no candidate"):
        decide({}, ["litert_int8"])


@pytest.mark.parametrize(
    ("medians", "expected"),
    [
        # The same file on another runtime 6 % faster (the detector on OpenVINO, AVX2): taken ...
        ({"onnxruntime": 15.0, "openvino": 14.1, "other_arithmetic": 30.0}, "openvino"),
        # ... but not within the probe's noise (3 %) ...
        ({"onnxruntime": 15.0, "openvino": 14.7, "other_arithmetic": 30.0}, "onnxruntime"),
        # ... while another arithmetic 6 % faster still has to clear the 10 % margin ...
        ({"onnxruntime": 15.0, "openvino": 16.0, "other_arithmetic": 14.1}, "onnxruntime"),
        # ... and where both clear their lines the faster of them is taken.
        ({"onnxruntime": 15.0, "openvino": 14.0, "other_arithmetic": 12.0}, "other_arithmetic"),
        ({"onnxruntime": 15.0, "openvino": 11.0, "other_arithmetic": 12.0}, "openvino"),
    ],
)
def test_decide_takes_a_faster_runtime_of_the_same_outputs_beyond_the_noise(
    medians: dict[str, float], expected: str
) -> None:
    order = ["onnxruntime", "openvino", "other_arithmetic"]
    name, reason = decide(medians, order, margin=0.10, same_outputs={"openvino"})
    assert name == expected
    if name == "openvino":
        assert "the same outputs" in reason
    # Without the labels the 10 % margin holds for every candidate.
    plain, _ = decide(medians, order, margin=0.10)
    assert plain == (name if medians[name] < 0.9 * medians["onnxruntime"] else "onnxruntime")


@pytest.mark.parametrize(
    ("medians", "expected"),
    [
        # PP-TinyPose where bf16 is native: float32 OpenVINO 1.3x onnxruntime, bf16 1.3x that: bf16.
        ({"onnxruntime": 20.0, "openvino": 15.0, "bf16": 11.5}, "bf16"),
        # bf16 1.8x onnxruntime but within 10 % of float32 OpenVINO: the float32 outputs, at
        # almost the same speed, are kept (against onnxruntime alone it would clear its line).
        ({"onnxruntime": 20.0, "openvino": 12.0, "bf16": 11.0}, "openvino"),
        # OpenVINO in float32 no faster than onnxruntime: bf16 is measured against onnxruntime.
        ({"onnxruntime": 20.0, "openvino": 21.0, "bf16": 17.5}, "bf16"),
        ({"onnxruntime": 20.0, "openvino": 21.0, "bf16": 18.5}, "onnxruntime"),
    ],
)
def test_another_arithmetic_must_beat_the_fastest_runtime_of_the_published_outputs(
    medians: dict[str, float], expected: str
) -> None:
    """A candidate that changes the outputs (bf16) is worth its change only against the
    fastest way to get the first one's outputs, not against the first one alone."""
    order = ["onnxruntime", "openvino", "bf16"]
    assert decide(medians, order, margin=0.10, same_outputs={"openvino"})[0] == expected
    # Near its line (within CLOSE_BAND of 0.9 x the float32 OpenVINO's time) the probe runs again.
    line = 0.9 * min(medians["onnxruntime"], medians["openvino"])
    near = abs(medians["bf16"] - line) / medians["onnxruntime"] <= runtime_choice.CLOSE_BAND
    assert runtime_choice.close_call(medians, order, 0.10, same_outputs={"openvino"}) is (
        near or abs(medians["openvino"] / medians["onnxruntime"] - 0.97) <= runtime_choice.CLOSE_BAND
    )


def test_auto_compares_same_outputs_by_their_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    """The labels come from the candidates: the one whose outputs are the first one's needs to
    be faster by the noise's margin only; an unlabelled one by the full margin."""
    injected(monkeypatch, {"published": 100.0, "same_file": 94.0, "unlabelled": 94.0})
    recorder = Recorder()
    candidates = [
        recorder.candidate("published", outputs="file"),
        recorder.candidate("same_file", outputs="file"),
        recorder.candidate("unlabelled"),
    ]
    assert choose_runtime("net", candidates, "auto", instruction_set=AVX2).name == "same_file"
    unlabelled = [recorder.candidate("published"), recorder.candidate("same_file"), recorder.candidate("unlabelled")]
    assert choose_runtime("net", unlabelled, "auto", instruction_set=AVX2).name == "published"


def injected(monkeypatch: pytest.MonkeyPatch, medians: dict[str, float]) -> list[list[str]]:
    """Replace the timed probe by ``medians``; returns the lists of candidates it was asked to time."""
    asked: list[list[str]] = []

    def fake_probe(calls: Mapping[str, Any], warm_up: int, rounds: int) -> dict[str, float]:
        asked.append(list(calls))
        for call in calls.values():
            call()  # the probe calls each candidate's typical call
        return {name: medians[name] for name in calls}

    monkeypatch.setattr(runtime_choice, "probe_ms", fake_probe)
    return asked


def test_auto_opens_probes_and_closes_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = injected(monkeypatch, {"litert_int8": 80.0, "onnx_float": 36.0, "onnx_int8": 120.0})
    recorder = Recorder()
    choice = choose_runtime("MoveNet", recorder.movenet_like(), "auto", instruction_set=AVX2)
    assert (choice.name, choice.runtime) == ("onnx_float", "runtime:onnx_float")
    assert asked == [["onnx_float", "onnx_int8", "litert_int8"]]  # in the CPU's order
    assert sorted(recorder.closed) == ["runtime:litert_int8", "runtime:onnx_int8"]
    assert choice.probe_ms == {"onnx_float": 36.0, "onnx_int8": 120.0, "litert_int8": 80.0}
    assert "onnx_float computes" in choice.reason


def test_auto_passes_over_a_candidate_that_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    injected(monkeypatch, {"litert_int8": 19.0, "onnx_int8": 110.0})
    recorder = Recorder()
    missing = ModelFileError("rebuilding MoveNet needs torch (No module named 'torch')")
    choice = choose_runtime("MoveNet", recorder.movenet_like({"onnx_float": missing}), "auto", instruction_set=VNNI)
    assert choice.name == "litert_int8"
    assert "not available: onnx_float (rebuilding MoveNet needs torch" in choice.reason
    assert recorder.closed == ["runtime:onnx_int8"]


def test_auto_with_one_runtime_left_does_not_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = injected(monkeypatch, {})
    no_torch = ImportError("No module named 'torch'")
    candidates = Recorder().movenet_like({"onnx_float": no_torch, "onnx_int8": no_torch})
    choice = choose_runtime("MoveNet", candidates, "auto", instruction_set=AVX2)
    assert choice.name == "litert_int8" and asked == []
    assert choice.reason.startswith("the only one that runs here")


def test_auto_without_any_runtime_raises_the_first_error() -> None:
    first, second = ModelFileError("not a MoveNet file"), ModelFileError("cannot be rebuilt")
    candidates = Recorder().movenet_like({"litert_int8": first, "onnx_float": second, "onnx_int8": second})
    with pytest.raises(ModelFileError, match="not a MoveNet file"):
        choose_runtime("MoveNet", candidates, "auto", instruction_set=VNNI)


def test_probe_off_opens_only_the_first_by_features(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = injected(monkeypatch, {})
    recorder = Recorder()
    choice = choose_runtime("MoveNet", recorder.movenet_like(), "auto", rounds=0, instruction_set=AVX2)
    assert choice.name == "onnx_float" and recorder.opened == ["onnx_float"] and asked == []
    recorder = Recorder()
    missing = ImportError("no torch")
    candidates = recorder.movenet_like({"onnx_float": missing})
    assert choose_runtime("MoveNet", candidates, "auto", rounds=0, instruction_set=AVX2).name == "onnx_int8"
    assert recorder.opened == ["onnx_int8"]


def test_forced_runtime_opens_only_it(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = injected(monkeypatch, {})
    recorder = Recorder()
    choice = choose_runtime("MoveNet", recorder.movenet_like(), "onnx_int8", instruction_set=VNNI)
    assert choice.name == "onnx_int8" and recorder.opened == ["onnx_int8"] and asked == []
    assert choice.reason.startswith("set in the configuration")


def test_a_candidate_only_when_named_is_left_out_of_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = injected(monkeypatch, {"litert_int8": 19.0, "onnx_float": 37.0})
    recorder = Recorder()
    emulated = Candidate("onnx_int8", "slower everywhere", lambda: "emulated", lambda _: None, automatic=False)
    candidates = [*recorder.movenet_like()[:2], emulated]
    assert choose_runtime("MoveNet", candidates, "auto", instruction_set=VNNI).name == "litert_int8"
    assert asked == [["litert_int8", "onnx_float"]]
    assert choose_runtime("MoveNet", candidates, "onnx_int8", instruction_set=VNNI).runtime == "emulated"


def test_only_the_kept_runtime_is_finished(monkeypatch: pytest.MonkeyPatch) -> None:
    """``finish`` (e.g. OpenVINO's remaining static shapes) runs on the runtime kept, after
    the probe, never on one that lost; a finish that fails closes its runtime."""
    injected(monkeypatch, {"litert_int8": 80.0, "onnx_float": 36.0})
    finished: list[str] = []
    recorder = Recorder()
    candidates = [
        dataclasses.replace(c, finish=finished.append) for c in recorder.movenet_like() if c.name != "onnx_int8"
    ]
    assert choose_runtime("MoveNet", candidates, "auto", instruction_set=AVX2).name == "onnx_float"
    assert finished == ["runtime:onnx_float"]
    assert choose_runtime("MoveNet", candidates, "litert_int8", instruction_set=AVX2).name == "litert_int8"
    assert finished == ["runtime:onnx_float", "runtime:litert_int8"]

    def broken(runtime: str) -> None:
        raise RuntimeError(f"cannot finish {runtime}")

    failing = [dataclasses.replace(c, finish=broken) for c in candidates]
    with pytest.raises(RuntimeError, match="cannot finish runtime:onnx_float"):
        choose_runtime("MoveNet", failing, "onnx_float", instruction_set=AVX2)
    assert recorder.closed[-1] == "runtime:onnx_float"


def test_a_remembered_choice_opens_only_the_chosen_runtime_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within a process a choice is made once per model file and settings (``remember``): the
    next pipeline opens the chosen runtime alone, with the first probe's reason and
    timings; other files, a failed reopen and :func:`forget_choices` probe again."""
    asked = injected(monkeypatch, {"litert_int8": 80.0, "onnx_float": 36.0, "onnx_int8": 120.0})
    forget_choices()
    first = choose_runtime("MoveNet", Recorder().movenet_like(), "auto", instruction_set=AVX2, remember="a.tflite")
    recorder = Recorder()
    again = choose_runtime("MoveNet", recorder.movenet_like(), "auto", instruction_set=AVX2, remember="a.tflite")
    assert (first.name, again.name, len(asked)) == ("onnx_float", "onnx_float", 1)
    assert recorder.opened == ["onnx_float"] and recorder.closed == []
    assert again.reason.startswith("chosen earlier in this process: ") and again.probe_ms == first.probe_ms
    choose_runtime("MoveNet", Recorder().movenet_like(), "auto", instruction_set=AVX2, remember="b.tflite")
    choose_runtime("MoveNet", Recorder().movenet_like(), "auto", instruction_set=VNNI, remember="a.tflite")
    assert len(asked) == 3  # another file, another CPU: probed
    gone = Recorder().movenet_like({"onnx_float": ImportError("no torch now")})
    assert choose_runtime("MoveNet", gone, "auto", instruction_set=AVX2, remember="a.tflite").name == "litert_int8"
    assert len(asked) == 4
    forget_choices()
    choose_runtime("MoveNet", Recorder().movenet_like(), "auto", instruction_set=AVX2, remember="b.tflite")
    assert len(asked) == 5
    forget_choices()


def test_forced_runtime_that_cannot_run_is_an_error_not_a_substitute() -> None:
    missing = ImportError("No module named 'torch'")
    with pytest.raises(ImportError, match="torch"):
        choose_runtime("MoveNet", Recorder().movenet_like({"onnx_float": missing}), "onnx_float")
    with pytest.raises(SettingsError, match="auto, litert_int8, onnx_float, onnx_int8, got 'tensorrt'"):
        choose_runtime("MoveNet", Recorder().movenet_like(), "tensorrt")


def test_probe_times_every_call_in_turn() -> None:
    calls: list[str] = []
    medians = runtime_choice.probe_ms({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 2, 3)
    assert set(medians) == {"a", "b"} and all(ms >= 0.0 for ms in medians.values())
    assert calls[:4] == ["a", "a", "b", "b"]  # warm-up
    rounds = calls[4:]  # each round: every call twice in a row (settle, then timed), in some order
    assert len(rounds) == 12
    assert all(sorted(rounds[i : i + 4]) == ["a", "a", "b", "b"] and rounds[i] == rounds[i + 1] for i in (0, 4, 8))


def test_a_probe_near_the_margin_runs_again_longer_and_that_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    """onnx_int8 at 0.93 of the preferred onnx_float's time: within the margin, but so near it
    that the probe's noise decides; the longer probe (3x the rounds) finds it 0.80 and takes it."""
    probes = iter(
        [
            {"onnx_float": 100.0, "onnx_int8": 93.0, "litert_int8": 300.0},
            {"onnx_float": 100.0, "onnx_int8": 80.0, "litert_int8": 300.0},
        ]
    )
    rounds_asked: list[int] = []

    def fake_probe(calls: Mapping[str, Any], warm_up: int, rounds: int) -> dict[str, float]:
        rounds_asked.append(rounds)
        return next(probes)

    monkeypatch.setattr(runtime_choice, "probe_ms", fake_probe)
    choice = choose_runtime("MoveNet", Recorder().movenet_like(), "auto", instruction_set=AVX2, rounds=5)
    assert rounds_asked == [5, 15] and choice.name == "onnx_int8"
    assert "probed again over 15 rounds" in choice.reason and choice.probe_ms["onnx_int8"] == 80.0


@pytest.mark.parametrize(
    ("fastest_other", "close"),
    [(0.50, False), (0.81, False), (0.83, True), (0.90, True), (0.97, True), (0.99, False), (1.20, False)],
)
def test_close_call_is_a_band_about_the_margins_line(fastest_other: float, close: bool) -> None:
    medians = {"preferred": 100.0, "other": 100.0 * fastest_other, "slow": 500.0}
    assert runtime_choice.close_call(medians, ["preferred", "other", "slow"], margin=0.10) is close
    assert not runtime_choice.close_call({"preferred": 100.0}, ["preferred", "other"], margin=0.10)
    # A candidate of the same outputs has its line at the noise's margin (3 %): 0.97 is on it.
    same = {"other"}
    on_its_line = abs(fastest_other - (1.0 - runtime_choice.SAME_OUTPUTS_MARGIN)) <= runtime_choice.CLOSE_BAND
    assert runtime_choice.close_call(medians, ["preferred", "other", "slow"], 0.10, same_outputs=same) is on_its_line
