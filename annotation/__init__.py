"""Annotation: Blender defect carving, point labels, review renders and interactive labelling.
Imported as ``scan2ad.annotation``."""
