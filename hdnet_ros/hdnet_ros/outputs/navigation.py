"""What navigation and HRI stacks consume: people_msgs/People and REP-155's tracked bodies.

Social costmap layers for Nav2 (robotics-upo/nav2_social_costmap_plugin, like ROS 1's
social_navigation_layers) subscribe to ``people_msgs/People`` on ``/people``; REP-155
consumers (libhri, pyhri, hri_rviz) read ``hri_msgs/IdsList`` on ``/humans/bodies/tracked``
and look up each ``body_<id>`` TF frame. Both come from the people of one frame, built here
for the node and the replay alike (the definitions: :data:`hdnet_ros.ros_types.PEER_DEFINITIONS`):

* ``People``, in the target frame at the image stamp (the frame of the PoseArray, from the
  same :class:`PersonInFrame` list): one ``Person`` per person with a valid pelvis. ``name``
  is the number of its ``body_<id>`` TF frame (the track id; the index in the frame + 1 with
  tracking off), ``position`` the pelvis, ``velocity`` the tracker's velocity rotated into the
  target frame, ``reliability`` the person's confidence (the detection score). people_msgs has
  no validity flag: an unknown velocity (a track seen once, a filter that knows it no better
  than ``tracking.max_velocity_sigma``, tracking off) is published as 0,
  which a costmap layer reads as standing still, the cautious reading, and the tag
  ``velocity_valid`` says ``false``; the tag ``tracking_state`` is ``new``, ``tracked``,
  ``lost`` or ``off``.
* ``IdsList``: the image stamp and the camera frame (the parent of the body frames); ``ids``
  the same numbers as strings, exactly the ``body_<id>`` frames broadcast for this frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hdnet_ros.joints import ROOT
from hdnet_ros.outputs.common import body_label, header, msg_type, point
from hdnet_ros.outputs.people_pose import PersonInFrame, people_in_frame, pose_array_msg
from hdnet_ros.people import Person
from hdnet_ros.transform_buffer import Transform

PEOPLE_TYPE = "people_msgs/msg/People"
TRACKED_BODIES_TYPE = "hri_msgs/msg/IdsList"
TAG_TRACKING_STATE = "tracking_state"
TAG_VELOCITY_VALID = "velocity_valid"
_ZERO = (0.0, 0.0, 0.0)


def person_msg(person: PersonInFrame) -> Any:
    """people_msgs/Person of one person in the target frame."""
    known = person.velocity is not None
    return msg_type("people_msgs/msg/Person")(
        name=str(person.label),
        position=point(person.position),
        velocity=point(person.velocity if person.velocity is not None else _ZERO),
        reliability=float(person.reliability),
        tagnames=[TAG_TRACKING_STATE, TAG_VELOCITY_VALID],
        tags=[person.tracking_state.name.lower(), "true" if known else "false"],
    )


def people_msg(people: list[PersonInFrame], stamp_ns: int, frame_id: str) -> Any:
    """people_msgs/People stamped with the image time in ``frame_id`` (the target frame)."""
    return msg_type(PEOPLE_TYPE)(header=header(stamp_ns, frame_id), people=[person_msg(p) for p in people])


def tracked_body_ids(people: list[Person]) -> list[str]:
    """The ids of the ``body_<id>`` frames of this frame (people with a valid pelvis)."""
    return [str(body_label(person, index)) for index, person in enumerate(people) if person.valid[ROOT]]


def tracked_bodies_msg(people: list[Person], stamp_ns: int, camera_frame: str) -> Any:
    """hri_msgs/IdsList of the bodies whose TF frames this frame broadcasts."""
    return msg_type(TRACKED_BODIES_TYPE)(header=header(stamp_ns, camera_frame), ids=tracked_body_ids(people))


@dataclass(frozen=True)
class NavigationOutputs:
    """One frame's people for planners. ``poses`` and ``people`` are in the target frame and
    None when the transform to it is unknown; ``bodies`` needs no transform."""

    bodies: Any
    poses: Any | None
    people: Any | None


def navigation_outputs(
    people: list[Person], stamp_ns: int, camera_frame: str, target_frame: str, transform: Transform | None
) -> NavigationOutputs:
    """The PoseArray, People and IdsList of one frame; ``transform`` maps the camera frame into
    ``target_frame`` at ``stamp_ns`` (None: not available, no PoseArray or People)."""
    bodies = tracked_bodies_msg(people, stamp_ns, camera_frame)
    if transform is None:
        return NavigationOutputs(bodies, None, None)
    in_target = people_in_frame(people, transform)
    return NavigationOutputs(
        bodies, pose_array_msg(in_target, stamp_ns, target_frame), people_msg(in_target, stamp_ns, target_frame)
    )
