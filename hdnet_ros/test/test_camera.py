from __future__ import annotations

import numpy as np
import pytest
from hdnet_ros.camera import CameraModel, CameraModelError

K = [537.03, 0.0, 320.66, 0.0, 537.56, 227.70, 0.0, 0.0, 1.0]
D = [0.02827, 0.04872, -0.00147, 0.00265, -0.49247]


def test_back_projection_inverts_projection_with_distortion() -> None:
    camera = CameraModel(640, 480, np.array(K), np.array(D))
    points = np.array([[0.3, -0.4, 1.8], [1.1, 0.75, 2.0], [0.0, 0.0, 2.0]])
    pixels = camera.project(points)
    np.testing.assert_allclose(camera.back_project(pixels, points[:, 2]), points, atol=1e-4)
    # Distortion matters: ignoring it would misplace the off-centre point by centimetres.
    pinhole = CameraModel(640, 480, np.array(K))
    assert np.linalg.norm(pinhole.back_project(pixels[1:2], [2.0])[0] - points[1]) > 0.01


def test_nan_depth_gives_nan_point() -> None:
    camera = CameraModel(640, 480, np.array(K))
    assert np.all(np.isnan(camera.back_project([[100.0, 100.0]], [np.nan])))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"K": np.zeros(9)}, "no valid focal length"),
        ({"width": 0}, "empty image size"),
        ({"distortion_model": "fisheye"}, "not supported"),
    ],
)
def test_unusable_camera_info_is_rejected(kwargs: dict, message: str) -> None:
    args = {"width": 640, "height": 480, "K": np.array(K), **kwargs}
    with pytest.raises(CameraModelError, match=message):
        CameraModel(**args)
