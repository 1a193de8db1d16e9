"""Detectors: the common Detector API, registry, features, methods, metrics, train / evaluate /
benchmark. Imported as ``scan2ad.detectors`` (never as bare ``detectors``)."""
