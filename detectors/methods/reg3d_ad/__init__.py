"""Reg3D-AD [Liu et al. 2023, Real3D-AD §4.2]: registration to a template and dual memory banks."""
