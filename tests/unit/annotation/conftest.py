"""Part meshes for the annotation tests: a trimesh box and a washer-like part (the acquisition
part library's heavy washer when installed, else a trimesh annulus), with flat-face locations."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def box_part():
    import trimesh

    return trimesh.creation.box(extents=(30.0, 20.0, 8.0))


@pytest.fixture(scope="session")
def washer_part():
    try:
        from scan2ad.acquisition.parts import make_part

        return make_part("heavy_washer", 0)
    except ImportError:
        import trimesh

        return trimesh.creation.annulus(r_min=6.0, r_max=15.0, height=6.0, sections=128)


def _top_point(mesh, xy=(3.0, 2.0)) -> np.ndarray:
    return np.array([xy[0], xy[1], mesh.bounds[1, 2]])


@pytest.fixture(scope="session")
def top_point():
    """``top_point(mesh, xy)``: the point on the part's flat top face above ``xy``."""
    return _top_point
