"""main's outputs/markers.py at 30ee9d3 (reference_outputs); its docstring follows.

RViz MarkerArray: joint spheres, bones as a line list and a label per person.

Built for the whole frame at once: the points of all people are converted to Python in
one ``tolist``, messages are made with positional arguments, and the parts every marker
of the frame has in common (header, lifetime, identity pose, empty texture and mesh,
scales) are made once and shared by the frame's markers, which are read-only once built.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from hdnet_ros.joints import BONES, FOOT_ANKLE, NUM_FEET, NUM_JOINTS, ROOT
from hdnet_ros.outputs.common import body_label, colour_for, header, msg_type, positional_type
from hdnet_ros.people import Person

JOINT_DIAMETER_M = 0.05
BONE_WIDTH_M = 0.02
TEXT_HEIGHT_M = 0.12

_BONES = np.array(BONES, dtype=np.intp)  # [B,2]
_FOOT_ANKLE = np.array(FOOT_ANKLE, dtype=np.intp)
_SLOTS_PER_PERSON = NUM_JOINTS + NUM_FEET  # a person's Points in the frame's shared list: joints, then feet
# Each marker point's slot among its person's shared Points, in the order _marker_points
# lists them: the joints, the feet, both ends of every bone, each foot's ankle and the foot.
_MARKER_SLOTS = np.concatenate(
    (
        np.arange(_SLOTS_PER_PERSON),
        _BONES.reshape(-1),
        np.stack((_FOOT_ANKLE, NUM_JOINTS + np.arange(NUM_FEET)), axis=1).reshape(-1),
    )
)


class _Types(NamedTuple):
    marker: Any
    point: Any
    vector3: Any
    colour: Any
    pose: Any
    quaternion: Any
    duration: Any


@functools.lru_cache(maxsize=1)
def _types() -> _Types:
    return _Types(
        positional_type(
            "visualization_msgs/msg/Marker",
            "header",
            "ns",
            "id",
            "type",
            "action",
            "pose",
            "scale",
            "color",
            "lifetime",
            "frame_locked",
            "points",
            "colors",
            "texture_resource",
            "texture",
            "uv_coordinates",
            "text",
            "mesh_resource",
            "mesh_file",
            "mesh_use_embedded_materials",
        ),
        positional_type("geometry_msgs/msg/Point", "x", "y", "z"),
        positional_type("geometry_msgs/msg/Vector3", "x", "y", "z"),
        positional_type("std_msgs/msg/ColorRGBA", "r", "g", "b", "a"),
        positional_type("geometry_msgs/msg/Pose", "position", "orientation"),
        positional_type("geometry_msgs/msg/Quaternion", "x", "y", "z", "w"),
        positional_type("builtin_interfaces/msg/Duration", "sec", "nanosec"),
    )


class _Shared(NamedTuple):
    """The parts all markers of one frame have in common."""

    header: Any
    lifetime: Any
    pose: Any  # identity
    texture: Any  # empty
    mesh_file: Any  # empty
    joint_scale: Any
    bone_scale: Any
    text_scale: Any
    white: Any


def _shared(stamp_ns: int, frame_id: str, lifetime_s: float) -> _Shared:
    types = _types()
    head = header(stamp_ns, frame_id)
    sec = int(lifetime_s)
    empty = np.zeros(0, np.uint8)
    return _Shared(
        head,
        types.duration(sec, int(round((lifetime_s - sec) * 1e9))),
        _identity_pose(types.point(0.0, 0.0, 0.0)),
        msg_type("sensor_msgs/msg/CompressedImage")(header=head, format="", data=empty),
        msg_type("visualization_msgs/msg/MeshFile")(filename="", data=empty),
        types.vector3(JOINT_DIAMETER_M, JOINT_DIAMETER_M, JOINT_DIAMETER_M),
        types.vector3(BONE_WIDTH_M, 0.0, 0.0),
        types.vector3(0.0, 0.0, TEXT_HEIGHT_M),
        types.colour(1.0, 1.0, 1.0, 1.0),
    )


def _identity_pose(position: Any) -> Any:
    types = _types()
    return types.pose(position, types.quaternion(0.0, 0.0, 0.0, 1.0))


def _marker(
    shared: _Shared,
    kind: int,
    ns: str,
    marker_id: int,
    pose: Any,
    scale: Any,
    colour: Any,
    points: list[Any],
    text: str,
) -> Any:
    marker = _types().marker
    return marker(
        shared.header, ns, marker_id, kind, marker.ADD, pose, scale, colour, shared.lifetime, False, points, [], "",
        shared.texture, [], text, "", shared.mesh_file, False,
    )  # fmt: skip


def _delete_all(shared: _Shared) -> Any:
    types = _types()
    marker = types.marker
    invisible = types.colour(0.0, 0.0, 0.0, 0.0)
    return marker(
        shared.header, "", 0, marker.SPHERE, marker.DELETEALL, shared.pose, types.vector3(1.0, 1.0, 1.0), invisible,
        types.duration(0, 0), False, [], [], "", shared.texture, [], "", "", shared.mesh_file, False,
    )  # fmt: skip


def _marker_points(
    positions: npt.NDArray[np.float64],
    feet: npt.NDArray[np.float64],
    shared: tuple[Sequence[Any], npt.NDArray[np.intp]] | None = None,
) -> tuple[list[Any], list[int]]:
    """For people [S] with a valid joint: the joint spheres' points (valid joints, then
    valid feet) and the bones' line-list points (bones with both ends valid, then each
    valid heel and toe hung from its valid ankle), all in one list of Points, and how many
    points each of the 2S lists has (person 0's joints, person 0's bones, person 1's ...).

    ``shared``: the frame's Points already made (:func:`~.skeletons.joint_points`: joints
    then feet, ``NUM_JOINTS + NUM_FEET`` per person) and each shown person's row among
    them: the markers take those objects instead of making a Point per joint and bone end."""
    valid = np.all(np.isfinite(positions), axis=-1)  # [S,J]
    feet_valid = np.all(np.isfinite(feet), axis=-1)  # [S,F]
    both = valid[:, _BONES[:, 0]] & valid[:, _BONES[:, 1]]  # [S,B]
    hung = feet_valid & valid[:, _FOOT_ANKLE]  # [S,F]
    # Every point a person's markers may have, in marker order, and which of them they have.
    shown = np.concatenate((valid, feet_valid, np.repeat(both, 2, axis=1), np.repeat(hung, 2, axis=1)), axis=1)
    joints = valid.sum(axis=1) + feet_valid.sum(axis=1)
    counts = np.stack((joints, shown.sum(axis=1) - joints), axis=1).reshape(-1).tolist()
    if shared is not None:
        made, rows = shared
        slots = (rows[:, None] * _SLOTS_PER_PERSON + _MARKER_SLOTS[None])[shown].tolist()
        return [made[slot] for slot in slots], counts
    foot_ends = np.stack((positions[:, _FOOT_ANKLE], feet), axis=2).reshape(len(feet), -1, 3)
    candidates = np.concatenate((positions, feet, positions[:, _BONES.reshape(-1)], foot_ends), axis=1)
    point = _types().point
    return [point(x, y, z) for x, y, z in candidates[shown].tolist()], counts


def marker_array_msg(
    people: list[Person], stamp_ns: int, frame_id: str, lifetime_s: float, points: Sequence[Any] | None = None
) -> Any:
    """The markers of one frame. It starts with DELETEALL so people who left disappear even
    when a bag is paused; the lifetime clears them if the node stops. Per person with a
    valid joint: spheres at the valid joints, lines for bones with both ends valid, a text
    label with the id and distance above the head. ``points``: the Points of all
    ``people``'s joints and feet already made for their Skeleton3D messages
    (:func:`~.skeletons.joint_points`), shown as they are."""
    shared = _shared(stamp_ns, frame_id, lifetime_s)
    markers = [_delete_all(shared)]
    if not people:
        return msg_type("visualization_msgs/msg/MarkerArray")(markers=markers)
    everyone = np.stack([person.positions for person in people]).astype(np.float64)
    rows = np.flatnonzero(np.any(np.all(np.isfinite(everyone), axis=-1), axis=1)).tolist()  # with a valid joint
    shown = [(body_label(people[index], index), people[index]) for index in rows]
    if not shown:
        return msg_type("visualization_msgs/msg/MarkerArray")(markers=markers)
    if points is not None and len(points) != len(people) * _SLOTS_PER_PERSON:
        raise ValueError(f"{len(points)} shared points for {len(people)} people, not {_SLOTS_PER_PERSON} each")
    positions = everyone[rows]
    points_of, counts = _marker_points(
        positions,
        np.stack([person.feet for _, person in shown]).astype(np.float64),
        None if points is None else (points, np.array(rows, dtype=np.intp)),
    )
    anchors, tops, distances = _label_places(positions)
    types = _types()
    marker = types.marker
    start = 0
    for index, (label, _) in enumerate(shown):
        colour = types.colour(*colour_for(label), 1.0)
        joints, bones = counts[2 * index], counts[2 * index + 1]
        x, _, z = anchors[index]
        text_pose = _identity_pose(types.point(x, tops[index] - 0.2, z))
        markers += [
            _marker(shared, marker.SPHERE_LIST, "joints", label, shared.pose, shared.joint_scale, colour,
                    points_of[start : start + joints], ""),
            _marker(shared, marker.LINE_LIST, "bones", label, shared.pose, shared.bone_scale, colour,
                    points_of[start + joints : start + joints + bones], ""),
            _marker(shared, marker.TEXT_VIEW_FACING, "labels", label, text_pose, shared.text_scale, shared.white, [],
                    f"id {label}  {distances[index]:.2f} m"),
        ]  # fmt: skip
        start += joints + bones
    return msg_type("visualization_msgs/msg/MarkerArray")(markers=markers)


def _label_places(positions: npt.NDArray[np.float64]) -> tuple[list[list[float]], list[float], list[float]]:
    """For people [S,J,3] with a valid joint: where each label hangs (the root, else the
    mean of the valid joints), the top of the body (optical y points down: the least y of
    the valid joints) and the anchor's distance from the camera."""
    valid = np.all(np.isfinite(positions), axis=-1)
    mean = np.where(valid[..., None], positions, 0.0).sum(axis=1) / valid.sum(axis=1)[:, None]
    anchor = np.where(valid[:, ROOT, None], positions[:, ROOT], mean)
    top = np.where(valid, positions[..., 1], np.inf).min(axis=1)
    return anchor.tolist(), top.tolist(), np.sqrt(np.sum(anchor * anchor, axis=1)).tolist()
