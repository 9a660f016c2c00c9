"""Placing people without depth: the joint fit, the floor from TF, the people's floor, each
person's learned scale. Bodies are the standing template (Drillis & Contini) seen by a
camera over a floor, so every expected value is exact geometry."""

from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel
from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    NUM_COCO_JOINTS,
    PELVIS,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    ROOT,
)
from hdnet_ros.people import CameraPose, DepthSource, Detection, Frame, Person
from hdnet_ros.skeleton import STANDING_TEMPLATE
from hdnet_ros.stages.depth import NetworkEstimates
from hdnet_ros.stages.placement import FloorConfig, MonocularPlacement, PlacementConfig, person_cues
from hdnet_ros.stages.placement.fit import ANKLE_HEIGHT_M, Cues, Placement, place_person, standing
from hdnet_ros.stages.placement.floor import Floor, FloorRefusal, floor_from_pose, tangent_basis
from hdnet_ros.stages.placement.people_floor import PeopleFloor
from hdnet_ros.stages.placement.scale import learn_scales
from scipy.spatial.transform import Rotation

CAMERA = CameraModel(1280, 720, np.array([[900.0, 0, 639.5], [0, 900.0, 359.5], [0, 0, 1]]))
STATURE = 1.70
SHOE_M = ANKLE_HEIGHT_M - 0.039 * STATURE  # the template's ankles stand on soles this thick
LEGS = [LEFT_HIP, RIGHT_HIP, LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE]


def camera_pose(height: float, pitch_deg: float) -> np.ndarray:
    """The optical frame in the floor frame: at ``height`` over the origin, looking along +x,
    pitched down by ``pitch_deg``."""
    pitch = np.deg2rad(pitch_deg)
    z = np.array([np.cos(pitch), 0.0, -np.sin(pitch)])
    x = np.array([0.0, -1.0, 0.0])
    pose = np.eye(4)
    pose[:3, :3] = np.stack((x, np.cross(z, x), z), axis=1)
    pose[:3, 3] = (0.0, 0.0, height)
    return pose


def body(where: tuple[float, float], stature: float = STATURE, lift: float = 0.0, seated: bool = False) -> np.ndarray:
    """World joints [21,3] (COCO 17 + heels and toes) of a person facing the camera (-x),
    standing on the floor at ``where`` (raised by ``lift``), or seated on a chair."""
    template = STANDING_TEMPLATE.copy() * stature
    template[:, 1] += SHOE_M
    if seated:  # thighs forward (towards the camera), shins down to the floor
        hips = template[[LEFT_HIP, RIGHT_HIP]].copy()
        hips[:, 1] = 0.45
        drop = template[LEFT_HIP, 1] - 0.45
        template[:LEFT_HIP, 1] -= drop  # the upper body sits down with the hips
        template[[LEFT_HIP, RIGHT_HIP]] = hips
        template[[LEFT_KNEE, RIGHT_KNEE], 1] = 0.47
        template[[LEFT_KNEE, RIGHT_KNEE], 2] = 0.42
        template[[LEFT_ANKLE, RIGHT_ANKLE], 1] = ANKLE_HEIGHT_M
        template[[LEFT_ANKLE, RIGHT_ANKLE], 2] = 0.42
    ankles = template[[LEFT_ANKLE, RIGHT_ANKLE]]
    heels = ankles + np.array([0.0, -0.05, -0.05])
    toes = ankles + np.array([0.0, -0.06, 0.15])
    points = np.concatenate((template[:NUM_COCO_JOINTS], heels, toes))
    left, up, forward = points[:, 0], points[:, 1], points[:, 2]
    return np.stack((where[0] - forward, where[1] - left, up + lift), axis=1)


def observe(world: np.ndarray, pose: np.ndarray, skeleton_error_deg: float = 0.0) -> tuple[Cues, np.ndarray]:
    """What the fit gets: the camera-frame skeleton (pelvis-relative; its legs turned by
    ``skeleton_error_deg`` towards the image plane, the network's error seen from above) and
    the pixels; and the true camera-frame pelvis."""
    rotation, translation = pose[:3, :3], pose[:3, 3]
    camera_points = (world - translation) @ rotation  # R^T (p - t)
    pelvis = (camera_points[LEFT_HIP] + camera_points[RIGHT_HIP]) / 2.0
    skeleton = camera_points - pelvis
    if skeleton_error_deg:
        legs = [LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE, 17, 18, 19, 20]
        turn = Rotation.from_rotvec(np.deg2rad(skeleton_error_deg) * np.array([1.0, 0.0, 0.0]))
        skeleton[legs] = turn.apply(skeleton[legs])
    pixels = CAMERA.project(camera_points)
    return Cues(skeleton, pixels, np.ones(len(pixels))), pelvis


def tf_floor(pose: np.ndarray) -> Floor:
    floor = floor_from_pose(pose, FloorConfig())
    assert isinstance(floor, Floor)
    return floor


@pytest.mark.parametrize(
    ("height", "pitch", "where"), [(1.5, 5.0, (3.0, 0.3)), (3.4, 49.0, (3.2, -0.5)), (2.4, 27.0, (4.0, 1.0))]
)
def test_an_exact_skeleton_is_placed_exactly_with_and_without_the_floor(
    height: float, pitch: float, where: tuple[float, float]
) -> None:
    pose = camera_pose(height, pitch)
    cues, truth = observe(body(where), pose)
    for floor in (None, tf_floor(pose)):
        placed = place_person(cues, CAMERA, floor, keypoint_sigma_px=1.0)
        assert isinstance(placed, Placement)
        np.testing.assert_allclose(placed.position, truth, atol=2e-3)
        assert placed.standing == (floor is not None)
        assert placed.scale == pytest.approx(1.0, abs=2e-3)


def test_floor_from_tf_removes_the_far_bias_of_a_leaning_skeleton_seen_from_above() -> None:
    """The network's legs lean 15 deg less than the truth seen from 3.4 m: the fit of its
    skeleton alone puts the person far; the floor puts them back."""
    pose = camera_pose(3.4, 49.0)
    cues, truth = observe(body((3.0, 0.2)), pose, skeleton_error_deg=-15.0)
    free = place_person(cues, CAMERA, None, keypoint_sigma_px=3.0)
    floored = place_person(cues, CAMERA, tf_floor(pose), keypoint_sigma_px=3.0)
    assert isinstance(free, Placement) and isinstance(floored, Placement)
    assert free.position[2] - truth[2] > 0.15
    assert floored.standing
    assert abs(floored.position[2] - truth[2]) < 0.06
    assert np.linalg.norm(floored.position - truth) < 0.08


def test_a_bigger_person_than_the_skeleton_is_placed_by_the_floor_not_by_the_prior() -> None:
    pose = camera_pose(2.4, 27.0)
    world = body((3.5, 0.0), stature=1.90)
    cues, truth = observe(world, pose)
    small = Cues(cues.skeleton * (1.70 / 1.90), cues.pixels, cues.weights)  # the network's typical adult
    free = place_person(small, CAMERA, None, keypoint_sigma_px=1.0)
    floored = place_person(small, CAMERA, tf_floor(pose), keypoint_sigma_px=1.0)
    assert isinstance(free, Placement) and isinstance(floored, Placement)
    assert truth[2] - free.position[2] > 0.25  # 11 % too close without the floor
    assert abs(floored.position[2] - truth[2]) < 0.12
    assert floored.scale > 1.05  # the floor says the person is bigger than the skeleton


def test_unsure_ankles_do_not_pin_a_person_to_the_floor() -> None:
    """Ankles 60 px below the truth (legs drawn onto a nearer person's): scored as sure they
    pull the person nearer by far more than the scores-below-FEET_MIN_SCORE case moves them,
    which stays where the hip height and the torso put them."""
    from hdnet_ros.stages.placement.fit import FEET_MIN_SCORE

    pose = camera_pose(2.4, 27.0)
    cues, truth = observe(body((3.5, 0.0)), pose)
    pixels = cues.pixels.copy()
    pixels[[LEFT_ANKLE, RIGHT_ANKLE], 1] += 60.0
    placed = {}
    for score in (FEET_MIN_SCORE + 0.3, FEET_MIN_SCORE - 0.1):
        weights = cues.weights.copy()
        weights[[LEFT_ANKLE, RIGHT_ANKLE]] = score
        result = place_person(Cues(cues.skeleton, pixels, weights), CAMERA, tf_floor(pose), keypoint_sigma_px=3.0)
        assert isinstance(result, Placement) and result.standing
        placed[score > FEET_MIN_SCORE] = result.position[2] - truth[2]
    assert placed[True] < -0.15  # the sure, wrong ankles pull the person near
    assert abs(placed[False]) < 0.5 * abs(placed[True])


def test_a_fit_that_diverges_places_no_one() -> None:
    """A man below a camera 3.4 m high, cut by the image at his waist, his trunk seen end-on
    (Panoptic 00_06, frame 13007; the network's numbers as they came): his shoulders and
    hips project within 90 px of each other and the fit with the floor ran off to 1e8 m and
    more; it is a failure with its reason, never a placement."""
    from hdnet_ros.stages.placement.fit import FIT_POINTS, MAX_DEPTH_M

    camera = CameraModel(1920, 1080, np.array([[1397.06, 0.0, 951.324], [0.0, 1393.61, 548.802], [0.0, 0.0, 1.0]]))
    skeleton = np.full((21, 3), np.nan)
    skeleton[list(FIT_POINTS)] = [
        [0.36959410132842285, -0.07505427033993971, -0.3506370783763648],
        [0.12644427870896188, -0.08656547467070984, -0.4554255349350486],
        [0.05709957358392169, 0.01309252498050276, 0.02318385473872546],
        [-0.05709957358392169, -0.01309252498050276, -0.02318385473872546],
        [0.12124421815815414, 0.20535954657054867, 0.2839445840115706],
        [-0.03693137074545617, 0.22169923521243293, 0.1937168395710097],
        [0.04245755171854092, 0.33941453657368487, 0.6082948152670427],
        [-0.1321475171952951, 0.29802176915771594, 0.5530556068865716],
        [0.03545275325620903, 0.363014024260148, 0.6400620768924834],
        [-0.14450259256144346, 0.3108749908303307, 0.5926155165488453],
        [0.04437158456908991, 0.38663656296414856, 0.6397815308317314],
        [-0.1466725067841419, 0.36075521947805567, 0.5944164320161015],
    ]
    pixels = np.full((21, 2), np.nan)
    pixels[list(FIT_POINTS[:4])] = [
        [599.0593297213295, 936.2980682843184],
        [689.275142468706, 996.5050939568837],
        [684.9080051847511, 968.539078569616],
        [656.5611643107931, 975.1380811943762],
    ]
    weights = np.zeros(21)
    weights[list(FIT_POINTS[:4])] = [0.42472827434539795, 0.9912238284594976, 0.9990628670975277, 0.9994355816764224]
    up = np.array([0.0487847138445079, -0.6562345106455301, -0.7529782989787496])
    floor = Floor(up, -3.39811, "tf", 0.01, 0.0087)
    result = place_person(Cues(skeleton, pixels, weights), camera, floor, keypoint_sigma_px=3.0)
    assert not isinstance(result, Placement) or result.position[2] < MAX_DEPTH_M
    assert not isinstance(result, Placement), result


def test_a_seated_person_is_not_pulled_onto_the_floor() -> None:
    pose = camera_pose(1.5, 10.0)
    cues, truth = observe(body((3.0, 0.0), seated=True), pose)
    assert not standing(cues.skeleton, tf_floor(pose).normal)
    placed = place_person(cues, CAMERA, tf_floor(pose), keypoint_sigma_px=1.0)
    assert isinstance(placed, Placement)
    assert not placed.standing
    np.testing.assert_allclose(placed.position, truth, atol=5e-3)


def test_a_person_standing_on_a_platform_is_not_put_on_the_floor() -> None:
    """Standing skeleton, feet 0.6 m over the floor (a stage, a table): the floor's terms
    disagree with the free fit far beyond their uncertainty, so they are not applied."""
    pose = camera_pose(2.4, 27.0)
    cues, truth = observe(body((3.5, 0.0), lift=0.6), pose)
    placed = place_person(cues, CAMERA, tf_floor(pose), keypoint_sigma_px=1.0)
    assert isinstance(placed, Placement)
    assert not placed.standing
    np.testing.assert_allclose(placed.position, truth, atol=5e-3)


def test_a_person_cut_by_the_image_uses_the_points_it_sees() -> None:
    """Close to a level camera the feet are below the image: the torso and knees place the
    person, the floor through the hip height alone."""
    pose = camera_pose(1.5, 0.0)
    cues, truth = observe(body((2.6, 0.0)), pose)
    assert np.all(cues.pixels[[LEFT_ANKLE, RIGHT_ANKLE], 1] > CAMERA.height)
    for floor in (None, tf_floor(pose)):
        placed = place_person(cues, CAMERA, floor, keypoint_sigma_px=1.0)
        assert isinstance(placed, Placement)
        assert placed.points == 6  # shoulders, hips, knees
        np.testing.assert_allclose(placed.position, truth, atol=5e-3)


def test_too_few_points_is_a_failure_with_its_reason() -> None:
    pose = camera_pose(1.5, 0.0)
    cues, _ = observe(body((3.0, 0.0)), pose)
    hidden = np.ones(len(cues.weights), dtype=bool)
    hidden[[5, 6, 11]] = False
    pixels = np.where(hidden[:, None], np.nan, cues.pixels)
    result = place_person(Cues(cues.skeleton, pixels, cues.weights), CAMERA, None, keypoint_sigma_px=1.0)
    assert not isinstance(result, Placement)
    assert "3 torso, leg and foot points seen" in result.reason


def test_floor_from_pose_and_its_refusals() -> None:
    config = FloorConfig()
    floor = tf_floor(camera_pose(2.4, 27.0))
    assert floor.camera_height == pytest.approx(2.4)
    assert np.degrees(np.arccos(floor.normal @ np.array([0.0, -1.0, 0.0]))) == pytest.approx(27.0)
    below = floor_from_pose(camera_pose(-0.3, 10.0), config)
    assert isinstance(below, FloorRefusal) and below.reason == "below_floor"
    high = floor_from_pose(camera_pose(25.0, 10.0), config)
    assert isinstance(high, FloorRefusal) and high.reason == "too_high"
    sideways = camera_pose(1.5, 0.0)
    sideways[:3, :3] = sideways[:3, :3] @ Rotation.from_euler("z", 90, degrees=True).as_matrix()  # rolled 90 deg
    tilted = floor_from_pose(sideways, config)
    assert isinstance(tilted, FloorRefusal) and tilted.reason == "tilted"
    assert "90 deg" in tilted.message


def _person(cues: Cues) -> Person:
    seen = cues.pixels[np.all(np.isfinite(cues.pixels), axis=1)]
    box = np.concatenate((seen.min(axis=0) - 10.0, seen.max(axis=0) + 10.0))
    person = Person(Detection(box, 0.9), cues.pixels[:19].copy(), np.ones(19))
    pose = np.full((19, 3), np.nan)
    pose[:NUM_COCO_JOINTS] = cues.skeleton[:NUM_COCO_JOINTS]
    pose[PELVIS] = 0.0
    person.pixels = np.full((19, 2), np.nan)
    person.pixels[:NUM_COCO_JOINTS] = cues.pixels[:NUM_COCO_JOINTS]
    person.network_pose = pose
    person.network_feet = cues.skeleton[NUM_COCO_JOINTS:].copy()
    person.feet_pixels = cues.pixels[NUM_COCO_JOINTS:].copy()
    person.feet_scores = np.ones(4)
    return person


def _crowd(
    pose: np.ndarray, places: list[tuple[float, float]], error_deg: float = 0.0
) -> tuple[list[Person], list[np.ndarray]]:
    people, truths = [], []
    for where in places:
        cues, truth = observe(body(where), pose, skeleton_error_deg=error_deg)
        people.append(_person(cues))
        truths.append(truth)
    return people, truths


def test_person_cues_read_the_network_pose_and_the_seen_keypoints() -> None:
    cues, _ = observe(body((3.0, 0.0)), camera_pose(1.5, 5.0))
    person = _person(cues)
    person.pixels[LEFT_KNEE] = np.nan
    read = person_cues(person, (1.1, 0.02), CAMERA)
    assert read is not None
    assert read.weights[LEFT_KNEE] == 0.0 and read.weights[RIGHT_KNEE] == 1.0
    assert (read.scale, read.scale_sigma) == (1.1, 0.02)
    person.network_pose = None
    assert person_cues(person, (1.0, 0.07), CAMERA) is None


def test_people_floor_is_found_from_standing_people_over_frames() -> None:
    pose = camera_pose(3.4, 49.0)
    truth = tf_floor(pose)
    rng = np.random.default_rng(0)
    estimator = PeopleFloor()
    from hdnet_ros.stages.placement import floor_observations

    for frame in range(6):
        places = [(float(rng.uniform(2.5, 4.5)), float(rng.uniform(-1.0, 1.0))) for _ in range(3)]
        people, _ = _crowd(pose, places)
        for person in people:  # 2 px keypoint noise
            person.pixels = person.pixels + rng.normal(0.0, 2.0, person.pixels.shape)
        floor = estimator.add(floor_observations(people, CAMERA, frame))
    assert floor is not None and floor.source == "people"
    assert abs(floor.camera_height - 3.4) < max(3 * floor.sigma_offset_m, 0.05)
    tilt = np.degrees(np.arccos(np.clip(floor.normal @ truth.normal, -1, 1)))
    assert tilt < max(3 * np.degrees(floor.sigma_tilt_rad), 1.0)


def _seated_with_standing_skeleton(where: tuple[float, float], pose: np.ndarray, ankle_score: float) -> Person:
    """A person seated on a chair whose 3D network drew standing legs (the sample frames'
    people seen from behind at a table): a standing skeleton, the seated body's pixels, and
    ankles the 2D network scored ``ankle_score``."""
    skeleton = observe(body(where), pose)[0].skeleton
    pixels = observe(body(where, seated=True), pose)[0].pixels
    person = _person(Cues(skeleton, pixels, np.ones(len(pixels))))
    person.scores[[LEFT_ANKLE, RIGHT_ANKLE]] = ankle_score
    return person


@pytest.mark.parametrize(("height", "pitch"), [(1.1, 10.0), (1.5, 20.0)])
def test_people_floor_takes_only_the_ankles_the_2d_network_is_sure_of(height: float, pitch: float) -> None:
    """Three standing people and three seated ones whose skeleton stands, over 5 frames (1
    px keypoint noise). The seated people's ankles, scored under the fit's own bound for
    feet (FEET_MIN_SCORE), make no floor point, and the floor is the standing people's;
    the same ankles taken as sure put the camera 0.4-0.5 m too high (measured)."""
    from hdnet_ros.stages.placement import floor_observations
    from hdnet_ros.stages.placement.fit import FEET_MIN_SCORE

    pose = camera_pose(height, pitch)
    heights = {}
    for score in (FEET_MIN_SCORE - 0.15, 1.0):
        estimator, rng = PeopleFloor(), np.random.default_rng(0)
        for frame in range(5):
            people = [_person(observe(body(where), pose)[0]) for where in ((3.0, -0.8), (4.0, 0.5), (5.0, 0.0))]
            people += [_seated_with_standing_skeleton(w, pose, score) for w in ((2.4, 1.0), (2.6, 1.4), (2.5, 1.8))]
            for person in people:
                person.pixels = person.pixels + rng.normal(0.0, 1.0, person.pixels.shape)
            seated = floor_observations(people[3:], CAMERA, frame)
            assert len(seated) >= 2  # their standing skeletons pass the standing test
            assert all(len(o.ankle_rays) == (0 if score < FEET_MIN_SCORE else 2) for o in seated)
            floor = estimator.add(floor_observations(people, CAMERA, frame))
        assert floor is not None and floor.source == "people"
        heights[score] = floor.camera_height
    assert abs(heights[FEET_MIN_SCORE - 0.15] - height) < 0.03
    assert abs(heights[1.0] - height) > 0.2  # what the rule keeps out


def test_people_floor_starts_again_when_the_camera_moves() -> None:
    estimator = PeopleFloor()
    from hdnet_ros.stages.placement import floor_observations

    high = camera_pose(3.4, 49.0)
    for frame in range(4):
        people, _ = _crowd(high, [(3.0, -0.5), (3.5, 0.5), (4.0, 0.0)])
        estimator.add(floor_observations(people, CAMERA, frame))
    assert estimator.floor is not None and estimator.floor.camera_height == pytest.approx(3.4, abs=0.05)
    low = camera_pose(1.2, 10.0)
    people, _ = _crowd(low, [(3.0, -0.5), (3.5, 0.5), (4.0, 0.0)])
    estimator.add(floor_observations(people, CAMERA, 10))
    assert estimator.restarts == 1


def _tracked(people: list[Person], scale: float = float("nan")) -> list[Person]:
    """Each person's track's last person (``expected``): track ids 1, 2, ... and a learned scale."""
    tracks = []
    for track, person in enumerate(people, start=1):
        previous = Person(person.detection, person.pixels.copy(), np.ones(19))
        previous.track_id, previous.scale, previous.scale_sigma = track, scale, 0.02
        tracks.append(previous)
    return tracks


def test_people_floor_counts_a_person_seen_again_once() -> None:
    """The same three people over 12 frames (a still scene; 2 px keypoint noise drawn anew
    each frame): their own errors repeat, so the floor's height is not known much better
    than from one frame. The same observations without tracks (other people each frame)
    shrink it as one over the root of the frames."""
    from hdnet_ros.stages.placement import floor_observations

    pose = camera_pose(2.4, 27.0)
    people, _ = _crowd(pose, [(3.0, -1.0), (3.6, 0.8), (4.5, -0.2)])
    rng = np.random.default_rng(5)
    tracked, untracked = PeopleFloor(), PeopleFloor()
    first = None
    truths = [person.pixels.copy() for person in people]
    for frame in range(12):
        for person, truth in zip(people, truths, strict=True):
            person.pixels = truth + rng.normal(0.0, 2.0, truth.shape)
        floor = tracked.add(floor_observations(people, CAMERA, frame, _tracked(people)))
        untracked.add(floor_observations(people, CAMERA, frame))
        first = first if first is not None else floor
    assert first is not None and tracked.floor is not None and untracked.floor is not None
    assert tracked.floor.sigma_offset_m > 0.6 * first.sigma_offset_m
    assert untracked.floor.sigma_offset_m < 0.5 * tracked.floor.sigma_offset_m


def test_the_design_effect_of_repeated_people() -> None:
    from hdnet_ros.stages.placement.people_floor import FloorObservation, repeats

    def seen(track: int) -> FloorObservation:
        return FloorObservation(
            np.zeros((0, 3)), np.array([0.0, 0.0, 1.0]), 0.9, np.array([0.0, -1.0, 0.0]), 0, None, track
        )

    assert repeats([seen(-1)] * 6) == 1.0  # untracked: each another person
    assert repeats([seen(1)] * 4 + [seen(2)] * 4) == 4.0
    assert repeats([seen(1)] * 6 + [seen(2)] * 2) == pytest.approx((36 + 4) / 8)


def test_floor_observations_take_the_track_and_its_learned_scale() -> None:
    from hdnet_ros.stages.placement import floor_observations

    people, _ = _crowd(camera_pose(2.4, 27.0), [(3.0, -1.0), (3.6, 0.8)])
    plain = floor_observations(people, CAMERA, 0)
    learned = floor_observations(people, CAMERA, 0, _tracked(people, scale=1.1))
    ignored = floor_observations(people, CAMERA, 0, _tracked(people, scale=1.1), learned_scale=False)
    assert [o.track for o in plain] == [-1, -1] and [o.track for o in learned] == [1, 2]
    for before, after, off in zip(plain, learned, ignored, strict=True):
        assert after.hip_height == pytest.approx(1.1 * before.hip_height)
        assert off.hip_height == before.hip_height and off.track == after.track


def _frame(floor_pose: CameraPose | None, stamp: int = 1) -> Frame:
    return Frame(
        np.zeros((CAMERA.height, CAMERA.width, 3), np.uint8), None, CAMERA, stamp, "camera", floor_pose=floor_pose
    )


def _placement() -> MonocularPlacement:
    return MonocularPlacement(FloorConfig(), PlacementConfig(), keypoint_sigma_px=2.0, scale_sigma=0.07)


def test_the_tf_floor_places_people_and_a_missing_or_wrong_one_is_a_counted_fallback() -> None:
    pose = camera_pose(3.4, 49.0)
    stage = _placement()
    people, truths = _crowd(pose, [(3.0, -0.5), (3.8, 0.6)], error_deg=-15.0)
    networks, placed = stage(_frame(CameraPose(pose)), people, NetworkEstimates.none(2), [None, None], lambda: None)
    assert stage.floor is not None and stage.floor.source == "tf"
    assert all(isinstance(p, Placement) and p.standing for p in placed)
    assert networks.root_point is not None
    for point, truth in zip(networks.root_point, truths, strict=True):
        assert np.linalg.norm(point - truth) < 0.1
    stage(
        _frame(CameraPose(None, "missing", "frame 'base_footprint' does not exist")),
        people,
        NetworkEstimates.none(2),
        [None, None],
        lambda: None,
    )
    rolled = pose.copy()
    rolled[:3, :3] = rolled[:3, :3] @ Rotation.from_euler("z", 90, degrees=True).as_matrix()
    stage(_frame(CameraPose(rolled)), people, NetworkEstimates.none(2), [None, None], lambda: None)
    report = stage.report()
    assert report["floor_tf"] == 1
    assert report["tf_missing"] == 1 and report["tf_tilted"] == 1
    assert report["standing"] >= 2
    # The depth image's plane is next in line.
    stage(
        _frame(None),
        people,
        NetworkEstimates.none(2),
        [None, None],
        lambda: (tf_floor(pose).normal, tf_floor(pose).offset),
    )
    assert stage.report().get("floor_depth", 0) == 0  # no depth image in the frame: not asked


def test_the_stage_ties_the_people_floors_observations_to_their_tracks() -> None:
    """Without TF or depth the stage builds the people's floor from its people with their
    tracks (``expected``), so a still scene's people seen again do not tighten it."""
    pose = camera_pose(2.4, 27.0)
    people, _ = _crowd(pose, [(3.0, -1.0), (3.6, 0.8), (4.5, -0.2)])
    stage = _placement()
    for stamp in range(1, 4):
        stage(_frame(None, stamp), people, NetworkEstimates.none(3), _tracked(people), lambda: None)
    assert stage.floor is not None and stage.floor.source.startswith("people")
    assert [o.track for o in stage.people_floor.observations] == [1, 2, 3] * 3


def test_a_learned_scale_keeps_the_monocular_root_on_the_sensor_one() -> None:
    """A person 8 % bigger than the network's skeleton: measured by the sensor for a while,
    the scale is learnt; without depth, the fit with that scale lands on the truth."""
    pose = camera_pose(1.2, 5.0)
    world = body((3.0, 0.0), stature=1.70 * 1.08)
    cues, truth = observe(world, pose)
    small = Cues(cues.skeleton / 1.08, cues.pixels, cues.weights)
    person = _person(small)
    previous: Person | None = None
    for _ in range(10):
        current = _person(small)
        placement = place_person(small, CAMERA, None, keypoint_sigma_px=1.0)
        current.positions[ROOT] = truth  # the sensor's root
        current.position_stddev[ROOT] = 0.01
        current.depth_sources[ROOT] = DepthSource.SENSOR
        learn_scales([current], [previous], [placement], 0.07)
        previous = current
    assert previous is not None
    assert previous.scale == pytest.approx(1.08, abs=0.01)
    assert previous.scale_sigma < 0.02
    blind = place_person(
        Cues(small.skeleton, small.pixels, small.weights, previous.scale, previous.scale_sigma), CAMERA, None, 1.0
    )
    stranger = place_person(small, CAMERA, None, 1.0)
    assert isinstance(blind, Placement) and isinstance(stranger, Placement)
    assert abs(blind.position[2] - truth[2]) < 0.03
    assert truth[2] - stranger.position[2] > 0.15
    # Without a measurement the scale is carried, a little looser.
    carried = _person(small)
    learn_scales([carried], [previous], [blind], 0.07)
    assert carried.scale == previous.scale and carried.scale_sigma > previous.scale_sigma
    assert np.isnan(person.scale)


def test_the_floor_is_reported_in_the_network_wording() -> None:
    from hdnet_ros.outputs.network_report import network_values

    values = network_values(
        {"pose_3d": "blazepose", "placement": {"floor_tf": 3, "floor_people": 2, "tf_stale": 1, "standing": 7}}
    )
    assert values["floor (frames)"] == "people 2, tf 3"
    assert values["TF floor not used (frames)"] == "stale 1"
    assert values["people placed on the floor"] == "7"
    assert "floor (frames)" not in network_values({"pose_3d": "blazepose"})


def test_keypoints_at_a_border_that_cuts_the_person_are_not_used() -> None:
    """A person cut by the image's bottom: the 2D network's guesses for the ankles beyond
    it land just inside the edge and are not used; the same keypoints of a person whose box
    ends above the border are."""
    cues, _ = observe(body((3.0, 0.0)), camera_pose(1.5, 5.0))
    person = _person(cues)
    person.pixels[[LEFT_ANKLE, RIGHT_ANKLE], 1] = CAMERA.height - 25.0  # a guess at the edge
    person.detection.box[3] = CAMERA.height - 1.0  # the box reaches the border
    cut = person_cues(person, (1.0, 0.07), CAMERA)
    assert cut is not None
    assert cut.weights[LEFT_ANKLE] == 0.0 and cut.weights[RIGHT_ANKLE] == 0.0
    assert cut.weights[LEFT_KNEE] == 1.0
    person.detection.box[3] = CAMERA.height - 60.0
    whole = person_cues(person, (1.0, 0.07), CAMERA)
    assert whole is not None and whole.weights[LEFT_ANKLE] == 1.0


def test_the_fit_takes_the_networks_own_landmarks_where_they_agree_with_the_keypoints() -> None:
    """Joint definitions: the 3D network's landmark (its skeleton's own projection) replaces
    the 2D keypoint within a tenth of the torso; a landmark far off does not."""
    from hdnet_ros.stages.placement.cues import fit_pixels

    cues, _ = observe(body((3.0, 0.0)), camera_pose(1.5, 5.0))
    person = _person(cues)
    person.pixels[PELVIS] = (person.pixels[LEFT_HIP] + person.pixels[RIGHT_HIP]) / 2
    person.pixels[18] = (person.pixels[5] + person.pixels[6]) / 2
    torso = float(np.linalg.norm(person.pixels[18] - person.pixels[PELVIS]))
    np.testing.assert_array_equal(fit_pixels(person), person.pixels)  # no landmarks: the keypoints
    landmarks = person.pixels.copy()
    landmarks[[LEFT_HIP, RIGHT_HIP], 1] -= 0.05 * torso  # the network's hips sit higher
    landmarks[LEFT_KNEE, 1] += 0.4 * torso  # a landmark far off
    person.network_pixels = landmarks
    chosen = fit_pixels(person)
    np.testing.assert_array_equal(chosen[[LEFT_HIP, RIGHT_HIP]], landmarks[[LEFT_HIP, RIGHT_HIP]])
    np.testing.assert_array_equal(chosen[LEFT_KNEE], person.pixels[LEFT_KNEE])


def test_a_cut_persons_landmarks_are_taken_within_a_wider_gate() -> None:
    """A landmark 0.12 of the torso from the keypoint: left alone for a person inside the
    image, taken for one whose box reaches the image's bottom (the 3D network frames their
    whole body, the 2D network only the cut box)."""
    from hdnet_ros.stages.placement.cues import AGREEMENT, AGREEMENT_CUT, cut_sides

    assert AGREEMENT < 0.12 < AGREEMENT_CUT
    cues, _ = observe(body((5.0, 0.0)), camera_pose(1.5, 5.0))  # wholly inside the image
    person = _person(cues)
    person.pixels[PELVIS] = (person.pixels[LEFT_HIP] + person.pixels[RIGHT_HIP]) / 2
    person.pixels[18] = (person.pixels[5] + person.pixels[6]) / 2
    torso = float(np.linalg.norm(person.pixels[18] - person.pixels[PELVIS]))
    landmarks = person.pixels.copy()
    landmarks[LEFT_SHOULDER, 1] += 0.12 * torso
    person.network_pixels = landmarks
    assert not any(cut_sides(person.detection.box, CAMERA))
    inside = person_cues(person, (1.0, 0.07), CAMERA)
    assert inside is not None
    assert inside.pixels[LEFT_SHOULDER, 1] == person.pixels[LEFT_SHOULDER, 1]
    person.detection.box = person.detection.box.copy()
    person.detection.box[3] = CAMERA.height - 1  # the image cuts them at its bottom
    cut = person_cues(person, (1.0, 0.07), CAMERA)
    assert cut is not None
    assert cut.pixels[LEFT_SHOULDER, 1] == landmarks[LEFT_SHOULDER, 1]


def test_a_joint_near_the_cutting_border_counts_where_the_3d_networks_landmark_agrees() -> None:
    """A person cut at the image's bottom with a hip keypoint in the truncation band: the
    keypoint alone is a guess for a joint beyond the border (unused); with the 3D network's
    landmark agreeing with it, the joint is seen (used, at the landmark)."""
    from hdnet_ros.stages.placement.cues import TRUNCATION_BAND

    cues, _ = observe(body((5.0, 0.0)), camera_pose(1.5, 5.0))
    person = _person(cues)
    person.pixels[PELVIS] = (person.pixels[LEFT_HIP] + person.pixels[RIGHT_HIP]) / 2
    person.pixels[18] = (person.pixels[5] + person.pixels[6]) / 2
    box = person.detection.box.copy()
    box[3] = CAMERA.height - 1  # the image cuts them at its bottom
    person.detection.box = box
    band = TRUNCATION_BAND * float(box[3] - box[1])
    person.pixels[LEFT_HIP, 1] = CAMERA.height - 1 - band / 2  # in the band
    alone = person_cues(person, (1.0, 0.07), CAMERA)
    assert alone is not None and alone.weights[LEFT_HIP] == 0.0
    landmarks = person.pixels.copy()
    landmarks[LEFT_HIP, 1] -= 3.0
    person.network_pixels = landmarks
    agreed = person_cues(person, (1.0, 0.07), CAMERA)
    assert agreed is not None and agreed.weights[LEFT_HIP] > 0.0
    assert agreed.pixels[LEFT_HIP, 1] == landmarks[LEFT_HIP, 1]


def test_a_floor_is_found_from_the_people_of_one_frame() -> None:
    """Four standing people, 2 px keypoint noise, one frame: the floor is offered with its
    height, its error within its stated uncertainty where the people stand."""
    from hdnet_ros.stages.placement import floor_observations

    pose = camera_pose(2.4, 27.0)
    truth = tf_floor(pose)
    rng = np.random.default_rng(3)
    people, truths = _crowd(pose, [(3.0, -1.0), (3.6, 0.8), (4.5, -0.2), (2.6, 0.4)])
    for person in people:
        person.pixels = person.pixels + rng.normal(0.0, 2.0, person.pixels.shape)
    floor = PeopleFloor().add(floor_observations(people, CAMERA, 0))
    assert floor is not None and floor.source == "people"
    for pelvis in truths:
        under = pelvis - truth.heights(pelvis) * truth.normal  # the true floor under each person
        assert abs(float(floor.heights(under))) < 3 * floor.height_sigma(under)
    assert np.degrees(np.arccos(np.clip(floor.normal @ truth.normal, -1, 1))) < 3 * np.degrees(floor.sigma_tilt_rad)
    assert PeopleFloor().add(floor_observations(people[:2], CAMERA, 0)) is None  # two people: not enough


def test_a_floors_height_uncertainty_is_smallest_where_it_was_seen() -> None:
    """A TF floor: the offset's sigma under the camera, the tilt's growing with distance. A
    floor with a full covariance (a people floor) can be surer far from the camera than under it."""
    floor = tf_floor(camera_pose(2.4, 27.0))
    under_camera = -floor.offset * floor.normal * -1.0  # the floor point below the camera
    assert floor.height_sigma(under_camera) == pytest.approx(0.01, abs=1e-3)
    far = under_camera + 4.0 * np.cross(floor.normal, [1.0, 0.0, 0.0])
    assert floor.height_sigma(far) == pytest.approx(np.hypot(0.01, 4.0 * np.deg2rad(0.5)), rel=0.05)
    basis = tangent_basis(floor.normal)
    anchor = 3.0 * basis[1] + floor.offset * floor.normal  # where the people stood
    # Tilts of 0.05 rad each, the offset tied to the second (offset = lever x tilt + 1 cm):
    # the floor through the anchor is known to 1 cm, under the camera to 15 cm.
    lever = float(basis[1] @ anchor)
    mixing = np.array([[0.05, 0.0, 0.0], [0.0, 0.05, 0.0], [0.0, 0.05 * lever, 0.01]])
    full = mixing @ mixing.T
    seen = Floor(floor.normal, floor.offset, "people", float(np.sqrt(full[2, 2])), 0.05, full)
    assert seen.height_sigma(anchor) == pytest.approx(0.01, abs=1e-3)
    assert seen.height_sigma(anchor) < 0.5 * seen.height_sigma(under_camera)


def test_a_tf_floor_turns_a_leaning_skeleton_upright() -> None:
    """The network's whole skeleton leans 12 deg towards the image plane seen from above: a
    TF floor turns it most of the way back (the share its uncertainties leave it) and places
    the person; a people floor (made of the same trunks) does not turn it."""
    from hdnet_ros.stages.placement.posture import uprighting as _uprighting

    pose = camera_pose(3.4, 49.0)
    cues, truth = observe(body((3.2, 0.3)), pose)
    turn = Rotation.from_rotvec(np.deg2rad(12.0) * np.array([1.0, 0.0, 0.0]))
    leaning = Cues(turn.apply(cues.skeleton), cues.pixels, cues.weights)
    floor = tf_floor(pose)
    upright = _uprighting(leaning.skeleton, floor) @ (leaning.skeleton[5] + leaning.skeleton[6]).T / 2
    trunk_angle = np.degrees(np.arccos(upright @ floor.normal / np.linalg.norm(upright)))
    assert trunk_angle < 12.0 * 0.15
    placed = place_person(leaning, CAMERA, floor, keypoint_sigma_px=1.0)
    assert isinstance(placed, Placement) and placed.standing
    assert np.linalg.norm(placed.position - truth) < 0.06
    people_floor = Floor(floor.normal, floor.offset, "people", 0.01, float(np.deg2rad(0.5)))
    unturned = place_person(leaning, CAMERA, people_floor, keypoint_sigma_px=1.0)
    assert isinstance(unturned, Placement)
    assert np.linalg.norm(unturned.position - truth) > np.linalg.norm(placed.position - truth)


def test_legs_leaning_far_off_seen_from_above_still_stand() -> None:
    """Seen from 3.4 m the network's legs lean up to 40 deg off vertical: hips over the ankles
    by 0.77 of the leg still stand; a seated skeleton's (0.5) does not."""
    pose = camera_pose(3.4, 49.0)
    cues, _ = observe(body((3.0, 0.0)), pose, skeleton_error_deg=-40.0)
    assert standing(cues.skeleton, tf_floor(pose).normal)


def test_a_person_cut_at_the_hips_is_not_fitted_to_legs_drawn_inside_the_image() -> None:
    """Cut by the image's bottom at the hips, the networks draw the legs inside what they
    see: knees and ankles under a hip beyond the border are not used, too few points are
    left, and the network's own root is withdrawn (the depth stage's priors place them)."""
    pose = camera_pose(1.5, 5.0)
    cues, _ = observe(body((1.6, 0.0)), pose)
    person = _person(cues)
    person.detection.box[3] = CAMERA.height - 1.0
    person.pixels[[LEFT_HIP, RIGHT_HIP], 1] = CAMERA.height - 10.0  # at the edge: in the band
    person.pixels[[LEFT_KNEE, RIGHT_KNEE], 1] = CAMERA.height - 250.0  # drawn well inside
    person.pixels[[LEFT_ANKLE, RIGHT_ANKLE], 1] = CAMERA.height - 150.0
    read = person_cues(person, (1.0, 0.07), CAMERA)
    assert read is not None
    assert not np.any(read.weights[[LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE]])
    assert not np.any(read.weights[NUM_COCO_JOINTS:])  # the feet hang from the ankles
    stage = _placement()
    networks = NetworkEstimates(np.array([9.0]), np.array([0.5]), np.array([[0.0, 0.0, 9.0]]))
    out, placed = stage(_frame(CameraPose(pose)), [person], networks, [None], lambda: None)
    assert not isinstance(placed[0], Placement)
    assert out.root_point is not None and np.all(np.isnan(out.root_point[0])) and np.isnan(out.root_z[0])
    assert stage.report()["cut_unplaced"] == 1


def test_joints_drawn_onto_the_person_in_front_give_way_to_the_3d_networks_landmarks() -> None:
    """A man behind a nearer person, seen from 2.4 m at 27 deg: the 2D network draws his hips
    0.25 of the torso low, onto the person in front, and his ankles are hidden. His hip
    keypoints lie in the box of a person whose box reaches lower in the image (in front of
    him on the floor), so the 3D network's landmarks (here at the truth) are fitted: he is
    placed within 5 cm; with the same keypoints and the other person behind him (box
    higher), the keypoints stand and he is placed 10 cm and more too near."""
    from hdnet_ros.stages.placement.cues import fit_joints, nearer_boxes

    pose = camera_pose(2.4, 27.0)
    cues, truth = observe(body((3.2, 0.0)), pose)
    man = _person(cues)
    man.pixels[PELVIS] = (man.pixels[LEFT_HIP] + man.pixels[RIGHT_HIP]) / 2
    man.pixels[18] = (man.pixels[5] + man.pixels[6]) / 2
    torso = float(np.linalg.norm(man.pixels[18] - man.pixels[PELVIS]))
    man.network_pixels = man.pixels.copy()  # the landmarks: where his joints are
    man.pixels[[LEFT_HIP, RIGHT_HIP], 1] += 0.25 * torso  # drawn onto the body in front
    man.scores[[LEFT_ANKLE, RIGHT_ANKLE]] = 0.3  # hidden: too unsure to pin his feet
    hips_y = float(man.pixels[LEFT_HIP, 1])
    front_box = np.array([man.detection.box[0] - 40.0, hips_y - 30.0, man.detection.box[2] + 40.0, CAMERA.height - 1.0])
    behind_box = front_box.copy()
    behind_box[3] = man.detection.box[3] - 40.0  # reaches less low: stands behind him
    front = Person(Detection(front_box, 0.6), np.full((19, 2), np.nan), np.zeros(19))  # no pose of its own

    assert len(nearer_boxes([man, front], 0, CAMERA)) == 1 and not nearer_boxes([man, front], 1, CAMERA)
    cut = Person(Detection(np.array([*man.detection.box[:3], CAMERA.height - 1.0]), 0.9), man.pixels, man.scores)
    assert not nearer_boxes([cut, front], 0, CAMERA)  # feet beyond the image: who is in front is unknown
    joints, taken = fit_joints(man, CAMERA, [front_box])
    assert taken[[LEFT_HIP, RIGHT_HIP]].all()
    np.testing.assert_array_equal(joints[[LEFT_HIP, RIGHT_HIP]], man.network_pixels[[LEFT_HIP, RIGHT_HIP]])
    assert not fit_joints(man, CAMERA)[1][[LEFT_HIP, RIGHT_HIP]].any()  # nobody in front: the keypoints

    def placed_depth(other_box: np.ndarray) -> float:
        other = Person(Detection(other_box, 0.6), np.full((19, 2), np.nan), np.zeros(19))
        _, placed = _placement()(_frame(CameraPose(pose)), [man, other], NetworkEstimates.none(2), [None, None], _none)
        fit = placed[0]
        assert isinstance(fit, Placement)
        return float(fit.position[2])

    assert abs(placed_depth(front_box) - truth[2]) < 0.05
    assert placed_depth(behind_box) - truth[2] < -0.10


def _none() -> None:
    return None
