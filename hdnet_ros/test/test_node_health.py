"""Input health: each misconfiguration is reported once with a clear text; a synchronization
stall says which topic is silent or how far apart the stamps are; RGB images the
synchronizer drops unmatched are counted exactly as message_filters drops them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hdnet_ros.depth_fault import DepthFault, DepthFaultReason, DepthFaultWatch
from hdnet_ros.node.health import InputHealth, MessageFacts, facts_of
from hdnet_ros.node.sync_monitor import SyncMonitor
from hdnet_ros.replay.sync import ApproximateTimeSync

SECOND = 1_000_000_000
K = (525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0)
TOPICS = {"rgb": "/cam/rgb", "depth": "/cam/depth", "camera_info": "/cam/info"}


def triplet(
    stamp: int = SECOND, depth_size: tuple[int, int] = (640, 480), depth_frame: str = "cam", k: tuple = K
) -> tuple[MessageFacts, MessageFacts, MessageFacts]:
    return (
        MessageFacts("/cam/rgb", stamp, "cam", 640, 480),
        MessageFacts("/cam/depth", stamp, depth_frame, *depth_size),
        MessageFacts("/cam/info", stamp, "cam", 640, 480, k),
    )


def test_a_good_triplet_is_quiet() -> None:
    assert InputHealth().check_triplet(*triplet()) == []


def test_all_zero_stamps_warn_once() -> None:
    health = InputHealth()
    (warning,) = health.check_triplet(*triplet(stamp=0))
    assert warning.startswith("all input stamps are zero: the camera driver does not stamp its messages")
    assert health.check_triplet(*triplet(stamp=0)) == []


def test_some_zero_stamps_name_the_topics() -> None:
    rgb, depth, _ = triplet()
    (warning,) = InputHealth().check_triplet(rgb, depth, MessageFacts("/cam/info", 0, "cam", 640, 480, K))
    assert warning.startswith("zero header stamps on /cam/info:")


def test_depth_of_another_size_is_not_registered() -> None:
    health = InputHealth()
    (warning,) = health.check_triplet(*triplet(depth_size=(320, 240)))
    assert "depth on /cam/depth is 320x240 but RGB on /cam/rgb is 640x480" in warning
    assert "not registered to the RGB camera" in warning and "aligned_depth_to_color" in warning
    assert health.check_triplet(*triplet(depth_size=(320, 240))) == []


def test_depth_in_another_frame_warns_once() -> None:
    health = InputHealth()
    (warning,) = health.check_triplet(*triplet(depth_frame="cam_depth_optical_frame"))
    assert "depth frame_id 'cam_depth_optical_frame' differs from RGB frame_id 'cam'" in warning
    assert health.check_triplet(*triplet(depth_frame="cam_depth_optical_frame")) == []


def test_camera_info_with_zero_k_warns_once() -> None:
    health = InputHealth()
    (warning,) = health.check_triplet(*triplet(k=(0.0,) * 9))
    assert warning.startswith("camera_info on /cam/info has no focal length")
    assert "not calibrated" in warning
    assert health.check_triplet(*triplet(k=(0.0,) * 9)) == []


def test_camera_info_of_another_camera_warns() -> None:
    rgb, depth, _ = triplet()
    (warning,) = InputHealth().check_triplet(rgb, depth, MessageFacts("/cam/info", SECOND, "cam", 320, 240, K))
    assert "describes a 320x240 image but RGB on /cam/rgb is 640x480" in warning


def test_rgb_only_and_compressed_rgb_skip_the_checks_they_cannot_make() -> None:
    rgb, _, info = triplet()
    assert InputHealth().check_triplet(rgb, None, info) == []
    compressed = MessageFacts("/cam/rgb/compressed", SECOND, "cam")  # no size outside the payload
    assert InputHealth().check_triplet(compressed, MessageFacts("/cam/depth", SECOND, "cam", 320, 240), info) == []


def test_several_problems_are_each_reported() -> None:
    warnings = InputHealth().check_triplet(*triplet(stamp=0, depth_size=(320, 240), k=(0.0,) * 9))
    assert [w.split(":")[0] for w in warnings] == [
        "all input stamps are zero",
        "depth on /cam/depth is 320x240 but RGB on /cam/rgb is 640x480",
        "camera_info on /cam/info has no focal length (K = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])",
    ]


def test_facts_of_ros2_and_ros1_messages() -> None:
    header = SimpleNamespace(stamp=SimpleNamespace(sec=2, nanosec=5), frame_id="cam")
    ros2_info = SimpleNamespace(header=header, width=640, height=480, k=list(K))
    ros1_info = SimpleNamespace(header=header, width=640, height=480, K=list(K))
    compressed = SimpleNamespace(header=header, format="jpeg", data=b"")
    assert facts_of(ros2_info, "/i") == MessageFacts("/i", 2 * SECOND + 5, "cam", 640, 480, K)
    assert facts_of(ros1_info, "/i").k == K
    assert facts_of(compressed, "/c") == MessageFacts("/c", 2 * SECOND + 5, "cam")


def test_stall_names_the_silent_topic() -> None:
    monitor = SyncMonitor(TOPICS, queue_size=10, slop_ns=SECOND // 10, start_ns=0)
    monitor.on_message("camera_info", SECOND, now_ns=SECOND)
    monitor.on_message("rgb", 5 * SECOND, now_ns=5 * SECOND)
    assert monitor.stall(now_ns=4 * SECOND, timeout_ns=5 * SECOND) is None
    stall = monitor.stall(now_ns=6 * SECOND, timeout_ns=5 * SECOND)
    assert stall is not None
    assert stall.startswith("no synchronized triplet for 6.0 s: ")
    assert "/cam/depth has published nothing" in stall
    assert "/cam/info silent for 5.0 s" in stall
    assert "/cam/rgb" not in stall


def test_stall_with_every_topic_alive_says_how_far_apart_the_stamps_are() -> None:
    monitor = SyncMonitor(TOPICS, queue_size=10, slop_ns=SECOND // 10, start_ns=0)
    for role, offset in (("rgb", 0), ("depth", 320_000_000), ("camera_info", -5_000_000)):
        monitor.on_message(role, 100 * SECOND + offset, now_ns=9 * SECOND)
    stall = monitor.stall(now_ns=10 * SECOND, timeout_ns=5 * SECOND)
    assert stall is not None
    assert "stamps do not match within input.slop = 0.1 s" in stall
    assert "/cam/depth stamp +0.320 s from RGB" in stall and "/cam/info stamp -0.005 s from RGB" in stall


def test_a_triplet_ends_the_stall() -> None:
    monitor = SyncMonitor(TOPICS, queue_size=10, slop_ns=SECOND // 10, start_ns=0)
    monitor.on_triplet(SECOND, now_ns=5 * SECOND)
    assert monitor.stall(now_ns=9 * SECOND, timeout_ns=5 * SECOND) is None
    assert monitor.triplets == 1


def test_stall_is_reported_once_per_stall() -> None:
    health = InputHealth()
    assert health.check_sync("no synchronized triplet for 5.0 s: x") == ["no synchronized triplet for 5.0 s: x"]
    assert health.check_sync("no synchronized triplet for 6.0 s: x") == []
    assert health.check_sync(None) == []  # triplets flow again: re-armed
    assert health.check_sync("no synchronized triplet for 5.0 s: y") == ["no synchronized triplet for 5.0 s: y"]


def test_unmatched_rgb_images_are_counted_when_they_leave_the_queue() -> None:
    monitor = SyncMonitor(TOPICS, queue_size=2, slop_ns=0, start_ns=0)
    assert monitor.on_message("rgb", 1, 0) == 0
    assert monitor.on_message("rgb", 2, 0) == 0
    assert monitor.on_message("rgb", 3, 0) == 1  # 1 pushed out
    monitor.on_triplet(3, 0)
    assert monitor.on_message("rgb", 4, 0) == 0  # queue: 2, 4
    assert monitor.on_message("rgb", 4, 0) == 1  # same stamp again replaces the first 4
    assert monitor.on_message("depth", 9, 0) == 0  # only RGB images are frames


@pytest.mark.parametrize("queue_size", [1, 3])
def test_unmatched_count_equals_what_the_synchronizer_drops(queue_size: int) -> None:
    """Fed the same stream, SyncMonitor counts exactly the RGB images message_filters'
    policy (the replay's copy of it) evicts or replaces without matching."""
    monitor = SyncMonitor(TOPICS, queue_size=queue_size, slop_ns=10, start_ns=0)
    roles = list(TOPICS)
    sync: ApproximateTimeSync[int] = ApproximateTimeSync(
        3, queue_size, 10, lambda matched: monitor.on_triplet(matched[0], 0)
    )
    # RGB at 30 Hz-ish; depth misses some frames and is late on others; camera_info always.
    stream = []
    for i in range(40):
        stamp = i * 100
        stream.append(("rgb", stamp))
        if i % 3:
            stream.append(("depth", stamp + (50 if i % 7 == 0 else 3)))
        stream.append(("camera_info", stamp))
    stream.append(("rgb", 3900))  # a repeated stamp
    counted = 0
    for role, stamp in stream:
        counted += monitor.on_message(role, stamp, 0)  # the node's raw callback runs first
        sync.add(roles.index(role), stamp, stamp)
    lost = sync.stats.evicted.get(0, 0) + sync.stats.replaced.get(0, 0)
    assert lost > 0
    assert counted == lost


def test_depth_faults_warn_once_per_transition() -> None:
    """The worker's DepthFaultWatch: one line when depth goes, one when it is back."""
    watch = DepthFaultWatch("/cam/depth")
    zeros = DepthFault(DepthFaultReason.ALL_INVALID, "depth image has no valid pixel")
    assert watch.update(None) is None  # depth fine from the start: nothing to say
    start = watch.update(zeros)
    assert start is not None
    assert start.startswith("depth on /cam/depth is unusable (all_invalid: depth image has no valid pixel)")
    assert "processing RGB only" in start
    assert watch.update(zeros) is None
    assert watch.update(DepthFault(DepthFaultReason.SIZE_MISMATCH, "320x240")) is None  # still no depth
    assert watch.update(None) == "depth on /cam/depth is usable again after 3 frame(s) with a depth fault"
    assert watch.update(None) is None
    again = watch.update(zeros)  # gone again: said again
    assert again is not None and again.startswith("depth on /cam/depth is unusable")


def test_unregistered_depth_warning_says_frames_go_on_rgb_only() -> None:
    (warning,) = InputHealth().check_triplet(*triplet(depth_size=(320, 240)))
    assert "processed from RGB only (depth fault size_mismatch)" in warning and "skipped" not in warning
