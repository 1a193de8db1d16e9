"""Reconstruction: stereo back-projection, registration (S4PCS, FRICP, markers, multi-view),
fusion, denoising, resampling and meshing. Imported as ``scan2ad.reconstruction``."""
