"""Soak: a long recording with faults, through the replay and through the node's worker.

    python3 benchmarks/bench_soak.py --models-dir ../shared/models --data-dir ../shared/data [--frames 10000]

Writes a rosbag2 (mcap) of ``--frames`` 30 Hz frames made from the three sample RGB-D
triplets (a scene for 10 s, then the next; RGB as JPEG CompressedImage, depth as 16UC1
millimetres, as a RealSense publishes them) with faults interleaved at fixed rates: depth
messages missing, all-zero depth, depth of the wrong size, RGB of a size camera_info does
not state, zero stamps (every message of the frame), and header stamps that jump 5 s
forward or 3 s back (received in order, as a driver restarting its clock). Then runs it

* through the replay tool's own job (``ReplayJob``: bag reading, the approximate-time
  synchronizer, build_frame, the pipeline, the output bag, summary.json), and
* through the node's path without ROS: the same synchronizer in place of message_filters,
  the node's per-message and per-triplet handling (SyncMonitor, input health checks,
  diagnostics), its one-frame slot and worker thread (``FrameWorker``) running the node's
  ``FrameProcessor`` (the node's image conversion, build_frame, the pipeline, the published
  messages), fed at 30 Hz with bursts of frames faster than the pipeline.

The networks answer from a recording made on the sample frames (``recorded_networks``): a
soak of 10,000 frames on two cores cannot pay for the models, and what it looks for (growth,
lost frames, exceptions) lives in the code around them, which all runs. Checks, per path:

* memory after warm-up (the first 10 % of the frames): RSS and the Python heap
  (tracemalloc, after a garbage collection) flat within 5 % of their first value after it;
* every RGB frame accounted for: processed, dropped as older than the newest (worker busy),
  or skipped with a reason, and the faults' reasons counted as injected;
* no exception (a worker exception is counted by the node: it must stay 0).

Exits 1 when a check fails.

Why this file is long: it is the two paths, the memory trace they share and the one
accounting both are held to; the recording itself is in soak_recording.py.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from bench_node_latency import Publisher, passthrough
from frame_sources import sample_triplets
from hdnet_ros.depth_fault import DepthFaultWatch
from hdnet_ros.frame_input import FrameError, SkipReason, stamp_to_ns
from hdnet_ros.frame_input import build_frame as build_sample_frame
from hdnet_ros.image_codec import ImageDecodeError
from hdnet_ros.node.decoded_image import DecodedImage, decoded_image, decompressed_encoding
from hdnet_ros.node.diagnostics import WORKER_EXCEPTION, DiagnosticsAggregator
from hdnet_ros.node.frame_processor import FrameProcessor, Triplet
from hdnet_ros.node.frame_slot import FrameWorker
from hdnet_ros.node.health import InputHealth, facts_of
from hdnet_ros.node.sync_monitor import SyncMonitor
from hdnet_ros.outputs.network_report import network_values
from hdnet_ros.pipeline import Pipeline
from hdnet_ros.replay.bag_input import BagInput, BagMessage
from hdnet_ros.replay.runner import ReplayJob, ReplayOptions
from hdnet_ros.replay.sync import ApproximateTimeSync
from machine import cpu_name
from recorded_networks import stand_in_networks
from soak_recording import (
    BURST_EVERY,
    BURST_FRAMES,
    JUMP_EVERY,
    TOPICS,
    FramePlan,
    SoakMessages,
    plan_frames,
    write_soak_bag,
)

from hdnet_ros.config import Settings, load_settings

EXPECTED_REASON = {  # how the product counts each fault
    "depth_missing": ("skipped", SkipReason.NO_SYNC_PARTNER.value),
    "depth_zero": ("depth_fault", "all_invalid"),
    "depth_size": ("depth_fault", "size_mismatch"),
    "rgb_size": ("skipped", SkipReason.SIZE_MISMATCH.value),
    "zero_stamp": ("skipped", SkipReason.ZERO_STAMP.value),
}
WARM_UP_SHARE, FLAT_WITHIN = 0.10, 0.05
LOG = logging.getLogger("bench_soak")


# ----------------------------------------------------------------------------------------
# Memory
# ----------------------------------------------------------------------------------------


def rss_mb() -> float:
    """Resident set size of this process [MiB] (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


class MemoryTrace:
    """RSS and the Python heap (tracemalloc), sampled after a garbage collection every
    ``every`` frames; the heap's growth after warm-up is also attributed to source lines.

    Growth is the change from the median of the first quarter of the samples after warm-up
    to the median of the last quarter: a leak is a trend, while a frame's images in flight
    when a sample is taken (a few MiB, more in the node's threads) are noise around it. The
    largest single sample's excess over the first is reported too.
    """

    def __init__(self, frames: int, samples: int = 40) -> None:
        self.every = max(frames // samples, 1)
        self.warm_up = max(int(frames * WARM_UP_SHARE), self.every)
        self.samples: list[dict[str, float]] = []
        self._baseline: tracemalloc.Snapshot | None = None
        self._lock = threading.Lock()

    def frame_done(self, count: int) -> None:
        if count % self.every == 0:
            self.sample(count)

    def sample(self, count: int) -> None:
        with self._lock:
            if not tracemalloc.is_tracing():  # an accounting-only run (the unit test)
                return
            gc.collect()
            traced, _ = tracemalloc.get_traced_memory()
            self.samples.append({"frames": count, "rss_mb": rss_mb(), "heap_mb": traced / 2**20})
            if self._baseline is None and count >= self.warm_up:
                self._baseline = tracemalloc.take_snapshot()

    def finish(self, count: int) -> dict[str, Any]:
        self.sample(count)
        if not self.samples:
            return {"samples": [], "flat": None}
        growth_by_line = []
        if self._baseline is not None:
            changes = tracemalloc.take_snapshot().compare_to(self._baseline, "lineno")
            growth_by_line = [str(change) for change in changes if change.size_diff > 0][:5]
        after = [s for s in self.samples if s["frames"] >= self.warm_up] or self.samples[-1:]
        quarter = max(len(after) // 4, 1)
        verdict: dict[str, Any] = {"samples": self.samples, "warm_up_frames": self.warm_up}
        for key in ("rss_mb", "heap_mb"):
            values = [s[key] for s in after]
            first, last = float(np.median(values[:quarter])), float(np.median(values[-quarter:]))
            verdict[key] = {
                "after_warm_up": round(first, 1),
                "end": round(last, 1),
                "growth": (last - first) / first,
                "largest_sample_over_first": (max(values) - values[0]) / values[0],
            }
        verdict["flat"] = all(verdict[key]["growth"] <= FLAT_WITHIN for key in ("rss_mb", "heap_mb"))
        verdict["heap_growth_by_line"] = growth_by_line
        return verdict


# ----------------------------------------------------------------------------------------
# The two paths
# ----------------------------------------------------------------------------------------


def expected_outcomes(plan: list[FramePlan]) -> dict[str, Counter[str]]:
    """{"skipped": reason counts, "depth_fault": reason counts} the faults must produce."""
    expected: dict[str, Counter[str]] = {"skipped": Counter(), "depth_fault": Counter()}
    for frame in plan:
        if frame.fault is not None:
            kind, reason = EXPECTED_REASON[frame.fault]
            expected[kind][reason] += 1
    return expected


def soak_replay(pipeline: Pipeline, settings: Settings, bag: Path, output: Path, frames: int) -> dict[str, Any]:
    """The replay tool's job over the recording, memory sampled every few processed frames."""
    memory = MemoryTrace(frames)
    process = pipeline.process
    done = 0

    def process_and_sample(frame: Any) -> Any:
        nonlocal done
        result = process(frame)
        done += 1
        memory.frame_done(done)
        return result

    pipeline.process = process_and_sample  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        summary = ReplayJob(pipeline, settings, ReplayOptions(output, {}, write_overlays=False, progress=False)).run(
            [bag]
        )
        wall_s = time.perf_counter() - start
    finally:
        del pipeline.process
    return {
        "wall_s": wall_s,
        "frames_read": summary.frames_read,
        "processed": summary.frames_processed,
        "skipped": dict(Counter(entry["reason"] for entry in summary.skipped)),
        "depth_fault": summary.depth_faults_by_reason,
        "errors": [report.error for report in summary.inputs if report.error],
        "memory": memory.finish(done),
    }


class CountingLog:
    """The node's worker logger: counts what it would say (a soak would flood the console)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def warning(self, text: str, throttled: bool = False) -> None:
        self.counts["warning"] += 1

    def error(self, text: str, throttled: bool = False) -> None:
        self.counts["error"] += 1
        LOG.error("%s", text)


def node_decode(msg: Any, role: str) -> DecodedImage:
    """What the node's _decode does with cv_bridge, without it: OpenCV's decoding of a
    CompressedImage (cv_bridge's compressed_imgmsg_to_cv2) and the raw passthrough view."""
    if role == "rgb" and not hasattr(msg, "encoding"):
        array = cv2.imdecode(np.asarray(msg.data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if array is None:
            raise FrameError(SkipReason.BAD_ENCODING, f"{role} image: not a jpeg/png payload")
        try:
            return decoded_image(msg.header, array, decompressed_encoding(array))
        except ImageDecodeError as error:
            raise FrameError(SkipReason.BAD_ENCODING, f"{role} image: {error}") from error
    return passthrough(msg, role)


class NodePath:
    """HdnetNode's callbacks and worker without rclpy, fed from the recording."""

    def __init__(self, pipeline: Pipeline, settings: Settings, frames: int) -> None:
        now = time.monotonic_ns()
        self.settings = settings
        self.pipeline = pipeline
        self.diagnostics = DiagnosticsAggregator("soak: frames", hardware_id=TOPICS["rgb"])
        self.diagnostics.start(now)
        slop_ns = int(settings.input.slop * 1e9)
        self.monitor = SyncMonitor(TOPICS, settings.input.queue_size, slop_ns, start_ns=now)
        self.health = InputHealth()
        self.log = CountingLog()
        self.memory = MemoryTrace(frames)
        self.publisher = Publisher(settings, self.diagnostics)
        self.processed = 0
        processor = FrameProcessor(
            pipeline,
            settings.input,
            self.diagnostics,
            DepthFaultWatch(TOPICS["depth"]),
            decode=node_decode,
            publish=self._publish,
            clock_ns=time.time_ns,
            log=self.log,
        )
        self.worker: FrameWorker[Triplet] = FrameWorker(
            processor.process, processor.on_worker_busy, processor.on_worker_error
        )
        self.sync: ApproximateTimeSync[BagMessage] = ApproximateTimeSync(
            3, settings.input.queue_size, slop_ns, self._on_triplet
        )
        self.roles = list(TOPICS)

    def _publish(self, result: Any) -> None:
        self.publisher(result)
        self.processed += 1

    def on_message(self, item: BagMessage) -> None:
        """HdnetNode._on_message, then the synchronizer (message_filters in the node); rclpy
        never hands the node a message it could not deserialize."""
        if item.message is None:
            self.diagnostics.record_drop(SkipReason.UNREADABLE_MESSAGE.value)
            return
        lost = self.monitor.on_message(item.role, item.stamp_ns, time.monotonic_ns())
        for _ in range(lost):
            self.diagnostics.record_drop(SkipReason.NO_SYNC_PARTNER.value)
        self.sync.add(self.roles.index(item.role), item.stamp_ns, item)

    def _on_triplet(self, matched: tuple[BagMessage, ...]) -> None:
        """HdnetNode._on_triplet."""
        triplet: Triplet = {item.role: item.message for item in matched}
        self.monitor.on_triplet(stamp_to_ns(triplet["rgb"].header.stamp), time.monotonic_ns())
        self.diagnostics.record_input()
        facts = {role: facts_of(msg, TOPICS[role]) for role, msg in triplet.items()}
        for _ in self.health.check_triplet(facts["rgb"], facts.get("depth"), facts["camera_info"]):
            self.log.counts["health warning"] += 1
        self.worker.submit(triplet)

    def run(self, bag: Path, rate_hz: float) -> dict[str, Any]:
        """Feed the recording at ``rate_hz`` RGB frames per second (0: as fast as it reads),
        every BURST_EVERY-th frame starting a burst of BURST_FRAMES frames at once."""
        self.worker.start()
        period_s = 1.0 / rate_hz if rate_hz > 0 else 0.0
        rgb_read, due = 0, time.perf_counter()
        start = due
        with BagInput(bag, {"rgb": TOPICS["rgb"], "depth": TOPICS["depth"]}) as reader:
            for item in reader.messages():
                if item.role == "rgb":
                    rgb_read += 1
                    self.memory.frame_done(rgb_read)
                    if rgb_read % BURST_EVERY >= BURST_FRAMES:  # not in a burst: keep the camera's pace
                        due += period_s
                        time.sleep(max(due - time.perf_counter(), 0.0))
                    if rgb_read % 30 == 0:  # the node's 1 Hz diagnostics timer
                        self.diagnostics.report(time.monotonic_ns(), network_values(self.pipeline.network_report()))
                self.on_message(item)
        self.worker.stop()
        wall_s = time.perf_counter() - start
        drops = self.diagnostics.drop_totals()
        # RGB images still waiting in the synchronizer at the end would leave it unmatched next.
        waiting = len(self.sync.queues[self.roles.index("rgb")])
        return {
            "wall_s": wall_s,
            "frames_read": rgb_read,
            "processed": self.processed,
            "skipped": {reason: count for reason, count in drops.items() if reason != WORKER_EXCEPTION}
            | ({"still_in_sync_queue": waiting} if waiting else {}),
            "worker_exceptions": drops.get(WORKER_EXCEPTION, 0),
            "depth_fault": self.diagnostics.depth_fault_totals(),
            "log": dict(self.log.counts),
            "memory": self.memory.finish(rgb_read),
        }


# ----------------------------------------------------------------------------------------
# Accounting and the report
# ----------------------------------------------------------------------------------------


def account(result: dict[str, Any], expected: dict[str, Counter[str]], exact: bool) -> list[str]:
    """What is wrong with a path's result (empty when every frame is accounted for).

    Every RGB frame read is processed or skipped with a reason (worker_busy included); each
    fault's reason is counted as often as it was injected (``exact``, the replay) or at most
    that often (the node: a faulty frame can be dropped as worker_busy before it is seen).
    """
    problems = []
    skipped = result["skipped"]
    total = result["processed"] + sum(skipped.values())
    if total != result["frames_read"]:
        problems.append(f"{result['frames_read']} RGB frames read, {total} accounted for ({skipped})")
    for kind in ("skipped", "depth_fault"):
        for reason, count in expected[kind].items():
            seen = result[kind].get(reason, 0)
            if (seen != count) if exact else (seen > count):
                problems.append(f"{kind} {reason}: {seen} counted for {count} injected")
    if result.get("worker_exceptions") or result.get("errors"):
        problems.append(f"exceptions: {result.get('worker_exceptions', 0)} in the worker, {result.get('errors')}")
    if result["memory"]["flat"] is False:
        memory = result["memory"]
        problems.append(
            f"memory grew after warm-up: RSS {memory['rss_mb']['growth']:+.1%}, heap {memory['heap_mb']['growth']:+.1%}"
        )
    return problems


def report(name: str, result: dict[str, Any], problems: list[str]) -> None:
    memory = result["memory"]
    rss, heap = memory["rss_mb"], memory["heap_mb"]
    print(
        f"{name}: {result['frames_read']} RGB frames in {result['wall_s']:.0f} s; processed {result['processed']}, "
        f"skipped {result['skipped']}, depth faults {result['depth_fault']}"
    )
    print(
        f"  memory after warm-up ({memory['warm_up_frames']} frames; medians of the first and last quarter of "
        f"the samples): RSS {rss['after_warm_up']:.1f} -> {rss['end']:.1f} MiB ({rss['growth']:+.1%}), "
        f"Python heap {heap['after_warm_up']:.1f} -> {heap['end']:.1f} MiB ({heap['growth']:+.1%}); largest "
        f"sample over the first: RSS {rss['largest_sample_over_first']:+.1%}, heap "
        f"{heap['largest_sample_over_first']:+.1%}"
    )
    for line in memory["heap_growth_by_line"]:
        print(f"    heap growth: {line}")
    print("  " + ("every check passed" if not problems else "FAILED: " + "; ".join(problems)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=10_000, help="frames in the recording (default 10000)")
    parser.add_argument("--rate-hz", type=float, default=30.0, help="node path input rate; 0: as fast as read")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", type=Path, help="write the recording and the replay output here (kept)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    figures = soak(args.models_dir, args.data_dir, args.frames, args.rate_hz, args.keep)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if any(figures[path]["problems"] for path in ("replay", "node")):
        raise SystemExit(1)


def stand_in_pipeline(models_dir: str, data_dir: Path) -> tuple[Settings, Pipeline, list[Triplet], dict[str, str]]:
    """The default pipeline with its networks answered from a recording on the sample frames."""
    settings = load_settings(overrides={"models.models_dir": models_dir})
    triplets = list(sample_triplets(data_dir).values())
    pipeline = Pipeline.from_settings(settings)
    samples = [build_sample_frame(t["rgb"], t["depth"], t["camera_info"]) for t in triplets]
    return settings, pipeline, triplets, stand_in_networks(pipeline, samples)


def soak(models_dir: str, data_dir: Path, frames: int, rate_hz: float, keep: Path | None = None) -> dict[str, Any]:
    tracemalloc.start()
    start = time.perf_counter()
    settings, pipeline, triplets, stand_ins = stand_in_pipeline(models_dir, data_dir)
    plan = plan_frames(frames, len(triplets))
    expected = expected_outcomes(plan)
    setup_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="bench_soak_") as temp:
        directory = keep or Path(temp)
        bag = write_soak_bag(directory / "recording", SoakMessages(triplets), plan)
        bag_mib = sum(f.stat().st_size for f in bag.iterdir()) / 2**20
        write_s = time.perf_counter() - start - setup_s
        replay = soak_replay(pipeline, settings, bag, directory / "replay", frames)
        pipeline.reset_tracking()
        node = NodePath(pipeline, settings, frames).run(bag, rate_hz)
    figures: dict[str, Any] = {
        "cpu": cpu_name(),
        "load_average_1min": os.getloadavg()[0],
        "frames": frames,
        "bag_mib": round(bag_mib, 1),
        "networks": stand_ins,
        "faults": dict(Counter(frame.fault for frame in plan if frame.fault)),
        "stamp_jumps": {
            "forward_5s": (frames - 1 + JUMP_EVERY // 2) // JUMP_EVERY,
            "back_3s": (frames - 1) // JUMP_EVERY,
        },
        "expected": {kind: dict(counts) for kind, counts in expected.items()},
        "replay": replay | {"problems": account(replay, expected, exact=True)},
        "node": node | {"problems": account(node, expected, exact=False)},
        "setup_s": setup_s,
        "write_s": write_s,
        "total_wall_s": time.perf_counter() - start,
    }
    print(
        f"CPU: {figures['cpu']}; load average {figures['load_average_1min']:.2f}; {frames} frames "
        f"({figures['bag_mib']:.0f} MiB recording), faults {figures['faults']}, stamp jumps {figures['stamp_jumps']}; "
        f"networks answered from a recording ({stand_ins})"
    )
    report("replay", figures["replay"], figures["replay"]["problems"])
    report(f"node worker at {rate_hz:.0f} Hz with bursts", figures["node"], figures["node"]["problems"])
    print(
        f"total {figures['total_wall_s']:.0f} s (models and their recording {setup_s:.0f} s, "
        f"writing the recording {write_s:.0f} s)"
    )
    return figures


if __name__ == "__main__":
    main()
