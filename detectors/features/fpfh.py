"""Fast Point Feature Histograms [Rusu et al. 2009] through Open3D.

Open3D's ``compute_fpfh_feature`` gives the 33-bin FPFH (three 11-bin histograms of the Darboux
angles; each sums to 200: the point's own SPFH, normalised to 100, plus its neighbours'
distance-weighted SPFH, normalised to 100). The neighbourhood is a fixed number of neighbours (kNN), as
Simple3D's scales 40/80/120 are counts, not radii, which also makes features independent of
the part's size in mm.
"""

from __future__ import annotations

import numpy as np


def fpfh(points: np.ndarray, normals: np.ndarray, k: int) -> np.ndarray:
    """(N, 33) float32 FPFH of every point with a ``k``-nearest-neighbour support."""
    import open3d as o3d

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, dtype=np.float64)))
    pcd.normals = o3d.utility.Vector3dVector(np.asarray(normals, dtype=np.float64))
    feat = o3d.pipelines.registration.compute_fpfh_feature(pcd, o3d.geometry.KDTreeSearchParamKNN(int(k)))
    return np.asarray(feat.data, dtype=np.float32).T.copy()


def multi_scale_fpfh(points: np.ndarray, normals: np.ndarray, scales=(40, 80, 120)) -> np.ndarray:
    """(N, 33·len(scales)) concatenated FPFH at every neighbourhood size of ``scales`` (Simple3D's
    multi-scale neighbourhood descriptor, the "multi-FPFH" of Open3D-AD §IV-C eq. 3)."""
    return np.concatenate([fpfh(points, normals, k) for k in scales], axis=1)
