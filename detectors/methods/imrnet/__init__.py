"""IMRNet (seed 002_28a1af360a0c09b5): GPS, iterative mask reconstruction, DFC."""
