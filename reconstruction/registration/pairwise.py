"""Pairwise registration of two clouds: a coarse step (S4PCS, Open3D FPFH+RANSAC, or none) then
a fine step (FRICP point-to-point or point-to-plane). Used by ``scan2ad register`` and by the
multi-view stage. Thresholds derive from one scale, the target's point spacing (as Open3D's
reconstruction system derives them from the voxel size)."""

from __future__ import annotations

import time

import numpy as np
from scipy.spatial import cKDTree

from scan2ad.errors import InputError
from scan2ad.reconstruction.registration.fricp import FricpConfig, fricp
from scan2ad.reconstruction.registration.result import RegistrationResult, evaluate, point_spacing
from scan2ad.reconstruction.registration.s4pcs import S4pcsConfig, s4pcs

INIT_METHODS = ("s4pcs", "fpfh", "none")
REFINE_METHODS = ("fricp", "fricp-plane", "none")


def fpfh_ransac(
    source: np.ndarray, target: np.ndarray, voxel: float, seed: int = 0
) -> RegistrationResult:
    """Open3D's global registration: FPFH features on a voxel-down-sampled cloud + RANSAC."""
    import open3d as o3d

    t0 = time.perf_counter()
    o3d.utility.random.seed(seed)

    def prep(pts):
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts)).voxel_down_sample(voxel)
        pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=2 * voxel, max_nn=30))
        f = o3d.pipelines.registration.compute_fpfh_feature(
            pcd, o3d.geometry.KDTreeSearchParamHybrid(radius=5 * voxel, max_nn=100)
        )
        return pcd, f

    (ps, fs), (pt, ft) = prep(source), prep(target)
    reg = o3d.pipelines.registration
    res = reg.registration_ransac_based_on_feature_matching(
        ps,
        pt,
        fs,
        ft,
        True,
        1.5 * voxel,
        reg.TransformationEstimationPointToPoint(False),
        3,
        [
            reg.CorrespondenceCheckerBasedOnEdgeLength(0.9),
            reg.CorrespondenceCheckerBasedOnDistance(1.5 * voxel),
        ],
        reg.RANSACConvergenceCriteria(100000, 0.999),
    )
    T = np.asarray(res.transformation)
    fitness, rmse = evaluate(source, cKDTree(target), T, 1.5 * voxel)
    return RegistrationResult(
        T, fitness, rmse, 0, time.perf_counter() - t0, "fpfh-ransac", 1.5 * voxel
    )


def register_pair(
    source: np.ndarray,
    target: np.ndarray,
    init: str | np.ndarray = "s4pcs",
    refine: str = "fricp",
    overlap: float = 0.5,
    target_normals: np.ndarray | None = None,
    max_time_seconds: float = 10.0,
    seed: int = 0,
) -> tuple[RegistrationResult | None, RegistrationResult | None, np.ndarray]:
    """Coarse then fine registration of ``source`` onto ``target``.

    ``init`` is a method name or a 4x4 initial transform. Returns (coarse result or None, fine
    result or None, final ``T_target_source``)."""
    if isinstance(init, str) and init not in INIT_METHODS:
        raise InputError(f"unknown --init {init!r}; choose one of {', '.join(INIT_METHODS)}")
    if refine not in REFINE_METHODS:
        raise InputError(f"unknown --refine {refine!r}; choose one of {', '.join(REFINE_METHODS)}")
    spacing = point_spacing(target)
    coarse = None
    if isinstance(init, np.ndarray):
        T = init
    elif init == "s4pcs":
        coarse = s4pcs(
            source,
            target,
            S4pcsConfig(overlap=overlap, max_time_seconds=max_time_seconds, seed=seed),
        )
        T = coarse.transformation
    elif init == "fpfh":
        diag = float(np.linalg.norm(target.max(0) - target.min(0)))
        coarse = fpfh_ransac(source, target, voxel=max(spacing * 3, diag / 100), seed=seed)
        T = coarse.transformation
    else:
        T = np.eye(4)
    fine = None
    if refine != "none":
        variant = "plane" if refine == "fricp-plane" else "point"
        fine = fricp(
            source,
            target,
            init=T,
            config=FricpConfig(variant=variant),
            target_normals=target_normals,
        )
        T = fine.transformation
    return coarse, fine, T
