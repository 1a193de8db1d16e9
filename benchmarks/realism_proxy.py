"""Realism proxy (issue 21 part 3): samples drawn from a build's finished scans with the pipeline
source's own sample code (:func:`scan2ad.datasets.pipeline.make_pipeline_cloud`) and a
generator variant's settings, then Open3D-AD (open-set) and PatchCore-FPFH / BTF-Raw / BTF-FPFH
(one-class) on them: one row per method beside the paper's level (000 Tables II and VI).

    OMP_NUM_THREADS=2 .venv/bin/python -P benchmarks/realism_proxy.py OUT_DIR \\
        [--build /work/builds/open-industry-full] [--cls square_taper_washer] \\
        [--train-scans train_000] [--test-scans train_001,train_002] \\
        [--set label_threshold_mm=0.05 --set defect_depth_scale=1] [--methods ...] [--breakdown] [--overwrite]

A sample is what ``scan2ad build`` makes with the same settings (the same function, scan files
and seeds of the same form); only which scans serve train and test differs: any finished scan is
a scan of one part instance, so the proxy needs no test scan of the build yet. Train normals come
from ``--train-scans``, test normals and anomalies (round-robin over the five types) from
``--test-scans``, never the same scan. Without ``--set`` the samples take the
open-industry-full spec's settings exactly as the build passes them (``builder.sample_params``:
the adopted defect depth/area scales included); each ``--set`` replaces one of them. Re-running with another ``--set`` and OUT_DIR gives the
before/after table of a generator change at the cost of the samples only (~1-3 s each), not
of new scans.

``--breakdown`` says where the point scores go wrong (issue 21 part 3): each method is fitted and
scored here on the same partition as ``evaluate`` (same O/P-AUROC), and for every anomalous
sample the proxy also draws its uncarved twin (the same seed without the defect: the same
resampling and rotation, so a point's displacement by the carve is exact). It prints, per
method: the AUROC of labelled points against every normal point by displacement band (the
defect's rim vs its centre), of the unlabelled points the carve still moved (> 0.01 mm: the rim
below the label threshold), per defect type (within-sample and against the pooled normal
points), and how strongly the normal points' scores follow the local surface variation
(edges, concavities: eigenvalue ratio of 30-point neighbourhoods).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import zlib
from pathlib import Path

os.environ.setdefault("SCAN2AD_NO_PROGRESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from realism_variant import parse_sets  # the sibling script's --set rules

DEFECTS = ["Bump", "Dent", "Scratch", "Scar", "Deformation"]
# 000 Table II/III (Open3D-AD, open-set k = 5) and Table VI (self-supervised)
PAPER = {"open3d-ad": (84.39, 70.52), "patchcore-fpfh": (51.78, 54.34), "btf-raw": (93.15, 66.31),
         "btf-fpfh": (49.40, 51.14)}
ONE_CLASS = ("patchcore-fpfh", "btf-raw", "btf-fpfh")


def make_samples(build: Path, cls: str, train_scans: list[str], test_scans: list[str], out: Path,
                 n_train: int, n_normal: int, n_per_defect: int, params: dict,
                 twins: Path | None = None) -> dict:
    """Write an Open-Industry-layout class folder under ``out``; return its anomaly ratios.
    ``twins``: also write each anomalous sample's per-point displacement by the carve there
    (``<stem>.npy``, from its uncarved twin)."""
    import numpy as np

    from scan2ad.datasets.pipeline import make_pipeline_cloud
    from scan2ad.io import read_json
    from scan2ad.log import progress
    from scan2ad.pointcloud import PointCloud, read_cloud, read_xyz, write_cloud, write_xyz

    def scan(sid: str) -> dict:
        recon = build / ".build" / "scans" / cls / sid / "recon"
        meta = read_json(recon / "carve_mesh.json")
        return {"recon": os.path.relpath(recon, build), "scanned_area_fraction": meta["scanned_area_fraction"]}

    c = zlib.crc32(cls.encode("utf-8"))
    jobs = [("train", None, f"{cls}_{j + 1:03d}", (0, c, 0, j), train_scans[j % len(train_scans)])
            for j in range(n_train)]
    test = [(None, j) for j in range(n_normal)] + [(d, j) for d in DEFECTS for j in range(n_per_defect)]
    for i, (d, j) in enumerate(test):
        stem = f"{cls}_{j + 1:03d}" if d is None else f"{cls}_{d}_{j + 1:03d}"
        role = 1 if d is None else 20 + DEFECTS.index(d)
        jobs.append(("test", d, stem, (0, c, role, j), test_scans[i % len(test_scans)]))
    ratios: dict[str, list[float]] = {}
    for split, d, stem, seed, sid in progress(jobs, desc=f"samples {out.name}"):
        pcd = out / cls / split / f"{stem}.pcd"
        gt = out / cls / "gt" / f"{stem}.txt"
        if not pcd.is_file():
            pts, labels, _ = make_pipeline_cloud(str(build), scan(sid), d, list(seed), params)
            if d is not None:
                write_xyz(gt, PointCloud(pts, labels=labels))
            write_cloud(pcd, PointCloud(pts))
        if d is None:
            continue
        ratios.setdefault(d, []).append(float(read_xyz(gt).labels.mean()))
        if twins is not None and not (twins / f"{stem}.npy").is_file():
            # the same seed without the defect draws the same points and rotation
            # (make_pipeline_cloud carves on its own stream), so this is the uncarved sample
            base, _, _ = make_pipeline_cloud(str(build), scan(sid), None, list(seed), params)
            twins.mkdir(parents=True, exist_ok=True)
            np.save(twins / f"{stem}.npy",
                    np.linalg.norm(read_cloud(pcd).points - base, axis=1).astype(np.float32))
    return {d: float(np.mean(r)) for d, r in ratios.items()}


def breakdown(data: Path, cls: str, method: str, protocol: str, k: int, overrides: dict,
              twins: Path) -> dict:
    """Fit and score ``method`` on the partition ``evaluate`` uses (seed 1) and say where its
    point scores separate labelled from normal points and where not (module docstring)."""
    import numpy as np
    from scipy.spatial import cKDTree
    from sklearn.metrics import roc_auc_score

    from scan2ad.datasets.samples import load_sample
    from scan2ad.detectors import data as D
    from scan2ad.detectors.evaluate import _train_set
    from scan2ad.detectors.metrics import class_metrics
    from scan2ad.detectors.registry import create

    samples = D.load_dataset(data, [cls])
    part = (D.one_class_partition(samples, cls) if protocol == "one-class"
            else D.open_set_partition(samples, cls, None, k, 1, data))
    det = create(method, **{**overrides, "seed": 1})
    det.fit(_train_set(part))
    test = [load_sample(x) for x in part.test]
    scores = det.score_batch([t.points for t in test])
    res = class_metrics([x.label for x in part.test], [sc.object for sc in scores],
                        [t.labels for t in test], [sc.points for sc in scores])
    score, label, disp, curv, kind = [], [], [], [], []
    for x, t, sc in zip(part.test, test, scores, strict=True):
        _, nn = cKDTree(t.points).query(t.points, k=30)
        q = t.points[nn] - t.points[nn].mean(axis=1, keepdims=True)
        ev = np.linalg.eigvalsh(np.einsum("nki,nkj->nij", q, q))
        score.append(np.asarray(sc.points, float))
        label.append(np.asarray(t.labels, int))
        curv.append(ev[:, 0] / np.maximum(ev.sum(axis=1), 1e-30))
        disp.append(np.load(twins / f"{x.name}.npy") if x.label else np.zeros(len(t.points)))
        kind.append(x.defect_type)
    S, L, Dp, C = (np.concatenate(v) for v in (score, label, disp, curv))
    neg = S[L == 0]

    def vs_normal(mask) -> float:
        return 100 * roc_auc_score(np.r_[np.zeros(len(neg)), np.ones(int(mask.sum()))], np.r_[neg, S[mask]])

    out = {"O-AUROC": 100 * res["O-AUROC"], "P-AUROC": 100 * res["P-AUROC"], "bands": {}, "types": {}}
    for lo, hi in ((0.0, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 0.4), (0.4, np.inf)):
        m = (L == 1) & (Dp >= lo) & (Dp < hi)
        if m.sum() >= 20:
            out["bands"][f"labelled, moved {lo:g}-{hi:g} mm"] = (int(m.sum()), vs_normal(m))
    m = (L == 0) & (Dp > 0.01)
    if m.sum() >= 20:
        out["bands"]["unlabelled, moved > 0.01 mm (rim)"] = (int(m.sum()), vs_normal(m))
    for t in DEFECTS:
        idx = [i for i, x in enumerate(kind) if x == t]
        if idx:
            within = np.mean([100 * roc_auc_score(label[i], score[i]) for i in idx])
            sub = np.concatenate([score[i][label[i] == 1] for i in idx])
            pooled = 100 * roc_auc_score(np.r_[np.zeros(len(neg)), np.ones(len(sub))], np.r_[neg, sub])
            moved = float(np.mean(np.concatenate([disp[i][label[i] == 1] for i in idx])))
            out["types"][t] = (within, pooled, moved)
    cn = C[L == 0]
    out["normal score ~ surface variation > p90 (AUROC)"] = 100 * roc_auc_score(cn > np.quantile(cn, 0.9), neg)
    return out


def print_breakdown(m: str, b: dict) -> None:
    print(f"\n{m}: O/P-AUROC {b['O-AUROC']:.2f} / {b['P-AUROC']:.2f}")
    print("| points | n | AUROC vs all normal points |\n|---|---|---|")
    for name, (n, a) in b["bands"].items():
        print(f"| {name} | {n} | {a:.1f} |")
    print("| defect type | within-sample P-AUROC | vs pooled normal points | mean displacement of labelled (mm) |")
    print("|---|---|---|---|")
    for t, (w, p, d) in b["types"].items():
        print(f"| {t} | {w:.1f} | {p:.1f} | {d:.3f} |")
    print(f"normal points: AUROC of their score for surface variation above its 90th percentile "
          f"(edges, concavities): {b['normal score ~ surface variation > p90 (AUROC)']:.1f}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--build", type=Path, default=Path("/work/builds/open-industry-full"))
    ap.add_argument("--cls", default="square_taper_washer")
    ap.add_argument("--train-scans", default="train_000")
    ap.add_argument("--test-scans", default="train_001,train_002")
    ap.add_argument("--n-train", type=int, default=8)
    ap.add_argument("--n-normal", type=int, default=6)
    ap.add_argument("--n-per-defect", type=int, default=3)
    ap.add_argument("-k", type=int, default=1, help="open-set: seen anomalies per known type")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a sample setting of the pipeline source, replacing the open-industry-full spec's "
                         "value (default: the spec's adopted settings, as the build uses them)")
    ap.add_argument("--methods", default="patchcore-fpfh,btf-raw,btf-fpfh,open3d-ad")
    ap.add_argument("--o3d-feature-points", type=int, default=0,
                    help="Open3D-AD's feature_points (0: every point, its default; 16384 makes the "
                         "proxy ~5x cheaper on 90K-point samples)")
    ap.add_argument("--breakdown", action="store_true",
                    help="fit and score here and say where the point scores go wrong (see above)")
    ap.add_argument("--overwrite", action="store_true", help="replace what OUT already holds")
    args = ap.parse_args(argv)

    import torch

    from scan2ad.datasets.spec import load_spec
    from scan2ad.detectors.evaluate import EvalSettings, evaluate
    from scan2ad.errors import InputError

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    spec = load_spec("open-industry-full")
    if spec.source != "pipeline":
        raise InputError(f"the open-industry-full spec's source is {spec.source!r}; the proxy makes "
                         "pipeline samples and their uncarved twins only")
    # the build's own sample settings (adopted values), --set applied and checked
    spec, params = parse_sets(spec, args.set)
    for name in ("n_train", "n_normal", "n_per_defect", "k", "o3d_feature_points"):
        if getattr(args, name) < (0 if name == "o3d_feature_points" else 1):
            raise InputError(f"--{name.replace('_', '-')} must be >= {0 if name == 'o3d_feature_points' else 1}, "
                             f"got {getattr(args, name)}")
    if args.out.exists() and (not args.out.is_dir() or (any(args.out.iterdir()) and not args.overwrite)):
        raise InputError("the output folder already holds files; choose another or pass --overwrite"
                         if args.out.is_dir() else "the output is not a folder", args.out)
    if args.overwrite:   # nothing of an earlier run may stay beside this one's samples
        for sub in ("dataset", "twins", "runs"):
            shutil.rmtree(args.out / sub, ignore_errors=True)
    data = args.out / "dataset"
    ratios = make_samples(args.build, args.cls, args.train_scans.split(","), args.test_scans.split(","),
                          data, args.n_train, args.n_normal, args.n_per_defect, params,
                          twins=args.out / "twins" if args.breakdown else None)
    rows = {}
    for m in args.methods.split(","):
        proto = "one-class" if m in ONE_CLASS else "open-set"
        over = {"feature_points": args.o3d_feature_points} if m.startswith("open3d-ad") and args.o3d_feature_points else {}
        if args.breakdown:
            b = breakdown(data, args.cls, m, proto, args.k, over, args.out / "twins")
            print_breakdown(m, b)
            rows[m] = (proto, {"O-AUROC": b["O-AUROC"] / 100, "P-AUROC": b["P-AUROC"] / 100})
            continue
        s = EvalSettings(method=m, protocol=proto, k=args.k, seeds=(1,), heatmaps=0, plots=False,
                         save_models=False, overrides=over)
        res = evaluate(data, args.out / "runs" / m, dataclasses.replace(s), overwrite=True)
        o = {k: v[0] for k, v in res["mean"]["overall"].items()}
        rows[m] = (proto, o)
        print(m, json.dumps(o), flush=True)
    print(f"\nvariant {params}\nanomaly ratio % by type: "
          + ", ".join(f"{d} {100 * r:.2f}" for d, r in ratios.items()))
    print("\n| method | protocol | O-AUROC | P-AUROC | paper O | paper P |")
    print("|---|---|---|---|---|---|")
    for m, (proto, o) in rows.items():
        po, pp = PAPER.get(m, (float("nan"), float("nan")))
        print(f"| {m} | {proto} | {100 * o['O-AUROC']:.2f} | {100 * o['P-AUROC']:.2f} | {po:.2f} | {pp:.2f} |")
    return rows


if __name__ == "__main__":
    from scan2ad.errors import run_script

    run_script(main)
