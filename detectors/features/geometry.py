"""Geometry primitives shared by the detectors: subsampling, farthest point sampling, kNN, normals.

Open3D and SciPy do the work; this module only fixes the conventions every method relies on:
indices rather than copies (so point scores can be mapped back to the input order), seeded
sampling, and normals oriented away from the cloud's centroid (FPFH histograms depend on the
normal sign, and a train and a test cloud must agree on it).
"""

from __future__ import annotations

import numpy as np

from scan2ad.errors import InputError


def check_points(points: np.ndarray, what: str = "points") -> np.ndarray:
    """``points`` as a finite (N, 3) float64 array, or an :class:`InputError` saying what is wrong."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"{what} must be an (N, 3) array, got shape {pts.shape}")
    if len(pts) < 4:
        raise InputError(f"{what} has {len(pts)} points; at least 4 are needed")
    if not np.isfinite(pts).all():
        raise InputError(f"{what} contains NaN or infinite coordinates")
    return pts


def check_rotation_axes(axes: str) -> str:
    """``axes`` (distinct letters of 'xyz', as scipy's extrinsic Euler sequences) or an InputError."""
    if not set(axes) <= set("xyz") or len(set(axes)) != len(axes):
        raise InputError(f"rotation_axes must be distinct letters of 'xyz', not {axes!r}")
    return axes


def random_rotation(max_deg: float, rng: np.random.Generator, axes: str = "zyx") -> np.ndarray:
    """A 3×3 training-augmentation rotation: uniform angles in ±``max_deg`` about each of ``axes``
    (identity for ``max_deg <= 0`` or no axes)."""
    from scipy.spatial.transform import Rotation

    if max_deg <= 0 or not axes:
        return np.eye(3)
    angles = rng.uniform(-max_deg, max_deg, size=len(axes))
    return Rotation.from_euler(axes, angles, degrees=True).as_matrix()


def random_subsample(n_points: int, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``min(n, n_points)`` points drawn without replacement."""
    if n >= n_points:
        return np.arange(n_points)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_points, size=n, replace=False))


def farthest_point_sampling(points: np.ndarray, n: int, start: int = 0) -> np.ndarray:
    """Indices of ``n`` farthest-point-sampled points (PointNet++ §3.2 [Qi et al. 2017b]).

    Open3D's ``farthest_point_down_sample`` returns a new cloud, not indices; its points are exact
    copies of input points, so the indices are recovered with a zero-distance kNN lookup.
    """
    import open3d as o3d
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64)
    if n >= len(pts):
        return np.arange(len(pts))
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    picked = np.asarray(pcd.farthest_point_down_sample(int(n), int(start)).points)
    _, idx = cKDTree(pts).query(picked, k=1)
    return np.asarray(idx, dtype=np.int64)


def knn(query: np.ndarray, reference: np.ndarray, k: int, tree=None) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices (each (M, k)) of the ``k`` nearest reference points of each query."""
    from scipy.spatial import cKDTree

    k = int(min(k, len(reference)))
    tree = tree if tree is not None else cKDTree(reference)
    d, i = tree.query(query, k=k, workers=-1)
    if k == 1:
        d, i = d[:, None], i[:, None]
    return d, i.astype(np.int64)


def estimate_normals(points: np.ndarray, k: int = 30) -> np.ndarray:
    """Unit normals from the ``k``-neighbourhood PCA (Open3D), oriented away from the centroid."""
    from scan2ad.pointcloud import knn_normals

    pts = np.asarray(points, dtype=np.float64)
    nrm = knn_normals(pts, k)
    inward = np.einsum("ij,ij->i", nrm, pts - pts.mean(axis=0)) < 0
    nrm[inward] *= -1.0
    return nrm


def bbox_diagonal(points: np.ndarray) -> float:
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
