"""The ROS 2 node: a thin rclpy transport over the ROS-agnostic core.

Only ``ros_node``, ``lifecycle_node`` and ``main`` import rclpy (``main`` at call time).
``node_core`` does the node's work and its life cycle (configure, activate, deactivate,
cleanup, shutdown) for the plain ``hdnet_node`` and the managed ``hdnet_lifecycle_node``
alike, through the ``transport`` it is given; it and everything else the node decides on its
own (parameters, frame dropping, diagnostics, input health, start-up failures, message-class
lookup) live in small ROS-agnostic modules here, so they are tested without a ROS
installation.
"""
