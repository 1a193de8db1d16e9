"""Decode throughput: megapixels of pattern images decoded per second.

Target (issue 3): >= 200 Mpx/s on 2 cores. Frames are a real-looking capture: one view of a
part rendered by the virtual rig at 1280x1024 (shadows, table, noise). Every configuration is
timed against a straightforward reference decoder (float64 stack, textbook formulas) run in the
same process on the same frames, and the two are checked to agree.

    OMP_NUM_THREADS=2 .venv/bin/python -P benchmarks/decode_throughput.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def reference_decode(
    frames, ps, min_contrast=8.0, min_bit_margin=2.0, min_modulation=0.25, edge_tol=1.5
):
    """Textbook decoder: the whole sequence as one float64 array, bits by comparison, Gray to
    binary by a loop over bits, phase by arctan2; the same contrast rule as DecodeConfig()."""
    stack = np.stack([f.astype(np.float64) for f in frames])
    contrast = stack[0] - stack[1]
    valid = contrast >= min_contrast
    out = {}
    for d in ps.directions:
        gray_idx = [f.index for f in ps.frames if f.direction == d and f.kind == "gray"]
        bits = stack[gray_idx] > stack[[i + 1 for i in gray_idx]]
        margins = np.abs(stack[gray_idx] - stack[[i + 1 for i in gray_idx]])
        if ps.kind == "graycode":
            valid &= margins.min(axis=0) >= min_bit_margin
        binary = np.zeros(contrast.shape, np.int64)
        prev = np.zeros(contrast.shape, bool)
        for b in bits:
            prev = prev ^ b
            binary = binary * 2 + prev
        if ps.kind == "graycode":
            coord = binary.astype(np.float64)
        else:
            steps = [f.index for f in ps.frames if f.direction == d and f.kind == "phase"]
            n = len(steps)
            delta = 2 * np.pi * np.arange(n) / n
            c = np.tensordot(np.cos(delta), stack[steps], axes=1)
            s = np.tensordot(np.sin(delta), stack[steps], axes=1)
            theta = np.mod(np.arctan2(-s, c), 2 * np.pi)
            valid &= 2 * (2 / n) * np.hypot(c, s) / np.maximum(contrast, 1e-3) >= min_modulation
            f = theta / (2 * np.pi)
            k1, k2 = binary >> 1, (binary + 1) >> 1
            k = np.where(f < 0.25, k2, np.where(f > 0.75, k2 - 1, k1))
            coord = (k + f) * ps.phase_period_px
            # an undecided bit is tolerated within edge_tol of its own stripe edges, which lie
            # at x = (2j + 1) * 2^b * half - 0.5, every 2^(b+1) * half pixels
            half = ps.phase_period_px // 2
            for bit, margin in zip(range(len(gray_idx) - 1, -1, -1), margins):
                spacing = half * 2 ** (bit + 1)
                dist = np.mod(coord - (half * 2**bit - 0.5), spacing)
                near = np.minimum(dist, spacing - dist) <= edge_tol
                valid &= (margin >= min_bit_margin) | near
        out[d] = coord
    return out, valid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import cv2
    import trimesh

    from scan2ad.acquisition.decode import DecodeConfig, decode_frames
    from scan2ad.acquisition.devices.virtual import VirtualScene
    from scan2ad.acquisition.patterns import PatternSet
    from scan2ad.acquisition.rig import load_rig

    rig = load_rig("virtual")
    part = trimesh.creation.annulus(r_min=9.0, r_max=22.0, height=12.0, sections=96)
    scene = VirtualScene(rig, part, seed=0)
    print(
        f"cores: {os.cpu_count()}, cv2 threads: {cv2.getNumThreads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    rows = []
    for kind in ("phase", "graycode"):
        ps = PatternSet(1280, 720, kind=kind, phase_steps=4, phase_period_px=16)
        frames = scene.render_view(30.0, ps.images())["cam0"]
        mpx = len(frames) * frames[0].size / 1e6
        ref_t = []
        for _ in range(max(1, args.repeats // 2)):
            t0 = time.perf_counter()
            ref, ref_valid = reference_decode(frames, ps)
            ref_t.append(time.perf_counter() - t0)
        ref_best = min(ref_t)
        for rule in ("contrast", "direct_global"):
            cfg = DecodeConfig(bit_rule=rule)
            decode_frames(frames, ps, cfg)  # warm-up
            ts = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                d = decode_frames(frames, ps, cfg)
                ts.append(time.perf_counter() - t0)
            best = min(ts)
            agree = ""
            if rule == "contrast":
                same = d.valid == ref_valid
                both = d.valid & ref_valid
                err = np.abs(d.col[both] - ref["columns"][both]).max() if both.any() else 0.0
                agree = f"mask {same.mean() * 100:.3f}% same, max |dcol| {err:.4f}"
            rows.append(
                (
                    kind,
                    rule,
                    len(frames),
                    mpx,
                    best,
                    mpx / best,
                    ref_best,
                    mpx / ref_best,
                    ref_best / best,
                    d.valid.mean(),
                    agree,
                )
            )
    hdr = (
        "pattern",
        "rule",
        "frames",
        "Mpx",
        "ours s",
        "ours Mpx/s",
        "ref s",
        "ref Mpx/s",
        "speed-up",
        "valid",
        "agreement with reference",
    )
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in rows:
        print(
            f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.3f} | {r[5]:.0f} | "
            f"{r[6]:.3f} | {r[7]:.0f} | "
            f"{r[8]:.1f}x | {r[9] * 100:.1f}% | {r[10]} |"
        )
    target = min(r[5] for r in rows if r[1] == "contrast")
    print(
        f"default rule throughput (worst pattern kind): {target:.0f} Mpx/s (target >= 200): "
        f"{'met' if target >= 200 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
