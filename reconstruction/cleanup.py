"""Denoising, octree resampling and Poisson meshing of the fused cloud (seed paper §3.3-§3.4).

* :func:`denoise` - density outlier removal (a point whose mean distance to its
  ``nb_neighbors`` exceeds a robust limit goes) repeated until one pass removes less than
  ``stop_fraction`` of the points; the paper iterates its density filter "until the noise
  ratio falls below a threshold" without the value; 0.2% here.
* :func:`drop_off_surface` - where views overlap, drops the points off the surface their
  neighbours agree on when a point on it lies close by (the patch stays measured).
* :func:`octree_resample` - keeps *measured* points: the cloud is binned in the cells of one
  octree level (cubic cells of edge ``h``) and each occupied cell keeps the point nearest its
  centre. ``h`` is searched so that the number of kept points is the target count
  (Open-Industry averages about 90K); Open3D's voxel down-sampling averages points instead,
  which would smooth away the defects carved later, hence written here. The stage keeps, per
  cell, the point nearest the *mean of the cell's points* (``octree_pick="centroid"``) rather
  than nearest the cell's geometric centre: a surface crosses a cell anywhere, and the point
  nearest the geometric centre is pulled off the surface towards it (lock_nut on the virtual
  rig, exact poses: mean distance to the mesh 0.057% -> 0.053% of the diagonal, p95 0.210% ->
  0.201%). Since 2026-11-29 the stage's pick is ``"surface"``: nearest that mean *along the
  cell's mean normal* (across-the-normal distance weighing 0.05), i.e. of the several views'
  measurements of a patch the one nearest their consensus (square_plug, 12 views, rig
  calibration: 0.052% -> 0.047%). ``octree_resample``'s own default stays "centre" (the
  dataset stage calls it).
* :func:`poisson_mesh` - Open3D screened Poisson reconstruction for carving; reports whether it
  is watertight (density trimming is optional since it opens the surface). One solver thread by
  default: with all threads Open3D's octree, and so the mesh, differs from run to run (three runs
  on one ``part.ply``, three meshes; one thread: identical bytes). The reconstruction cube is 1.5
  times the cloud's box (Open3D: 1.1): a scan is open underneath, and with the tight cube the
  implicit surface meets the cube's faces and comes out open (square_taper_washer, depth 8: 157
  boundary edges), with 1.5 it closes (the dataset stage measured this first).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scan2ad.config import doc
from scan2ad.pointcloud import PointCloud, to_open3d


@dataclasses.dataclass(frozen=True)
class CleanupConfig:
    nb_neighbors: int = doc("neighbours of the density test", 20)
    std_ratio: float = doc(
        "outlier: mean neighbour distance above median + this × robust std (wide: a scan's "
        "density varies with the viewing angle; with 20 the sparse grazing points that are "
        "the only measurement of threaded_nail's cone went, 4% of its visible area)",
        40.0,
    )
    local_ratio: float = doc(
        "outlier: mean neighbour distance above this × its neighbours' median", 2.0
    )
    surface_ratio: float = doc(
        "after denoising (:func:`drop_off_surface`): a point farther from the plane of its "
        "nb_neighbors nearest points than this × the cloud's median such distance goes where a "
        "point within it lies within surface_support × the median neighbour distance (0: off). "
        "2.5 with support 1, measured 2026-11-29 on the cleaned clouds (12 views, rig "
        "calibration): internal_tooth_lock_washer 0.055 -> 0.047% mean, threaded_nail "
        "coverage 95.06 -> 95.04%; 2 gave 0.043% but 95.02%; without the support condition "
        "(every such point goes) threaded_nail's coverage fell to 94.0-94.5% (ratio 2-3)",
        2.5,
    )
    surface_support: float = doc(
        "see surface_ratio: the radius, in medians of the mean distance to the nb_neighbors "
        "nearest points, within which a better point must lie for an off-surface one to go "
        "(2: threaded_nail's coverage 94.6%: the better point then measures another patch)",
        1.0,
    )
    stop_fraction: float = doc("stop iterating when one pass removes less than this share", 0.002)
    max_passes: int = doc("at most this many denoising passes", 10)
    target_points: int = doc("points kept by octree resampling", 90_000)
    octree_pick: str = doc(
        "point kept per octree cell: 'centre' (nearest the cell's centre), 'centroid' (nearest "
        "the mean of the cell's points) or 'surface' (nearest the mean along the cell's mean "
        "normal, the distance across it weighing 0.05: of the views' measurements of one patch "
        "the one nearest their consensus; square_plug's cleaned cloud, 3.4 points a cell: mean "
        "0.052 -> 0.047% of the diagonal, the oracle pick 0.034%; picking the lowest incidence "
        "or the highest decode confidence instead gave 0.054-0.055%)",
        "surface",
    )
    poisson_depth: int = doc("octree depth of the Poisson reconstruction", 8)
    poisson_scale: float = doc(
        "Poisson reconstruction cube / the cloud's bounding cube (Open3D's default 1.1 lets the "
        "surface run into the cube under a scan's open bottom; 1.5 closes it)",
        1.5,
    )
    poisson_threads: int = doc(
        "threads of the Poisson solver (1: the same mesh bytes on every run; Open3D's -1, all "
        "threads, gives a different octree from run to run)",
        1,
    )
    density_quantile: float = doc(
        "Poisson vertices below this density quantile are trimmed (0: none, keeps the surface closed)",
        0.0,
    )


def _knn_scores(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean distance to the ``k`` nearest points, and its ratio to the neighbours' median."""
    from scipy.spatial import cKDTree

    d, idx = cKDTree(points).query(points, k=k + 1, workers=2)
    mean = d[:, 1:].mean(axis=1)
    local = np.median(mean[idx[:, 1:]], axis=1)
    return mean, mean / np.maximum(local, 1e-12), idx


def _plane_residuals(points: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Distance of each point to the least-squares plane of its neighbours ``idx`` (itself
    included), computed in chunks to bound memory."""
    out = np.empty(len(points))
    for s in range(0, len(points), 50_000):
        nb = points[idx[s : s + 50_000]]
        c = nb.mean(axis=1, keepdims=True)
        cov = np.einsum("nki,nkj->nij", nb - c, nb - c)
        _, vecs = np.linalg.eigh(cov)
        normal = vecs[:, :, 0]
        out[s : s + 50_000] = np.abs(
            np.einsum("ni,ni->n", points[s : s + 50_000] - c[:, 0], normal)
        )
    return out


def denoise(cloud: PointCloud, config: CleanupConfig = CleanupConfig()) -> tuple[PointCloud, dict]:
    """Iterated density-based outlier removal. A point goes when its mean distance to the
    ``nb_neighbors`` nearest points exceeds a global limit fixed from the input (median +
    ``std_ratio`` × robust std, 1.4826·MAD) or ``local_ratio`` times its neighbours' median
    (a local density test: a scan's density varies with the viewing angle and the number of
    views overlapping, so a global limit alone either misses outliers over sparse areas or
    erodes them pass after pass). Open3D's statistical filter re-derives its limit from the
    survivors every pass and so always removes its own tail, never meeting a stop threshold.
    Each pass recomputes the distances on the survivors, so points left isolated by the previous
    pass go next; the loop stops when a pass removes less than ``stop_fraction``."""
    params = dataclasses.asdict(config)
    if len(cloud) <= config.nb_neighbors:
        return cloud, {
            "points_in": len(cloud),
            "points_out": len(cloud),
            "passes": [],
            "parameters": params,
        }
    d, ratio, _ = _knn_scores(cloud.points, config.nb_neighbors)
    med = float(np.median(d))
    limit = med + config.std_ratio * 1.4826 * float(np.median(np.abs(d - med)))
    keep = np.arange(len(cloud.points))
    passes = []
    for p in range(config.max_passes):
        if p:
            d, ratio, _ = _knn_scores(cloud.points[keep], config.nb_neighbors)
        ok = (d <= limit) & (ratio <= config.local_ratio)
        removed = 1.0 - float(ok.mean())
        passes.append({"points_in": len(keep), "removed_fraction": removed})
        keep = keep[ok]
        if removed < config.stop_fraction or len(keep) <= config.nb_neighbors:
            break
    return cloud.subset(keep), {
        "points_in": len(cloud.points),
        "points_out": len(keep),
        "distance_limit_mm": limit,
        "passes": passes,
        "parameters": params,
    }


PICKS = ("centre", "centroid", "surface")


def replaced(points: np.ndarray, worse: np.ndarray, radius: float) -> np.ndarray:
    """Mask of the ``worse`` points that have a point not flagged worse within ``radius``: a
    better measurement of the same surface stands in for them, so dropping them leaves no area
    unmeasured (off-surface points here, grazing ones in the pipeline)."""
    from scipy.spatial import cKDTree

    drop = np.zeros(len(points), bool)
    if worse.any() and not worse.all():
        d, _ = cKDTree(points[~worse]).query(points[worse], distance_upper_bound=radius)
        drop[np.flatnonzero(worse)[np.isfinite(d)]] = True
    return drop


def drop_off_surface(
    cloud: PointCloud, config: CleanupConfig = CleanupConfig()
) -> tuple[PointCloud, dict]:
    """Drop the points that lie off the surface their neighbours agree on, where a better point
    stands in for them. Each point's residual is its distance to the least-squares plane of its
    ``nb_neighbors`` nearest points (itself included); a point whose residual exceeds
    ``surface_ratio`` × the median residual goes when a point within the limit lies within
    ``surface_support`` × the median mean neighbour distance, so the patch stays measured and
    the coverage does not change. Where views overlap, the views' measurements of one patch
    scatter about it by their errors (the edge-mixed and grazing ones most: on
    internal_tooth_lock_washer's cleaned cloud the 10% of points above the limit of 2.5 carry
    22% of the error sum); where one view alone measures a surface (a thread flank, a wire seen
    edge-on) its points have no better neighbour and stay. Measured points only: nothing is
    moved or averaged."""
    params = {k: getattr(config, k) for k in ("nb_neighbors", "surface_ratio", "surface_support")}
    if config.surface_ratio <= 0 or len(cloud) <= config.nb_neighbors:
        return cloud, {"points_in": len(cloud), "points_out": len(cloud), "parameters": params}
    mean, _, idx = _knn_scores(cloud.points, config.nb_neighbors)
    res = _plane_residuals(cloud.points, idx)
    limit = config.surface_ratio * float(np.median(res))
    radius = config.surface_support * float(np.median(mean))
    off = res > limit
    drop = replaced(cloud.points, off, radius)
    return cloud.subset(~drop), {
        "points_in": len(cloud),
        "points_out": int(len(cloud) - drop.sum()),
        "off_surface": int(off.sum()),
        "residual_limit_mm": limit,
        "support_radius_mm": radius,
        "parameters": params,
    }


def _cell_keep(
    points: np.ndarray,
    h: float,
    origin: np.ndarray,
    pick: str = "centre",
    normals: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of one point per occupied cell (cells of edge ``h``): the point nearest the
    cell's centre (``pick="centre"``), nearest the mean of the cell's points
    (``pick="centroid"``), or nearest that mean along the cell's mean normal, the distance
    across the normal weighing 0.05 (``pick="surface"``, needs ``normals``; without them
    "centroid")."""
    if pick not in PICKS:
        raise ValueError(f"octree pick {pick!r} is not one of {PICKS}")
    cells = np.floor((points - origin) / h).astype(np.int64)
    dims = cells.max(axis=0) + 1
    key = (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]
    if pick == "centre":
        off = points - ((cells + 0.5) * h + origin)
        d = np.einsum("ij,ij->i", off, off)
    else:
        uniq, inv, count = np.unique(key, return_inverse=True, return_counts=True)

        def cell_sum(values):
            return np.stack(
                [np.bincount(inv, weights=values[:, k], minlength=len(uniq)) for k in range(3)], 1
            )

        off = points - (cell_sum(points) / count[:, None])[inv]
        d = np.einsum("ij,ij->i", off, off)
        if pick == "surface" and normals is not None:
            # normals of one patch seen from several views may point either way: align them
            # with the cell's first point before averaging
            ref = normals[np.unique(inv, return_index=True)[1]][inv]
            sign = np.where(np.einsum("ij,ij->i", normals, ref) < 0, -1.0, 1.0)
            nm = cell_sum(normals * sign[:, None])
            nm /= np.maximum(np.linalg.norm(nm, axis=1, keepdims=True), 1e-12)
            across = np.abs(np.einsum("ij,ij->i", off, nm[inv]))
            d = across + 0.05 * np.sqrt(np.maximum(d - across**2, 0.0))
    order = np.lexsort((d, key))
    k = key[order]
    first = np.ones(len(order), bool)
    first[1:] = k[1:] != k[:-1]
    return np.sort(order[first])


def octree_resample(
    cloud: PointCloud, target_points: int, tolerance: float = 0.01, pick: str = "centre"
) -> tuple[PointCloud, dict]:
    """Keep about ``target_points`` measured points (within ``tolerance`` below it, never more),
    one per octree cell, chosen by ``pick`` (see :func:`_cell_keep`). The cell edge is
    searched in log space: on a surface the occupied-cell count goes as h^-2, so a secant step
    on log(count) against log(h) converges in a few tries."""
    pts = cloud.points
    if len(pts) <= target_points:
        return cloud, {
            "points_in": len(pts),
            "points_out": len(pts),
            "cell_mm": 0.0,
            "target_points": target_points,
        }
    origin = pts.min(0)
    goal = target_points * (1 - tolerance / 2)
    h = max(float(np.sqrt(np.prod(np.sort(np.ptp(pts, axis=0))[1:]) / target_points)), 1e-6)
    tried: list[tuple[float, int]] = []
    for _ in range(30):
        n = len(_cell_keep(pts, h, origin))  # the count does not depend on the pick
        tried.append((h, n))
        if target_points * (1 - tolerance) <= n <= target_points:
            break
        under = [t for t in tried if t[1] <= target_points]
        over = [t for t in tried if t[1] > target_points]
        if under and over:  # bracketed: interpolate in log space between the closest pair
            h1, n1 = min(under, key=lambda t: t[0])
            h0, n0 = max(over, key=lambda t: t[0])
            if n0 == n1 or h1 / h0 < 1 + 1e-9:
                break
            slope = (np.log(n1) - np.log(n0)) / (np.log(h1) - np.log(h0))
            h = float(np.exp(np.log(h0) + (np.log(goal) - np.log(n0)) / slope))
            h = min(max(h, h0 * (1 + 1e-6)), h1 * (1 - 1e-6))
        else:
            h *= float(np.sqrt(n / goal))
    h = (
        min((t for t in tried if t[1] <= target_points), key=lambda t: t[0])[0]
        if any(t[1] <= target_points for t in tried)
        else h * 2
    )
    keep = _cell_keep(pts, h, origin, pick, cloud.normals)
    return cloud.subset(keep), {
        "points_in": len(pts),
        "points_out": len(keep),
        "cell_mm": float(h),
        "target_points": target_points,
        "tries": len(tried),
    }


def drop_degenerate_faces(tm):
    """(mesh without zero-area faces, faces dropped); the mesh itself when there are none.

    Poisson's marching cubes can put two vertices at one place; once trimesh merges them, the
    faces on both become triangles with a repeated vertex whose edge is then counted by four
    faces, and the mesh is no longer watertight (the demo's square_taper_washer, 2026-11-29:
    4 such faces among 136,870)."""
    keep = tm.nondegenerate_faces()
    if keep.all():
        return tm, 0
    out = tm.copy()
    out.update_faces(keep)
    out.remove_unreferenced_vertices()
    return out, int((~keep).sum())


def poisson_mesh(cloud: PointCloud, config: CleanupConfig = CleanupConfig()):
    """(trimesh mesh, report) of the screened Poisson surface of an oriented cloud."""
    import open3d as o3d
    import trimesh

    pcd = to_open3d(cloud)
    if not pcd.has_normals():
        pcd.estimate_normals()
        pcd.orient_normals_consistent_tangent_plane(15)
    mesh, dens = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(
        pcd,
        depth=config.poisson_depth,
        scale=config.poisson_scale,
        n_threads=config.poisson_threads,
    )
    dens = np.asarray(dens)
    trim = (
        dens < np.quantile(dens, config.density_quantile)
        if config.density_quantile > 0
        else np.zeros(len(dens), bool)
    )
    if trim.any():
        mesh.remove_vertices_by_mask(trim)
    tm = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.triangles), process=True)
    tm, dropped = drop_degenerate_faces(tm)
    return tm, {
        "degenerate_faces_dropped": dropped,
        "vertices": len(tm.vertices),
        "faces": len(tm.faces),
        "watertight": bool(tm.is_watertight),
        "depth": config.poisson_depth,
        "scale": config.poisson_scale,
        "n_threads": config.poisson_threads,
        "trimmed_vertices": int(trim.sum()),
    }
