"""The pipeline's stages, one module each, in the order a frame goes through them.

    detection -> keypoints2d -> networks (optional 3D networks) -> depth lifting -> tracking

Each stage has a frozen config dataclass (its settings), one callable class and typed
inputs and outputs; :mod:`hdnet_ros.pipeline` wires them. Stages import the shared types
and geometry below them (people, camera, joints, skeleton) and the runtimes
(:mod:`hdnet_ros.inference`), never the pipeline, the transports or the tools.
"""
