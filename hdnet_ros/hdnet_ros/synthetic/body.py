"""Articulated human bodies: anthropometric proportions, poses inside joint limits, and the
capsules that make up their surface.

Proportions are fractions of stature from Drillis & Contini (1966) as tabulated in Winter,
*Biomechanics and Motor Control of Human Movement*: shoulder height 0.818 H, hip joint
0.530 H, knee 0.285 H, ankle 0.039 H, upper arm 0.186 H, forearm 0.146 H, hand 0.108 H,
foot 0.152 H. Joint-centre widths are narrower than the skin breadths of that table
(biacromial 0.259 H, hip breadth 0.191 H): shoulder joint centres 0.20 H apart, hip joint
centres 0.105 H apart. Radii give a chest depth of about 0.2 m and limb girths of an adult.

Local body frame: x = the person's left, y = up, z = the person's forward; the pelvis (the
midpoint of the hip joints, as in :mod:`hdnet_ros.joints`) is the origin.

Why this file is long: a body is its tables (proportions, radii, joint limits) plus the
few poses drawn from them; they are read together and change together.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import (
    LEFT_ANKLE,
    LEFT_EAR,
    LEFT_ELBOW,
    LEFT_EYE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NECK,
    NOSE,
    NUM_JOINTS,
    PELVIS,
    RIGHT_ANKLE,
    RIGHT_EAR,
    RIGHT_ELBOW,
    RIGHT_EYE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
)

FloatArray = npt.NDArray[np.float64]

# Stature fractions (see the module docstring).
SHOULDER_HALF_WIDTH = 0.100
HIP_HALF_WIDTH = 0.0525
TORSO_LENGTH = 0.818 - 0.530  # pelvis (hip joints) to neck (mid-shoulders)
UPPER_ARM = 0.186
FOREARM = 0.146
HAND = 0.108
THIGH = 0.530 - 0.285
SHANK = 0.285 - 0.039
ANKLE_HEIGHT = 0.039
FOOT = 0.152
NECK_TO_HEAD_CENTRE = 0.935 - 0.818  # head centre near eye height
HEAD_RADIUS = 0.055

# Surface radii as fractions of stature for an average build (1.70 m: torso 0.10 m,
# upper arm 0.046, forearm 0.037, upper thigh 0.082, knee 0.058, shank 0.046 m).
RADIUS_TORSO = 0.060
RADIUS_NECK = 0.033
RADIUS_UPPER_ARM = 0.027
RADIUS_FOREARM = 0.022
RADIUS_HAND = 0.017
RADIUS_UPPER_THIGH = 0.048
RADIUS_KNEE = 0.034
RADIUS_SHANK = 0.027
RADIUS_FOOT = 0.020

# Adult stature: an equal mix of men N(1.76, 0.07) and women N(1.63, 0.065) [m], so the
# population's spread (about 0.09 m) limits any size-based depth prior honestly.
STATURE_MODES = ((1.76, 0.07), (1.63, 0.065))
STATURE_RANGE = (1.45, 2.0)


@dataclass(frozen=True)
class BodyShape:
    """One person's dimensions in metres."""

    stature: float
    girth: float = 1.0  # scales all radii (build)
    # Per-segment length factors around the population proportions (individual variation).
    arm_factor: float = 1.0
    leg_factor: float = 1.0
    torso_factor: float = 1.0

    def length(self, fraction: float) -> float:
        return self.stature * fraction

    def radius(self, fraction: float) -> float:
        return self.stature * fraction * self.girth


def sample_shape(rng: np.random.Generator) -> BodyShape:
    mean, sd = STATURE_MODES[int(rng.integers(len(STATURE_MODES)))]
    stature = float(np.clip(rng.normal(mean, sd), *STATURE_RANGE))
    return BodyShape(
        stature=stature,
        girth=float(np.clip(rng.normal(1.0, 0.08), 0.8, 1.25)),
        arm_factor=float(np.clip(rng.normal(1.0, 0.03), 0.92, 1.08)),
        leg_factor=float(np.clip(rng.normal(1.0, 0.03), 0.92, 1.08)),
        torso_factor=float(np.clip(rng.normal(1.0, 0.03), 0.92, 1.08)),
    )


class PoseKind(str, Enum):
    STANDING = "standing"
    WALKING = "walking"
    SITTING = "sitting"
    ARMS_RAISED = "arms_raised"


@dataclass(frozen=True)
class LimbAngles:
    """One side's joint angles in degrees (0 = hanging straight down)."""

    shoulder_flex: float = 0.0  # forward raise, -60..180
    shoulder_abd: float = 10.0  # sideways raise, 0..180
    elbow_flex: float = 10.0  # 0..150
    hip_flex: float = 0.0  # thigh forward, -30..120
    hip_abd: float = 3.0  # 0..45
    knee_flex: float = 3.0  # 0..140


# Joint limits [deg], applied to every sampled or animated pose.
LIMITS: dict[str, tuple[float, float]] = {
    "shoulder_flex": (-60.0, 180.0),
    "shoulder_abd": (0.0, 180.0),
    "elbow_flex": (0.0, 150.0),
    "hip_flex": (-30.0, 120.0),
    "hip_abd": (0.0, 45.0),
    "knee_flex": (0.0, 140.0),
}


def _clip_limb(limb: LimbAngles) -> LimbAngles:
    values = {name: float(np.clip(getattr(limb, name), lo, hi)) for name, (lo, hi) in LIMITS.items()}
    return LimbAngles(**values)


@dataclass(frozen=True)
class Pose:
    kind: PoseKind
    left: LimbAngles = field(default_factory=LimbAngles)
    right: LimbAngles = field(default_factory=LimbAngles)
    torso_lean: float = 0.0  # forward [deg]
    torso_side: float = 0.0  # sideways [deg]
    torso_twist: float = 0.0  # upper body about the vertical [deg]
    head_pitch: float = 0.0  # down positive [deg]
    head_yaw: float = 0.0
    pelvis_bob: float = 0.0  # vertical offset of the pelvis while walking [m]

    def clipped(self) -> Pose:
        return replace(
            self,
            left=_clip_limb(self.left),
            right=_clip_limb(self.right),
            torso_lean=float(np.clip(self.torso_lean, -15.0, 45.0)),
            torso_side=float(np.clip(self.torso_side, -20.0, 20.0)),
            torso_twist=float(np.clip(self.torso_twist, -40.0, 40.0)),
            head_pitch=float(np.clip(self.head_pitch, -40.0, 50.0)),
            head_yaw=float(np.clip(self.head_yaw, -70.0, 70.0)),
        )


def _standing_arm(rng: np.random.Generator) -> dict[str, float]:
    return {
        "shoulder_flex": rng.normal(5.0, 12.0),
        "shoulder_abd": rng.uniform(5.0, 25.0),
        "elbow_flex": rng.uniform(5.0, 70.0),
    }


def standing_pose(rng: np.random.Generator) -> Pose:
    def side() -> LimbAngles:
        return LimbAngles(
            **_standing_arm(rng), hip_flex=rng.normal(0.0, 4.0), hip_abd=rng.uniform(0, 8), knee_flex=rng.uniform(0, 10)
        )

    return Pose(
        PoseKind.STANDING,
        side(),
        side(),
        torso_lean=rng.normal(2.0, 4.0),
        torso_side=rng.normal(0.0, 3.0),
        torso_twist=rng.normal(0.0, 10.0),
        head_pitch=rng.normal(5.0, 10.0),
        head_yaw=rng.normal(0.0, 20.0),
    ).clipped()


@dataclass(frozen=True)
class GaitStyle:
    """A walker's individual gait: amplitudes [deg] and arm posture."""

    hip_amplitude: float = 22.0
    knee_amplitude: float = 45.0
    arm_amplitude: float = 18.0
    elbow_flex: float = 20.0
    shoulder_abd: float = 8.0


def sample_gait(rng: np.random.Generator) -> GaitStyle:
    return GaitStyle(
        hip_amplitude=rng.uniform(16.0, 26.0),
        knee_amplitude=rng.uniform(35.0, 55.0),
        arm_amplitude=rng.uniform(8.0, 28.0),
        elbow_flex=rng.uniform(10.0, 45.0),
        shoulder_abd=rng.uniform(4.0, 14.0),
    )


def walking_pose(phase: float, style: GaitStyle = GaitStyle()) -> Pose:
    """The gait at ``phase`` [rad] of its cycle: legs swing in opposition, each knee flexes
    during its leg's swing, arms swing against the legs."""

    def side(offset: float) -> LimbAngles:
        p = phase + offset
        swing = max(0.0, float(np.sin(p + 0.9)))  # knee flexes while the leg swings forward
        return LimbAngles(
            shoulder_flex=-style.arm_amplitude * float(np.sin(p)),
            shoulder_abd=style.shoulder_abd,
            elbow_flex=style.elbow_flex + 0.5 * style.arm_amplitude * max(0.0, -float(np.sin(p))),
            hip_flex=style.hip_amplitude * float(np.sin(p)) + 3.0,
            hip_abd=3.0,
            knee_flex=5.0 + style.knee_amplitude * swing,
        )

    return Pose(
        PoseKind.WALKING,
        left=side(0.0),
        right=side(np.pi),
        torso_lean=4.0,
        torso_twist=4.0 * float(np.sin(phase)),
        pelvis_bob=0.015 * float(np.cos(2.0 * phase)),
    ).clipped()


def sitting_pose(rng: np.random.Generator) -> Pose:
    def side() -> LimbAngles:
        hip = rng.uniform(75.0, 100.0)
        return LimbAngles(
            shoulder_flex=rng.uniform(10.0, 50.0),
            shoulder_abd=rng.uniform(5.0, 20.0),
            elbow_flex=rng.uniform(40.0, 100.0),
            hip_flex=hip,
            hip_abd=rng.uniform(5.0, 20.0),
            knee_flex=hip + rng.uniform(-15.0, 20.0),
        )

    return Pose(
        PoseKind.SITTING,
        side(),
        side(),
        torso_lean=rng.uniform(-10.0, 15.0),
        torso_twist=rng.normal(0.0, 8.0),
        head_pitch=rng.normal(10.0, 10.0),
        head_yaw=rng.normal(0.0, 20.0),
    ).clipped()


def arms_raised_pose(rng: np.random.Generator) -> Pose:
    both = rng.random() < 0.6

    def side(raised: bool) -> LimbAngles:
        legs = {"hip_flex": rng.normal(0.0, 4.0), "hip_abd": rng.uniform(0, 12), "knee_flex": rng.uniform(0, 10)}
        if not raised:
            return LimbAngles(**_standing_arm(rng), **legs)
        return LimbAngles(
            shoulder_flex=rng.uniform(60.0, 175.0),
            shoulder_abd=rng.uniform(10.0, 90.0),
            elbow_flex=rng.uniform(0.0, 60.0),
            **legs,
        )

    left_raised = both or rng.random() < 0.5
    right_raised = both or not left_raised
    return Pose(
        PoseKind.ARMS_RAISED,
        side(left_raised),
        side(right_raised),
        torso_lean=rng.normal(0.0, 4.0),
        torso_twist=rng.normal(0.0, 10.0),
        head_pitch=rng.normal(-5.0, 10.0),
        head_yaw=rng.normal(0.0, 20.0),
    ).clipped()


def sample_pose(rng: np.random.Generator) -> Pose:
    """Standing 35 %, walking (random phase) 30 %, sitting 15 %, arms raised 20 %."""
    kind = rng.choice(4, p=[0.35, 0.30, 0.15, 0.20])
    if kind == 0:
        return standing_pose(rng)
    if kind == 1:
        return walking_pose(float(rng.uniform(0.0, 2.0 * np.pi)), sample_gait(rng))
    if kind == 2:
        return sitting_pose(rng)
    return arms_raised_pose(rng)


# --- kinematics -----------------------------------------------------------------------


def rot_x(deg: float) -> FloatArray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(deg: float) -> FloatArray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(deg: float) -> FloatArray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rotate_about(vector: FloatArray, axis: FloatArray, deg: float) -> FloatArray:
    """Rodrigues' rotation of ``vector`` about the unit ``axis``."""
    a = np.deg2rad(deg)
    return vector * np.cos(a) + np.cross(axis, vector) * np.sin(a) + axis * np.dot(axis, vector) * (1 - np.cos(a))


def _limb_direction(flex: float, abd: float, sign: float) -> FloatArray:
    """Unit direction of a limb segment hanging down, raised forward by ``flex`` and
    sideways (away from the body's midline, ``sign`` +1 left, -1 right) by ``abd``."""
    flexed = rot_x(-flex) @ np.array([0.0, -1.0, 0.0])
    return rot_z(sign * abd) @ flexed


def _bend(upper: FloatArray, forward: FloatArray, flex: float) -> FloatArray:
    """Direction of the distal segment: ``upper`` bent by ``flex`` towards ``forward``."""
    axis = np.cross(upper, forward)
    norm = float(np.linalg.norm(axis))
    if norm < 1e-6:  # segment along the bend direction: bend upwards instead
        axis = np.cross(upper, np.array([0.0, 1.0, 0.0]))
        norm = float(np.linalg.norm(axis))
    return _rotate_about(upper, axis / norm, flex)


Capsule = tuple[FloatArray, FloatArray, float]


@dataclass
class PosedBody:
    """A posed body in some frame: its 19 joints and its surface capsules."""

    joints: FloatArray  # [NUM_JOINTS, 3]
    capsules: list[Capsule]
    head_centre: FloatArray

    def transformed(self, rotation: FloatArray, translation: FloatArray) -> PosedBody:
        def move(p: FloatArray) -> FloatArray:
            return np.asarray(rotation @ p + translation, dtype=np.float64)

        return PosedBody(
            joints=self.joints @ rotation.T + translation,
            capsules=[(move(a), move(b), r) for a, b, r in self.capsules],
            head_centre=move(self.head_centre),
        )


def pose_body(shape: BodyShape, pose: Pose) -> PosedBody:
    """Forward kinematics in the local body frame (pelvis at the origin), then the whole body
    raised so that the lower ankle stands at ankle height on the floor (y = 0)."""
    H = shape.stature
    j = np.zeros((NUM_JOINTS, 3))
    up = np.array([0.0, 1.0, 0.0])
    fwd = np.array([0.0, 0.0, 1.0])
    torso_r = rot_y(pose.torso_twist) @ rot_z(-pose.torso_side) @ rot_x(pose.torso_lean)
    j[PELVIS] = 0.0
    j[NECK] = torso_r @ (up * TORSO_LENGTH * H * shape.torso_factor)
    lateral_t = torso_r @ np.array([1.0, 0.0, 0.0])
    j[LEFT_SHOULDER] = j[NECK] + lateral_t * SHOULDER_HALF_WIDTH * H
    j[RIGHT_SHOULDER] = j[NECK] - lateral_t * SHOULDER_HALF_WIDTH * H
    j[LEFT_HIP] = np.array([HIP_HALF_WIDTH * H, 0.0, 0.0])
    j[RIGHT_HIP] = -j[LEFT_HIP]
    capsules: list[Capsule] = []
    arm, leg = H * shape.arm_factor, H * shape.leg_factor
    for sign, limb, (sh, el, wr, hip, kn, an) in (
        (1.0, pose.left, (LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST, LEFT_HIP, LEFT_KNEE, LEFT_ANKLE)),
        (-1.0, pose.right, (RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST, RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE)),
    ):
        upper = torso_r @ _limb_direction(limb.shoulder_flex, limb.shoulder_abd, sign)
        j[el] = j[sh] + upper * UPPER_ARM * arm
        lower = _bend(upper, torso_r @ fwd, limb.elbow_flex)
        j[wr] = j[el] + lower * FOREARM * arm
        thigh = _limb_direction(limb.hip_flex, limb.hip_abd, sign)
        j[kn] = j[hip] + thigh * THIGH * leg
        shank = _limb_direction(limb.hip_flex - limb.knee_flex, limb.hip_abd, sign)
        j[an] = j[kn] + shank * SHANK * leg
        hand_end = j[wr] + lower * 0.6 * HAND * arm
        knee_mid = j[hip] + thigh * 0.5 * THIGH * leg
        foot_dir = rot_y(sign * 10.0) @ fwd  # feet point slightly outwards
        heel = j[an] - up * 0.5 * ANKLE_HEIGHT * H - foot_dir * 0.02
        toe = heel + foot_dir * 0.7 * FOOT * H
        capsules += [
            (j[sh], j[el], shape.radius(RADIUS_UPPER_ARM)),
            (j[el], j[wr], shape.radius(RADIUS_FOREARM)),
            (j[wr], hand_end, shape.radius(RADIUS_HAND)),
            (j[hip], knee_mid, shape.radius(RADIUS_UPPER_THIGH)),
            (knee_mid, j[kn], shape.radius(RADIUS_KNEE)),
            (j[kn], j[an], shape.radius(RADIUS_SHANK)),
            (heel, toe, shape.radius(RADIUS_FOOT)),
        ]
        # The torso's flank: from inside the shoulder down to above the hip joint.
        top = j[sh] - lateral_t * sign * 0.035 * H - torso_r @ up * 0.025 * H
        bottom = j[hip] + up * 0.03 * H
        capsules.append((top, bottom, shape.radius(RADIUS_TORSO)))
    spine_top = j[NECK] - torso_r @ up * 0.03 * H
    capsules.append((up * 0.03 * H, spine_top, shape.radius(RADIUS_TORSO)))
    # Head: a sphere around its centre; the face keypoints are surface landmarks.
    head_r = torso_r @ rot_y(pose.head_yaw) @ rot_x(pose.head_pitch)
    centre = j[NECK] + torso_r @ (up * NECK_TO_HEAD_CENTRE * H + fwd * 0.01 * H)
    radius = HEAD_RADIUS * H * float(np.sqrt(shape.girth))
    capsules.append((j[NECK], centre - torso_r @ up * 0.5 * radius, shape.radius(RADIUS_NECK)))
    capsules.append((centre, centre, radius))
    nose_dir = np.array([0.0, -0.15, 1.0])
    j[NOSE] = centre + head_r @ (nose_dir / np.linalg.norm(nose_dir)) * radius
    for joint, side in ((LEFT_EYE, 1.0), (RIGHT_EYE, -1.0)):
        lateral, height = side * 0.35 * radius, 0.25 * radius
        depth = np.sqrt((0.92 * radius) ** 2 - lateral**2 - height**2)  # eyes sit ~1 cm deep
        j[joint] = centre + head_r @ np.array([lateral, height, depth])
    for joint, side in ((LEFT_EAR, 1.0), (RIGHT_EAR, -1.0)):
        ear = np.array([side * 0.97, 0.0, -0.12])
        j[joint] = centre + head_r @ (ear / np.linalg.norm(ear)) * 0.97 * radius
    lift = ANKLE_HEIGHT * H - min(j[LEFT_ANKLE, 1], j[RIGHT_ANKLE, 1]) + pose.pelvis_bob
    offset = up * lift
    body = PosedBody(joints=j, capsules=capsules, head_centre=centre)
    return body.transformed(np.eye(3), offset)


def place_body(body: PosedBody, x: float, z: float, yaw_deg: float) -> PosedBody:
    """Stand the body at floor position (x, z), facing ``yaw_deg`` (0 = facing +z)."""
    return body.transformed(rot_y(yaw_deg), np.array([x, 0.0, z]))
