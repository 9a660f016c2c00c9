"""RViz MarkerArray: joint spheres, bones as a line list and a label per person."""

from __future__ import annotations

from typing import Any

import numpy as np

from hdnet_ros.joints import BONES, FOOT_ANKLE, ROOT
from hdnet_ros.outputs.common import body_label, colour_for, header, msg_type, point, points, vector3
from hdnet_ros.people import Person

JOINT_DIAMETER_M = 0.05
BONE_WIDTH_M = 0.02
TEXT_HEIGHT_M = 0.12


def _colour(rgb: tuple[float, float, float], alpha: float = 1.0) -> Any:
    return msg_type("std_msgs/msg/ColorRGBA")(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=float(alpha))


def _duration(seconds: float) -> Any:
    sec = int(seconds)
    return msg_type("builtin_interfaces/msg/Duration")(sec=sec, nanosec=int(round((seconds - sec) * 1e9)))


def _identity_pose(position: Any = None) -> Any:
    return msg_type("geometry_msgs/msg/Pose")(
        position=position if position is not None else point((0.0, 0.0, 0.0)),
        orientation=msg_type("geometry_msgs/msg/Quaternion")(x=0.0, y=0.0, z=0.0, w=1.0),
    )


def _marker(
    kind: str, ns: str, marker_id: int, head: Any, lifetime: Any, colour: Any, scale: Any, **fields: Any
) -> Any:
    marker = msg_type("visualization_msgs/msg/Marker")
    return marker(
        header=head,
        ns=ns,
        id=marker_id,
        type=getattr(marker, kind),
        action=marker.ADD,
        pose=fields.pop("pose", _identity_pose()),
        scale=scale,
        color=colour,
        lifetime=lifetime,
        frame_locked=False,
        points=fields.pop("points", []),
        colors=[],
        texture_resource="",
        texture=msg_type("sensor_msgs/msg/CompressedImage")(header=head, format="", data=np.zeros(0, np.uint8)),
        uv_coordinates=[],
        text=fields.pop("text", ""),
        mesh_resource="",
        mesh_file=msg_type("visualization_msgs/msg/MeshFile")(filename="", data=np.zeros(0, np.uint8)),
        mesh_use_embedded_materials=False,
    )


def _delete_all(head: Any) -> Any:
    marker = _marker("SPHERE", "", 0, head, _duration(0.0), _colour((0, 0, 0), 0.0), vector3((1, 1, 1)))
    marker.action = msg_type("visualization_msgs/msg/Marker").DELETEALL
    return marker


def person_markers(person: Person, label: int, head: Any, lifetime: Any) -> list[Any]:
    """Spheres at the valid joints, lines for bones with both ends valid, a text label."""
    colour = _colour(colour_for(label))
    valid = person.valid
    feet = np.all(np.isfinite(person.feet), axis=1)
    joints = points(np.concatenate((person.positions[valid], person.feet[feet])))
    seen, foot_seen = valid.tolist(), feet.tolist()
    ends = [j for a, b in BONES if seen[a] and seen[b] for j in (a, b)]
    hung = [(ankle, foot) for foot, ankle in enumerate(FOOT_ANKLE) if foot_seen[foot] and seen[ankle]]
    # each heel and toe hangs from its ankle
    foot_ends = [row for ankle, foot in hung for row in (person.positions[ankle], person.feet[foot])]
    bone_points = points(np.concatenate((person.positions[ends].reshape(-1, 3), np.reshape(foot_ends, (-1, 3)))))
    markers = [
        _marker(
            "SPHERE_LIST", "joints", label, head, lifetime, colour, vector3((JOINT_DIAMETER_M,) * 3), points=joints
        ),
        _marker("LINE_LIST", "bones", label, head, lifetime, colour, vector3((BONE_WIDTH_M, 0, 0)), points=bone_points),
    ]
    anchor = person.positions[ROOT] if valid[ROOT] else np.nanmean(person.positions[valid], axis=0)
    top = float(np.nanmin(person.positions[valid, 1]))  # optical y points down: min y is the top
    distance = float(np.linalg.norm(anchor))
    text_position = point((anchor[0], top - 0.2, anchor[2]))
    markers.append(
        _marker(
            "TEXT_VIEW_FACING",
            "labels",
            label,
            head,
            lifetime,
            _colour((1.0, 1.0, 1.0)),
            vector3((0, 0, TEXT_HEIGHT_M)),
            pose=_identity_pose(text_position),
            text=f"id {label}  {distance:.2f} m",
        )
    )
    return markers


def marker_array_msg(people: list[Person], stamp_ns: int, frame_id: str, lifetime_s: float) -> Any:
    """The markers of one frame. It starts with DELETEALL so people who left disappear even
    when a bag is paused; the lifetime clears them if the node stops."""
    head = header(stamp_ns, frame_id)
    lifetime = _duration(lifetime_s)
    markers = [_delete_all(head)]
    for index, person in enumerate(people):
        if person.num_valid:
            markers.extend(person_markers(person, body_label(person, index), head, lifetime))
    return msg_type("visualization_msgs/msg/MarkerArray")(markers=markers)
