"""The node's capture-to-publish latency and drop rate at 30 Hz input, without ROS (issue 11, item 6).

    python3 benchmarks/bench_node_latency.py --models-dir ../shared/models --data-dir ../shared/data

Drives the node's worker exactly as ``hdnet_node`` does after message conversion: a producer
thread plays the synchronizer's callback (stamps each sample triplet with the capture time,
records the input, runs the input health checks and submits it to the one-frame slot of a
:class:`FrameWorker`) at 30 Hz in real time; the worker runs the node's
:class:`FrameProcessor` (cv_bridge's passthrough conversion, build_frame, the pipeline, the
core's output messages and the people for planners (PoseArray, people_msgs/People,
hri_msgs/IdsList); only the rclpy copies and ``publish`` calls are left out). Prints the
latency from capture stamp to published results (p50, p95, max), the share of frames the
worker dropped because it was busy, and the output rate, all from one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from frame_sources import sample_triplets
from frame_timing import RATE_HZ
from hdnet_ros.depth_fault import DepthFaultWatch
from hdnet_ros.image_codec import image_to_array
from hdnet_ros.node.decoded_image import DecodedImage, decoded_image
from hdnet_ros.node.diagnostics import DiagnosticsAggregator
from hdnet_ros.node.frame_processor import FrameProcessor, Triplet, core_outputs
from hdnet_ros.node.frame_slot import FrameWorker
from hdnet_ros.node.health import InputHealth, facts_of
from hdnet_ros.outputs.navigation import navigation_outputs
from hdnet_ros.pipeline import FrameResult, Pipeline
from hdnet_ros.transform_buffer import Transform
from machine import cpu_name

from hdnet_ros.config import Settings, load_settings

WARM_UP_FRAMES = 3
LOG = logging.getLogger("bench_node_latency")


class _Log:
    """The node's logger stand-in: warnings go to logging (throttling does not matter here)."""

    def warning(self, text: str, throttled: bool = False) -> None:
        LOG.warning("%s", text)

    def error(self, text: str, throttled: bool = False) -> None:
        LOG.error("%s", text)


def passthrough(msg: Any, role: str) -> DecodedImage:
    """What the node's cv_bridge ``imgmsg_to_cv2(msg, "passthrough")`` hands to build_frame."""
    array = image_to_array(msg.data, msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian))
    return decoded_image(msg.header, array, msg.encoding)


def captured(triplet: Triplet, stamp_ns: int) -> Triplet:
    """The triplet as a camera would publish it now: new headers, the same image buffers."""
    stamped = {}
    for role, msg in triplet.items():
        sec, nanosec = divmod(stamp_ns, 1_000_000_000)
        stamp = dataclasses.replace(msg.header.stamp, sec=sec, nanosec=nanosec)
        stamped[role] = dataclasses.replace(msg, header=dataclasses.replace(msg.header, stamp=stamp))
    return stamped


class Publisher:
    """The node's _publish without rclpy: the same core builders, the people for planners in
    the camera frame (no TF lookup)."""

    def __init__(self, settings: Settings, diagnostics: DiagnosticsAggregator) -> None:
        self._settings = settings
        self._diagnostics = diagnostics
        self.people: list[int] = []  # people published per frame

    def __call__(self, result: FrameResult) -> None:
        self.people.append(len(result.people))
        output = self._settings.output
        core_outputs(result, output, self._diagnostics.output_rate_hz or output.nominal_frame_rate, debug_image=False)
        frame = result.frame
        navigation_outputs(result.people, frame.stamp_ns, frame.frame_id, frame.frame_id, Transform.identity())


def produce(
    worker: FrameWorker[Triplet], diagnostics: DiagnosticsAggregator, triplets: list[Triplet], frames: int
) -> None:
    """The synchronizer's callback at RATE_HZ in real time (what NodeCore._on_triplet does)."""
    health = InputHealth()
    period_s = 1.0 / RATE_HZ
    start = time.perf_counter()
    for index in range(frames):
        delay = start + index * period_s - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        triplet = captured(triplets[index % len(triplets)], time.time_ns())
        diagnostics.record_input()
        facts = {role: facts_of(msg, role) for role, msg in triplet.items()}
        for warning in health.check_triplet(facts["rgb"], facts.get("depth"), facts["camera_info"]):
            LOG.warning("%s", warning)
        worker.submit(triplet)


def run(pipeline: Pipeline, triplets: list[Triplet], frames: int) -> dict[str, Any]:
    settings = pipeline.settings
    diagnostics = DiagnosticsAggregator("bench", latency_window=frames + WARM_UP_FRAMES)
    publisher = Publisher(settings, diagnostics)
    processor = FrameProcessor(
        pipeline,
        settings.input,
        diagnostics,
        DepthFaultWatch("depth"),
        decode=passthrough,
        publish=publisher,
        clock_ns=time.time_ns,
        log=_Log(),
    )
    for index in range(WARM_UP_FRAMES):  # allocations and kernel choice, outside the measurement
        processor.process(captured(triplets[index % len(triplets)], time.time_ns()))
    pipeline.timer.samples_ms.clear()
    warm = len(diagnostics.latencies_ms())
    worker: FrameWorker[Triplet] = FrameWorker(processor.process, processor.on_worker_busy, processor.on_worker_error)
    worker.start()
    start = time.perf_counter()
    producer = threading.Thread(target=produce, args=(worker, diagnostics, triplets, frames), name="producer")
    producer.start()
    producer.join()
    worker.stop()  # finishes the frame in hand and the one waiting
    wall_s = time.perf_counter() - start
    latencies = np.array(diagnostics.latencies_ms()[warm:])
    drops = diagnostics.drop_totals()
    busy = drops.pop("worker_busy", 0)
    if drops:
        raise SystemExit(f"frames dropped for other reasons than a busy worker: {drops}")
    return {
        "frames_in": frames,
        "frames_out": int(latencies.size),
        "worker_busy_drops": busy,
        "drop_rate": busy / frames,
        "output_rate_hz": latencies.size / wall_s,
        "latency_ms": {
            "p50": float(np.percentile(latencies, 50)),
            "p95": float(np.percentile(latencies, 95)),
            "max": float(latencies.max()),
        },
        "pipeline_median_ms": float(np.median(pipeline.timer.samples_ms["total"])),
        "people_per_frame": sorted(set(publisher.people[WARM_UP_FRAMES:])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=10.0, help="input duration at 30 Hz (default 10 s)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    pipeline = Pipeline.from_settings(load_settings(overrides={"models.models_dir": args.models_dir}))
    triplets = list(sample_triplets(args.data_dir).values())
    figures = run(pipeline, triplets, frames=round(args.seconds * RATE_HZ))
    figures["cpu"] = cpu_name()
    figures["load_average_1min"] = os.getloadavg()[0]
    latency = figures["latency_ms"]
    print(
        f"CPU: {figures['cpu']}; load average {figures['load_average_1min']:.2f}; "
        f"{figures['frames_in']} sample frames at {RATE_HZ:.0f} Hz in real time through the node's worker; "
        f"people per frame {figures['people_per_frame']}"
    )
    print(
        f"capture-to-publish latency p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms, "
        f"max {latency['max']:.1f} ms over {figures['frames_out']} published frames"
    )
    print(
        f"worker drop rate {figures['drop_rate']:.1%} ({figures['worker_busy_drops']} of {figures['frames_in']} "
        f"dropped as worker_busy); output {figures['output_rate_hz']:.1f} Hz; "
        f"pipeline median {figures['pipeline_median_ms']:.1f} ms per frame"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
