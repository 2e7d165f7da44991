"""Metrics, the novel-view benchmark, pose statistics and yaw calibration."""
