"""The ROS 2 node: a thin rclpy transport over the ROS-agnostic core.

Only ``ros_node`` and ``main`` import rclpy (and only ``main`` at call time). Everything the
node decides on its own (parameters, frame dropping, diagnostics, input health, the
target-frame transform, message-class lookup) lives in small ROS-agnostic modules here, so
it is tested without a ROS installation.
"""
