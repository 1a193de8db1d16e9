"""One sub-package per method: ``model.py`` (pure numpy/torch) and ``detector.py`` (the Detector)."""
