"""A synthetic RGB-D benchmark whose ground truth is exact.

Articulated capsule bodies (:mod:`.body`) are placed in scenes with a floor, a wall and
occluders (:mod:`.scene`), rendered to exact depth (:mod:`.render`), degraded by a sensor
model (:mod:`.sensor`), and observed by a 2D oracle (:mod:`.oracle`) that stands in for the
detector and keypoint network. :mod:`.sequences` animates walkers for tracking. Everything
is deterministic under a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hdnet_ros.people import Frame, Person
from hdnet_ros.synthetic.oracle import GroundTruth, OracleConfig, observe
from hdnet_ros.synthetic.render import RayGrid, Rendering, render
from hdnet_ros.synthetic.scene import Scene, SceneConfig, sample_scene
from hdnet_ros.synthetic.sensor import SENSOR_PRESETS, SensorModel, apply_sensor


@dataclass
class SyntheticFrame:
    """One rendered frame: what the pipeline sees and the truth behind it."""

    scene: Scene
    rendering: Rendering
    depth_m: npt.NDArray[np.float32]  # the sensor's depth, NaN where invalid
    people: list[Person]  # oracle detections + 2D keypoints, no 3D yet
    truths: list[GroundTruth]  # aligned with ``people``
    stamp_ns: int = 0

    def frame(self) -> Frame:
        """A pipeline Frame (a flat grey RGB image: the 2D stage is the oracle here)."""
        camera = self.scene.camera
        rgb = np.full((camera.height, camera.width, 3), 128, dtype=np.uint8)
        return Frame(rgb=rgb, depth_m=self.depth_m, camera=camera, stamp_ns=self.stamp_ns, frame_id="camera")


def make_frame(
    scene: Scene,
    sensor: SensorModel,
    oracle: OracleConfig,
    rng: np.random.Generator,
    grid: RayGrid | None = None,
    stamp_ns: int = 0,
    oracle_rng: np.random.Generator | None = None,
) -> SyntheticFrame:
    """Render ``scene``, apply the sensor (drawing from ``rng``) and the oracle (drawing
    from ``oracle_rng``, default ``rng``: separate generators keep the 2D noise the same
    whatever the sensor draws)."""
    if grid is None or not grid.matches(scene.camera):
        grid = RayGrid(scene.camera)
    rendering = render(grid, scene.shapes(), scene.planes)
    depth = apply_sensor(rendering.depth, scene.camera, sensor, rng)
    people, truths = observe(scene, rendering, oracle, oracle_rng or rng)
    return SyntheticFrame(scene, rendering, depth, people, truths, stamp_ns)


def random_frame(
    rng: np.random.Generator,
    scene_config: SceneConfig | None = None,
    sensor: SensorModel | None = None,
    oracle: OracleConfig | None = None,
    grid: RayGrid | None = None,
) -> SyntheticFrame:
    scene = sample_scene(rng, scene_config or SceneConfig())
    return make_frame(scene, sensor or SENSOR_PRESETS["kinect"], oracle or OracleConfig(), rng, grid)


__all__ = [
    "GroundTruth",
    "OracleConfig",
    "RayGrid",
    "SceneConfig",
    "SensorModel",
    "SyntheticFrame",
    "make_frame",
    "random_frame",
]
