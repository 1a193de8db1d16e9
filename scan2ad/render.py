"""Off-screen pyvista rendering for the PNGs every stage writes (review views, galleries, heat maps).

VTK's X11 render window, on a machine without a display, logs "bad X server connection" before
falling back to off-screen rendering; the pictures are right, the warning only alarms users. This
module turns VTK's console log down to errors once and hands back pyvista set for off-screen work.
"""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def offscreen_pyvista():
    """``pyvista``, imported with ``OFF_SCREEN`` set and VTK's warnings kept off the console."""
    import pyvista as pv
    import vtk

    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_ERROR)
    pv.OFF_SCREEN = True
    return pv


def save_figure(fig, path, dpi: float | None = None) -> Path:
    """Write a matplotlib figure to ``path`` as PNG, atomically (temp + rename), and close it.

    The one way every stage's report, curve and map PNG is written; ``dpi`` None is matplotlib's
    default.
    """
    import matplotlib.pyplot as plt

    from scan2ad.io import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return path
