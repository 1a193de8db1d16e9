"""Data only: rig descriptions (rigs/*.toml), board definitions (boards/*.toml) and the
calibration of the built-in virtual rig (virtual/calibration.json)."""
