"""The crowd rules (stages.crowd), each on the skeletons PP-TinyPose gives for real crowd
photos (annotated boxes), made wrong in the way each rule exists for."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from hdnet_ros.evaluation.annotations import CROWD_SETS, AnnotatedPhoto, load_set, load_sets
from hdnet_ros.inference.runtime import InferenceConfig, open_model_file
from hdnet_ros.joints import (
    LEFT_ELBOW,
    LEFT_WRIST,
    NUM_COCO_JOINTS,
    NUM_JOINTS,
    RIGHT_ELBOW,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    TORSO_JOINTS,
)
from hdnet_ros.model_files import resolve_model_file
from hdnet_ros.people import Detection, Person
from hdnet_ros.stages.crowd import CrowdConfig, CrowdStage, Skeletons
from hdnet_ros.stages.crowd.hidden import COVERING, hidden_joints, segment_distances
from hdnet_ros.stages.crowd.merge import duplicates
from hdnet_ros.stages.crowd.ownership import (
    MIRROR,
    SCORE_TIE,
    TORSO_RATIO,
    implausible_limbs,
    outside_box,
    shared_joints,
)
from hdnet_ros.stages.crowd.skeletons import pair_oks
from hdnet_ros.stages.keypoints2d import KeypointConfig
from hdnet_ros.stages.topdown_heatmap import HeatmapKeypoints

CONFIG = CrowdConfig()


@pytest.fixture(scope="module")
def estimator(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> HeatmapKeypoints:
    inference = InferenceConfig(engine_dir=str(tmp_path_factory.mktemp("engines")))
    path = resolve_model_file("pp_tinypose_128x96", models_dir)
    return HeatmapKeypoints(open_model_file("pp_tinypose_128x96", path, inference, 2), KeypointConfig())


@pytest.fixture(scope="module")
def photos(data_dir: Path) -> list[AnnotatedPhoto]:
    return load_sets(data_dir)


def people_of(estimator: HeatmapKeypoints, photo: AnnotatedPhoto, score: float = 1.0) -> list[Person]:
    detections = [Detection(p.box.copy(), score) for p in photo.people]
    return [Person(d, k.pixels, k.scores) for d, k in zip(detections, estimator(photo.rgb, detections), strict=True)]


@pytest.fixture(scope="module")
def trio(data_dir: Path) -> AnnotatedPhoto:
    """AI Challenger: three people side by side, two of them holding hands."""
    return next(p for p in load_set(data_dir, CROWD_SETS[0]) if p.name.startswith("054d9ce9"))


def test_the_rules_keep_the_right_joints_of_every_annotated_person(
    estimator: HeatmapKeypoints, photos: list[AnnotatedPhoto]
) -> None:
    """On all 32 annotated people with their own boxes, no rule takes a joint that is right
    (within 0.1 of the box diagonal of its annotation): the rules cost nothing where the
    network is right (two people holding hands included)."""
    wrongly = 0
    for photo in photos:
        skeletons = Skeletons.of(people_of(estimator, photo))
        rejected = (
            outside_box(skeletons, CONFIG.box_margin)
            | implausible_limbs(skeletons, CONFIG.limb_slack)
            | shared_joints(skeletons, CONFIG.shared_radius)
        )
        for row, person in enumerate(photo.people):
            error = np.linalg.norm(skeletons.pixels[row, :NUM_COCO_JOINTS] - person.keypoints, axis=1)
            with np.errstate(invalid="ignore"):
                right = person.labelled & (error <= 0.1 * person.diagonal)
            wrongly += int(np.count_nonzero(rejected[row, :NUM_COCO_JOINTS] & right))
    assert wrongly == 0


def test_a_joint_far_outside_its_box_is_rejected(estimator: HeatmapKeypoints, trio: AnnotatedPhoto) -> None:
    people = people_of(estimator, trio)
    box = people[0].detection.box
    people[0].pixels[LEFT_WRIST] = (box[2] + 0.5 * (box[2] - box[0]), box[3])  # half a box beyond
    rejected = outside_box(Skeletons.of(people), CONFIG.box_margin)
    assert rejected[0, LEFT_WRIST]
    assert np.count_nonzero(rejected) == 1


def test_a_wrist_on_a_neighbour_is_an_implausible_limb(estimator: HeatmapKeypoints, trio: AnnotatedPhoto) -> None:
    people = people_of(estimator, trio)
    # Person 0's right wrist moved onto person 1's right shoulder, across the gap between them.
    people[0].pixels[RIGHT_WRIST] = trio.people[1].keypoints[RIGHT_SHOULDER]
    skeletons = Skeletons.of(people)
    assert implausible_limbs(skeletons, CONFIG.limb_slack)[0, RIGHT_WRIST]
    # The stage rejects it joint by joint: the rest of the skeleton stays.
    stage = CrowdStage(CONFIG)
    kept = stage(people, [False] * 3, [False] * 3)
    assert len(kept) == 3
    assert np.all(np.isnan(kept[0].pixels[RIGHT_WRIST])) and kept[0].scores[RIGHT_WRIST] == 0.0
    assert np.isfinite(kept[0].pixels[RIGHT_ELBOW]).all()
    assert stage.counts["rejected_joints"] >= 1


def test_a_joint_two_skeletons_claim_goes_to_the_surer_nearer_one(
    estimator: HeatmapKeypoints, trio: AnnotatedPhoto
) -> None:
    people = people_of(estimator, trio)
    # Person 0's left elbow put on person 1's left elbow, scored lower: it is person 1's
    # (next to person 1's torso, far from person 0's).
    people[0].pixels[LEFT_ELBOW] = people[1].pixels[LEFT_ELBOW] + 1.0
    people[0].scores[LEFT_ELBOW] = people[1].scores[LEFT_ELBOW] - 0.3
    rejected = shared_joints(Skeletons.of(people), CONFIG.shared_radius)
    assert rejected[0, LEFT_ELBOW] and not rejected[1, LEFT_ELBOW]
    # Scored alike (two hands held together), both keep it.
    people[0].scores[LEFT_ELBOW] = people[1].scores[LEFT_ELBOW]
    assert not shared_joints(Skeletons.of(people), CONFIG.shared_radius)[:, LEFT_ELBOW].any()


def test_two_detections_of_one_person_merge_and_neighbours_do_not(
    estimator: HeatmapKeypoints, trio: AnnotatedPhoto
) -> None:
    people = people_of(estimator, trio)
    assert not duplicates(Skeletons.of(people), np.zeros(3, bool), CONFIG.merge_oks).any()
    # A second, shifted and smaller box on person 2 (NMS let it through): its crop gives the same skeleton.
    box = trio.people[2].box.copy()
    shifted = box + np.array([0.05, 0.05, -0.03, -0.02]) * (box[2] - box[0])
    second = Detection(shifted, 0.5)
    twin = estimator(trio.rgb, [second])[0]
    people.append(Person(second, twin.pixels, twin.scores))
    dropped = duplicates(Skeletons.of(people), np.zeros(4, bool), CONFIG.merge_oks)
    np.testing.assert_array_equal(dropped, [False, False, False, True])  # the larger box stays
    stage = CrowdStage(CONFIG)
    assert len(stage(people, [False] * 4, [False] * 4)) == 3
    assert stage.counts["merged_detections"] == 1


@pytest.mark.parametrize("person", [0, 1, 2])
def test_a_head_and_shoulders_box_inside_the_body_s_box_merges(
    estimator: HeatmapKeypoints, trio: AnnotatedPhoto, person: int
) -> None:
    """A box around a person's head and shoulders (the top quarter of their box: IoU 0.25
    with it, wholly inside it) gives a skeleton that repeats their upper joints: one person,
    the whole body's box stays. Its OKS is taken over the larger box (the person's size):
    over the part box's small area the few pixels between the two crops' joints part them."""
    people = people_of(estimator, trio)
    box = trio.people[person].box.copy()
    part = Detection(np.array([box[0], box[1], box[2], box[1] + 0.25 * (box[3] - box[1])]), 0.5)
    found = estimator(trio.rgb, [part])[0]
    people.append(Person(part, found.pixels, found.scores))
    skeletons = Skeletons.of(people)
    dropped = duplicates(skeletons, np.zeros(4, bool), CONFIG.merge_oks)
    np.testing.assert_array_equal(dropped, [False, False, False, True])


def test_a_box_inside_another_with_its_own_skeleton_does_not_merge() -> None:
    """A small person standing behind a larger one, their box inside the larger one's, with
    joints of their own (the same skeleton shape, scaled and moved): two people."""
    rng = np.random.default_rng(3)
    front = np.column_stack([rng.uniform(100, 200, NUM_JOINTS), rng.uniform(100, 400, NUM_JOINTS)])
    behind = 0.4 * (front - front.min(axis=0)) + np.array([130.0, 150.0])
    pixels = np.stack([front, behind])
    skeletons = Skeletons(
        pixels, np.ones((2, NUM_JOINTS)), np.array([[100.0, 100, 200, 400], [130.0, 150, 170, 270]]), np.ones(2)
    )
    assert not duplicates(skeletons, np.zeros(2, bool), CONFIG.merge_oks).any()
    # The same joints (a few pixels apart) in the inner box are one person: the outer box stays.
    skeletons.pixels[1] = front + rng.normal(0.0, 2.0, front.shape)
    np.testing.assert_array_equal(duplicates(skeletons, np.zeros(2, bool), CONFIG.merge_oks), [False, True])


def test_a_part_box_s_skeleton_is_compared_at_the_whole_person_s_size() -> None:
    """A head-and-shoulders box (the top quarter of the body's box) whose joints repeat the
    body's 7 px off (6 % of its height, as the sample frames' seated row gave): over the part
    box's area the OKS parts them, over the larger box's (the person's size) it does not."""
    rng = np.random.default_rng(5)
    body = np.column_stack([rng.uniform(110, 190, NUM_JOINTS), rng.uniform(110, 390, NUM_JOINTS)])
    upper = list(range(9))  # nose, eyes, ears, shoulders, elbows
    body[upper, 1] = rng.uniform(110, 170, len(upper))
    part = np.full_like(body, np.nan)
    part[upper] = body[upper] + 7.0 / np.sqrt(2.0)
    boxes = np.array([[100.0, 100, 200, 400], [100.0, 100, 200, 180]])
    skeletons = Skeletons(np.stack([body, part]), np.ones((2, NUM_JOINTS)), boxes, np.ones(2))
    pair = (np.array([0]), np.array([1]))
    assert pair_oks(skeletons, *pair)[0] < CONFIG.merge_oks <= pair_oks(skeletons, *pair, larger=True)[0]
    np.testing.assert_array_equal(duplicates(skeletons, np.zeros(2, bool), CONFIG.merge_oks), [False, True])


def test_a_low_score_box_is_kept_on_a_person_and_dropped_on_background(
    estimator: HeatmapKeypoints, trio: AnnotatedPhoto
) -> None:
    people = people_of(estimator, trio, score=0.2)
    height, width = trio.rgb.shape[:2]
    empty = Detection(np.array([0.0, 0.0, 60.0, 150.0]), 0.2)  # a corner without a person
    found = estimator(trio.rgb, [empty])[0]
    people.append(Person(empty, found.pixels, found.scores))
    stage = CrowdStage(CONFIG)
    kept = stage(copy.deepcopy(people), [True] * 4, [False] * 4)
    assert [p.detection.box.tolist() for p in kept] == [p.box.tolist() for p in trio.people]
    assert stage.counts["low_score_kept"] == 3 and stage.counts["low_score_dropped"] == 1
    # The same box kept when it continues a track.
    assert len(CrowdStage(CONFIG)(copy.deepcopy(people), [True] * 4, [False, False, False, True])) == 4
    assert width > 60 and height > 150


def test_a_joint_on_another_person_seen_clearly_there_is_marked_hidden(
    estimator: HeatmapKeypoints, trio: AnnotatedPhoto
) -> None:
    people = people_of(estimator, trio)
    # Person 0's left wrist put on the middle of person 1's left forearm, with a low score.
    forearm = (people[1].pixels[LEFT_ELBOW] + people[1].pixels[LEFT_WRIST]) / 2
    people[0].pixels[LEFT_WRIST] = forearm
    people[0].scores[LEFT_WRIST] = 0.35
    people[1].scores[[LEFT_ELBOW, LEFT_WRIST]] = 0.9
    hidden = hidden_joints(Skeletons.of(people), CONFIG.hidden_limb_radius, CONFIG.hidden_ratio)
    assert hidden[0, LEFT_WRIST]
    assert not hidden[1].any()
    # The stage lowers its score (its ownership tests loosened: the moved wrist is far from its elbow).
    stage = CrowdStage(CrowdConfig(box_margin=2.0, limb_slack=10.0))
    kept = stage(people, [False] * 3, [False] * 3)
    assert kept[0].scores[LEFT_WRIST] == pytest.approx(0.35 * CONFIG.hidden_confidence)
    assert np.isfinite(kept[0].pixels[LEFT_WRIST]).all()  # still published, with its doubt


def dense_hidden_joints(skeletons: Skeletons, limb_radius: float, ratio: float) -> np.ndarray:
    """The hidden-joint test as first written: every joint against every other person's
    every covering segment [P,J,Q,B] (the reference for the pruned one)."""
    count = len(skeletons)
    hidden = np.zeros(skeletons.scores.shape, dtype=bool)
    first, second = np.array([a for a, _ in COVERING]), np.array([b for _, b in COVERING])
    pixels = skeletons.pixels[:, :NUM_COCO_JOINTS]
    starts, ends = skeletons.pixels[:, first], skeletons.pixels[:, second]
    distance = segment_distances(pixels[:, :, None, None], starts[None, None], ends[None, None])
    surer = np.minimum(skeletons.scores[:, first], skeletons.scores[:, second])
    radius = limb_radius * skeletons.body_scale()
    with np.errstate(invalid="ignore"):
        covered = (distance <= radius[None, None, :, None]) & (
            skeletons.scores[:, :NUM_COCO_JOINTS, None, None] < ratio * surer[None, None]
        )
    covered[np.arange(count), :, np.arange(count)] = False
    hidden[:, :NUM_COCO_JOINTS] = np.any(covered, axis=(2, 3)) & skeletons.seen[:, :NUM_COCO_JOINTS]
    return hidden


def test_the_pruned_hidden_test_gives_the_dense_tests_answer(
    estimator: HeatmapKeypoints, photos: list[AnnotatedPhoto]
) -> None:
    """On every crowd photo's skeletons, and on crowds made to put joints right at the
    radius of another person's limbs (rounding at the boundary) with unseen joints."""
    rng = np.random.default_rng(7)
    cases = [Skeletons.of(people_of(estimator, photo)) for photo in photos]
    for _ in range(40):
        base = cases[int(rng.integers(len(photos)))]
        skeletons = Skeletons(base.pixels.copy(), rng.uniform(0.0, 1.0, base.scores.shape), base.boxes, base.box_scores)
        count = len(skeletons)
        if count < 2:
            continue
        radius = CONFIG.hidden_limb_radius * skeletons.body_scale()
        for _ in range(10):  # a joint put at (about) the radius beside or beyond another person's limb
            p, q = rng.choice(count, 2, replace=False)
            a, b = COVERING[int(rng.integers(len(COVERING)))]
            start, end = skeletons.pixels[q, a], skeletons.pixels[q, b]
            normal = np.array([-(end - start)[1], (end - start)[0]])
            length = np.linalg.norm(normal)
            if not np.isfinite(length) or length == 0:
                continue
            beside = rng.uniform() < 0.5  # else beyond the end, where the person's box may end too
            side = normal / length if beside else (end - start) / length
            along = rng.uniform(0, 1) if beside else 1.0
            at = start + along * (end - start) + side * radius[q] * rng.choice([1.0, 0.999, 1.001])
            skeletons.pixels[p, int(rng.integers(NUM_COCO_JOINTS))] = at
        skeletons.pixels[rng.uniform(size=skeletons.scores.shape) < 0.1] = np.nan
        cases.append(skeletons)
    found = 0
    for skeletons in cases:
        expected = dense_hidden_joints(skeletons, CONFIG.hidden_limb_radius, CONFIG.hidden_ratio)
        np.testing.assert_array_equal(
            hidden_joints(skeletons, CONFIG.hidden_limb_radius, CONFIG.hidden_ratio), expected
        )
        found += int(expected.sum())
    assert found > 20  # the cases do hide joints


def norm_shared_joints(skeletons: Skeletons, radius: float) -> np.ndarray:
    """The shared-joint test as first written, with np.linalg.norm on [P,Q,17,2] (the
    reference for the one on coordinate planes)."""
    count = len(skeletons)
    rejected = np.zeros(skeletons.scores.shape, dtype=bool)
    pixels = skeletons.pixels[:, :NUM_COCO_JOINTS]
    scale = skeletons.body_scale()
    torso = skeletons.pixels[:, list(TORSO_JOINTS)]
    seen = np.all(np.isfinite(torso), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        centres = np.sum(np.where(seen[..., None], torso, 0.0), axis=1) / seen.sum(axis=1)[:, None]
    centres[seen.sum(axis=1) == 0] = np.nan
    near = np.zeros((count, count, NUM_COCO_JOINTS), dtype=bool)
    limit = radius * np.minimum(scale[:, None], scale[None, :])[..., None]
    for other in (pixels, pixels[:, MIRROR[:NUM_COCO_JOINTS]]):
        with np.errstate(invalid="ignore"):
            near |= np.linalg.norm(pixels[:, None] - other[None], axis=-1) < limit
    near[np.arange(count), np.arange(count)] = False
    to_torso = np.linalg.norm(pixels[:, None] - centres[None, :, None, :], axis=-1) / scale[None, :, None]
    to_torso = np.nan_to_num(to_torso, nan=np.inf)
    own = to_torso[np.arange(count), np.arange(count)]
    scores = skeletons.scores[:, :NUM_COCO_JOINTS]
    loses = near & (scores[None, :, :] - scores[:, None, :] > SCORE_TIE) & (to_torso < TORSO_RATIO * own[:, None, :])
    rejected[:, :NUM_COCO_JOINTS] = np.any(loses, axis=1)
    return rejected


def test_the_shared_joint_test_on_coordinate_planes_gives_the_norms_answer() -> None:
    rng = np.random.default_rng(11)
    rejected = 0
    for _ in range(200):
        count = int(rng.integers(2, 25))
        pixels = rng.uniform(0, 200, (count, NUM_JOINTS, 2))
        pixels[rng.uniform(size=(count, NUM_JOINTS)) < 0.15] = np.nan
        boxes = np.nan_to_num(np.concatenate((np.nanmin(pixels, 1) - 5, np.nanmax(pixels, 1) + 5), axis=1))
        skeletons = Skeletons(pixels, rng.uniform(0, 1, (count, NUM_JOINTS)), boxes, rng.uniform(size=count))
        expected = norm_shared_joints(skeletons, 0.2)
        np.testing.assert_array_equal(shared_joints(skeletons, 0.2), expected)
        rejected += int(expected.sum())
    assert rejected > 100


def test_the_stage_off_drops_candidates_and_changes_nothing(estimator: HeatmapKeypoints, trio: AnnotatedPhoto) -> None:
    people = people_of(estimator, trio)
    before = [p.pixels.copy() for p in people]
    kept = CrowdStage(CrowdConfig(enabled=False))(people, [False, True, False], [False] * 3)
    assert len(kept) == 2
    np.testing.assert_array_equal(kept[1].pixels, before[2])
