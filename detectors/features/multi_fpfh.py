"""Multi-scale FPFH with FPS centres and neighbourhood pooling, as Simple3D does it
[Cheng et al. 2025c], the feature operator f_phi of Open3D-AD (000_59f5340ba3ca2db6 §IV-C, eq. 3).

1. FPFH of every point at the neighbourhood sizes 40, 80 and 120 (multi-scale neighbourhood
   descriptor), concatenated to 99 channels (:func:`scan2ad.detectors.features.fpfh.fpfh_scales`:
   all three from one 120-NN search, Open3D's numbers; ~2.9 CPU s for 94K points on one core,
   Open3D's three ``compute_fpfh_feature`` calls 6.6, ``benchmarks/fpfh_speed.py``);
2. G centres by farthest point sampling;
3. each centre's feature is the mean of the descriptors of its 128 nearest points (local
   feature spatial aggregation, "128 aggregation points").

Where the papers are silent: the descriptors may be computed on a seeded random subset of
``feature_points`` points (Open3D-AD keeps every point by default, as the authors' code), and the
pooling is an unweighted mean.
"""

from __future__ import annotations

import numpy as np

from scan2ad.detectors.features.geometry import farthest_point_sampling, knn


def pool_at_centres(points: np.ndarray, features: np.ndarray, centres: np.ndarray,
                    group_size: int, tree=None) -> np.ndarray:
    """(G, C) mean of ``features`` over the ``group_size`` nearest ``points`` of each centre."""
    if group_size <= 1:
        _, idx = knn(centres, points, 1, tree=tree)
        return features[idx[:, 0]]
    _, idx = knn(centres, points, group_size, tree=tree)
    out = np.empty((len(centres), features.shape[1]), dtype=np.float32)
    for s in range(0, len(centres), 512):  # bounded memory: 512 x group_size x C at a time
        out[s:s + 512] = features[idx[s:s + 512]].mean(axis=1)
    return out


def fps_centres(points: np.ndarray, groups: int) -> np.ndarray:
    """Indices of the G FPS centres (all points when ``groups`` is 0 or at least the count)."""
    if groups <= 0 or groups >= len(points):
        return np.arange(len(points))
    return farthest_point_sampling(points, groups)
