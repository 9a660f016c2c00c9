"""The node's rclpy-side message class lookup, with msg_convert.convert, on stand-in classes.

The stand-ins are generated from the type store's definitions (the same .msg files rclpy's
classes come from) and behave like rosidl_generator_py's classes where it matters: the
class-level ``get_fields_and_field_types()`` with rosidl's type strings, ``<package>.msg``
modules, and the setters' checks (a nested field needs its class; float fields need a float;
a numeric sequence takes an ``array.array`` or a Python sequence but not a numpy array; a
fixed-size numeric array takes a numpy array of its dtype)."""

from __future__ import annotations

import array
from collections import UserList
from collections.abc import Sequence, Set
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hdnet_ros.joints import NUM_JOINTS, PELVIS
from hdnet_ros.msg_convert import convert
from hdnet_ros.node.rclpy_types import MessageClassResolver, nested_message_type
from hdnet_ros.outputs.debug_image import image_msg
from hdnet_ros.outputs.markers import marker_array_msg
from hdnet_ros.outputs.people_pose import people_in_frame, pose_array_msg
from hdnet_ros.outputs.skeletons import skeleton_array_msg
from hdnet_ros.outputs.tf_frames import body_transforms
from hdnet_ros.people import DepthSource, Detection, Person
from hdnet_ros.ros_types import typestore
from hdnet_ros.transform_buffer import Transform
from rosbags.interfaces import Nodetype

STAMP = 1_556_880_098_522_459_261
# rosbags' primitive names -> rosidl's (IDL) names, Python types, array.array codes, dtypes.
IDL = {"float64": "double", "float32": "float", "bool": "boolean", "byte": "octet", "char": "uint8"}
PYTHON = {"double": float, "float": float, "boolean": bool, "string": str, "octet": bytes}
TYPECODE = {"double": "d", "float": "f", "int8": "b", "uint8": "B", "int16": "h", "uint16": "H"}
TYPECODE |= {"int32": "i", "uint32": "I", "int64": "q", "uint64": "Q"}
DTYPE = {"double": np.float64, "float": np.float32, "uint8": np.uint8, "int32": np.int32}


def _element(definition: tuple[Any, Any]) -> str:
    kind, detail = definition
    if kind == Nodetype.BASE:
        return IDL.get(detail[0], detail[0])
    package, _, name = detail.split("/")
    return f"{package}/{name}"


def _type_string(definition: tuple[Any, Any]) -> str:
    kind, detail = definition
    if kind == Nodetype.ARRAY:
        return f"{_element(detail[0])}[{detail[1]}]"
    if kind == Nodetype.SEQUENCE:
        return f"sequence<{_element(detail[0])}{f', {detail[1]}' if detail[1] else ''}>"
    return _element(definition)


class FakeRclpy:
    """``<package>.msg`` modules of stand-in classes; counts module imports."""

    def __init__(self) -> None:
        self.imports: list[str] = []
        self._modules: dict[str, ModuleType] = {}

    def import_module(self, name: str) -> ModuleType:
        self.imports.append(name)
        if name not in self._modules:
            package = name.removesuffix(".msg")
            module = ModuleType(name)
            for msgtype in typestore().fielddefs:
                if msgtype.startswith(f"{package}/msg/"):
                    setattr(module, msgtype.rsplit("/", 1)[1], self._make_class(msgtype))
            self._modules[name] = module
        return self._modules[name]

    def cls(self, msgtype: str) -> Any:
        package, _, name = msgtype.split("/")
        return getattr(self.import_module(f"{package}.msg"), name)

    def _make_class(self, msgtype: str) -> type:
        fields = {name: _type_string(d) for name, d in typestore().fielddefs[msgtype][1]}
        rclpy = self

        class Message:
            _fields_and_field_types = fields

            @classmethod
            def get_fields_and_field_types(cls) -> dict[str, str]:
                return dict(cls._fields_and_field_types)

            def __setattr__(self, name: str, value: Any) -> None:
                rclpy.check(fields[name], value, name)
                object.__setattr__(self, name, value)

        Message.__name__ = msgtype.rsplit("/", 1)[1]
        return Message

    def check(self, type_string: str, value: Any, name: str) -> None:
        nested = nested_message_type(type_string)
        if type_string.startswith("sequence<"):
            element = type_string[len("sequence<") : -1].split(",", maxsplit=1)[0]
            if isinstance(value, array.array):
                assert value.typecode == TYPECODE[element], name
                return
            assert isinstance(value, (Sequence, Set, UserList)) and not isinstance(value, str), (
                f"The '{name}' field must be a set or sequence"
            )
            for item in value:
                self._check_one(element, nested, item, name)
        elif type_string.endswith("]"):
            element, size = type_string[:-1].split("[")
            if isinstance(value, np.ndarray):
                assert value.dtype == DTYPE[element] and value.size == int(size), name
                return
            assert isinstance(value, Sequence) and len(value) == int(size), name
        else:
            self._check_one(type_string, nested, value, name)

    def _check_one(self, element: str, nested: tuple[str, str] | None, value: Any, name: str) -> None:
        if nested is not None:
            assert isinstance(value, self.cls(f"{nested[0]}/msg/{nested[1]}")), f"{name} needs a {nested[1]}"
        else:
            assert isinstance(value, PYTHON.get(element, int)), f"The '{name}' field must be of type {element}"


@pytest.fixture
def rclpy() -> FakeRclpy:
    return FakeRclpy()


def upright_person(track_id: int = 0) -> Person:
    positions = np.full((NUM_JOINTS, 3), np.nan)
    positions[PELVIS] = (0.1, 0.0, 2.0)
    positions[5] = (0.2, -0.5, 2.0)
    positions[6] = (-0.2, -0.5, 2.0)
    return Person(
        detection=Detection(np.array([280.0, 100.0, 360.0, 400.0]), 0.8),
        pixels=np.full((NUM_JOINTS, 2), 320.0),
        scores=np.full(NUM_JOINTS, 0.9),
        positions=positions,
        position_stddev=np.full(NUM_JOINTS, 0.01),
        depth_sources=np.where(np.isfinite(positions[:, 0]), DepthSource.SENSOR, DepthSource.NONE).astype(np.uint8),
        track_id=track_id,
    )


@pytest.mark.parametrize(
    ("type_string", "expected"),
    [
        ("geometry_msgs/Point", ("geometry_msgs", "Point")),
        ("sequence<hdnet_ros_msgs/Keypoint3D>", ("hdnet_ros_msgs", "Keypoint3D")),
        ("sequence<geometry_msgs/Point, 5>", ("geometry_msgs", "Point")),
        ("geometry_msgs/Point[3]", ("geometry_msgs", "Point")),
        ("double", None),
        ("sequence<uint8>", None),
        ("double[9]", None),
        ("string<10>", None),
    ],
)
def test_nested_message_type(type_string: str, expected: tuple[str, str] | None) -> None:
    assert nested_message_type(type_string) == expected


def test_stand_ins_refuse_what_rclpy_refuses(rclpy: FakeRclpy) -> None:
    image = rclpy.cls("sensor_msgs/msg/Image")()
    image.data = array.array("B", b"\x01\x02")
    with pytest.raises(AssertionError, match="must be a set or sequence"):
        image.data = np.zeros(2, np.uint8)
    info = rclpy.cls("sensor_msgs/msg/CameraInfo")()
    info.k = np.zeros(9)
    point = rclpy.cls("geometry_msgs/msg/Point")()
    with pytest.raises(AssertionError, match="must be of type double"):
        point.x = 1


def test_resolver_finds_classes_in_package_msg_modules_once(rclpy: FakeRclpy) -> None:
    resolve = MessageClassResolver(rclpy.import_module)
    array_class = rclpy.cls("hdnet_ros_msgs/msg/Skeleton3DArray")
    rclpy.imports.clear()
    target = array_class()
    assert resolve(target, "skeletons") is rclpy.cls("hdnet_ros_msgs/msg/Skeleton3D")
    assert resolve(target, "header") is rclpy.cls("std_msgs/msg/Header")
    rclpy.imports.clear()
    resolve(target, "skeletons")
    resolve(target, "header")
    assert rclpy.imports == []  # cached


def test_resolver_refuses_a_primitive_field(rclpy: FakeRclpy) -> None:
    resolve = MessageClassResolver(rclpy.import_module)
    with pytest.raises(TypeError, match="is not a message field"):
        resolve(rclpy.cls("sensor_msgs/msg/Image")(), "height")


def test_skeleton_array_becomes_the_rclpy_message(rclpy: FakeRclpy) -> None:
    resolve = MessageClassResolver(rclpy.import_module)
    source = skeleton_array_msg([upright_person(track_id=4)], STAMP, "camera_color_optical_frame")
    message = convert(source, rclpy.cls("hdnet_ros_msgs/msg/Skeleton3DArray"), resolve)
    header, header_class = message.header, rclpy.cls("std_msgs/msg/Header")
    assert isinstance(header, header_class)
    assert header.frame_id == "camera_color_optical_frame"
    assert (header.stamp.sec, header.stamp.nanosec) == divmod(STAMP, 1_000_000_000)
    (skeleton,) = message.skeletons
    assert skeleton.id == 4 and skeleton.root_valid
    assert len(skeleton.keypoints) == NUM_JOINTS
    assert isinstance(skeleton.keypoints[PELVIS].position, rclpy.cls("geometry_msgs/msg/Point"))
    assert skeleton.keypoints[PELVIS].position.z == 2.0
    assert np.isnan(skeleton.keypoints[0].position.x) and not skeleton.keypoints[0].valid


def test_transforms_and_people_become_rclpy_messages(rclpy: FakeRclpy) -> None:
    resolve = MessageClassResolver(rclpy.import_module)
    (transform,) = body_transforms([upright_person(track_id=4)], STAMP, "cam")
    converted = convert(transform, rclpy.cls("geometry_msgs/msg/TransformStamped"), resolve)
    assert converted.child_frame_id == "body_4"
    assert converted.transform.translation.z == 2.0
    people = pose_array_msg(people_in_frame([upright_person()], Transform.identity()), STAMP, "cam")
    poses = convert(people, rclpy.cls("geometry_msgs/msg/PoseArray"), resolve)
    assert poses.poses[0].position.x == pytest.approx(0.1)


NUMPY_IN_SEQUENCES = (
    "msg_convert copies numpy arrays into rclpy sequence fields (Image.data, Marker.texture.data, "
    "Marker.mesh_file.data), which rclpy refuses: convert must pass array.array(typecode, bytes) there"
)
INT_COLOURS = "markers._colour passes the ints of (0, 0, 0) to ColorRGBA's float fields, which rclpy refuses"


def test_marker_array_becomes_the_rclpy_message(rclpy: FakeRclpy) -> None:
    resolve = MessageClassResolver(rclpy.import_module)
    message = convert(
        marker_array_msg([upright_person(track_id=4)], STAMP, "cam", 0.2),
        rclpy.cls("visualization_msgs/msg/MarkerArray"),
        resolve,
    )
    assert [m.ns for m in message.markers] == ["", "joints", "bones", "labels"]


def test_debug_image_becomes_the_rclpy_message(rclpy: FakeRclpy) -> None:
    resolve = MessageClassResolver(rclpy.import_module)
    rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    message = convert(image_msg(rgb, STAMP, "cam"), rclpy.cls("sensor_msgs/msg/Image"), resolve)
    assert bytes(message.data) == rgb.tobytes() and message.step == 18
