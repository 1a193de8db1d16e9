"""Acquisition: devices (real backends and the virtual rig), structured-light patterns and
decoding, calibration and capture sessions. Imported as ``scan2ad.acquisition``."""
