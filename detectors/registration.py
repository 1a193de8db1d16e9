"""Registration of a sample to a template, Reg3D-AD style [Liu et al. 2023, §4.2]: every cloud of a
class is brought into the frame of one training sample (the template) before coordinates are
used as features, so that "Raw" features compare like with like.

Coarse: centroids coincide; when point-to-plane ICP from there ends with a low fitness, ICP is
restarted from the four proper rotations that map the sample's principal axes onto the
template's, and the best fit wins. Fine: point-to-plane ICP [Chen & Medioni 1992] with the
linearised rotation solved by least squares, correspondences within a distance that shrinks
from 12 to 3 template point spacings (one scale, the template's median nearest-neighbour
spacing, sets every threshold).

ICP is written here rather than taken from Open3D because Open3D's ``registration_icp`` (and its
RANSAC) are not bit-reproducible from call to call (parallel reductions), and a saved detector
must score a cloud exactly as the fitted one did. Normals come from Open3D.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from scan2ad.config import doc


@dataclasses.dataclass(frozen=True)
class RegistrationSettings:
    points: int = doc("points of each downsampled copy used to estimate the transform", 4096)
    max_iterations: int = doc("ICP iterations per stage (two stages: coarse and fine threshold)", 30)
    global_fitness: float = doc("below this fitness the principal-axes restarts are tried", 0.9)
    seed: int = doc("seed of the downsampling", 0)


@dataclasses.dataclass
class RegistrationResult:
    transform: np.ndarray   # 4x4, maps sample points into the template frame
    fitness: float          # fraction of sample points with a template point within 3 spacings
    inlier_rmse: float      # mm
    used_global: bool

    def apply(self, points: np.ndarray) -> np.ndarray:
        """``points`` moved into the template frame."""
        return np.asarray(points, np.float64) @ self.transform[:3, :3].T + self.transform[:3, 3]


def _subset(points: np.ndarray, n: int, seed: int) -> np.ndarray:
    from scan2ad.detectors.features.geometry import random_subsample

    return np.asarray(points, np.float64)[random_subsample(len(points), n, seed)]


def _rotvec_matrix(w: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(w).as_matrix()


def _principal_axes(p: np.ndarray) -> np.ndarray:
    c = p - p.mean(axis=0)
    _, vecs = np.linalg.eigh(c.T @ c)
    return vecs[:, ::-1]


class Template:
    """A template cloud prepared once (subset, normals, k-d tree, scale) for many registrations."""

    def __init__(self, points: np.ndarray, settings: RegistrationSettings = RegistrationSettings()):
        from scipy.spatial import cKDTree

        from scan2ad.detectors.features.geometry import estimate_normals

        self.settings = settings
        self.points = np.asarray(points, dtype=np.float64)
        self.sub = _subset(self.points, settings.points, settings.seed)
        self.normals = estimate_normals(self.sub, 20)
        self.tree = cKDTree(self.sub)
        self.spacing = float(np.median(self.tree.query(self.sub, k=2)[0][:, 1]))

    def _icp(self, src: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, float, float]:
        for max_dist in (12.0 * self.spacing, 3.0 * self.spacing):
            for _ in range(self.settings.max_iterations):
                p = src @ T[:3, :3].T + T[:3, 3]
                d, j = self.tree.query(p, k=1)
                m = d < max_dist
                if m.sum() < 6:
                    break
                n, q, pm = self.normals[j[m]], self.sub[j[m]], p[m]
                A = np.hstack([np.cross(pm, n), n])
                b = np.einsum("ij,ij->i", q - pm, n)
                x = np.linalg.lstsq(A, b, rcond=None)[0]
                step = np.eye(4)
                step[:3, :3] = _rotvec_matrix(x[:3])
                step[:3, 3] = x[3:]
                T = step @ T
                if np.linalg.norm(x) < 1e-9:
                    break
        p = src @ T[:3, :3].T + T[:3, 3]
        d, _ = self.tree.query(p, k=1)
        inl = d < 3.0 * self.spacing
        rmse = float(np.sqrt(np.mean(d[inl] ** 2))) if inl.any() else float("inf")
        return T, float(inl.mean()), rmse

    def register(self, points: np.ndarray) -> RegistrationResult:
        src = _subset(points, self.settings.points, self.settings.seed + 1)
        init = np.eye(4)
        init[:3, 3] = self.sub.mean(axis=0) - src.mean(axis=0)
        best = self._icp(src, init)
        used_global = best[1] < self.settings.global_fitness
        if used_global:
            a_s, a_t = _principal_axes(src), _principal_axes(self.sub)
            for signs in itertools.product((1.0, -1.0), repeat=2):
                s = np.array([signs[0], signs[1], signs[0] * signs[1]])
                R = a_t @ np.diag(s) @ a_s.T
                if np.linalg.det(R) < 0:
                    R = a_t @ np.diag(s * np.array([1, 1, -1])) @ a_s.T
                T = np.eye(4)
                T[:3, :3] = R
                T[:3, 3] = self.sub.mean(axis=0) - R @ src.mean(axis=0)
                cand = self._icp(src, T)
                if cand[1] > best[1]:
                    best = cand
        T, fitness, rmse = best
        return RegistrationResult(T, fitness, rmse, used_global)

    def align(self, points: np.ndarray) -> np.ndarray:
        """``points`` moved into the template frame."""
        return self.register(points).apply(points)
