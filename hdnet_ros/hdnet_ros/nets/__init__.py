"""PyTorch ports of the published networks (HDNet, 3DMPPE RootNet/PoseNet, RefiNet).

The architectures, joint sets, preprocessing and checkpoint formats follow
``shared/docs/seed-methods.md``; ``docs/networks.md`` records what was checked.

This ``__init__`` imports nothing on purpose: ``preprocessing``, ``joint_sets`` and
``codecs`` are numpy-only and are used by the ONNX Runtime pipeline, which must run
without torch. Import the torch modules explicitly (``hdnet_ros.nets.hdnet`` ...).
"""
