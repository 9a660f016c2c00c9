"""Shared fixtures: where the models and sample data are, and the replay of the sample bags.

Models and data are never part of the repository. They are found through
$HDNET_ROS_MODELS_DIR / $HDNET_ROS_DATA_DIR, defaulting to ../shared beside the checkout
(where CI has them); tests that need them skip, saying why, when they are absent.

CPU-sensitive checks. LiteRT's int8 kernels (XNNPACK) are chosen by the instruction set;
the rebuilt int8 MoveNet is held to them exactly only on the CPU families where that was
verified (``xnnpack_family``; the ``litert_exact`` fixture skips elsewhere, saying why), and
everywhere to bounds with their margins written beside them. ``--cpu-variation`` (or
$HDNET_ROS_TEST_CPU_VARIATION) runs the whole suite as a different CPU would see it, so a
bound that holds only on this machine's bits fails here:

* ``boxes``: every person box is moved by at most 1e-4 px (a fixed function of the box)
  before its 2D network's crop (MoveNet's or PP-TinyPose's). That is how another CPU's
  results differ: the float detector's boxes move by ~5e-5 px between AVX2 and AVX-512
  (onnxruntime's kernels), the crop's
  pixels by a grey level here and there, and MoveNet's keypoints by up to ~4 px in its
  192 px crop; given the same boxes, LiteRT's keypoints were identical (docs/inference.md).
* ``builtin``: every LiteRT interpreter runs LiteRT's builtin int8 kernels instead of
  XNNPACK's: a second int8 arithmetic (other multipliers and roundings at every op). The
  exactness checks skip; the bounded ones must hold.
* ``float32`` and ``bf16``: the 2D heatmap network (PP-TinyPose) runs where ``auto`` would
  let its start-up probe choose: on OpenVINO in float32 (onnxruntime's outputs within
  rounding), or in bfloat16 (only on CPUs that compute it: AVX512_BF16 or AMX). ``auto``
  picks between them by timing, so a CPU with bf16 runs the suite on either; the bounds
  must hold on both (scene 1 of ``test_identities.py`` starts with 7 people in float32
  and 6 in bf16).
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdnet_ros.model_files import DATA_DIR_ENV, MODELS_DIR_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"


def _directory(env: str, default: Path) -> Path:
    return Path(os.environ[env]) if os.environ.get(env) else default


MODELS_DIR = _directory(MODELS_DIR_ENV, SHARED / "models")
DATA_DIR = _directory(DATA_DIR_ENV, SHARED / "data")

CPU_VARIATION_ENV = "HDNET_ROS_TEST_CPU_VARIATION"
CPU_VARIATIONS = ("none", "boxes", "builtin", "float32", "bf16")
# The 2D network's runtime that --cpu-variation float32 / bf16 puts where auto would choose.
KEYPOINT_RUNTIME_VARIATIONS = {"float32": "openvino", "bf16": "openvino_bf16"}
# The largest box move of --cpu-variation=boxes, px: twice the 5e-5 px measured between
# AVX2 and AVX-512 runs of the detector.
BOX_NUDGE_PX = 1e-4


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cpu-variation",
        choices=CPU_VARIATIONS,
        default=os.environ.get(CPU_VARIATION_ENV) or "none",
        help="run the CPU-sensitive checks as another CPU would: boxes (person boxes moved by <= 1e-4 px "
        "before the MoveNet crop), builtin (LiteRT's builtin int8 kernels instead of XNNPACK's), float32 / bf16 "
        "(the 2D heatmap network on OpenVINO in that arithmetic where auto would choose by timing)",
    )


def _cpu_features() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (x86 ``flags``, aarch64 ``Features``)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


# (architecture, flags that select the family, family, verified), first match wins: the order
# of XNNPACK's own preference (its AMX and SVE kernels before the others).
_XNNPACK_FAMILIES: tuple[tuple[str, frozenset[str], str, bool], ...] = (
    ("x86_64", frozenset({"amx_int8"}), "x86-64 AMX", True),
    ("x86_64", frozenset({"avx512_vnni"}), "x86-64 AVX-512 VNNI", True),
    ("x86_64", frozenset({"avx512f", "avx512bw"}), "x86-64 AVX-512", True),
    ("x86_64", frozenset({"avx_vnni"}), "x86-64 AVX-VNNI", False),
    ("x86_64", frozenset({"avx2"}), "x86-64 AVX2", True),
    ("x86_64", frozenset({"sse4_1"}), "x86-64 SSE4", True),
    ("aarch64", frozenset({"sve"}), "aarch64 SVE", False),
    ("aarch64", frozenset({"sme"}), "aarch64 SME", False),
    ("aarch64", frozenset({"i8mm"}), "aarch64 NEON i8mm", True),
    ("aarch64", frozenset({"asimddp"}), "aarch64 NEON dot product", True),
    ("aarch64", frozenset({"asimd"}), "aarch64 NEON", True),
)
_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def xnnpack_family(machine: str | None = None, features: set[str] | None = None) -> tuple[str, bool]:
    """(the instruction-set family XNNPACK picks its int8 kernels by, whether LiteRT's int8
    MoveNet was verified there to equal the int8 emulation op by op and end to end).

    Verified (LiteRT 2.3.0, docs/inference.md): x86-64 SSE4, AVX2, AVX-512, AVX-512 VNNI and
    AMX; aarch64 NEON, NEON with dot product, and with i8mm. AVX-512 VNNI natively (AMD Zen
    4), AVX-512 natively in earlier sessions (Intel Xeon), AMX natively in the twenty-second
    session (an Intel Xeon, family 6 model 167), the rest under instruction-set emulation
    (qemu). Not verified: AVX-VNNI without AVX-512, SVE/SME, other machines.
    """
    name = (machine or platform.machine()).lower()
    architecture = _ARCHITECTURES.get(name, name)
    flags = _cpu_features() if features is None else features
    for arch, needed, family, verified in _XNNPACK_FAMILIES:
        if arch == architecture and needed <= flags:
            return family, verified
    return f"{name or 'unknown machine'} without the verified instruction sets", False


def pytest_report_header(config: pytest.Config) -> str:
    family, verified = xnnpack_family()
    exact = "exact checks run" if verified else "not verified: exact checks skip"
    return f"LiteRT int8 kernels: {family} ({exact}); --cpu-variation={config.getoption('--cpu-variation')}"


@pytest.fixture(scope="session")
def cpu_variation(request: pytest.FixtureRequest) -> str:
    value: str = request.config.getoption("--cpu-variation")
    return value


@pytest.fixture(scope="session")
def litert_exact(cpu_variation: str) -> str:
    """For checks that the int8 emulation equals LiteRT's output bit for bit: skips, saying
    why, unless LiteRT runs XNNPACK's kernels on a CPU family where that was verified."""
    if cpu_variation == "builtin":
        pytest.skip("--cpu-variation=builtin: LiteRT runs its builtin int8 kernels, not those the emulation follows")
    family, verified = xnnpack_family()
    if not verified:
        pytest.skip(f"XNNPACK's int8 kernels on {family} are not verified against the emulation (docs/inference.md)")
    return family


def _nudged(box: Any) -> Any:
    """``box`` moved by at most BOX_NUDGE_PX per coordinate, the same way every time."""
    values = np.asarray(box, dtype=np.float64)
    seed = int.from_bytes(hashlib.sha256(values.tobytes()).digest()[:8], "little")
    return values + np.random.default_rng(seed).uniform(-BOX_NUDGE_PX, BOX_NUDGE_PX, values.shape)


@pytest.fixture(scope="session", autouse=True)
def _apply_cpu_variation(cpu_variation: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        if cpu_variation == "boxes":
            from hdnet_ros.stages import keypoints2d

            crop = keypoints2d.crop_person
            patch.setattr(keypoints2d, "crop_person", lambda rgb, box, *args: crop(rgb, _nudged(box), *args))
            from hdnet_ros.stages import topdown_heatmap

            affines = topdown_heatmap.topdown_affines
            patch.setattr(
                topdown_heatmap, "topdown_affines", lambda boxes, *args: affines(_nudged(np.asarray(boxes)), *args)
            )
        elif cpu_variation == "builtin":
            from ai_edge_litert import interpreter

            init = interpreter.Interpreter.__init__

            def builtin_init(self: Any, *args: Any, **kwargs: Any) -> None:
                kwargs.setdefault(
                    "experimental_op_resolver_type", interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                )
                init(self, *args, **kwargs)

            patch.setattr(interpreter.Interpreter, "__init__", builtin_init)
        elif cpu_variation in KEYPOINT_RUNTIME_VARIATIONS:
            _pin_keypoint_runtime(patch, KEYPOINT_RUNTIME_VARIATIONS[cpu_variation])
        yield


def _pin_keypoint_runtime(patch: pytest.MonkeyPatch, pinned: str) -> None:
    """Every 2D heatmap network opened with ``runtime: auto`` opens on ``pinned`` instead."""
    from hdnet_ros.inference.model_file_runtimes import OPENVINO_BF16
    from hdnet_ros.inference.openvino_backend import native_bf16
    from hdnet_ros.inference.runtime_choice import AUTO
    from hdnet_ros.stages import keypoint_runtimes

    if pinned == OPENVINO_BF16 and not native_bf16():
        pytest.exit("--cpu-variation=bf16: this CPU does not compute bfloat16 (no AVX512_BF16 or AMX)", returncode=4)

    choose = keypoint_runtimes.choose_model_file_runtime

    def pinned_choice(
        network: str, name: str, path: Path, inference: Any, threads: int, runtime: str, *rest: Any, **kw: Any
    ) -> Any:
        return choose(network, name, path, inference, threads, pinned if runtime == AUTO else runtime, *rest, **kw)

    patch.setattr(keypoint_runtimes, "choose_model_file_runtime", pinned_choice)


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if not (MODELS_DIR / "yolox_nano" / "yolox_nano.onnx").is_file():
        pytest.skip(f"default models not found in {MODELS_DIR} (set HDNET_ROS_MODELS_DIR or run `hdnet-ros assets`)")
    return MODELS_DIR


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "rgbd_hsr").is_dir():
        pytest.skip(
            f"sample data not found in {DATA_DIR} (set HDNET_ROS_DATA_DIR or run `hdnet-ros assets --data-dir`)"
        )
    return DATA_DIR


@pytest.fixture(scope="session")
def sample_bags(data_dir: Path) -> list[Path]:
    bags = sorted((data_dir / "rgbd_hsr").glob("*.bag"))
    assert len(bags) == 3, f"expected the three sample bags in {data_dir / 'rgbd_hsr'}"
    return bags


@pytest.fixture(scope="session")
def sample_replay(models_dir: Path, sample_bags: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's main job: replay of the three sample bags (run once per session)."""
    from helpers import run_replay

    output = tmp_path_factory.mktemp("replay") / "out"
    assert run_replay(models_dir, output, *sample_bags, extra=("--include-inputs",)) == 0
    return output
