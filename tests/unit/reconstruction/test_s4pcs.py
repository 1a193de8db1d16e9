"""S4PCS: partial overlapping clouds from random initial rotations, then FRICP refinement."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from scan2ad.errors import InputError
from scan2ad.reconstruction.registration.fricp import fricp
from scan2ad.reconstruction.registration.s4pcs import (
    S4pcsConfig,
    _refine,
    _TargetNormals,
    frame_transforms,
    s4pcs,
)
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


def test_frame_transforms_recover_rigid_motions():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(4, 3)) * 10
    R = Rotation.random(50, random_state=3).as_matrix()
    t = rng.normal(scale=20, size=(50, 3))
    quads = np.einsum("cij,kj->cki", R, base) + t[:, None]
    quads[-1] = quads[-1, 0]  # degenerate: all four points coincide
    Ts, rms = frame_transforms(base, quads)
    np.testing.assert_allclose(Ts[:-1, :3, :3], R[:-1], atol=1e-9)
    np.testing.assert_allclose(Ts[:-1, :3, 3], t[:-1], atol=1e-8)
    assert rms[:-1].max() < 1e-8 and np.isinf(rms[-1])


def test_refinement_pulls_a_rough_pose_in():
    """A pose 6 degrees off (as a congruent set of sparse samples gives) ends within a fraction
    of a degree after the point-to-plane steps on the LCP inliers."""
    a, b, diag = _partial_views()
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(np.radians(6) * np.array([0.6, 0.0, 0.8])).as_matrix()
    T[:3, 3] = [1.0, -0.5, 0.5]
    tree = cKDTree(b)
    pts = a[np.random.default_rng(0).choice(len(a), 200, replace=False)]
    T_ref = _refine(T, pts, tree, _TargetNormals(b, tree), 0.01 * diag)
    rot, trans = transform_error(T_ref, np.eye(4))
    assert rot < 0.5 and trans < 0.005 * diag, (rot, trans)


def test_bad_parameters():
    pts = np.random.default_rng(0).random((50, 3))
    with pytest.raises(InputError, match="overlap"):
        s4pcs(pts, pts, S4pcsConfig(overlap=0))
    with pytest.raises(InputError, match="source"):
        s4pcs(pts[:2], pts)
