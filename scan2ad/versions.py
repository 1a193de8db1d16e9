"""The resolved versions of the libraries a result depends on.

Every ``manifest.json`` (a dataset) and ``metrics.json`` (a detector run) records them, so a
dataset or a benchmark built later can be told apart from, or reproduced on, today's libraries
(``uv.lock`` pins them; ``make`` installs exactly that). Read from the installed distributions'
metadata: nothing heavy is imported.
"""

from __future__ import annotations

import platform
from importlib import metadata

# distributions (not import names): cv2 is opencv-python
KEY_LIBRARIES = ("numpy", "open3d", "opencv-python", "torch", "bpy", "scan2ad")


def library_versions(names: tuple[str, ...] = KEY_LIBRARIES) -> dict[str, str | None]:
    """``{"python": "3.11.7", "numpy": "1.26.4", ...}``; None for a library not installed."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
