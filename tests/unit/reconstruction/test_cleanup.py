"""Denoising, octree resampling and Poisson meshing on clouds with known truth."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from scan2ad.pointcloud import PointCloud
from scan2ad.reconstruction.cleanup import (
    CleanupConfig,
    denoise,
    drop_degenerate_faces,
    drop_off_surface,
    octree_resample,
    poisson_mesh,
)


def _noisy_sphere(n=40000, outliers=800, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(n, 3))
    p = 20 * p / np.linalg.norm(p, axis=1, keepdims=True)
    p += rng.normal(scale=0.01, size=p.shape)
    out = rng.uniform(-30, 30, (outliers, 3))
    pts = np.vstack([p, out])
    normals = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    return PointCloud(pts, normals), np.r_[np.zeros(n, bool), np.ones(outliers, bool)]


def test_denoise_removes_outliers_and_stops():
    cloud, is_out = _noisy_sphere()
    clean, rep = denoise(cloud)
    r = np.linalg.norm(clean.points, axis=1)
    assert np.abs(r - 20).max() < 2.5  # every stray point well off the surface went
    # uniform outliers within ~1 mm of the surface are not separable by density
    assert np.sum(np.abs(r - 20) > 1.0) <= 0.01 * is_out.sum()
    assert rep["points_out"] > 0.97 * (~is_out).sum()  # the surface stayed
    assert rep["passes"][-1]["removed_fraction"] < CleanupConfig().stop_fraction
    assert rep["points_in"] == len(cloud)


def test_octree_resample_keeps_measured_points_at_the_target_count():
    cloud, _ = _noisy_sphere(outliers=0)
    part, _ = octree_resample(cloud, 5000)
    assert 0.99 * 5000 <= len(part) <= 5000
    # measured points only (a subset of the input), spread evenly
    d = np.min(np.linalg.norm(part.points[:200, None] - cloud.points[None], axis=2), axis=1)
    assert np.all(d == 0)
    from scipy.spatial import cKDTree

    nn, _ = cKDTree(part.points).query(part.points, k=2)
    assert np.percentile(nn[:, 1], 99) < 3 * np.median(nn[:, 1])
    # a noisy plane crossing the cells off their centres: the point nearest a cell's centre is
    # pulled towards the centre (off the surface), the one nearest the cell's mean is not
    rng = np.random.default_rng(1)
    flat = np.c_[rng.uniform(0, 40, (60000, 2)), 0.3 + rng.normal(0, 0.05, 60000)]
    flat = PointCloud(np.vstack([flat, [[0, 0, 0], [40, 40, 1]]]))  # cells span z 0..1
    errs = {}
    for pick in ("centre", "centroid"):
        kept, _ = octree_resample(flat, 1600, pick=pick)
        assert 0.99 * 1600 <= len(kept) <= 1600
        errs[pick] = np.abs(kept.points[:-2, 2] - 0.3).mean()
    assert errs["centroid"] < 0.7 * errs["centre"], errs
    small, rep2 = octree_resample(cloud, 10**6)
    assert len(small) == len(cloud) and rep2["points_out"] == len(cloud)


def test_octree_surface_pick_keeps_the_views_consensus():
    """Three views of one plane, two accurate and one ten times noisier, the noisy one with its
    normals flipped: per cell the point nearest the cells' mean along the normal is mostly an
    accurate one; the point nearest the mean in 3D is any of them."""
    rng = np.random.default_rng(2)
    views = [
        np.c_[rng.uniform(0, 20, (30000, 2)), rng.normal(0, s, 30000)] for s in (0.005, 0.005, 0.05)
    ]
    pts = np.vstack(views + [np.array([[0, 0, -0.5], [20, 20, 0.5]])])
    normals = np.tile([0, 0, 1.0], (len(pts), 1))
    normals[60000:] *= -1
    cloud = PointCloud(pts, normals)
    errs = {}
    for pick in ("centroid", "surface"):
        kept, _ = octree_resample(cloud, 4000, pick=pick)
        assert 0.99 * 4000 <= len(kept) <= 4000
        errs[pick] = np.abs(kept.points[:, 2]).mean()
    assert errs["surface"] < 0.8 * errs["centroid"], errs
    # measured points only
    np.testing.assert_array_equal(np.isin(kept.points[:, 2], pts[:, 2]), True)
    with pytest.raises(ValueError, match="octree pick"):
        octree_resample(cloud, 4000, pick="nearest")


def test_drop_off_surface_keeps_the_better_points_and_the_coverage():
    """A plane measured well, with 10% of extra points 0.04-0.08 mm off it (the worse views of an
    overlap): the off points go, the plane stays. A patch that only a noisy view measures
    loses its worst points but stays covered, and a sparse patch with nothing better near it
    stays whole."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    good = np.c_[rng.uniform(0, 10, (20000, 2)), rng.normal(0, 0.005, 20000)]
    off = np.c_[
        rng.uniform(0, 10, (2000, 2)), rng.choice([-1, 1], 2000) * rng.uniform(0.04, 0.08, 2000)
    ]
    noisy = np.c_[rng.uniform(30, 31, (200, 2)), rng.normal(0, 0.05, 200)]
    sparse = np.c_[rng.uniform(50, 56, (30, 2)), rng.normal(0, 0.05, 30)]
    pts = np.vstack([good, off, noisy, sparse])
    source = np.repeat([0, 1, 2, 3], [20000, 2000, 200, 30])
    cloud = PointCloud(pts, np.tile([0, 0, 1.0], (len(pts), 1)))
    kept, rep = drop_off_surface(cloud, CleanupConfig(surface_ratio=2.5, surface_support=1.0))
    _, j = cKDTree(pts).query(kept.points)
    left = np.bincount(source[j], minlength=4)
    assert left[1] <= 0.01 * 2000  # the off points went
    assert left[0] >= 0.9 * 20000  # the plane stayed
    assert left[3] == 30  # nothing better near the sparse patch
    near, _ = cKDTree(kept.points).query(noisy)
    assert near.max() <= rep["support_radius_mm"] + 1e-12  # the noisy patch is still measured
    assert rep["points_in"] == len(cloud) and rep["points_out"] == len(kept) < len(cloud)
    unchanged, rep0 = drop_off_surface(cloud, CleanupConfig(surface_ratio=0))
    assert unchanged is cloud and rep0["points_out"] == len(cloud)


def test_poisson_mesh_is_watertight_and_close():
    cloud, _ = _noisy_sphere(outliers=0)
    mesh, rep = poisson_mesh(cloud, CleanupConfig(poisson_depth=6))
    assert rep["watertight"] and mesh.is_watertight
    r = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(r - 20).mean() < 0.2
    assert isinstance(mesh, trimesh.Trimesh)


def test_degenerate_faces_are_dropped_and_the_surface_closes():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    a, b, _ = sphere.faces[0]
    # faces with a repeated vertex (two Poisson vertices merged into one): edge a-b in four faces
    torn = trimesh.Trimesh(sphere.vertices, np.vstack([sphere.faces, [[a, a, b], [b, a, a]]]), process=False)
    assert not torn.is_watertight
    fixed, dropped = drop_degenerate_faces(torn)
    assert fixed.is_watertight and dropped == 2 and len(fixed.faces) == len(sphere.faces)
    same, none = drop_degenerate_faces(sphere)
    assert same is sphere and none == 0


def test_poisson_mesh_gives_the_same_bytes(tmp_path):
    """One solver thread: the same cloud gives the same mesh file on every run."""
    cloud, _ = _noisy_sphere(n=20000, outliers=0)
    files = []
    for k in range(2):
        mesh, rep = poisson_mesh(cloud, CleanupConfig(poisson_depth=6))
        mesh.export(tmp_path / f"m{k}.ply", file_type="ply")
        files.append((tmp_path / f"m{k}.ply").read_bytes())
    assert files[0] == files[1]
    assert rep["n_threads"] == 1 and rep["scale"] == 1.5
