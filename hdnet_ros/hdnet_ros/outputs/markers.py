"""RViz MarkerArray: joint spheres, bones as a line list, a label and, for a person walking
with a known velocity, an arrow from the pelvis to where they will be in a second.

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

from hdnet_ros.joints import ROOT
from hdnet_ros.outputs.common import body_label, colour_for, header, msg_type, positional_type, stacked
from hdnet_ros.outputs.message_kernel import SLOTS_PER_PERSON, marker_places
from hdnet_ros.people import Person

JOINT_DIAMETER_M = 0.05
BONE_WIDTH_M = 0.02
TEXT_HEIGHT_M = 0.12
# Velocity arrows: shaft and head diameters, head length [m]; slower people get none (a
# still person's filter wanders by a few cm/s) [m/s]; the arrow spans this long [s].
ARROW_SCALE_M = (0.03, 0.07, 0.1)
MIN_ARROW_SPEED = 0.2
ARROW_AHEAD_S = 1.0


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
    arrow_scale: Any
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
        types.vector3(*ARROW_SCALE_M),
        types.colour(1.0, 1.0, 1.0, 1.0),
    )


def _identity_pose(position: Any) -> Any:
    types = _types()
    return types.pose(position, types.quaternion(0.0, 0.0, 0.0, 1.0))


def _delete_all(shared: _Shared) -> Any:
    types = _types()
    marker = types.marker
    invisible = types.colour(0.0, 0.0, 0.0, 0.0)
    return marker(
        shared.header, "", 0, marker.SPHERE, marker.DELETEALL, shared.pose, types.vector3(1.0, 1.0, 1.0), invisible,
        types.duration(0, 0), False, [], [], "", shared.texture, [], "", "", shared.mesh_file, False,
    )  # fmt: skip


def _own_points(positions: npt.NDArray[np.float64], feet: npt.NDArray[np.float64]) -> list[Any]:
    """A Point per joint and foot of people [P,J,3], [P,F,3], in the slots of
    :func:`~.skeletons.joint_points` (the markers' own, where none were given)."""
    point = _types().point
    rows = np.concatenate((positions, feet), axis=1).reshape(-1, 3).tolist()
    return [point(x, y, z) for x, y, z in rows]


def marker_array_msg(
    people: list[Person], stamp_ns: int, frame_id: str, lifetime_s: float, points: Sequence[Any] | None = None
) -> Any:
    """The markers of one frame. It starts with DELETEALL so people who left disappear even
    when a bag is paused; the lifetime clears them if the node stops. Per person with a
    valid joint: spheres at the valid joints, lines for bones with both ends valid, a text
    label with the id and distance above the head, and an arrow of their velocity where it is
    known and at least MIN_ARROW_SPEED (from the pelvis to ARROW_AHEAD_S ahead; the velocity
    is relative to ``tracking.fixed_frame``). ``points``: the Points of all
    ``people``'s joints and feet already made for their Skeleton3D messages
    (:func:`~.skeletons.joint_points`), shown as they are."""
    shared = _shared(stamp_ns, frame_id, lifetime_s)
    markers = [_delete_all(shared)]
    if not people:
        return msg_type("visualization_msgs/msg/MarkerArray")(markers=markers)
    everyone = np.asarray(stacked([person.positions for person in people]), dtype=np.float64)
    feet = np.asarray(stacked([person.feet for person in people]), dtype=np.float64)
    places = marker_places(everyone, feet)  # the people with a valid joint, their points' slots, labels
    if not places.rows:
        return msg_type("visualization_msgs/msg/MarkerArray")(markers=markers)
    if points is None:
        points = _own_points(everyone, feet)
    elif len(points) != len(people) * SLOTS_PER_PERSON:
        raise ValueError(f"{len(points)} shared points for {len(people)} people, not {SLOTS_PER_PERSON} each")
    points_of, counts = list(map(points.__getitem__, places.slots)), places.counts
    anchors, tops, distances = places.anchors, places.tops, places.distances
    shown = [(body_label(people[index], index), people[index]) for index in places.rows]
    types = _types()
    marker, point, pose = types.marker, types.point, types.pose
    head, lifetime, identity = shared.header, shared.lifetime, shared.pose
    texture, mesh = shared.texture, shared.mesh_file
    upright = identity.orientation  # the labels' poses share the identity's quaternion
    spheres, lines, text, add = marker.SPHERE_LIST, marker.LINE_LIST, marker.TEXT_VIEW_FACING, marker.ADD
    arrows = _arrow_ends(everyone[places.rows, ROOT], stacked([people[i].velocity for i in places.rows]))
    start = 0
    colours: dict[tuple[float, float, float], Any] = {}  # one ColorRGBA per palette entry, shared
    for index, (label, _) in enumerate(shown):
        rgb = colour_for(label)
        colour = colours.get(rgb)
        if colour is None:
            colour = colours[rgb] = types.colour(*rgb, 1.0)
        joints, bones = counts[2 * index], counts[2 * index + 1]
        x, _, z = anchors[index]
        text_pose = pose(point(x, tops[index] - 0.2, z), upright)
        # The Marker fields in order (_marker's): header, ns, id, type, action, pose, scale, colour,
        # lifetime, frame_locked, points, colors, texture_resource, texture, uv_coordinates, text,
        # mesh_resource, mesh_file, mesh_use_embedded_materials.
        markers += [
            marker(head, "joints", label, spheres, add, identity, shared.joint_scale, colour, lifetime, False,
                   points_of[start : start + joints], [], "", texture, [], "", "", mesh, False),
            marker(head, "bones", label, lines, add, identity, shared.bone_scale, colour, lifetime, False,
                   points_of[start + joints : start + joints + bones], [], "", texture, [], "", "", mesh, False),
            marker(head, "labels", label, text, add, text_pose, shared.text_scale, shared.white, lifetime, False, [],
                   [], "", texture, [], f"id {label}  {distances[index]:.2f} m", "", mesh, False),
        ]  # fmt: skip
        if arrows[index] is not None:
            markers.append(
                marker(head, "velocities", label, marker.ARROW, add, identity, shared.arrow_scale, colour, lifetime,
                       False, arrows[index], [], "", texture, [], "", "", mesh, False)
            )  # fmt: skip
        start += joints + bones
    return msg_type("visualization_msgs/msg/MarkerArray")(markers=markers)


def _arrow_ends(roots: npt.NDArray[np.float64], velocities: npt.ArrayLike) -> list[list[Any] | None]:
    """Per person (pelvis [N,3], velocity [N,3]), the Points of their velocity arrow (the
    pelvis, ARROW_AHEAD_S ahead) or None: no known velocity, slower than MIN_ARROW_SPEED, or
    no pelvis."""
    point = _types().point
    velocity = np.asarray(velocities, dtype=np.float64).reshape(-1, 3)
    shown = np.all(np.isfinite(roots), axis=1) & (np.einsum("ij,ij->i", velocity, velocity) >= MIN_ARROW_SPEED**2)
    if not shown.any():
        return [None] * len(shown)
    tips = roots + velocity * ARROW_AHEAD_S
    return [
        [point(*root), point(*tip)] if show else None
        for root, tip, show in zip(roots.tolist(), tips.tolist(), shown.tolist(), strict=True)
    ]
