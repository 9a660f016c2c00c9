"""Which runtime runs a network on this CPU: declared candidates, a short timed probe, a logged choice.

The fastest arithmetic for a network depends on the instruction set: LiteRT's int8 kernels
are several times faster where the CPU multiplies int8 pairs in one instruction (x86-64
VNNI, aarch64 dot product) than where it does not, while float kernels differ much less
between CPUs. A network declares its candidate runtimes (:class:`Candidate`: a name, what
it computes, how to open it and one typical call); at start-up :func:`choose_runtime`

1. opens every candidate that can run here (one that cannot, e.g. an ONNX export that needs
   torch which is not installed, is skipped and said why),
2. orders them by the CPU's features (:func:`preferred_order`: int8 candidates first on a
   CPU with int8 dot products, else float first; otherwise in declared order, the
   published network first),
3. times each on the same inputs: ``warm_up`` untimed calls, then ``rounds`` rounds that
   take the candidates in a shuffled order (so a load change hits every candidate alike),
   each candidate timed on its second call (:func:`probe_ms`),
4. keeps the first candidate of that order unless another is faster by more than
   ``margin`` (:func:`decide`): a probe of a few calls on a loaded machine scatters by a few
   per cent, and the preferred one is the published network or its closest arithmetic.
   A candidate whose outputs are the first one's within float32 rounding (the same
   ``outputs`` label: the same file on another runtime) needs only to be faster than the
   probe's noise (:data:`SAME_OUTPUTS_MARGIN`): nothing is lost by taking it. A probe that
   lands near either line (:func:`close_call`) runs again, longer, and that decides,

closes the others and logs what was chosen and why. A choice is made once per process for
a network's model file and settings (``remember``): a process that builds several pipelines
(a replay of several bags, a benchmark, the tests) opens only the chosen runtime the next
time, so its pipelines run on the same arithmetic and start in a fraction of the time
(:func:`forget_choices` starts afresh); with a ``store``
(:mod:`hdnet_ros.inference.runtime_choice_store`) a probe's choice is also kept on disk and
a later process opens it alone while the CPU, the model files, the settings and the
runtimes' versions are the same. ``<network>.runtime`` forces one
candidate by name (an error when it cannot run, never a silent substitute); with
``inference.runtime_probe_rounds: 0`` the CPU's features alone decide (no timing).
The runtimes cannot be told to behave like another CPU (onnxruntime's MLAS and XNNPACK pick
their kernels from cpuid at run time), so :func:`decide` and :func:`preferred_order` are
pure functions, tested with injected timings and feature sets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from hdnet_ros.inference.backend import BackendUnavailable
from hdnet_ros.inference.cpu_features import InstructionSet, cpu_instruction_set
from hdnet_ros.inference.runtime_choice_store import ChoiceStore, StoredChoice, now_utc, store_key
from hdnet_ros.logs import get_logger
from hdnet_ros.model_files import ModelFileError
from hdnet_ros.settings_field import SettingsError

LOG = get_logger(__name__)
AUTO = "auto"
T = TypeVar("T")

# A candidate is kept over the preferred one only when faster by more than this: interleaved
# medians of 5 calls on a loaded 2-core machine moved by up to ~5 % between runs.
DEFAULT_MARGIN = 0.10
DEFAULT_WARM_UP = 2
DEFAULT_ROUNDS = 5
# A probe whose fastest other candidate lands this close to the margin's line decides by its
# noise as much as by the runtimes: on a 2-core VM whose speed wandered by 10-40 % within
# minutes, start-ups chose PP-TinyPose on onnxruntime where OpenVINO was 1.2-1.5x faster
# (every interleaved run of 20 rounds said so) and the pipeline ran 1.6x slower at 20 people
# (docs/benchmarks.md, the sixth session). Such a probe runs again over LONGER_PROBE times
# the rounds, and that decides.
CLOSE_BAND = 0.08
LONGER_PROBE = 3
# Between candidates whose outputs agree within float32 rounding the preference has no
# accuracy to keep, only the probe's noise to stand against: 5-round medians moved by up to
# ~5 % between runs, so the longer probe's (3x the rounds, which every probe near this line
# runs) by ~3 %. With 10 % here, `auto` kept the detector on onnxruntime and BlazePose on
# LiteRT where OpenVINO ran them 6-12 % faster in the frame (docs/benchmarks.md, the tenth
# session).
SAME_OUTPUTS_MARGIN = 0.03
# The probe's choices of this process: (network, what ``remember`` names, the CPU, the
# probe's settings, the candidates' names) -> (chosen name, reason, the probe's medians).
_CHOSEN: dict[Hashable, tuple[str, str, dict[str, float]]] = {}


@dataclass(frozen=True)
class Candidate(Generic[T]):
    """One way to run a network. ``open`` raises ModelFileError, BackendUnavailable or
    ImportError when it cannot run here; ``call`` makes one typical call (a frame's crops)
    on what ``open`` returned; ``close`` releases it when another candidate is chosen."""

    name: str
    description: str  # what it computes, and how far from the published network
    open: Callable[[], T]
    call: Callable[[T], object]
    close: Callable[[T], None] = field(default=lambda _: None)
    int8: bool = False  # int8 arithmetic: preferred on CPUs with int8 dot products
    # Candidates with the same non-empty label give the same outputs within float32
    # rounding (one file, or one rebuild, on different runtimes): :data:`SAME_OUTPUTS_MARGIN`.
    outputs: str = ""
    # False: only when named in the configuration (a candidate that cannot be the fastest
    # anywhere, e.g. another's arithmetic emulated with more float ops, is not worth opening)
    automatic: bool = True
    # Completes the start-up of the runtime that is kept, after the probe: work a candidate
    # that loses need not do (OpenVINO's static shapes for every batch size).
    finish: Callable[[T], None] = field(default=lambda _: None)


@dataclass(frozen=True)
class Choice(Generic[T]):
    """The runtime chosen for ``network``: its candidate name, the opened runtime, why, and
    the probe's median per candidate [ms per call] (empty when forced or by features)."""

    network: str
    name: str
    runtime: T
    reason: str
    probe_ms: dict[str, float] = field(default_factory=dict)


def preferred_order(candidates: Sequence[Candidate[T]], instruction_set: InstructionSet) -> list[str]:
    """The candidates' names in the order the CPU's features suggest: int8 first where the
    CPU has int8 dot products, float first where it has not; within each, as declared."""
    int8 = [c.name for c in candidates if c.int8]
    floats = [c.name for c in candidates if not c.int8]
    return int8 + floats if instruction_set.int8_dot else floats + int8


def decide(
    medians_ms: Mapping[str, float],
    preferred: Sequence[str],
    margin: float = DEFAULT_MARGIN,
    same_outputs: Collection[str] = (),
) -> tuple[str, str]:
    """``(name, reason)``: the first of ``preferred`` that was timed, unless another is faster
    by more than its margin (a fraction of its baseline's time): then the fastest of those.
    The candidates named in ``same_outputs`` (whose outputs are the first one's within
    float32 rounding) need :data:`SAME_OUTPUTS_MARGIN` against the first one; the others
    ``margin`` against the fastest of the first one and ``same_outputs`` (what runs without
    changing the outputs: another arithmetic must be worth its change against that).

    ``medians_ms``: each timed candidate's median time per call; candidates missing there
    (not available) are passed over.
    """
    timed = [name for name in preferred if name in medians_ms and np.isfinite(medians_ms[name])]
    if not timed:
        raise ValueError("no candidate was timed")
    first = timed[0]
    fastest = min(timed, key=lambda name: medians_ms[name])
    listed = ", ".join(f"{name} {medians_ms[name]:.1f} ms" for name in timed)
    if fastest == first:
        return first, f"the fastest in the probe ({listed})"
    margins = _margins(timed, margin, same_outputs)
    lines = _baselines(medians_ms, timed, same_outputs)
    faster = [name for name in timed[1:] if medians_ms[name] < (1.0 - margins[name]) * lines[name]]
    if faster:
        chosen = min(faster, key=lambda name: medians_ms[name])
        gain = medians_ms[first] / medians_ms[chosen]
        same = " (the same outputs)" if chosen in same_outputs else ""
        return chosen, f"the fastest in the probe, {gain:.2f}x faster than {first}{same} ({listed})"
    return first, f"preferred on this CPU, within {100 * margins[fastest]:.0f} % of the fastest, {fastest} ({listed})"


def _margins(timed: Sequence[str], margin: float, same_outputs: Collection[str]) -> dict[str, float]:
    """Each timed candidate's margin against its baseline (:func:`decide`)."""
    return {name: SAME_OUTPUTS_MARGIN if name in same_outputs else margin for name in timed}


def _baselines(
    medians_ms: Mapping[str, float], timed: Sequence[str], same_outputs: Collection[str]
) -> dict[str, float]:
    """Each timed candidate's baseline [ms] (:func:`decide`): the first one's time for those
    of its outputs, the fastest of those (the first included) for the others."""
    first = medians_ms[timed[0]]
    unchanged = min(medians_ms[name] for name in timed if name == timed[0] or name in same_outputs)
    return {name: first if name in same_outputs else unchanged for name in timed}


def close_call(
    medians_ms: Mapping[str, float],
    preferred: Sequence[str],
    margin: float = DEFAULT_MARGIN,
    band: float = CLOSE_BAND,
    same_outputs: Collection[str] = (),
) -> bool:
    """Whether :func:`decide` on these medians hangs on the probe's noise: another timed
    candidate within ``band`` (a fraction of the preferred one's time) of its margin's line,
    on either side."""
    timed = [name for name in preferred if name in medians_ms and np.isfinite(medians_ms[name])]
    if len(timed) < 2 or not medians_ms[timed[0]] > 0.0:
        return False
    margins = _margins(timed, margin, same_outputs)
    lines = _baselines(medians_ms, timed, same_outputs)
    first = medians_ms[timed[0]]
    return any(abs((medians_ms[name] - (1.0 - margins[name]) * lines[name]) / first) <= band for name in timed[1:])


def probe_ms(calls: Mapping[str, Callable[[], object]], warm_up: int, rounds: int, seed: int = 0) -> dict[str, float]:
    """Median wall time [ms] of each call: ``warm_up`` untimed calls each, then ``rounds``
    rounds in which every call runs twice, in a new shuffled order per round, the second
    time timed. The untimed call takes the cost of the previous runtime's worker threads,
    which may keep spinning on the cores for a while after their call (onnxruntime's with
    ``inference.onnxruntime_spinning: on``, LiteRT's briefly): timed right after another
    runtime, LiteRT's BlazePose took 1.6x its time alone at batch 1 on two cores, and the
    probe chose the slower runtime."""
    for call in calls.values():
        for _ in range(warm_up):
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    order = np.random.default_rng(seed)
    for _ in range(rounds):
        for name in order.permutation(list(calls)):
            call = calls[str(name)]
            call()
            start = time.perf_counter()
            call()
            samples[str(name)].append((time.perf_counter() - start) * 1000.0)
    return {name: float(np.median(values)) for name, values in samples.items()}


def choose_runtime(
    network: str,
    candidates: Sequence[Candidate[T]],
    setting: str,
    *,
    rounds: int = DEFAULT_ROUNDS,
    warm_up: int = DEFAULT_WARM_UP,
    margin: float = DEFAULT_MARGIN,
    instruction_set: InstructionSet | None = None,
    remember: Hashable | None = None,
    store: ChoiceStore | None = None,
    files: Sequence[Path] = (),
) -> Choice[T]:
    """Open the runtime ``setting`` names (``auto``: the one the CPU and the probe choose,
    see the module doc) among ``candidates``; log the choice and the reason. ``remember``:
    what makes the candidates these (the model file, threads, batch, settings): an ``auto``
    choice made for it before in this process is opened again without a probe (None: the
    probe runs every time). ``store``: where probes' choices are kept across processes
    (:mod:`hdnet_ros.inference.runtime_choice_store`), keyed also by the content of
    ``files`` (the model files the candidates open), the CPU and the runtimes' versions.

    ``setting`` naming no candidate is a SettingsError; a forced candidate that cannot run
    raises its error (ModelFileError, BackendUnavailable); ``auto`` with none that can run
    raises the first candidate's error.
    """
    names = [c.name for c in candidates]
    if setting != AUTO and setting not in names:
        raise SettingsError(f"{network} runtime must be one of {', '.join([AUTO, *names])}, got {setting!r}")
    cpu = instruction_set or cpu_instruction_set()
    if setting != AUTO:
        chosen = next(c for c in candidates if c.name == setting)
        choice = Choice(
            network, setting, _finished(chosen, chosen.open()), f"set in the configuration ({chosen.description})"
        )
        _log(choice, cpu)
        return choice
    candidates = [c for c in candidates if c.automatic]
    automatic_names = tuple(c.name for c in candidates)
    key = None if remember is None else (network, remember, cpu, rounds, warm_up, margin, automatic_names)
    # Only probes' choices are kept on disk (rounds 0 opens one runtime and times nothing).
    kept = None
    if store is not None and key is not None and rounds > 0:
        probe = [rounds, warm_up, margin, SAME_OUTPUTS_MARGIN, CLOSE_BAND, LONGER_PROBE]
        described = [[c.name, c.description, c.int8, c.outputs] for c in candidates]
        kept = store_key(network, remember, cpu, probe, described, files)
    earlier = _earlier_choice(network, candidates, key, store, kept, cpu)
    if earlier is not None:
        return earlier
    order = preferred_order(candidates, cpu)
    by_name = {c.name: c for c in candidates}
    medians: dict[str, float] = {}
    if rounds <= 0:  # the first that opens in the CPU's order: nothing else is opened
        opened, failures = _open_all(network, [by_name[n] for n in order], first_only=True)
        name, reason = next(iter(opened)), "by the CPU's features (probe off)"
    else:
        opened, failures = _open_all(network, candidates)
        order = [n for n in order if n in opened]
        try:
            if len(order) > 1:
                calls = {n: (lambda c=by_name[n], r=opened[n]: c.call(r)) for n in order}
                same = _same_outputs(by_name[order[0]], [by_name[n] for n in order[1:]])
                name, reason, medians = _probed(calls, order, warm_up, rounds, margin, same)
            else:
                name, reason = order[0], "the only one that runs here"
        except Exception:
            _close_all(candidates, opened)
            raise
        _close_all(candidates, {n: r for n, r in opened.items() if n != name})
    if failures:
        reason += "; not available: " + "; ".join(failures)
    runtime = _finished(by_name[name], opened[name])
    choice = Choice(network, name, runtime, f"{reason} [{by_name[name].description}]", medians)
    if key is not None:
        _CHOSEN[key] = (name, reason, medians)
    if kept is not None and store is not None and medians:
        store.keep(kept[0], StoredChoice(name, reason, medians, now_utc()), kept[1])
    _log(choice, cpu)
    return choice


def _same_outputs(first: Candidate[T], others: Sequence[Candidate[T]]) -> frozenset[str]:
    """The names of ``others`` whose outputs are ``first``'s within float32 rounding."""
    return frozenset(c.name for c in others if first.outputs and c.outputs == first.outputs)


def _probed(
    calls: Mapping[str, Callable[[], object]],
    order: Sequence[str],
    warm_up: int,
    rounds: int,
    margin: float,
    same_outputs: Collection[str] = (),
) -> tuple[str, str, dict[str, float]]:
    """(name, reason, medians) of the probe (:func:`probe_ms`, :func:`decide`); a probe near
    a margin's line runs again over LONGER_PROBE times the rounds, and that decides."""
    medians = probe_ms(calls, warm_up, rounds)
    if not close_call(medians, order, margin, same_outputs=same_outputs):
        return (*decide(medians, order, margin, same_outputs), medians)
    medians = probe_ms(calls, 0, LONGER_PROBE * rounds)
    name, reason = decide(medians, order, margin, same_outputs)
    return (
        name,
        f"{reason}; probed again over {LONGER_PROBE * rounds} rounds: {rounds} left it near the margin",
        medians,
    )


def forget_choices() -> None:
    """Forget this process's earlier choices: the next ``auto`` choice probes again."""
    _CHOSEN.clear()


def _chosen_before(
    network: str,
    candidates: Sequence[Candidate[T]],
    earlier: tuple[str, str, dict[str, float]],
    cpu: InstructionSet,
    when: str = "chosen earlier in this process",
) -> Choice[T] | None:
    """The runtime chosen before for the same candidates, opened alone (None where it no
    longer opens: then the probe runs again); ``when`` starts its reason."""
    name, reason, medians = earlier
    candidate = next(c for c in candidates if c.name == name)
    try:
        runtime = _finished(candidate, candidate.open())
    except (ModelFileError, BackendUnavailable, ImportError, ValueError, RuntimeError) as error:
        LOG.info("%s runtime %s, chosen before, cannot run now: %s; probing again", network, name, error)
        return None
    choice = Choice(network, name, runtime, f"{when}: {reason} [{candidate.description}]", dict(medians))
    _log(choice, cpu)
    return choice


def _earlier_choice(
    network: str,
    candidates: Sequence[Candidate[T]],
    key: Hashable | None,
    store: ChoiceStore | None,
    kept: tuple[str, dict[str, Any]] | None,
    cpu: InstructionSet,
) -> Choice[T] | None:
    """The choice made before for ``key`` in this process, else the one ``store`` keeps under
    ``kept``'s key, opened alone; None where there is none or it does not open now."""
    if key is not None and key in _CHOSEN:
        earlier = _chosen_before(network, candidates, _CHOSEN[key], cpu)
        if earlier is not None:
            return earlier
    recalled = (
        None if kept is None or store is None else store.recall_for(network, kept[0], {c.name for c in candidates})
    )
    if key is None or recalled is None:
        return None
    earlier = _chosen_before(network, candidates, recalled, cpu, "chosen by an earlier start's probe")
    if earlier is not None:
        _CHOSEN[key] = recalled
    return earlier


def _open_all(
    network: str, candidates: Sequence[Candidate[T]], first_only: bool = False
) -> tuple[dict[str, T], list[str]]:
    """Every candidate that opens (``first_only``: the first one), by name, and a line per
    one that does not; raises the first error when none opens."""
    opened: dict[str, T] = {}
    failures: list[str] = []
    first_error: Exception | None = None
    for candidate in candidates:
        try:
            opened[candidate.name] = candidate.open()
            if first_only:
                break
        except (ModelFileError, BackendUnavailable, ImportError, ValueError, RuntimeError) as error:
            LOG.info("%s runtime %s cannot run here: %s", network, candidate.name, error)
            failures.append(f"{candidate.name} ({error})")
            first_error = first_error or error
    if not opened:
        assert first_error is not None
        raise first_error
    return opened, failures


def _finished(candidate: Candidate[T], runtime: T) -> T:
    """``runtime`` after its candidate's ``finish``; closed when that fails."""
    try:
        candidate.finish(runtime)
    except Exception:
        candidate.close(runtime)
        raise
    return runtime


def _close_all(candidates: Sequence[Candidate[T]], opened: Mapping[str, T]) -> None:
    for candidate in candidates:
        if candidate.name in opened:
            candidate.close(opened[candidate.name])


def _log(choice: Choice[Any], cpu: InstructionSet) -> None:
    LOG.info("%s runs on %s (CPU: %s): %s", choice.network, choice.name, cpu.label, choice.reason)
