"""S4PCS: partial overlapping clouds from random initial rotations, then FRICP refinement."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from scan2ad.errors import InputError
from scan2ad.reconstruction.registration.fricp import fricp
from scan2ad.reconstruction.registration.s4pcs import S4pcsConfig, s4pcs
from scan2ad.reconstruction.registration.se3 import transform, transform_error


def _partial_views():
    """Two partial scans (the halves facing two directions 70 degrees apart) of a lumpy,
    asymmetric closed surface, as two turntable views see it; about 60% overlap."""
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=30.0)
    v = sphere.vertices
    bump = (
        6 * np.sin(v[:, 0] / 9.0 + 1.0) * np.cos(v[:, 1] / 13.0)
        + 4 * np.sin(v[:, 2] / 7.0 + 0.5 * v[:, 0] / 10.0)
        + 0.2 * v[:, 0]
    )
    mesh = trimesh.Trimesh(v + sphere.vertex_normals * bump[:, None], sphere.faces)
    pts, face = trimesh.sample.sample_surface_even(mesh, 8000, seed=1)
    pts, n = np.asarray(pts), mesh.face_normals[face]
    views = [np.array([np.cos(t), np.sin(t), 0.2]) for t in (0.0, np.radians(70))]
    a = pts[n @ views[0] > 0.1]
    b = pts[n @ views[1] > 0.1]
    return a, b, float(np.linalg.norm(pts.ptp(axis=0)))


@pytest.mark.parametrize("seed", [0, 1])
def test_random_rotation_partial_overlap(seed):
    a, b, diag = _partial_views()
    rng = np.random.default_rng(seed)
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=seed).as_matrix()
    T[:3, 3] = rng.normal(scale=30, size=3)
    src = transform(T, a)  # T_src_true: the truth maps src back by inv(T)
    res = s4pcs(src, b, S4pcsConfig(overlap=0.6, max_time_seconds=10, seed=seed))
    rot, trans = transform_error(res.transformation, np.linalg.inv(T))
    assert rot < 10 and trans < 0.05 * diag, (rot, trans, res.extra)
    fine = fricp(src, b, init=res.transformation)
    rot, trans = transform_error(fine.transformation, np.linalg.inv(T))
    assert rot < 0.5 and trans < 2e-3 * diag


def test_bad_parameters():
    pts = np.random.default_rng(0).random((50, 3))
    with pytest.raises(InputError, match="overlap"):
        s4pcs(pts, pts, S4pcsConfig(overlap=0))
    with pytest.raises(InputError, match="source"):
        s4pcs(pts[:2], pts)
