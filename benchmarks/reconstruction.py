"""Reconstruction accuracy on the virtual rig (a script, not a test): for each procedural part,
capture a turntable session in memory (renderer + decoder of ``scan2ad.acquisition``),
reconstruct it (``scan2ad.reconstruction.pipeline``) and compare the final cloud with the
ground-truth mesh. Prints per part: points, mean and 95th-percentile distance to the mesh as a
share of the bounding-box diagonal (targets < 0.05% and < 0.2%), coverage of the mesh area
visible from the views (target >= 95%), and time.

Visibility of a surface sample: in at least one view it is seen by both cameras and lit by the
projector (first hit of the ray from each device centre), both cameras see it within the
triangulation's hard incidence limit of its normal (``TriangulateConfig.max_incidence_deg``;
beyond it stripes and pixel footprints stretch by more than 1/cos of the angle and nothing is
measured there), and it lies above the table margin the stage crops. ``cover %`` uses that
definition; ``any %`` counts every first-hit sample (the definition of the earlier tables),
so the area the limit takes out of the target is visible in the table.

    OMP_NUM_THREADS=1 .venv/bin/python -P benchmarks/reconstruction.py [--parts a b ...]
        [--views 12] [--calibration true|rig] [--cache DIR] [--edge-jump J --edge-radius R]

``--cache DIR`` keeps each part's decoded maps (captured with seed 0) so that a rerun only
reconstructs; "capture s" is then the loading time.

Measured 2026-11-29 20:28-20:46 UTC (the code of the commit that records this table:
second-order smoothing, normal-motion dead band, 0.3 mm registration copies, grazing points
70-80° kept where nothing better measures the surface, density limit 40 robust std), one run
over the 15 parts, 12 views, rig calibration, ``--cache`` with decoded maps captured earlier
this session (capture of a part took 60-70 s), OMP_NUM_THREADS=1, load average 2.0-3.1 on 2
cores (times are wall seconds). 11/15 parts meet all three targets (7/15 before this round):

    part                          points diag mm  mean %   p95 %  cover %  any % capture s  recon s
    threaded_nail                  89633    50.5  0.0279  0.0718     95.1   90.3       2.4     90.8
    eyelet_self_tapping_screw      89578    50.4  0.0271  0.0708     95.6   90.9       2.1     76.9
    square_plug                    89158    26.4  0.0522  0.1328     99.7   99.7       2.1     87.8
    split_pin                      85658    30.0  0.0701  0.1902     99.8   99.4       2.1     73.3
    internal_tooth_lock_washer     89207    25.4  0.0552  0.1409     99.4   99.2       2.3     60.4
    external_tooth_lock_washer     89122    25.5  0.0554  0.1391     99.2   98.8       1.2     55.0
    lock_nut                       89444    27.6  0.0477  0.1213     99.8   99.8       1.2     55.8
    hex_head_plug                  89562    38.9  0.0328  0.0812     99.5   99.4       1.2     63.4
    circlip                        89193    33.3  0.0408  0.1030    100.0  100.0       1.1     54.6
    square_taper_washer            89909    36.8  0.0325  0.0847    100.0  100.0       1.2     59.6
    l_shaped_screw                 89360    62.9  0.0260  0.0778     98.3   96.5       1.2     57.7
    s_hook                         89242    57.0  0.0212  0.0553     98.5   98.5       1.3     58.7
    double_lug_washer              89337    42.0  0.0282  0.0801    100.0  100.0       1.2     57.3
    heavy_washer                   89936    42.3  0.0316  0.0805    100.0  100.0       1.2     65.3
    locking_tab_washer             89579    50.5  0.0287  0.0685    100.0  100.0       1.1     58.0

Still missed: the mean on split_pin (0.070%), internal_tooth_lock_washer (0.055%),
external_tooth_lock_washer (0.055%) and square_plug (0.052%); every p95 and every coverage is
met. On internal_tooth_lock_washer the triangulated views with true poses already have
mean 0.058% (registration and cleanup add nothing), so what is left is in the stereo
back-projection of thin, edge-rich parts (teeth a few pixels wide, where the depth-edge
points dominate the error); split_pin was not split by stage this round. Under the
earlier definition (``any %``) threaded_nail and eyelet_self_tapping_screw cover 90-91%: the
rest is surface seen at more than 80° from every view.

Depth-edge filter (``TriangulateConfig.edge_jump``: drop left pixels within ``edge_radius_px``
of a projector-column jump of either camera's rectified map, where a pixel may mix the codes
of two surfaces), measured 2026-11-29 20:50-20:58 UTC (jump 2, radius 2) and 20:58-21:00 UTC
(jump 2, radius 1), same cache and settings as the table above, load average 2.3-3.7:

    OMP_NUM_THREADS=1 .venv/bin/python -P benchmarks/reconstruction.py --cache /tmp/rcache \
        --edge-jump 2 --edge-radius 2 --parts square_plug split_pin internal_tooth_lock_washer \
        external_tooth_lock_washer threaded_nail heavy_washer

    part                        radius  points  mean %   p95 %  cover %  any %  (filter off)
    square_plug                      2   89248  0.0502  0.1297     99.7   99.7  0.0522  99.7
    split_pin                        2   72103  0.0693  0.1880     98.7   98.3  0.0701  99.8
    internal_tooth_lock_washer       2   89207  0.0533  0.1348     99.2   99.0  0.0552  99.4
    external_tooth_lock_washer       2   89102  0.0528  0.1325     98.4   98.0  0.0554  99.2
    threaded_nail                    2   89991  0.0262  0.0652     91.0   86.2  0.0279  95.1
    heavy_washer                     2   89795  0.0273  0.0753    100.0  100.0  0.0316 100.0
    threaded_nail                    1   89738  0.0262  0.0656     93.5   88.6  0.0279  95.1
    square_plug                      1   89395  0.0500  0.1283     99.8   99.8  0.0522  99.7

The mean falls 1-14% on every part, but none of the four reaches 0.05% with radius 2 and
threaded_nail's coverage drops below 95% with radius 1 or 2, so the filter is off by default.
On one square_plug view (true poses) the error sits at grazing angles rather than at the
column jumps: points above 65° (13%) hold 33% of the error sum, points within 2 px of a jump
of the left map (1.5%) 2.4%; a depth-jump criterion (neighbouring depths more than 4 pixel
footprints apart, 4.6% of the points, 12% of the error) is mostly the same grazing points.

Where the error came from (session 4; square_plug, rig calibration, before this round; each
stage's cloud against the mesh, mean / p95 % of the diagonal): per-view triangulation with
true poses 0.058 / 0.221, after registration 0.087 / 0.285, final cloud 0.110 / 0.364.

1. Triangulation: the Gaussian normalised convolution (sigma 1 px) of the decoded maps shifts a
   curved map by sigma² × Laplacian / 2; on threads that raised p95 above the unsmoothed 0.17.
   The second-order normalised convolution (``TriangulateConfig.smooth_order``) gives
   0.049 / 0.119 (all views, true poses). Edges and grazing angles are the other sources: on
   one view, points within 2.5 px of a depth edge (9% of the points) held 28% of the error sum
   and points above 65° (4.5%) 17%.
2. Registration: with an exact prior FRICP spun the plug by 0.1-0.6° about its axis (a motion
   along the surface), past the 0.1° dead band: 0.047 -> 0.071 after registration. The dead
   band is now on the motion across the surface (``MultiviewConfig.min_normal_shift_mm``):
   registered = prior on the parts checked (square_plug, threaded_nail, l_shaped_screw,
   internal_tooth_lock_washer), while a 1.5° angle error on one view is still corrected.
3. Octree: resampling to 90K over-represents sparse (one-view, grazing) areas: 0.047 -> 0.052
   on square_plug. Unchanged (the paper keeps measured points); a plane-residual filter
   (``CleanupConfig.surface_ratio`` 3) would give 0.044 there but removes 8% of the points.

Coverage: threaded_nail's uncovered samples (575 of 5101 visible) were all seen at 70-90° from
their best view, 91% of them decoded by both cameras: the hard 70° incidence limit dropped them,
and the global density limit (20 robust std) dropped the sparse grazing points left (fused
93.8% -> clean 89.5%). Now the hard limit is 80°, points above 70° stay only where no steeper
point lies within 0.25 mm, and the density limit is 40 robust std. With an 85° hard limit
threaded_nail covered 94.0% of the area seen within 85° and square_plug came out at
0.071 / 0.218.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def visible_samples(
    mesh_world0, rig, calib, angles, n=6000, margin=0.5, seed=0, max_incidence_deg=90.0
):
    """Surface samples of the mesh (world, angle 0) that some view sees with both cameras and
    lights with the projector (first hit from each device centre), above the cropped table
    margin; with ``max_incidence_deg`` < 90 both cameras must also see the sample within that
    angle of its normal. Returns (samples, number drawn)."""
    import open3d as o3d
    import trimesh

    from scan2ad.reconstruction.registration.multiview import rot_z

    pts, face = trimesh.sample.sample_surface_even(mesh_world0, n, seed=seed)
    pts = np.asarray(pts)
    nrm = np.asarray(mesh_world0.face_normals)[face]
    centres = [
        calib.T_world_cam("cam0")[:3, 3],
        calib.T_world_cam("cam1")[:3, 3],
        (calib.T_world_cam0 @ np.asarray(calib.projector["T_cam0_projector"]))[:3, 3],
    ]
    seen = np.zeros(len(pts), bool)
    for a in angles:
        R = rot_z(a)
        m = mesh_world0.copy()
        m.apply_transform(R)
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(
            o3d.core.Tensor(np.asarray(m.vertices, np.float32)),
            o3d.core.Tensor(np.asarray(m.faces, np.uint32)),
        )
        q = pts @ R[:3, :3].T
        nq = nrm @ R[:3, :3].T
        ok = np.ones(len(pts), bool)
        for k, c in enumerate(centres):
            v = q - c
            L = np.linalg.norm(v, axis=1)
            rays = np.hstack([np.broadcast_to(c, v.shape), v / L[:, None]]).astype(np.float32)
            t = scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
            ok &= np.abs(t - L) < 0.02
            if k < 2 and max_incidence_deg < 90:  # the cameras
                cos = np.abs(np.einsum("ij,ij->i", nq, v)) / L
                ok &= cos > np.cos(np.radians(max_incidence_deg))
        seen |= ok
    return pts[seen & (pts[:, 2] > margin + 0.2)], len(pts)


def cached_capture(rig, mesh, views, cache=None):
    """The in-memory capture of ``mesh`` (seed 0), or, with a ``cache`` folder, the decoded maps
    saved there by an earlier run (capture is most of a part's time; the reconstruction alone
    can then be rerun)."""
    from pathlib import Path

    from scan2ad.acquisition.decode import DecodedMap
    from scan2ad.acquisition.session import ViewCapture, capture_in_memory

    if cache is None:
        return capture_in_memory(rig, mesh, views, seed=0)
    folder = Path(cache)
    meta = folder / "views.npz"
    if meta.is_file():
        with np.load(meta) as z:
            angles, poses = z["angles"], z["poses"]
        if len(angles) == views:
            return [
                ViewCapture(
                    i,
                    float(a),
                    poses[i],
                    None,
                    {c: DecodedMap.load(folder / f"{i:03d}_{c}.npz") for c in ("cam0", "cam1")},
                )
                for i, a in enumerate(angles)
            ]
    caps = capture_in_memory(rig, mesh, views, seed=0)
    folder.mkdir(parents=True, exist_ok=True)
    for c in caps:
        for cam, dm in c.decoded.items():
            dm.save(folder / f"{c.index:03d}_{cam}.npz")
    np.savez(
        meta,
        angles=np.array([c.angle_deg for c in caps]),
        poses=np.stack([c.T_world_part for c in caps]),
    )
    return caps


def run_part(name, views, calib_mode, workdir, cache=None, edge=(0.0, 2)):
    from pathlib import Path

    import trimesh
    from scipy.spatial import cKDTree

    from scan2ad.acquisition.calibration.model import load_calibration, true_calibration
    from scan2ad.acquisition.parts import make_part
    from scan2ad.acquisition.rig import load_rig
    from scan2ad.pointcloud import read_cloud
    from scan2ad.reconstruction.pipeline import ReconstructConfig, reconstruct_views
    from scan2ad.reconstruction.triangulate import TriangulateConfig

    rig = load_rig("virtual")
    calib = (
        true_calibration(rig) if calib_mode == "true" else load_calibration(rig.calibration_path())
    )
    mesh = make_part(name, seed=0)
    t0 = time.perf_counter()
    caps = cached_capture(rig, mesh, views, None if cache is None else Path(cache) / name)
    t_cap = time.perf_counter() - t0
    truth = mesh.copy()
    truth.apply_transform(caps[0].T_world_part)
    out = workdir / name
    t0 = time.perf_counter()
    reconstruct_views(
        [(f"view_{c.index:03d}", c.angle_deg, c.decoded) for c in caps],
        calib,
        out,
        ReconstructConfig(
            mesh=False, triangulate=TriangulateConfig(edge_jump=edge[0], edge_radius_px=edge[1])
        ),
    )
    t_rec = time.perf_counter() - t0
    part = read_cloud(out / "part.ply").points
    diag = float(np.linalg.norm(truth.extents))
    sample = part[np.random.default_rng(0).choice(len(part), min(20000, len(part)), replace=False)]
    d = np.abs(trimesh.proximity.signed_distance(truth, sample))
    spacing = float(np.median(cKDTree(part).query(part[:5000], k=2)[0][:, 1]))
    angles = [c.angle_deg for c in caps]
    cov = {}
    limit = TriangulateConfig().max_incidence_deg  # the triangulation's hard limit
    for key, inc in (("coverage", limit), ("coverage_any", 90.0)):
        vis, n = visible_samples(truth, rig, true_calibration(rig), angles, max_incidence_deg=inc)
        near, _ = cKDTree(part).query(vis)
        cov[key] = float((near < max(3 * spacing, 0.005 * diag)).mean()) * 100
        cov[key.replace("coverage", "visible")] = len(vis) / n * 100
    return {
        "part": name,
        "points": len(part),
        "diag": diag,
        "mean": d.mean() / diag * 100,
        "p95": np.percentile(d, 95) / diag * 100,
        **cov,
        "t_cap": t_cap,
        "t_rec": t_rec,
    }


def main() -> None:
    from pathlib import Path

    from scan2ad.acquisition.parts import PART_NAMES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="*", default=list(PART_NAMES))
    ap.add_argument("--views", type=int, default=12)
    ap.add_argument(
        "--calibration",
        choices=["true", "rig"],
        default="rig",
        help="true geometry, or the rig's calibration recovered from images",
    )
    ap.add_argument(
        "--cache",
        default=None,
        help="folder keeping each part's decoded maps between runs (capture time then "
        "counts the loading)",
    )
    ap.add_argument(
        "--edge-jump",
        type=float,
        default=0.0,
        help="TriangulateConfig.edge_jump (depth-edge filter; 0: off, the default)",
    )
    ap.add_argument("--edge-radius", type=int, default=2, help="TriangulateConfig.edge_radius_px")
    args = ap.parse_args()
    print(
        f"{'part':28s} {'points':>7s} {'diag mm':>7s} {'mean %':>7s} {'p95 %':>7s} {'cover %':>8s} "
        f"{'any %':>6s} "
        f"{'capture s':>9s} {'recon s':>8s}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.parts:
            try:
                r = run_part(
                    name,
                    args.views,
                    args.calibration,
                    Path(tmp),
                    args.cache,
                    (args.edge_jump, args.edge_radius),
                )
            except Exception as exc:  # noqa: BLE001 - report the part and go on with the next
                print(f"{name:28s} FAILED: {exc}")
                continue
            rows.append(r)
            print(
                f"{r['part']:28s} {r['points']:7d} {r['diag']:7.1f} {r['mean']:7.4f} {r['p95']:7.4f} "
                f"{r['coverage']:8.1f} {r['coverage_any']:6.1f} {r['t_cap']:9.1f} {r['t_rec']:8.1f}",
                flush=True,
            )
    if rows:
        ok = [r["mean"] < 0.05 and r["p95"] < 0.2 and r["coverage"] >= 95 for r in rows]
        print(
            f"\n{sum(ok)}/{len(rows)} parts meet mean < 0.05%, p95 < 0.2%, coverage >= 95% "
            f"(views {args.views}, calibration {args.calibration})"
        )


if __name__ == "__main__":
    main()
