"""Reconstruction accuracy on the virtual rig (a script, not a test): for each procedural part,
capture a turntable session in memory (renderer + decoder of ``scan2ad.acquisition``),
reconstruct it (``scan2ad.reconstruction.pipeline``) and compare the final cloud with the
ground-truth mesh. Prints per part: points, mean and 95th-percentile distance to the mesh as a
share of the bounding-box diagonal (targets < 0.05% and < 0.2%), coverage of the mesh area
visible from the views (target >= 95%), and time.

Visibility of a surface sample: in at least one view it is seen by both cameras and lit by the
projector (first hit of the ray from each device centre), and it lies above the table margin
the stage crops.

    OMP_NUM_THREADS=1 .venv/bin/python -P benchmarks/reconstruction.py [--parts a b ...]
        [--views 12] [--calibration true|rig] [--cache DIR]

Measured 2026-11-29 17:30-17:59 UTC (commit after 4017804: grazing-angle limit 70°, dead band
on pair corrections, centroid octree pick), three runs of five parts each
(``--parts`` as listed, 12 views, rig calibration), OMP_NUM_THREADS=1, load average 6.6-9.0
on 2 cores (times are wall seconds under that load):

    part                          points diag mm  mean %   p95 %  cover % capture s  recon s
    square_taper_washer            89267    36.8  0.0257  0.0650    100.0      72.7     47.3
    split_pin                      82746    30.0  0.0743  0.2067     98.6      60.5     31.0
    lock_nut                       89220    27.6  0.0401  0.1140     99.7      66.4     38.9
    threaded_nail                  89671    50.5  0.0332  0.0951     87.8      67.8     40.4
    l_shaped_screw                 89603    62.9  0.0390  0.1583     92.8      64.2     41.7
    circlip                        89315    33.3  0.0403  0.1218    100.0      67.6     38.9
    internal_tooth_lock_washer     89628    25.4  0.0666  0.2035     99.1      63.2     36.2
    double_lug_washer              89178    42.0  0.0244  0.0717    100.0      69.5     45.5
    square_plug                    89604    26.4  0.1102  0.3635     98.9      69.0     45.3
    s_hook                         89225    57.0  0.0154  0.0385     94.3      63.9     44.9
    external_tooth_lock_washer     89453    25.5  0.0545  0.1691     98.7      72.9     33.5
    hex_head_plug                  89147    38.9  0.0426  0.1756     99.6      69.7     58.5
    eyelet_self_tapping_screw      89453    50.4  0.0254  0.0847     88.0      68.0     46.9
    heavy_washer                   89896    42.3  0.0229  0.0602    100.0      69.2     56.8
    locking_tab_washer             89322    50.5  0.0217  0.0759    100.0      68.3     30.2

7/15 parts meet all three targets. Not met: mean/p95 on split_pin, internal_tooth_lock_washer,
square_plug, external_tooth_lock_washer (mean only); coverage on threaded_nail,
l_shaped_screw, eyelet_self_tapping_screw, s_hook (threaded and long parts: without any
grazing-angle limit threaded_nail still covers only 92.7%, so most of the gap is surface the
visibility model counts as seen but the decoder does not resolve, e.g. thread flanks). What
the fixes of this round did on lock_nut (cached capture, rig calibration): mean 0.061% ->
0.041%, p95 0.219% -> 0.114% (the FRICP pair corrections of 0.01-0.09° on an exact prior
were noise that the pose graph accumulated; grazing points; octree pick). Before this round
only the mean and p95 of lock_nut had been recorded (0.0612% / 0.219%).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

MAX_INCIDENCE_DEG = 85.0  # the triangulation's hard limit (TriangulateConfig.max_incidence_deg)


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


def run_part(name, views, calib_mode, workdir, cache=None):
    from pathlib import Path

    import trimesh
    from scipy.spatial import cKDTree

    from scan2ad.acquisition.calibration.model import load_calibration, true_calibration
    from scan2ad.acquisition.parts import make_part
    from scan2ad.acquisition.rig import load_rig
    from scan2ad.pointcloud import read_cloud
    from scan2ad.reconstruction.pipeline import ReconstructConfig, reconstruct_views

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
        ReconstructConfig(mesh=False),
    )
    t_rec = time.perf_counter() - t0
    part = read_cloud(out / "part.ply").points
    diag = float(np.linalg.norm(truth.extents))
    sample = part[np.random.default_rng(0).choice(len(part), min(20000, len(part)), replace=False)]
    d = np.abs(trimesh.proximity.signed_distance(truth, sample))
    spacing = float(np.median(cKDTree(part).query(part[:5000], k=2)[0][:, 1]))
    angles = [c.angle_deg for c in caps]
    cov = {}
    for key, inc in (("coverage", MAX_INCIDENCE_DEG), ("coverage_any", 90.0)):
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
                r = run_part(name, args.views, args.calibration, Path(tmp), args.cache)
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
