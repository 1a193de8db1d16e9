"""CPU time of the pipeline build's per-scan hot spots, each beside its reference in this process.

A ``pipeline`` build (``scan2ad build open-industry-full``) spends most of its time on scans
(600 of them: 4 captured views and one reconstruction each), not on samples. Profiled with
py-spy on the build's two workers (session 18), the largest single item was the normalised-
convolution smoothing of the decoded maps (``reconstruction.triangulate._smooth_decoded``, one
6x6 least-squares system per valid pixel: a quarter of the workers' time), then writing the
decoded maps (``np.savez_compressed``, zlib level 6: 6.5 %). This script captures one turntable
view of a library part in memory, decodes it, and times on its two cameras' maps:

* smoothing: the full-window fast path (one fixed filter where the whole window is valid; the
  per-pixel systems only near an invalid pixel or the border) against ``fast=False`` (every
  pixel's own system, the earlier code), with their agreement: the largest difference where both
  keep the smoothed value, and how many pixels flip between smoothed and own value (those whose
  smoothed value lies at ``max_change`` within float32 rounding);
* writing: ``DecodedMap.save`` (deflate level 1) against ``np.savez_compressed``, with sizes.

    OMP_NUM_THREADS=1 .venv/bin/python -P benchmarks/scan_speed.py [--part square_taper_washer]
        [--repeat 3]

Measured 2026-12-07 (session 18; square_taper_washer, instance 7, part_variation 0.1, view 1
of 4, virtual rig 1280x1024; a running build paused, the machine's two cores otherwise idle)
on the maps of that view (756K valid pixels on cam0, of which 31 % have an invalid pixel in
their 7x7 window, decoder speckle mostly):

    | camera | valid px | smooth | reference | ratio | max diff (px) | flips | save | savez_compressed | ratio | MB / MB |
    | cam0 | 756290 | 0.37 | 1.33 | 0.27 | 2.4e-04 | 183 | 0.13 | 0.40 | 0.33 | 5.07 / 4.80 |
    | cam1 | 753926 | 0.37 | 1.31 | 0.28 | 2.4e-04 | 187 | 0.13 | 0.40 | 0.32 | 5.05 / 4.79 |

(2.4e-4 projector pixels is 3 float32 ulps at ~1000; the flips are 0.02 % of the pixels.) One
whole scan the same way (``capture_view`` x 4 then ``reconstruct_scan``, one process, same
instance; the tree before this change in a second checkout): 48.2 CPU s before, 34.2 after
(0.71x); reconstruction 31.1 -> 19.8, the four views' capture 17.1 -> 14.5 (the renderer's
in-place arithmetic, byte-identical frames, is in that figure); fused points 215,719 -> 215,715.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _cpu(repeat: int, fn, *a, **kw):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.process_time()
        out = fn(*a, **kw)
        best = min(best, time.process_time() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="square_taper_washer", help="a part library class")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per variant (best kept)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    import numpy as np

    from scan2ad.acquisition.decode import DecodeConfig, decode_frames
    from scan2ad.acquisition.devices.virtual import VirtualScene
    from scan2ad.acquisition.parts import PART_NAMES, make_part
    from scan2ad.acquisition.patterns import PatternSet
    from scan2ad.acquisition.rig import load_rig
    from scan2ad.reconstruction.triangulate import TriangulateConfig, _smooth_decoded

    if args.part not in PART_NAMES:
        ap.error(f"--part {args.part!r} is not a library class (one of {', '.join(PART_NAMES)})")
    rig = load_rig("virtual")
    patterns = PatternSet.from_rig(rig)
    scene = VirtualScene(rig, make_part(args.part, 7, 0.1), seed=11)
    angle = float(rig.turntable.view_angles_deg(4)[1])
    frames = scene.render_view(angle, patterns.images())
    cfg = TriangulateConfig()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cam in sorted(frames):
            dm = decode_frames(frames[cam], patterns, DecodeConfig())
            valid = dm.valid & np.isfinite(dm.col) & np.isfinite(dm.row)
            maps = [dm.col, dm.row]
            sm = (cfg.smooth_sigma_px, cfg.smooth_order, cfg.smooth_max_change)
            t_fast, fast = _cpu(args.repeat, _smooth_decoded, maps, valid, *sm)
            t_ref, ref = _cpu(args.repeat, _smooth_decoded, maps, valid, *sm, fast=False)
            diff, flips = 0.0, 0
            for f, r in zip(fast, ref):
                d = np.abs(f - r)[valid]
                flip = d > 1e-3
                flips += int(flip.sum())
                diff = max(diff, float(d[~flip].max(initial=0.0)))
            a, b = Path(tmp) / "a.npz", Path(tmp) / "b.npz"
            t_save, _ = _cpu(args.repeat, dm.save, a)
            t_zref, _ = _cpu(args.repeat, np.savez_compressed, b, col=dm.col, row=dm.row,
                             valid=dm.valid, confidence=dm.confidence)
            rows.append((cam, int(valid.sum()), t_fast, t_ref, diff, flips, t_save, t_zref,
                         a.stat().st_size / 1e6, b.stat().st_size / 1e6))
    print(f"{args.part}, view 1 of 4, CPU s (best of {args.repeat})")
    print("| camera | valid px | smooth | reference | ratio | max diff (px) | flips | save | "
          "savez_compressed | ratio | MB / MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for cam, n, tf, tr, d, fl, ts, tz, sa, sb in rows:
        print(f"| {cam} | {n} | {tf:.2f} | {tr:.2f} | {tf / tr:.2f} | {d:.1e} | {fl} | {ts:.2f} | "
              f"{tz:.2f} | {ts / tz:.2f} | {sa:.2f} / {sb:.2f} |")


if __name__ == "__main__":
    main()
