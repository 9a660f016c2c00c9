"""The debug overlay: boxes, 2D skeletons and each person's distance drawn on the image."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from hdnet_ros.joints import BONES, ROOT
from hdnet_ros.outputs.common import body_label, colour_for, header, msg_type
from hdnet_ros.people import Person


def _bgr(label: int) -> tuple[int, int, int]:
    r, g, b = colour_for(label)
    return int(b * 255), int(g * 255), int(r * 255)


def _pixel(xy: npt.NDArray[np.float64]) -> tuple[int, int]:
    return int(round(float(xy[0]))), int(round(float(xy[1])))


def draw_overlay(rgb: npt.NDArray[np.uint8], people: list[Person]) -> npt.NDArray[np.uint8]:
    """An RGB copy of ``rgb`` with every person drawn; joints with a valid 3D position are
    filled, joints seen only in 2D are hollow."""
    canvas = np.ascontiguousarray(rgb[:, :, ::-1]).copy()
    for index, person in enumerate(people):
        label = body_label(person, index)
        colour = _bgr(label)
        x0, y0, x1, y1 = (int(v) for v in person.detection.box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, 1)
        seen = np.all(np.isfinite(person.pixels), axis=1)
        for a, b in BONES:
            if seen[a] and seen[b]:
                cv2.line(canvas, _pixel(person.pixels[a]), _pixel(person.pixels[b]), colour, 2, cv2.LINE_AA)
        valid = person.valid
        for joint in np.flatnonzero(seen):
            cv2.circle(canvas, _pixel(person.pixels[joint]), 3, colour, -1 if valid[joint] else 1, cv2.LINE_AA)
        depth = person.positions[ROOT, 2] if valid[ROOT] else np.nan
        if not np.isfinite(depth) and np.any(valid):
            depth = float(np.nanmedian(person.positions[valid, 2]))
        text = f"{label}: {depth:.2f} m" if np.isfinite(depth) else f"{label}: no depth"
        cv2.putText(canvas, text, (x0 + 2, max(y0 - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return canvas[:, :, ::-1].copy()


def image_msg(rgb: npt.NDArray[np.uint8], stamp_ns: int, frame_id: str) -> Any:
    """sensor_msgs/Image rgb8 of an RGB array."""
    height, width = rgb.shape[:2]
    return msg_type("sensor_msgs/msg/Image")(
        header=header(stamp_ns, frame_id),
        height=height,
        width=width,
        encoding="rgb8",
        is_bigendian=0,
        step=width * 3,
        data=np.ascontiguousarray(rgb).reshape(-1),
    )
