"""Per-sample wall time and peak memory per worker of ``scan2ad build`` at Open-Industry size.

Targets (issue 6): <= 10 s per sample on 2 cores at ~90K points, <= 3 GB peak per worker.
Builds a few classes of the Open-Industry spec (90K points, all five defect types) into a
temporary folder twice in this process: once with the units inline (workers=1, the reference)
and once on a 2-worker process pool; prints a table and the ratios against the reference and
the target. Peak memory: ru_maxrss of this process (inline run) and of the pool's children.

    OMP_NUM_THREADS=1 .venv/bin/python -P benchmarks/build_throughput.py [--classes N] [--points N]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from scan2ad.datasets.builder import build
from scan2ad.datasets.spec import OPEN_INDUSTRY_DEFECTS, load_spec
from scan2ad.datasets.validate import validate_dataset

TARGET_S = 10.0
TARGET_GB = 3.0


def _rss_gb(who) -> float:
    return resource.getrusage(who).ru_maxrss / 1024**2  # KB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--points", type=int, default=90000)
    ap.add_argument("--source", choices=["carve", "synthetic"], default="carve")
    args = ap.parse_args()
    full = load_spec("open-industry-full")
    spec = load_spec({
        "name": "bench", "classes": list(full.classes[: args.classes]), "n_train": 2,
        "n_test_normal": 1, "n_per_defect": 2, "defects": list(OPEN_INDUSTRY_DEFECTS),
        "points": args.points, "source": args.source, "split_ks": [1], "split_seeds": [1, 2, 3, 4, 5], "gallery": True,
    })
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            out = Path(tmp) / f"w{workers}"
            t0 = time.perf_counter()
            r = build(spec, out, workers=workers)
            wall = time.perf_counter() - t0
            problems = validate_dataset(out)
            assert not problems, problems[:5]
            rss = _rss_gb(resource.RUSAGE_SELF if workers == 1 else resource.RUSAGE_CHILDREN)
            rows.append((workers, r.samples, wall, wall / r.samples, rss))
    rows.sort()
    ref = rows[0][3]
    print(f"build of {spec.name} (source {spec.source}): {len(spec.classes)} classes, {rows[0][1]} samples at "
          f"~{spec.points} points (5 defect types, splits, gallery, manifest)")
    print(f"{'workers':>7} {'samples':>7} {'wall s':>8} {'s/sample':>9} {'vs 1 worker':>11} "
          f"{'vs target':>9} {'peak GB/worker':>14}")
    for w, n, wall, per, rss in rows:
        print(f"{w:>7} {n:>7} {wall:>8.2f} {per:>9.3f} {ref / per:>10.2f}x {per / TARGET_S:>9.3f} "
              f"{rss:>14.2f}")
    print(f"targets: <= {TARGET_S} s/sample (ratio <= 1), <= {TARGET_GB} GB peak per worker")


if __name__ == "__main__":
    main()
