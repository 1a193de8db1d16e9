"""Detectors on a dataset at ~90K points per sample: every method's class-mean O/P-AUROC/AUPR and
its speed (test samples per second after loading, two cores), one row per method.

    .venv/bin/python -P benchmarks/detectors.py [DATASET] [--methods a,b] [--seeds 1] [--classes 1]
                                                [--protocol open-set -k 1] [--out DIR]

DATASET defaults to ``demo_out/datasets/dataset`` when the demo has built it, else a synthetic
Open-Industry-layout dataset at 90,000 points per sample is generated (``--points``). The
reference for the speed ratio is the target of issue 7 (1 sample/s for Open3D-AD and PatchCore),
and the second ratio compares every method with PatchCore-FPFH measured in the same process.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from pathlib import Path

os.environ.setdefault("SCAN2AD_NO_PROGRESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_METHODS = "btf-raw,btf-fpfh,patchcore-fpfh,patchcore-fpfh+raw,open3d-ad,open3d-ad-m6,hqc"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="?", type=Path)
    ap.add_argument("--methods", default=DEFAULT_METHODS)
    ap.add_argument("--protocol", default="open-set", choices=["one-class", "open-set"])
    ap.add_argument("-k", type=int, default=1)
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--classes", type=int, default=0, help="only the first N classes (0 = all)")
    ap.add_argument("--points", type=int, default=90_000)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from scan2ad.datasets.synthetic import SyntheticSpec, make_synthetic_dataset
    from scan2ad.detectors import data as D
    from scan2ad.detectors.benchmark import benchmark, benchmark_markdown
    from scan2ad.detectors.evaluate import EvalSettings

    tmp = tempfile.TemporaryDirectory(prefix="scan2ad-bench-")
    dataset = args.dataset
    if dataset is None:
        demo = REPO / "demo_out" / "datasets" / "dataset"
        if demo.is_dir():
            dataset = demo
        else:
            dataset = Path(tmp.name) / "synthetic"
            print(f"generating a synthetic dataset at {args.points} points per sample ...", flush=True)
            make_synthetic_dataset(dataset, SyntheticSpec(n_train=5, n_test_normal=4, n_per_defect=2,
                                                          points=args.points))
    classes = D.class_names(D.load_dataset(dataset))
    if args.classes:
        classes = classes[:args.classes]
    seeds = tuple(int(s) for s in args.seeds.split(","))
    settings = EvalSettings(protocol=args.protocol, k=args.k, seeds=seeds, classes=tuple(classes),
                            heatmaps=1, save_models=False)
    out = args.out or Path(tmp.name) / "runs"
    results = benchmark(dataset, out, args.methods.split(","), dataclasses.replace(settings))
    print(benchmark_markdown(results))
    ref = results.get("patchcore-fpfh", {}).get("fps")
    print("| method | FPS | FPS / target (1 sample/s) | FPS / patchcore-fpfh |")
    print("|---|---|---|---|")
    for name, r in results.items():
        rel = f"{r['fps'] / ref:.2f}" if ref else "n/a"
        print(f"| {name} | {r['fps']:.2f} | {r['fps'] / 1.0:.2f} | {rel} |")
    print(f"\ndataset: {dataset} ({len(classes)} classes); run folders: {out}")


if __name__ == "__main__":
    main()
