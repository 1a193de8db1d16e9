"""Geometry-aware Point-cloud Sampling (GPS), IMRNet §3.2 (seed 002_28a1af360a0c09b5).

Every point gets a normal and a curvature (Open3D PCA: surface variation λ0/(λ0+λ1+λ2)).
Points are visited in farthest-point order; a *memory* keeps the running mean of the normal
and curvature of the points already kept as non-salient. A point whose rate of change against
that memory (normal angle term 1 - |n·m_n| plus the relative curvature change) exceeds τ = 0.3
is salient. Salient points are sampled twice as densely as the rest (the paper's 2:1). Where
the paper is silent: the memory is local (the mean over the point's k = 16 neighbours already
visited would need a sequential pass; the neighbourhood mean of the normals is used instead, so
the pass is vectorised), and curvature change is scaled by the cloud's median curvature.
"""

from __future__ import annotations

import numpy as np

from scan2ad.detectors.features.geometry import (
    check_points,
    estimate_normals,
    farthest_point_sampling,
    knn,
)


def salience(points: np.ndarray, k: int = 16) -> np.ndarray:
    """Rate of change of normal and curvature of every point against its neighbourhood memory."""
    pts = check_points(points)
    nrm = estimate_normals(pts, k=max(k, 10))
    _, idx = knn(pts, pts, k)
    nb = pts[idx] - pts[idx].mean(axis=1, keepdims=True)
    ev = np.linalg.eigvalsh(np.einsum("nki,nkj->nij", nb, nb))
    curv = ev[:, 0] / np.maximum(ev.sum(axis=1), 1e-12)
    mem_n = nrm[idx[:, 1:]].mean(axis=1)
    mem_n /= np.maximum(np.linalg.norm(mem_n, axis=1, keepdims=True), 1e-12)
    d_normal = 1.0 - np.abs(np.einsum("ij,ij->i", nrm, mem_n))
    d_curv = np.abs(curv - curv[idx[:, 1:]].mean(axis=1)) / max(float(np.median(curv)), 1e-6)
    return d_normal + 0.1 * d_curv


def gps_sample(points: np.ndarray, n: int, tau: float = 0.3, density: float = 2.0, k: int = 16) -> np.ndarray:
    """Indices of ``n`` points: salient points (rate of change > τ) ``density`` times as dense."""
    pts = check_points(points)
    if n >= len(pts):
        return np.arange(len(pts))
    sal = salience(pts, k) > tau
    n_sal = int(sal.sum())
    share = density * n_sal / max(density * n_sal + (len(pts) - n_sal), 1)
    n_s = min(n_sal, round(n * share))
    parts = []
    for mask, m in ((sal, n_s), (~sal, n - n_s)):
        where = np.flatnonzero(mask)
        if m > 0 and len(where):
            parts.append(where[farthest_point_sampling(pts[where], min(m, len(where)))])
    out = np.concatenate(parts) if parts else np.arange(0)
    if len(out) < n:  # top up from what is left
        rest = np.setdiff1d(np.arange(len(pts)), out)
        out = np.concatenate([out, rest[farthest_point_sampling(pts[rest], n - len(out))]])
    return np.sort(out[:n])


def sample(points: np.ndarray, n: int, how: str = "gps", seed: int = 0) -> np.ndarray:
    """The IMRNet sampler ablation: ``gps`` | ``fps`` | ``random`` | ``voxel``."""
    from scan2ad.detectors.features.geometry import random_subsample
    from scan2ad.errors import InputError

    pts = check_points(points)
    if how == "gps":
        return gps_sample(pts, n)
    if how == "fps":
        return np.sort(farthest_point_sampling(pts, n))
    if how == "random":
        return random_subsample(len(pts), n, seed)
    if how == "voxel":
        if n >= len(pts):
            return np.arange(len(pts))
        # voxel size by bisection so that about n voxels are occupied; one point (nearest the centre) per voxel
        lo, hi = 1e-6, float(np.ptp(pts, axis=0).max())
        for _ in range(30):
            v = 0.5 * (lo + hi)
            if len(np.unique(np.floor(pts / v).astype(np.int64), axis=0)) > n:
                lo = v
            else:
                hi = v
        keys = np.floor(pts / lo).astype(np.int64)
        _, first = np.unique(keys, axis=0, return_index=True)
        idx = np.sort(first)
        if len(idx) > n:
            idx = idx[random_subsample(len(idx), n, seed)]
        return idx
    raise InputError(f"unknown sampler {how!r} (gps, fps, random, voxel)")
