"""Calibration of the rig from images: Zhang intrinsics, stereo, turntable axis, markers."""
