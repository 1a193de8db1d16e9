"""Norm-AS: normal-based anomaly synthesis [Ye et al. 2025, PO3AD §3.2], the T(.) of Open3D-AD
eq. 1 (000_59f5340ba3ca2db6 §IV-C): a local patch of a normal cloud is pushed along its surface
normals, outward (a bump) or inward (a dent), with a displacement that is largest at the patch
centre and falls smoothly to zero at its rim. The moved points are the synthetic anomaly's
per-point labels.

Where the papers leave values open (documented choices, all in :class:`NormASSettings`): the patch
is the k nearest points of a random centre with k a uniform fraction of the cloud in
``area``; the peak displacement is a uniform fraction ``height`` of the patch radius; the falloff
is (1 - (r/R)^2)^2; the sign is random; points move along the patch's mean normal rather
than each point's own (on a curved or noisy patch per-point normals cross and fold the surface).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scan2ad.config import doc
from scan2ad.pointcloud import PointCloud


@dataclasses.dataclass(frozen=True)
class NormASSettings:
    area: tuple[float, float] = doc("fraction of the cloud's points in the patch (min, max)",
                                    (0.005, 0.03))
    height: tuple[float, float] = doc("peak displacement as a fraction of the patch radius (min, max)",
                                      (0.15, 0.4))
    label_fraction: float = doc("a point is labelled anomalous when moved by more than this "
                                "fraction of the peak displacement", 0.05)
    normal_k: int = doc("neighbours of the normal estimate", 30)


def norm_as(points: np.ndarray, rng: np.random.Generator,
            settings: NormASSettings = NormASSettings(), normals: np.ndarray | None = None) -> PointCloud:
    """A synthetic anomaly made from ``points``: same point count and order, labels set."""
    from scipy.spatial import cKDTree

    from scan2ad.detectors.features.geometry import check_points, estimate_normals

    pts = check_points(points)
    nrm = estimate_normals(pts, settings.normal_k) if normals is None else np.asarray(normals, np.float64)
    k = max(8, round(rng.uniform(*settings.area) * len(pts)))
    centre = pts[int(rng.integers(len(pts)))]
    dist, idx = cKDTree(pts).query(centre, k=min(k, len(pts)))
    radius = float(dist.max()) or 1.0
    peak = rng.uniform(*settings.height) * radius * (1.0 if rng.random() < 0.5 else -1.0)
    w = (1.0 - (dist / radius) ** 2) ** 2
    out = pts.copy()
    # displace along the local mean normal so the patch moves as one piece (no self-crossing)
    direction = nrm[idx].mean(axis=0)
    direction /= np.linalg.norm(direction) or 1.0
    out[idx] += (peak * w)[:, None] * direction
    labels = np.zeros(len(pts), np.uint8)
    labels[idx[w > settings.label_fraction]] = 1
    return PointCloud(out, labels=labels)
