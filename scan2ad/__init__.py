"""scan2ad: structured-light turntable scans to 3D anomaly-detection benchmarks and detectors.

The stage packages live at the repository root and import as ``scan2ad.<stage>``
(acquisition, reconstruction, annotation, datasets, detectors). This package holds the CLI
and the small shared core (point-cloud I/O, config loading, atomic writes, executors).
"""

__version__ = "0.1.0"
