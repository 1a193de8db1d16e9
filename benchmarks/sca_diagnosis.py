"""SCA diagnosis (issue 9): is the signal in the tokens, and does the discriminator find it?

    OMP_NUM_THREADS=1 .venv/bin/python -P benchmarks/sca_diagnosis.py DATASET [--cls NAME] \\
        [--variants paper,sigma0.3,mlp,...] [--steps 500] [--views 2] [--group-size 32] [--device cpu]

For one class (open-set k = 1, seed 1, as benchmarks/detectors_iii.py), the SCA detector's own
token views (``SCA._view``: Point-MAE tokens, centres, pooled FPFH) of the normal training clouds
(``--views`` per cloud, view 0 plain) and of the test clouds are extracted once; then the table
gives O/P-AUROC (%) of

* ``knn-raw``, ``knn-standardised``, ``knn-sca``: each test token's distance to its nearest
  training token (raw, standardised, or standardised and SCA-aggregated), through the detector's
  own point mapping (max over containing patches, 3D median filter) and object score (max);
* one row per ``--variants`` entry: ``SCANet`` trained on the aggregated training tokens for
  ``--steps`` steps of batch 8 (AdamW, cosine schedule, clip 1, as ``SCA.fit``), scored the same
  way. A variant is ``paper`` (the detector's defaults) or a ``+``-joined list of changes:
  ``sigmaX``, ``lrX``, ``mlp`` (SimpleNet's per-token discriminator), ``nosca``, ``nofa``,
  ``seedN``.

The training loop runs on ``--device`` (``cuda`` makes the sweep take seconds per variant; SCA
itself runs on the CPU as in the detector). OMP_NUM_THREADS=1 as every timing on the shared
machine. Figures of 2026-11-29 (demo heavy_washer, 500 steps, device cuda) are recorded in
``scan2ad.detectors.methods.sca.detector``'s docstring.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("SCAN2AD_NO_PROGRESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _point_metrics(test, labels, clouds, patch_scores):
    import numpy as np

    from scan2ad.detectors.methods.sca.detector import median_filter, patch_max_to_points
    from scan2ad.detectors.metrics import class_metrics

    points = []
    for view, cloud, ps in zip(test, clouds, patch_scores, strict=True):
        s = patch_max_to_points(cloud.points, np.asarray(ps, np.float64), view[3])
        points.append(median_filter(cloud.points, s, 3.0))
    m = class_metrics(labels, [float(s.max()) for s in points], [c.labels for c in clouds], points)
    return 100 * m["O-AUROC"], 100 * m["P-AUROC"]


def _nearest(bank, tokens):
    import torch

    b = torch.as_tensor(bank)
    return [torch.cdist(torch.as_tensor(t), b).min(dim=1).values.numpy() for t in tokens]


def _parse_variant(name: str) -> dict:
    out = {"sigma": 0.1, "lr": 1e-4, "discriminator": "attention", "use_sca": True, "adaptor": True, "seed": 0}
    for part in filter(None, name.split("+")):
        if part == "paper":
            continue
        if part.startswith("sigma"):
            out["sigma"] = float(part[5:])
        elif part.startswith("lr"):
            out["lr"] = float(part[2:])
        elif part.startswith("seed"):
            out["seed"] = int(part[4:])
        elif part == "mlp":
            out["discriminator"] = "mlp"
        elif part == "nosca":
            out["use_sca"] = False
        elif part == "nofa":
            out["adaptor"] = False
        else:
            raise SystemExit(f"unknown variant part {part!r} in {name!r}")
    return out


def _train_and_score(train_bags, test_bags, v: dict, steps: int, device: str):
    import torch

    from scan2ad.detectors.methods.sca.model import SCANet

    dev = torch.device(device)
    tr, te = train_bags.to(dev), test_bags.to(dev)
    torch.manual_seed(v["seed"])
    net = SCANet(tr.shape[2], tr.shape[1], v["adaptor"], v["discriminator"], 0.5, v["sigma"]).to(dev)
    gen = torch.Generator(device=dev).manual_seed(v["seed"])
    opt = torch.optim.AdamW(net.parameters(), lr=v["lr"], weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    losses = []
    net.train()
    for _ in range(steps):
        idx = torch.randperm(len(tr), generator=gen, device=dev)[:8]
        loss = net.loss(tr[idx], gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.detach())
    net.eval()
    with torch.no_grad():
        logits = [net(t[None])[0].double().cpu().numpy() for t in te]
    first, last = float(torch.stack(losses[:5]).mean()), float(torch.stack(losses[-20:]).mean())
    return logits, first, last


def main() -> None:
    import numpy as np
    import torch

    from scan2ad.datasets.samples import load_sample
    from scan2ad.detectors import data as D
    from scan2ad.detectors.registry import create

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--cls", default="", help="class (default: the first)")
    ap.add_argument("--variants", default="paper,sigma0.3,mlp,nosca,mlp+nosca")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--group-size", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    samples = D.load_dataset(args.dataset, [args.cls] if args.cls else None)
    cls = args.cls or D.class_names(samples)[0]
    part = D.open_set_partition(samples, cls, None, 1, 1, args.dataset)
    clouds = [load_sample(x) for x in part.test]
    labels = [x.label for x in part.test]
    det = create("sca", group_size=args.group_size)
    rng = np.random.default_rng(1)
    train = [det._view(load_sample(x).points, rng if v else None)
             for x in part.train_normal for v in range(max(1, args.views))]
    test = [det._view(c.points, None) for c in clouds]
    raw = np.concatenate([t[0] for t in train]).astype(np.float32)
    det.mean, det.std = raw.mean(axis=0), raw.std(axis=0) + 1e-6
    rows = [("knn-raw", *_point_metrics(test, labels, clouds, _nearest(raw, [t[0] for t in test])), "")]
    std = (raw - det.mean) / det.std
    rows.append(("knn-standardised", *_point_metrics(
        test, labels, clouds, _nearest(std, [(t[0] - det.mean) / det.std for t in test])), ""))
    bags = {}
    for use_sca in (True, False):
        det_v = create("sca", group_size=args.group_size, use_sca=use_sca)
        det_v.mean, det_v.std = det.mean, det.std
        bags[use_sca] = (torch.stack([det_v._aggregate(*t[:3]) for t in train]),
                         torch.stack([det_v._aggregate(*t[:3]) for t in test]))
    agg_tr, agg_te = bags[True]
    rows.append(("knn-sca", *_point_metrics(test, labels, clouds, _nearest(
        agg_tr.reshape(-1, agg_tr.shape[-1]).numpy(), list(agg_te.numpy()))), ""))
    for name in filter(None, args.variants.split(",")):
        v = _parse_variant(name)
        tr, te = bags[v["use_sca"]]
        logits, first, last = _train_and_score(tr, te, v, args.steps, args.device)
        rows.append((name, *_point_metrics(test, labels, clouds, logits), f"BCE {first:.3f} -> {last:.3f}"))
    print(f"{cls}: {len(train)} training views, {len(test)} test clouds, group size {args.group_size}, "
          f"{args.steps} steps on {args.device}")
    print(f"{'row':24s} O-AUROC P-AUROC")
    for name, o, p, note in rows:
        print(f"{name:24s} {o:7.2f} {p:7.2f}  {note}")


if __name__ == "__main__":
    main()
