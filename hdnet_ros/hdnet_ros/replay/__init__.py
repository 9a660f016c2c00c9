"""Replay: the pipeline over recorded bags, without ROS (rosbags reads and writes them)."""
