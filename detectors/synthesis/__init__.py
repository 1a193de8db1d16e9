"""Anomaly synthesis for training: Norm-AS (Open3D-AD), DA-Gen (MC4AD), ..."""
