"""Registration of a sample to a template, Reg3D-AD style [Liu et al. 2023, §4.2]: every cloud of a
class is brought into the frame of one training sample (the template) before coordinates are
used as features, so that "Raw" features compare like with like.

Coarse: centroids coincide, then FPFH + RANSAC (Open3D) on a voxel-downsampled copy when the
centroid alignment leaves the clouds far apart. Fine: point-to-plane ICP (Open3D). The voxel
size, correspondence distances and ICP thresholds all derive from one scale, the template's
mean nearest-neighbour spacing after downsampling, as Open3D's reconstruction system does.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scan2ad.config import doc


@dataclasses.dataclass(frozen=True)
class RegistrationSettings:
    points: int = doc("points of each downsampled copy used to estimate the transform", 4096)
    max_iterations: int = doc("ICP iterations", 40)
    global_fitness: float = doc("run FPFH + RANSAC first when centroid-aligned ICP's fitness is "
                                "below this", 0.6)
    seed: int = doc("seed of the downsampling and of RANSAC", 0)


@dataclasses.dataclass
class RegistrationResult:
    transform: np.ndarray   # 4x4, maps sample points into the template frame
    fitness: float          # fraction of sample points with a template point within the threshold
    inlier_rmse: float      # mm
    used_global: bool


def _cloud(points: np.ndarray, n: int, seed: int):
    import open3d as o3d

    from scan2ad.detectors.features.geometry import random_subsample

    keep = random_subsample(len(points), n, seed)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points[keep], np.float64)))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(20))
    return pcd


def _spacing(pcd) -> float:
    return float(np.median(np.asarray(pcd.compute_nearest_neighbor_distance())))


class Template:
    """A template cloud prepared once (downsampled, normals, scale) for many registrations."""

    def __init__(self, points: np.ndarray, settings: RegistrationSettings = RegistrationSettings()):
        self.settings = settings
        self.points = np.asarray(points, dtype=np.float64)
        self.pcd = _cloud(self.points, settings.points, settings.seed)
        self.spacing = _spacing(self.pcd)

    def register(self, points: np.ndarray) -> RegistrationResult:
        import open3d as o3d

        reg = o3d.pipelines.registration
        s = self.settings
        src = _cloud(np.asarray(points, np.float64), s.points, s.seed + 1)
        init = np.eye(4)
        init[:3, 3] = self.points.mean(axis=0) - np.asarray(points).mean(axis=0)
        dist = 3.0 * self.spacing
        crit = reg.ICPConvergenceCriteria(max_iteration=s.max_iterations)
        est = reg.TransformationEstimationPointToPlane()
        res = reg.registration_icp(src, self.pcd, 4.0 * dist, init, est, crit)
        res = reg.registration_icp(src, self.pcd, dist, res.transformation, est, crit)
        used_global = False
        if res.fitness < s.global_fitness:
            used_global = True
            kf = o3d.geometry.KDTreeSearchParamKNN(40)
            fs = reg.compute_fpfh_feature(src, kf)
            ft = reg.compute_fpfh_feature(self.pcd, kf)
            o3d.utility.random.seed(s.seed)
            glob = reg.registration_ransac_based_on_feature_matching(
                src, self.pcd, fs, ft, True, 2.0 * dist, reg.TransformationEstimationPointToPoint(False),
                3, [reg.CorrespondenceCheckerBasedOnDistance(2.0 * dist)],
                reg.RANSACConvergenceCriteria(20000, 0.999))
            alt = reg.registration_icp(src, self.pcd, dist, glob.transformation, est, crit)
            if alt.fitness > res.fitness:
                res = alt
        return RegistrationResult(np.asarray(res.transformation), float(res.fitness),
                                  float(res.inlier_rmse), used_global)

    def align(self, points: np.ndarray) -> np.ndarray:
        """``points`` moved into the template frame."""
        t = self.register(points).transform
        return np.asarray(points, np.float64) @ t[:3, :3].T + t[:3, 3]
