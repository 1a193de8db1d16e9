"""Readers (and the Open-Industry writer) for the public 3D-AD dataset layouts."""
