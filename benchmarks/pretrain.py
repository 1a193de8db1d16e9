"""Backbone speed: patch grouping and pretraining steps, against references in the same process.

1. Grouping (FPS + kNN) of one cloud: the torch implementation of the backbones
   (``grouping.group_points``, runs on any device) against the numpy reference of the detectors
   (Open3D ``farthest_point_down_sample`` + SciPy ``cKDTree``), at the Point-MAE pretraining size
   (1024 points, 64 x 32) and the M3DM inference size (8192 points, 1024 x 128).
2. Tokens of one 16384-point cloud at M3DM's size (1024 x 128, three blocks of the shipped
   encoder) with the detectors' Open3D + SciPy grouping against the encoder's torch grouping.
3. One optimisation step (forward, backward, AdamW) per model size, batch ``--batch`` of 1024
   points, as milliseconds per step and clouds per second; the ratio is against the shipped
   ``point_mae_small`` configuration (trans_dim 192, depth 6) measured in the same run.

    OMP_NUM_THREADS=2 .venv/bin/python -P benchmarks/pretrain.py [--batch 8] [--repeat 3] [--device cpu]

Recorded 2026-11-24 on the shared 2-core machine (other sessions running; absolute times vary
with their load, ratios less) with OMP_NUM_THREADS=2 --batch 8 --repeat 2:

    points  groups x k  torch ms  open3d+scipy ms  ratio
      1024     64 x 32       2.4              1.0   2.32
      8192  1024 x 128     134.4             25.8   5.21

    model                            params   ms/step  clouds/s  x shipped
    point-mae small (shipped)     4,020,320       549      14.6       1.00
    point-mae tiny (tests)          424,832       421      19.0       0.77
    point-mae paper (384 x 12)   29,006,432       929       8.6       1.69
    point-bert mpm small         10,426,715       491      16.3       0.89

Recorded 2026-11-29 (load average 4.3-4.5, OMP_NUM_THREADS=2), ``bench_tokens(3)``:

    grouping              s  ratio
    torch (encoder)    3.58   1.00
    open3d + scipy     3.60   1.01

and the grouping alone of that cloud (1024 x 128): torch 0.87 s (16.9 s on the first call of the
process), Open3D + SciPy 0.08 s. The detectors now group with Open3D + SciPy
(``pointmae_extractor.cloud_tokens``); in this run the saving (~0.8 s, and the slow first call)
was lost in the noise of the shared machine next to the mini-PointNet and transformer, which
dominate a 16K cloud's 3.6 s. The "4.6 of 7.5 s in FPS" seen before was not reproduced.

The torch grouping is 2-5x slower than Open3D + SciPy on the CPU (a Python loop over the FPS
picks) but runs inside the model on any device; at the M3DM size it costs 0.13 s per cloud,
small next to the encoder. The mini-PointNet over every patch point dominates a step, so the
tiny test model is hardly faster than the shipped one.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_grouping(repeat: int, device: str) -> None:
    from scan2ad.detectors.features.backbones.grouping import group_points
    from scan2ad.detectors.features.geometry import farthest_point_sampling, knn

    print("\ngrouping (FPS + kNN), one cloud, best of", repeat)
    print(f"{'points':>7} {'groups x k':>11} {'torch ms':>9} {'open3d+scipy ms':>16} {'ratio':>6}")
    rng = np.random.default_rng(0)
    for n, g, k in ((1024, 64, 32), (8192, 1024, 128)):
        pts = rng.random((n, 3))
        xyz = torch.as_tensor(pts, dtype=torch.float32, device=device)[None]
        t_ours = _best(lambda xyz=xyz, g=g, k=k: group_points(xyz, g, k), repeat)

        def ref(pts=pts, g=g, k=k):
            c = farthest_point_sampling(pts, g)
            knn(pts[c], pts, k)

        t_ref = _best(ref, repeat)
        print(f"{n:>7} {f'{g} x {k}':>11} {1e3 * t_ours:>9.1f} {1e3 * t_ref:>16.1f} {t_ours / t_ref:>6.2f}")


def bench_tokens(repeat: int) -> None:
    """Tokens of one 16384-point cloud at M3DM's size (1024 x 128, blocks 1/3/5 of the shipped
    encoder): the detectors' Open3D + SciPy grouping against the encoder's torch grouping."""
    from scan2ad.detectors.features.pointmae_extractor import cloud_tokens, load_token_encoder

    pts = np.random.default_rng(0).random((16384, 3)) * 50.0
    load_token_encoder("point_mae_small")
    print("\ntokens of one 16384-point cloud, 1024 x 128, blocks (1, 3, 5) of point_mae_small, best of", repeat)
    print(f"{'grouping':<16} {'s':>6} {'ratio':>6}")
    times = {}
    for name, torch_grouping in (("torch (encoder)", True), ("open3d + scipy", False)):
        times[name] = _best(lambda t=torch_grouping: cloud_tokens(pts, "point_mae_small", 1024, 128, 16384,
                                                                  (1, 3, 5), torch_grouping=t), repeat)
        print(f"{name:<16} {times[name]:>6.2f} {times[name] / times['torch (encoder)']:>6.2f}")


def bench_steps(batch: int, repeat: int, device: str) -> None:
    from scan2ad.detectors.features.backbones.point_bert import PointBERT, PointBERTConfig
    from scan2ad.detectors.features.backbones.point_mae import PointMAE, PointMAEConfig

    sizes = [
        ("point-mae small (shipped)", lambda: PointMAE(PointMAEConfig(trans_dim=192, depth=6, encoder_dims=192,
                                                                      decoder_depth=2))),
        ("point-mae tiny (tests)", lambda: PointMAE(PointMAEConfig(trans_dim=48, depth=2, num_heads=3,
                                                                   encoder_dims=48, decoder_depth=1,
                                                                   decoder_num_heads=3))),
        ("point-mae paper (384 x 12)", lambda: PointMAE(PointMAEConfig())),
        ("point-bert mpm small", lambda: PointBERT(PointBERTConfig(trans_dim=192, depth=6, encoder_dims=128,
                                                                   num_tokens=512, tokens_dims=64,
                                                                   decoder_dims=128))),
    ]
    xyz = torch.rand(batch, 1024, 3, device=device) * 2 - 1
    print(f"\none training step, batch {batch} x 1024 points, best of {repeat}")
    print(f"{'model':<28} {'params':>10} {'ms/step':>9} {'clouds/s':>9} {'x shipped':>10}")
    ref = None
    for name, make in sizes:
        torch.manual_seed(0)
        model = make().to(device).train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)

        def step(model=model, opt=opt):
            out = model(xyz)
            opt.zero_grad()
            out.loss.backward()
            opt.step()

        step()   # warm-up
        t = _best(step, repeat)
        ref = ref or t
        n = sum(p.numel() for p in model.parameters())
        print(f"{name:<28} {n:>10,} {1e3 * t:>9.0f} {batch / t:>9.1f} {t / ref:>10.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    bench_grouping(args.repeat, args.device)
    bench_tokens(args.repeat)
    bench_steps(args.batch, args.repeat, args.device)


if __name__ == "__main__":
    main()
