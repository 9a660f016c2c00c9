"""hdnet_ros: tracked 3D human skeletons from RGB-D frames.

The package is a ROS-agnostic core (plain numpy data in, plain data out) with thin
transports on top: the replay tool (rosbags, no ROS needed) and the rclpy node.
"""

__version__ = "0.1.0"
