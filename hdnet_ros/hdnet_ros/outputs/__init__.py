"""Builders of the published messages from the pipeline's people.

They build rosbags type-store objects (dataclasses generated from the very .msg files);
the replay tool serializes them directly, the node converts them to rclpy messages with
one generic field copy. So every output is computed once, by the core.
"""
