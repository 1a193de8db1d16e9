"""The typed outcome every registration method returns (success is decided by the caller)."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree


@dataclasses.dataclass
class RegistrationResult:
    """``transformation`` maps source points onto the target (``T_target_source``).

    ``fitness`` is the share of source points with a target point within ``max_distance``;
    ``inlier_rmse`` the RMS of those distances (both as Open3D defines them)."""

    transformation: np.ndarray
    fitness: float
    inlier_rmse: float
    iterations: int
    time_s: float
    method: str
    max_distance: float
    extra: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "transformation": np.asarray(self.transformation).tolist(),
            "fitness": float(self.fitness),
            # no inlier: the RMSE is undefined (inf in memory); JSON gets null, never Infinity
            "inlier_rmse": float(self.inlier_rmse) if np.isfinite(self.inlier_rmse) else None,
            "iterations": int(self.iterations),
            "time_s": float(self.time_s),
            "max_distance": float(self.max_distance),
            **self.extra,
        }


def evaluate(
    source: np.ndarray, target_tree: cKDTree, T: np.ndarray, max_distance: float
) -> tuple[float, float]:
    """(fitness, inlier RMSE) of ``T`` applied to ``source`` against a target k-d tree."""
    moved = source @ T[:3, :3].T + T[:3, 3]
    d, _ = target_tree.query(moved, distance_upper_bound=max_distance)
    ok = np.isfinite(d)
    if not ok.any():
        return 0.0, float("inf")
    return float(ok.mean()), float(np.sqrt(np.mean(d[ok] ** 2)))


def point_spacing(
    points: np.ndarray, tree: cKDTree | None = None, k: int = 6, sample: int = 5000, seed: int = 0
) -> float:
    """Median over (a sample of) points of the mean distance to their ``k`` nearest neighbours."""
    tree = tree or cKDTree(points)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(points), min(sample, len(points)), replace=False)
    d, _ = tree.query(points[idx], k=k + 1)
    return float(np.median(d[:, 1:].mean(axis=1)))
