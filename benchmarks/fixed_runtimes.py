"""Every network's runtime fixed for benchmarks that compare two processes: a start-up probe
(``runtime: auto``) may choose another runtime in each under load, and the two would then
differ by the runtime, not by the code compared."""

from __future__ import annotations

import importlib.util


def fixed_runtimes() -> dict[str, str]:
    """Settings overrides: the detector and PP-TinyPose on OpenVINO where it is installed (the
    quiet machine's choice), else onnxruntime; BlazePose on LiteRT (the default on AVX-512 VNNI)."""
    cpu = "openvino" if importlib.util.find_spec("openvino") is not None else "onnxruntime"
    return {"detector.runtime": cpu, "keypoints.runtime": cpu, "blazepose.runtime": "litert_fp32"}
