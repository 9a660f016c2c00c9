"""The replay job: bags in, an output directory out (rosbag2 mcap, summary.json, overlays).

For each input bag: read the RGB, depth and camera_info messages in recording order, pair
them exactly as the node's synchronizer would, turn each triplet into a checked frame, run
the pipeline, and write what the node would publish. Nothing is dropped silently: every
message or frame that does not become output is counted in summary.json with its reason,
and every frame processed without its depth (a depth fault) is counted with its reason.
Overlay PNGs are encoded by a writer thread (:mod:`hdnet_ros.replay.overlay_writer`), so
the pipeline does not wait for them.

A frame whose camera poses (``floor.frame``, ``tracking.fixed_frame``) the bag's ``/tf`` does
not reach yet waits for them as the node's tf2 lookup would, up to ``node.tf_timeout_s`` of
recording time: odometry is recorded a few milliseconds after the image it belongs to.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hdnet_ros.config import Settings, settings_to_dict
from hdnet_ros.depth_fault import DepthFaultWatch
from hdnet_ros.frame_input import FrameError, SkipReason, build_frame
from hdnet_ros.joints import ROOT
from hdnet_ros.logs import get_logger
from hdnet_ros.outputs.frame_outputs import core_outputs
from hdnet_ros.outputs.navigation import navigation_outputs
from hdnet_ros.outputs.network_report import network_values
from hdnet_ros.outputs.tf_frames import tf_message
from hdnet_ros.people import DepthSource, Frame, Person
from hdnet_ros.pipeline import FrameResult, Pipeline, freeze_loaded_objects, thaw_loaded_objects
from hdnet_ros.replay.bag_input import ROLES, BagInput, BagInputError, BagMessage
from hdnet_ros.replay.bag_output import OutputBag
from hdnet_ros.replay.overlay_writer import OverlayWriter
from hdnet_ros.replay.recorded_tf import RecordedTransforms
from hdnet_ros.replay.summary import FrameRecords, InputReport, ReplaySummary
from hdnet_ros.replay.sync import ApproximateTimeSync
from hdnet_ros.transform_buffer import Transform

LOG = get_logger(__name__)


@dataclass(frozen=True)
class _Waiting:
    """A frame waiting for its camera poses, since the recording time ``since_ns``."""

    report: InputReport
    frame: Frame
    matched: dict[str, BagMessage]
    since_ns: int


@dataclass(frozen=True)
class ReplayOptions:
    output_dir: Path
    topic_overrides: dict[str, str | None]
    include_inputs: bool = False
    write_overlays: bool = True
    overlay_every: int = 1  # an overlay PNG for every N-th processed frame
    progress: bool = True


class ReplayJob:
    """Runs the pipeline over several bags into one output directory."""

    def __init__(self, pipeline: Pipeline, settings: Settings, options: ReplayOptions) -> None:
        if options.overlay_every < 1:
            raise ValueError(f"overlay_every must be at least 1, got {options.overlay_every}")
        self.pipeline = pipeline
        self.settings = settings
        self.options = options
        self.summary = ReplaySummary(settings=settings_to_dict(settings))
        if settings.node.target_frame:
            LOG.warning(
                "node.target_frame %r is the node's (it needs TF): the replay writes /people and /hdnet/people "
                "in the camera frame",
                settings.node.target_frame,
            )
        options.output_dir.mkdir(parents=True, exist_ok=True)
        # Per-frame entries go to disk as they come: a long bag's replay does not grow in memory.
        self.summary.people_per_frame = FrameRecords(options.output_dir / "frames.jsonl")
        self.bag = OutputBag(options.output_dir / "bag")
        self._transforms = RecordedTransforms(settings.floor.frame, settings.tracking.fixed_frame)
        self._waiting: deque[_Waiting] = deque()  # frames waiting for their camera poses in TF
        self._clock_ns = 0  # the recording time of the last message read
        self.overlays: OverlayWriter | None = None
        if options.write_overlays:
            overlay_dir = options.output_dir / "overlays"
            overlay_dir.mkdir(exist_ok=True)
            self.overlays = OverlayWriter(overlay_dir)

    def run(self, inputs: list[Path]) -> ReplaySummary:
        freeze_loaded_objects()  # no cycle collection walks the models between frames
        try:
            for path in inputs:
                self._replay_one(path)
        finally:
            thaw_loaded_objects()
            self.bag.close()
            self._close_overlays()
            self.summary.stage_latency_ms = self.pipeline.timer.summary()
            self.summary.networks = self.pipeline.network_report()
            self.summary.output_messages = dict(self.bag.counts)
            self.summary.people_per_frame.close()
            self.summary.write(self.options.output_dir / "summary.json")
        return self.summary

    def _close_overlays(self) -> None:
        if self.overlays is None:
            return
        stats = self.overlays.close()
        self.summary.overlays = stats.as_dict()
        if stats.failed:
            LOG.error("%d overlay PNG(s) could not be written, first: %s", stats.failed, stats.errors[0])

    def _replay_one(self, path: Path) -> None:
        report = InputReport(path=str(path))
        self.summary.inputs.append(report)
        try:
            bag = BagInput(path, self.options.topic_overrides, self.settings.input.use_depth)
        except BagInputError as error:
            report.error = str(error)
            LOG.error("%s", error)
            return
        self.pipeline.reset_tracking()  # ids do not carry over from another recording
        # Nor do its transforms.
        self._transforms = RecordedTransforms(self.settings.floor.frame, self.settings.tracking.fixed_frame)
        with bag:
            report.topics = bag.topics.as_dict()
            report.depth_input = self._depth_input(path, bag.topics.depth)
            roles = [role for role in ROLES if report.topics.get(role)]
            watch = DepthFaultWatch(bag.topics.depth or "")
            sync: ApproximateTimeSync[BagMessage] = ApproximateTimeSync(
                len(roles),
                self.settings.input.queue_size,
                int(self.settings.input.slop * 1e9),
                lambda matched: self._process(report, watch, dict(zip(roles, matched, strict=True))),
            )
            # Frames (RGB images) per second is what a user compares with the camera's rate.
            progress = tqdm(
                total=bag.message_counts().get("rgb"), desc=path.name, unit="frame", disable=not self.options.progress
            )
            try:
                for item in bag.messages():
                    self._feed(report, sync, roles, item)
                    if item.role == "rgb":
                        progress.update()
            except Exception as error:  # a truncated or corrupt bag stops mid-way: keep what was done
                report.error = f"{path}: bag could not be read to the end ({type(error).__name__}: {error})"
                LOG.error("%s", report.error)
            finally:
                progress.close()
                self._release(final=True)  # the frames still waiting for TF: with what the bag gave
            self._count_unmatched(report, sync, roles)

    def _depth_input(self, path: Path, depth_topic: str | None) -> str:
        """Where this input's depth comes from, said once at the start when there is none."""
        if depth_topic is not None:
            return "sensor"
        if not self.settings.input.use_depth:
            return "off: input.use_depth is false (--no-depth)"
        LOG.warning(
            "%s: no depth topic: replaying RGB only (3D from the skeleton and the networks; "
            "--depth-topic names a depth topic the discovery missed)",
            path,
        )
        return "none: no depth topic in the bag"

    def _feed(
        self, report: InputReport, sync: ApproximateTimeSync[BagMessage], roles: list[str], item: BagMessage
    ) -> None:
        report.messages_read[item.role] = report.messages_read.get(item.role, 0) + 1
        self._clock_ns = item.log_time_ns
        if item.role == "rgb":
            self.summary.frames_read += 1
        if item.message is None:
            self.summary.skip(report.path, SkipReason.UNREADABLE_MESSAGE.value, item.error or "", topic=item.topic)
            return
        if item.role in ("tf", "tf_static"):  # to the transform buffer, as ros2 bag play hands them to tf2
            self._transforms.add(item.message, static=item.role == "tf_static")
        else:
            sync.add(roles.index(item.role), item.stamp_ns, item)
        self._release()

    def _count_unmatched(self, report: InputReport, sync: ApproximateTimeSync[BagMessage], roles: list[str]) -> None:
        """RGB images that never found depth and camera_info within the slop are skipped frames."""
        rgb = roles.index("rgb")
        unmatched = list(sync.queues[rgb].values())
        unmatched_count = sync.stats.evicted.get(rgb, 0) + sync.stats.replaced.get(rgb, 0)
        for item in unmatched:
            self.summary.skip(
                report.path,
                SkipReason.NO_SYNC_PARTNER.value,
                self._sync_hint(sync, roles, item.stamp_ns),
                item.stamp_ns,
                item.topic,
            )
        for _ in range(unmatched_count):
            self.summary.skip(
                report.path,
                SkipReason.NO_SYNC_PARTNER.value,
                "RGB image left the synchronizer queue unmatched",
                topic=report.topics["rgb"],
            )

    def _sync_hint(self, sync: ApproximateTimeSync[BagMessage], roles: list[str], stamp_ns: int) -> str:
        """Say which partner was missing or how far off its stamps were."""
        parts = []
        for role, queue in zip(roles, sync.queues, strict=True):
            if role == "rgb":
                continue
            if not queue:
                parts.append(f"no unmatched {role} message")
            else:
                nearest = min(abs(s - stamp_ns) for s in queue)
                parts.append(f"nearest {role} {nearest / 1e9:.3f} s away")
        return f"no partner within slop {self.settings.input.slop} s ({'; '.join(parts)})"

    def _process(self, report: InputReport, watch: DepthFaultWatch, matched: dict[str, BagMessage]) -> None:
        rgb = matched["rgb"]
        try:
            frame = build_frame(
                rgb.message,
                matched["depth"].message if "depth" in matched else None,
                matched["camera_info"].message,
                depth_units_divisor=self.settings.input.depth_units_divisor or None,
            )
        except FrameError as error:
            stamp = rgb.stamp_ns
            self.summary.skip(report.path, error.reason.value, str(error), stamp, rgb.topic)
            LOG.warning("frame %d skipped: %s", stamp, error)
            return
        if frame.depth_fault is not None:
            fault = frame.depth_fault
            report.frames_with_depth_fault += 1
            self.summary.depth_fault(report.path, fault.reason.value, fault.message, frame.stamp_ns, watch.topic)
        transition = watch.update(frame.depth_fault)
        if transition:
            LOG.warning("frame %d: %s", frame.stamp_ns, transition)
        self._waiting.append(_Waiting(report, frame, matched, self._clock_ns))

    def _release(self, final: bool = False) -> None:
        """Run the waiting frames, in order, whose camera poses TF now gives or has given up
        on (module doc); ``final``: the bag ended, all of them."""
        wait_ns = int(self.settings.node.tf_timeout_s * 1e9)
        while self._waiting:
            head = self._waiting[0]
            self._transforms.pose_frames(head.frame)
            poses = (head.frame.floor_pose, head.frame.fixed_pose)
            late = any(pose is not None and pose.reason == "stale" for pose in poses)
            if late and not final and self._clock_ns - head.since_ns < wait_ns:
                return
            self._waiting.popleft()
            self._run(head.report, head.frame, head.matched)

    def _run(self, report: InputReport, frame: Frame, matched: dict[str, BagMessage]) -> None:
        result = self.pipeline.process(frame)
        report.frames_processed += 1
        self.summary.frames_processed += 1
        self._record(result)
        self._write(result, matched)

    def _record(self, result: FrameResult) -> None:
        fault = result.frame.depth_fault
        self.summary.people_per_frame.append(
            {
                "stamp_ns": result.frame.stamp_ns,
                "people": len(result.people),
                "people_with_root": sum(bool(p.valid[ROOT]) for p in result.people),
                "root_sources": root_sources(result.people),
                "valid_joints": [p.num_valid for p in result.people],
                "depth_fault": fault.reason.value if fault is not None else None,
                "stage_ms": {k: round(v, 3) for k, v in result.stage_ms.items()},
            }
        )

    def _write(self, result: FrameResult, matched: dict[str, BagMessage]) -> None:
        """What the node publishes for ``result`` (the same builders, markers at the nominal
        rate: a replay has no measured output rate; people in the camera frame: a replay has
        no TF for ``node.target_frame``), and the overlay PNG."""
        stamp, camera_frame = result.frame.stamp_ns, result.frame.frame_id
        output = self.settings.output
        outputs = core_outputs(result, output, output.nominal_frame_rate, debug_image=True)
        self.bag.write("/hdnet/skeletons", outputs.skeletons, stamp)
        self.bag.write("/hdnet/markers", outputs.markers, stamp)
        if outputs.transforms:
            self.bag.write("/tf", tf_message(outputs.transforms), stamp)
        self.bag.write("/hdnet/debug_image", outputs.debug_image, stamp)
        people = navigation_outputs(result.people, stamp, camera_frame, camera_frame, Transform.identity())
        self.bag.write("/hdnet/people", people.poses, stamp)
        self.bag.write("/people", people.people, stamp)
        self.bag.write("/humans/bodies/tracked", people.bodies, stamp)
        due = (self.summary.frames_processed - 1) % self.options.overlay_every == 0
        if self.overlays is not None and due and outputs.overlay is not None:
            self.overlays.submit(str(stamp), outputs.overlay)
        if self.options.include_inputs:
            for item in matched.values():
                self.bag.write_cdr(item.topic, item.msgtype, item.cdr, item.stamp_ns)


def root_sources(people: list[Person]) -> dict[str, int]:
    """How many people's roots came from each depth source, e.g. {"fused": 3, "network": 1}."""
    return dict(Counter(DepthSource(int(p.depth_sources[ROOT])).name.lower() for p in people if p.valid[ROOT]))


def network_line(networks: dict[str, Any]) -> str:
    """What the 3D networks did, in the node's /diagnostics wording, e.g. "3D pose network:
    blazepose, root depth network: off, BlazePose crops: 18, BlazePose rejected (low
    presence): 2, BlazePose without a root: 1"."""
    return ", ".join(f"{key}: {value}" for key, value in network_values(networks).items())


def summary_line(summary: ReplaySummary) -> str:
    people = [entry["people"] for entry in summary.people_per_frame]
    faults = summary.depth_faults_by_reason
    parts: list[Any] = [
        f"{summary.frames_read} frames read",
        f"{summary.frames_processed} processed",
        f"{len(summary.depth_faults)} with a depth fault (RGB only) {faults or ''}".strip(),
        f"{len(summary.skipped)} skipped {summary.skipped_by_reason or ''}".strip(),
        f"people per frame {min(people)}-{max(people)}" if people else "no people",
    ]
    parts.append(network_line(summary.networks))
    total = summary.stage_latency_ms.get("total")
    if total:
        parts.append(f"pipeline median {total['median_ms']:.1f} ms, p95 {total['p95_ms']:.1f} ms")
    return ", ".join(str(p) for p in parts)
