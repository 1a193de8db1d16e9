"""Virtual capture time per view at 1280x1024 (two cameras, the rig's full pattern set).

Stages timed separately: ray casting of the view geometry (both cameras, camera and shadow
rays), rendering all frames, decoding, and writing the session PNGs. The reference, run in the
same process, is the naive renderer that ray-casts the scene again for every frame (what one
gets by rendering each frame independently); the ratio is the gain from caching the per-view
geometry and only re-sampling the projected pattern per frame.

    OMP_NUM_THREADS=2 .venv/bin/python -P benchmarks/virtual_capture.py [--views 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--reference-frames", type=int, default=3, help="frames rendered the naive way")
    args = ap.parse_args()
    import trimesh

    from scan2ad.acquisition.decode import decode_frames
    from scan2ad.acquisition.devices.virtual import VirtualScene
    from scan2ad.acquisition.patterns import PatternSet
    from scan2ad.acquisition.rig import load_rig
    from scan2ad.acquisition.session import capture_session

    rig = load_rig("virtual")
    w, h = rig.cameras[0].resolution
    part = trimesh.creation.annulus(r_min=9.0, r_max=22.0, height=12.0, sections=96)
    ps = PatternSet.from_rig(rig)
    images = ps.images()
    nf = len(images)
    print(
        f"cameras {w}x{h}, projector {rig.projector.resolution}, {nf} frames per camera, "
        f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f}"
    )

    scene = VirtualScene(rig, part, seed=0)
    scene.set_angle(0.0)
    scene.geometry("cam0")  # one-off: the undistorted pixel rays of each camera are cached
    scene.geometry("cam1")
    t_geo, t_render, t_decode = [], [], []
    acc: dict[str, list] = {}
    for v in range(args.views):
        scene.set_angle(360.0 * (v + 1) / (args.views + 1))
        t0 = time.perf_counter()
        scene.geometry("cam0")
        scene.geometry("cam1")
        t_geo.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        frames = scene.render_view(scene.angle_deg, images)
        t_render.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        maps = {cam: decode_frames(frames[cam], ps) for cam in frames}
        t_decode.append(time.perf_counter() - t0)
        for cam, d in maps.items():  # decoding accuracy against the renderer's truth
            col, row = scene.true_projector_coords(cam)
            _, surface = scene.true_depth(cam)
            for sid, name in ((0, "part"), (1, "table")):
                lit = np.isfinite(col) & (surface == sid)
                ok = d.valid & lit
                err = np.hypot(d.col[ok] - col[ok], d.row[ok] - row[ok])
                acc.setdefault(name, []).append(
                    (
                        ok.sum() / max(lit.sum(), 1),
                        np.median(err),
                        np.percentile(err, 99),
                        np.mean(err > 4.0),
                    )
                )

    # naive reference: ray-cast the view again for every frame
    t0 = time.perf_counter()
    for i in range(args.reference_frames):
        scene._geometry.clear()
        scene.project(images[i])
        for cam in ("cam0", "cam1"):
            scene.render(cam)
    ref_per_frame = (time.perf_counter() - t0) / args.reference_frames
    ref_view = ref_per_frame * nf

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        part_file = Path(tmp) / "ring.stl"
        part.export(part_file)
        capture_session(Path(tmp) / "s", rig, part_file, views=args.views, rig_path="virtual")
        t_session = (time.perf_counter() - t0) / args.views
        size = sum(p.stat().st_size for p in (Path(tmp) / "s").rglob("*.png")) / args.views / 1e6

    geo, ren, dec = (sum(t) / len(t) for t in (t_geo, t_render, t_decode))
    print("| stage (per view, both cameras) | seconds |")
    print("|---|---|")
    print(f"| ray casting (camera + shadow rays) | {geo:.2f} |")
    print(f"| rendering {2 * nf} frames | {ren:.2f} |")
    print(f"| in-memory capture (geometry + frames) | {geo + ren:.2f} |")
    print(f"| decoding both cameras | {dec:.2f} |")
    print(f"| written session view (capture + {2 * nf} PNGs, {size:.0f} MB) | {t_session:.2f} |")
    print(
        f"| naive reference: ray-cast per frame ({args.reference_frames} frames timed) "
        f"| {ref_view:.2f} |"
    )
    print(f"speed-up of the cached renderer over the naive one: {ref_view / (geo + ren):.1f}x")
    print()
    print(
        "| decoding vs truth (all views, both cameras) | decoded / lit | median err px | "
        "p99 err px | > 4 px |"
    )
    print("|---|---|---|---|---|")
    for name, rows in acc.items():
        a = np.array(rows).mean(axis=0)
        print(f"| {name} | {a[0] * 100:.2f}% | {a[1]:.3f} | {a[2]:.2f} | {a[3] * 100:.3f}% |")


if __name__ == "__main__":
    main()
