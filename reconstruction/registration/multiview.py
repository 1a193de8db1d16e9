"""Multi-view alignment of a turntable session (seed paper §3.2: coarse, then fine registration
of the views into one frame).

1. Turntable prior: view ``i`` at table angle ``θ_i`` maps to the part frame (world at angle 0)
   by ``T_world_view_i = Rz(-θ_i) · T_world_cam0`` (the calibration's axis is world +z).
2. Pairwise refinement: each view against the next (and the last against the first when the
   angles close the circle) with FRICP point-to-plane on voxel-down-sampled copies, starting
   at a small Welsch scale (the prior's expected error). A correction smaller than the
   refinement's own precision is not applied: with an exact prior FRICP still moves pairs by
   0.03-0.6° (noise of the clouds; the large ones spin parts of revolution about their axis,
   where nothing constrains it), and the pose graph would add those up into errors of
   ~0.05% of a part's diagonal. The precision is measured as the correction's motion across
   the target surface (``min_normal_shift_mm``, :func:`normal_motion`), which is blind to
   motions along the surface such as those spins. Where two views share mostly one flat
   face the robust energy itself prefers sliding the face to enlarge the overlap (seen on a
   box-shaped test part: a pair with an exact prior drifted by tens of degrees), so a pair
   whose correction exceeds ``max_correction_deg`` / ``max_correction_mm`` is rejected and the
   prior's relative pose goes into the graph for it, flagged in registration.json. With
   ``fit_check`` on (by default for three-ray views) a correction must also leave the robust
   spread of the pair's point-to-plane residuals, over the points paired at both poses, no
   larger than at the start (:func:`residual_spread`): FRICP's final Welsch scale is a fifth
   of the point spacing, so it can buy a little more overlap with a worse core fit, which is
   what turned split_pin's three-ray views by up to 1.65° while the prior was exact.
3. Loop closure: the pairwise constraints go into an Open3D pose graph and its global
   optimisation (Levenberg-Marquardt, line process) distributes the loop residual.

Circular markers (seed paper §III-B): when both views of a pair carry marker centres
(``markers``, e.g. from :func:`~scan2ad.reconstruction.registration.markers.session_view_markers`)
and at least ``markers.min_matches`` of them match, the least-squares transform of the matched
centres replaces the turntable prior as the pair's starting pose (and as its fallback when the
FRICP correction is rejected); registration.json then names ``markers`` in the pair's method
and records the matched count and RMS. Views without markers use the prior.

A pair below ``min_fitness`` stops the stage with an error naming the view."""

from __future__ import annotations

import dataclasses
import time
from typing import Literal

import numpy as np
from scipy.spatial import cKDTree

from scan2ad.config import doc
from scan2ad.errors import InputError, Scan2adError
from scan2ad.log import get_logger, progress
from scan2ad.reconstruction.registration.fricp import FricpConfig, fricp
from scan2ad.reconstruction.registration.markers import MarkerUseConfig, marker_transform
from scan2ad.reconstruction.registration.result import evaluate
from scan2ad.reconstruction.registration.se3 import rotation_angle_deg

log = get_logger(__name__)


@dataclasses.dataclass(frozen=True)
class MultiviewConfig:
    variant: Literal["point", "plane"] = doc("FRICP variant of the pairs: 'point' or 'plane'", "plane")
    nu_begin_mm: float = doc("initial Welsch nu of the pairs (mm): the prior's expected error", 2.0)
    max_correction_deg: float = doc(
        "a pair correcting the prior by more is rejected (prior kept)", 3.0
    )
    max_correction_mm: float = doc("... or moving the source centroid by more than this (mm)", 3.0)
    min_normal_shift_mm: float = doc(
        "a pair whose correction moves the source across the target surface by less than "
        "this (RMS along the target normals, :func:`normal_motion`) keeps the start: the "
        "refinement's own precision. Virtual rig, exact prior, 0.3 mm copies: FRICP's "
        "corrections (0.01-0.12°, the larger ones spins of parts of revolution about their "
        "axis, i.e. along the surface) move points by 2-9 µm across it on square_plug, "
        "l_shaped_screw and internal_tooth_lock_washer; a 1.5° angle error on one view moves "
        "them by 26-34 µm (square_plug) to 250 µm (l_shaped_screw). A threshold on the angle "
        "(0.1° before) let the spins through. 0.025 rather than 0.015 since split_pin (a thin "
        "wire, 12 views, rig calibration, 2026-11-29): FRICP moved four of its pairs by "
        "1.4-1.7° with normal shifts of 16-19 µm, about the per-view noise (14 µm), while the "
        "turntable prior was right (ICP of each view to the true mesh moves it by 0.01-0.5°): "
        "per-view error with the registered poses 0.047-0.099% of the diagonal, with the "
        "prior 0.042-0.061%, final mean 0.070 -> 0.047%",
        0.025,
    )
    voxel_mm: float = doc(
        "voxel size of the copies used for registration (mm); 0.5 was too coarse for the "
        "15-60 mm parts: on the box-with-post test part a pair with one view 1.5° off came "
        "out at 1.93° (0.3 mm: 1.53°)",
        0.3,
    )
    min_fitness: float = doc("a pair with FRICP fitness below this fails the stage", 0.3)
    max_fitness_loss: float = doc(
        "a correction that lowers the pair's fitness (share of source points within the final "
        "matching distance) by more than this below the start's is refused (start kept): it slid "
        "the views apart rather than onto each other. Session 19: in open-industry-full FRICP slid "
        "a pair of an l_shaped_screw test scan 0.94° / 2.02 mm along the rod and the pair's "
        "fitness fell from the prior's 0.57 to 0.44; the accepted correction left a ghost layer "
        "0.5-1.6 mm inside the rod of a normal test sample (the fit check, which would refuse it, "
        "is off for two cameras, where it also refuses good corrections)",
        0.05,
    )
    refine: bool = doc("refine the turntable prior pairwise and close the loop", True)
    loop_closure_deg: float = doc(
        "add the last-to-first pair when the angles span 360° within this", 1.0
    )
    markers: MarkerUseConfig = doc(
        "circular markers: least squares on matched centres", default_factory=MarkerUseConfig
    )
    fit_check: Literal["on", "off", "auto"] = doc(
        "refuse a pair's correction that leaves the robust spread of its point-to-plane "
        "residuals (:func:`residual_spread`) larger than at the start: FRICP then bought "
        "overlap with the core fit. 'on', 'off', or 'auto': on for views triangulated from "
        "three rays, off for two cameras (the two-camera output predates this check and is "
        "kept as it was). split_pin through virtual_threeray (true poses, 6 views): FRICP "
        "turned pairs by 1.8-2.9° with normal shifts of 21-27 µm, one above "
        "min_normal_shift_mm, and every one of them raised the spread (2->3: 20.3 -> 23.4 µm, "
        "full-resolution copies); the pose graph then turned the views by 0.41-1.65°",
        "auto",
    )


def rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    T = np.eye(4)
    T[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return T


def turntable_prior(T_world_cam0: np.ndarray, angles_deg) -> list[np.ndarray]:
    return [rot_z(-a) @ np.asarray(T_world_cam0, float) for a in angles_deg]


def _down(cloud, voxel):
    from scan2ad.pointcloud import to_open3d

    pcd = to_open3d(cloud).voxel_down_sample(voxel)
    return np.asarray(pcd.points), (np.asarray(pcd.normals) if pcd.has_normals() else None)


def normal_motion(
    src: np.ndarray,
    tgt_tree: cKDTree,
    tgt_normals: np.ndarray,
    T_start: np.ndarray,
    T: np.ndarray,
    max_distance: float,
) -> float:
    """RMS over the source points with a target point within ``max_distance`` (at ``T``) of
    their motion from ``T_start`` to ``T`` along the target's normal there: how far a
    correction moves the source across the target surface. A motion along the surface (the
    spin of a part of revolution, a slide along a plane) counts for nothing."""
    a = src @ T_start[:3, :3].T + T_start[:3, 3]
    b = src @ T[:3, :3].T + T[:3, 3]
    d, j = tgt_tree.query(b, distance_upper_bound=max_distance)
    ok = np.isfinite(d)
    if not ok.any():
        return 0.0
    return float(np.sqrt(np.mean(np.einsum("ij,ij->i", b[ok] - a[ok], tgt_normals[j[ok]]) ** 2)))


FIT_CHECKS = ("on", "off", "auto")


def residual_spread(
    src: np.ndarray,
    tgt_tree: cKDTree,
    tgt_points: np.ndarray,
    tgt_normals: np.ndarray,
    poses: list[np.ndarray],
    max_distance: float,
) -> list[float]:
    """For each pose of ``poses``, the robust spread (1.4826 × median absolute value) of the
    point-to-plane residuals of the source points that have a target point within
    ``max_distance`` at every pose (one common set, so that a pose cannot look better by
    pairing fewer or other points); NaN where no point is common."""
    res, common = [], np.ones(len(src), bool)
    for T in poses:
        moved = src @ T[:3, :3].T + T[:3, 3]
        d, j = tgt_tree.query(moved, distance_upper_bound=max_distance)
        ok = np.isfinite(d)
        r = np.full(len(src), np.nan)
        r[ok] = np.einsum("ij,ij->i", moved[ok] - tgt_points[j[ok]], tgt_normals[j[ok]])
        res.append(r)
        common &= ok
    if not common.any():
        return [float("nan")] * len(poses)
    return [1.4826 * float(np.median(np.abs(r[common]))) for r in res]


def register_views(
    clouds: list,
    angles_deg: list[float],
    T_world_cam0: np.ndarray,
    config: MultiviewConfig = MultiviewConfig(),
    names: list[str] | None = None,
    markers: list | None = None,
) -> dict:
    """Poses ``T_world_view`` of every view and one record per pair (method, fitness, RMSE,
    iterations, time). ``markers``: per view the marker centres (M, 3) in its cam0 frame, or
    None (no markers seen)."""
    import open3d as o3d

    if config.fit_check not in FIT_CHECKS:
        raise InputError(
            f"multiview fit_check must be one of {', '.join(FIT_CHECKS)}, got {config.fit_check!r}"
        )
    n = len(clouds)
    names = names or [f"view_{i:03d}" for i in range(n)]
    prior = turntable_prior(T_world_cam0, angles_deg)
    pairs = []
    if n < 2 or not config.refine:
        return {"T_world_view": prior, "pairs": pairs, "method": "turntable prior"}
    down = [_down(c, config.voxel_mm) for c in clouds]
    edges = [(i, i + 1) for i in range(n - 1)]
    span = (angles_deg[-1] - angles_deg[0]) + (angles_deg[1] - angles_deg[0])
    if n > 2 and abs(span - 360.0) <= config.loop_closure_deg:
        edges.append((n - 1, 0))
    graph = o3d.pipelines.registration.PoseGraph()
    for T in prior:
        graph.nodes.append(o3d.pipelines.registration.PoseGraphNode(T))
    for i, j in progress(edges, desc="register views", total=len(edges), unit="pair"):
        (ps, _), (pt, nt) = down[i], down[j]
        init = np.linalg.inv(prior[j]) @ prior[i]  # T_j_i from the prior
        t0 = time.perf_counter()
        start = "turntable prior"
        mk = None
        if markers is not None and config.markers.enabled:
            mk = marker_transform(markers[i], markers[j], init, config.markers)
            if mk is not None:
                init = mk["T"]
                start = f"turntable prior + markers (least squares, {mk['matched']} matched)"
        cfg = FricpConfig(variant=config.variant, nu_begin=config.nu_begin_mm)
        res = fricp(ps, pt, init=init, config=cfg, target_normals=nt)
        corr = np.linalg.inv(init) @ res.transformation  # in the source view's frame
        tree_t = cKDTree(pt)  # the target's search tree, shared by every check below
        normal_shift = (
            float("inf")
            if nt is None
            else normal_motion(ps, tree_t, nt, init, res.transformation, res.max_distance)
        )
        centroid = ps.mean(axis=0)
        shift = float(np.linalg.norm(corr[:3, :3] @ centroid + corr[:3, 3] - centroid))
        corr_deg = rotation_angle_deg(corr)
        accepted = corr_deg <= config.max_correction_deg and shift <= config.max_correction_mm
        significant = normal_shift >= config.min_normal_shift_mm
        prior_fit, prior_rmse = evaluate(ps, tree_t, init, res.max_distance)
        final_fit, _ = evaluate(ps, tree_t, res.transformation, res.max_distance)
        kept_overlap = not final_fit < prior_fit - config.max_fitness_loss
        fits = True
        if config.fit_check == "on" and nt is not None and accepted and significant:
            spread0, spread1 = residual_spread(
                ps, tree_t, pt, nt, [init, res.transformation], 3 * config.voxel_mm
            )
            fits = not spread1 > spread0
        rec = {
            "source": names[i],
            "target": names[j],
            "method": f"{start} + {res.method}",
            "fitness": res.fitness,
            "inlier_rmse": res.inlier_rmse,
            "iterations": res.iterations,
            "time_s": time.perf_counter() - t0,
            "correction_deg": corr_deg,
            "correction_mm": shift,
            "normal_shift_mm": normal_shift,
            "accepted": bool(accepted and significant and fits and kept_overlap),
        }
        if config.fit_check == "on" and nt is not None and accepted and significant:
            rec.update(spread_start_mm=spread0, spread_mm=spread1)
        if mk is not None:
            rec["markers"] = {k: v for k, v in mk.items() if k != "T"}
        if not rec["accepted"]:
            why = (
                "correction beyond the tolerance"
                if not accepted
                else "correction within the refinement's precision"
                if not significant
                else "correction fits worse than the start"
                if not fits
                else f"correction loses overlap (fitness {final_fit:.2f} < start {prior_fit:.2f})"
            )
            rec.update(
                method=f"{start} (refinement not applied: {why})",
                fitness=prior_fit,
                inlier_rmse=prior_rmse,
            )
        if not accepted:
            log.warning(
                "%s -> %s: FRICP correction %.2f deg / %.2f mm beyond the tolerance; start kept",
                names[i],
                names[j],
                corr_deg,
                shift,
            )
        pairs.append(rec)
        if rec["fitness"] < config.min_fitness:
            raise Scan2adError(
                f"{names[i]} does not register onto {names[j]}: fitness {rec['fitness']:.3f} "
                f"< {config.min_fitness} (inlier RMSE {rec['inlier_rmse']:.3f} mm)"
            )
        T_edge = res.transformation if rec["accepted"] else init
        info = o3d.pipelines.registration.get_information_matrix_from_point_clouds(
            o3d.geometry.PointCloud(o3d.utility.Vector3dVector(ps)),
            o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pt)),
            3 * config.voxel_mm,
            T_edge,
        )
        graph.edges.append(
            o3d.pipelines.registration.PoseGraphEdge(i, j, T_edge, info, uncertain=(j != i + 1))
        )
    # odometry edges define the chain; anchor view 0 at its prior
    o3d.pipelines.registration.global_optimization(
        graph,
        o3d.pipelines.registration.GlobalOptimizationLevenbergMarquardt(),
        o3d.pipelines.registration.GlobalOptimizationConvergenceCriteria(),
        o3d.pipelines.registration.GlobalOptimizationOption(
            max_correspondence_distance=3 * config.voxel_mm,
            edge_prune_threshold=0.25,
            reference_node=0,
        ),
    )
    # Open3D's optimisation differs by ~1e-13 from run to run (its threads' summation order);
    # rounding to 1e-7 (5 nm at 50 mm) gives the same poses, and so the same bytes downstream,
    # on every run of the same input
    poses = [np.round(np.asarray(node.pose), 7) + 0.0 for node in graph.nodes]  # no -0.0
    return {
        "T_world_view": poses,
        "pairs": pairs,
        "method": f"turntable prior{' + markers' if any('markers' in p for p in pairs) else ''}"
        f" + fricp ({config.variant}) + pose graph",
    }
