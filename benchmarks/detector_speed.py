"""Every detector's scoring speed at ~90K points (issue 21 part 4; paper 000 Table VII: Open3D-AD
8.4 FPS on its GPU): samples/s after loading, CPU s per sample, fit time and peak memory, one
row per method, with the ratio against the 1 sample/s target and against PatchCore-FPFH measured
first in the same process.

    OMP_NUM_THREADS=2 .venv/bin/python -P benchmarks/detector_speed.py CLASS_DIR \\
        [--methods a,b:key=value] [--n-train 8] [--n-test 3] [--profile METHOD]

CLASS_DIR is one class folder of an Open-Industry-layout dataset at the paper's scale, finished
or not (e.g. ``/work/builds/open-industry-full/square_taper_washer`` while the build runs): the
first ``--n-train`` clouds of ``train/`` fit the detector, the next ``--n-test`` clouds (then
``test/``'s) are scored. Methods that train on seen anomalies get one labelled anomaly: the
first ``test/`` sample with a ``gt/`` file, else a train cloud with a smooth 0.3 mm bump of
1.2 % of its points (Open-Industry's mean anomaly ratio) displaced along the local normal — the
seen anomaly conditions the fit only; scoring speed does not depend on it. The trained methods
fit on a short schedule (``TRAIN_OVERRIDES``: fewer optimiser steps only; the networks, token
counts and inference path are each entry's defaults), because scoring, not training, is
measured; the training features are computed once for all methods (a feature cache around
``fit`` only, so the fit times of the later Open3D-AD variants are not their own). A memory bank grows with the training set, so a method's rate at the protocol's 60
references is below the rate measured at ``--n-train`` (PatchCore's nearest-neighbour search
is logarithmic in the bank with its KD-tree; the figures below say which rows depend on it).

``--profile METHOD`` prints the cProfile of METHOD's scoring (top 25 by cumulative time).

Measured 2026-12-06 19:20-20:25 UTC on the shared 2-core machine at load average 17-22 (four
other sessions and the full build), OMP_NUM_THREADS=2, on square_taper_washer samples of the
open-industry-full build (fit on 8 clouds of 87K points + one seen anomaly, 2 scored clouds of
97K points), so wall rates are ~10x below an idle machine's; CPU s per sample is the steady
figure:

    .venv/bin/python -P benchmarks/detector_speed.py /tmp/i21r/speedcls --n-train 8 --n-test 2

    method               samples/s  CPU s/sample  samples/CPU s  vs PatchCore-FPFH  peak RSS MB
    patchcore-fpfh         0.32        0.41          2.44            1.00              482
    open3d-ad (= M1 = M9)  0.02        8.15          0.12            0.05              629
    btf-raw                0.31        0.36          2.78            1.14              549
    btf-fpfh               0.17        0.98          1.02            0.42              811
    patchcore-fpfh+raw     0.24        0.54          1.85            0.76              563
    m3dm                   0.02        4.79          0.21            0.09             1597
    patchcore-pointmae     0.04        3.66          0.27            0.11             1460
    reg3d-ad               0.06        3.84          0.26            0.11             1474
    devnet-pm              0.13        3.71          0.27            0.11             1518
    dra-pm                 0.19        3.57          0.28            0.11             1704
    po3ad                  1.65        0.40          2.48            1.02              807

Session 8's profile (``--profile open3d-ad``, one 97K-point cloud, 7.9 CPU s): Open3D's
``compute_fpfh_feature`` at the neighbour counts 40/80/120 over every point 74 %, Open3D's
farthest-point sampling of the 4096 centres 17 %, normals 3 %, the memory-bank search 2 %; the
Point-MAE rows (``--profile m3dm``, 3.8 CPU s): the encoder's mini-PointNet embedding 76 %, the
transformer blocks 15 %, the bank search 4 %; DevNet/DRA and Reg3D-AD run the same encoder per
cloud. The paper's 8.4 FPS (Table VII) is on its GPU machine.

Measured 2026-12-06 21:50-22:40 UTC (session 9), load average 13-22 (five sessions and the
build at ``--workers 2``), the rows missing above:

    devnet-pb     3.74 CPU s/sample (patchcore-fpfh 0.40 in the same process: ratio 0.11), peak
                  RSS 1626 MB (same command, --methods patchcore-fpfh,devnet-pb,...)
    open3d-ad-m6  7.69 CPU s/sample, open3d-ad 7.46 / 7.44 (seeds 1, 2) in the same runs: one
                  thread, 9 scored clouds of 87K points, fit on 2 references (the runs without
                  the cache of ``benchmarks/feature_cache.py``, OUT/runs-plain/*/metrics.json)

dra-pb was stopped during its fit (over 15 min of wall time at that load). It runs the same
Point-BERT encoder per cloud as devnet-pb, and dra-pm scores within 4 % of devnet-pm, so it should
be about 3.6-3.7 CPU s/sample. M2-M5, M7 and M8 were not run in session 9 (session 10 below).

Measured 2026-12-07 00:50-01:51 UTC (session 10), load average 17-27 (four sessions and the
build), OMP_NUM_THREADS=1 (Open3D's FPS, normals and its FPFH run on TBB, both cores, whatever
it says), fit on 4 clouds of 87K points + one bump, 2 scored clouds of 85K points, the
multi-FPFH now :func:`~scan2ad.detectors.features.fpfh.fpfh_scales` (``fpfh_backend = "numpy"``,
the default) except the row that asks for Open3D's, in the same process:

    OMP_NUM_THREADS=1 .venv/bin/python -P benchmarks/detector_speed.py /tmp/i21p/speedcls \
        --n-train 4 --n-test 2 --methods 'patchcore-fpfh,open3d-ad,open3d-ad:fpfh_backend="open3d",\
        open3d-ad-m2,open3d-ad-m3,open3d-ad-m4,open3d-ad-m5,open3d-ad-m7,open3d-ad-m8,dra-pb'

(/tmp/i21p/speedcls: train 001-010 and test 001-002 of square_taper_washer of the
open-industry-full build, copied)

    method                            CPU s/sample  vs patchcore-fpfh  fit s (wall)  peak RSS MB
    patchcore-fpfh                        0.32           1.00              37            499
    open3d-ad (= M1 = M9)                 3.89           0.08             528           1069
    open3d-ad, fpfh_backend="open3d"      7.13           0.04             991            718
    open3d-ad-m2 (identity)               4.91           0.07              48           1020
    open3d-ad-m3 (random)                 4.13           0.08              19           1011
    open3d-ad-m4 (greedy)                 4.07           0.08              23           1006
    open3d-ad-m5 (approx. greedy)         4.03           0.08              27           1012
    open3d-ad-m7                          4.11           0.08              15           1016
    open3d-ad-m8                          4.34           0.07              19           1014
    dra-pb                                2.91           0.11             664           1726

Wall rates were 0.01-0.06 samples/s at that load. The new FPFH takes Open3D-AD from 7.13 to
3.89 CPU s/sample (1.83x) with the same scores (tests/unit/detectors/test_fpfh_fast.py); the
paper protocol's Open3D-AD family (benchmarks/paper_tables.py, ~18 CPU h with Open3D's FPFH)
scales with it to an estimated ~10 CPU h. The later variants' fits reuse the first one's training features
(the shared fit cache), so only open3d-ad's and the Open3D row's fit times include features.
M2 scores ~0.8 CPU s slower than the others: its normal support is every training patch (4 x
4096 here, 60 x 4096 at the protocol's 60 references, where its bank search grows further);
M3-M8 keep N = 1000 and score within noise of M1. dra-pb (10 optimiser steps) scores at 2.91
CPU s/sample on one torch thread, bounded by the Point-BERT encoder per cloud as devnet-pb (3.74
with two threads, session 9: the CPU s of two threads include their overhead).

What bounds the slow rows (none reaches 1 sample/s on two cores without changing the scores):

* Open3D-AD and M1-M9: the multi-FPFH of every point. Until session 10 it was Open3D 0.20's
  ``compute_fpfh_feature`` at the three neighbour counts: one 92.6K-point cloud, one thread
  (session 9): k = 40 1.16 CPU s, k = 80 2.22, k = 120 3.47 (6.85 in all), linear in k, ~0.31 us
  per point-neighbour pair. Session 10 replaced it by default (``fpfh_backend = "numpy"``) with
  :func:`scan2ad.detectors.features.fpfh.fpfh_scales`: the three scales from one SciPy 120-NN
  search and one set of pair features, Open3D's numbers to 1e-12 (``benchmarks/fpfh_speed.py``:
  2.3x fewer CPU s at 20K and 94K points). cProfile (process time) of Open3D-AD's feature
  extraction of one 94.3K-point cloud, one thread, session 10: 4.2 CPU s, of which the FPFH 3.3
  (the 120-NN search ~1.2, the pair features 1.1, the three sparse weighted sums 0.2, bins,
  weights and copies the rest), Open3D's FPS of the 4096 centres 0.44, pooling 0.20, normals
  0.14. The 120-NN search and the ~11M pair features are the floor of this method at every point
  (SciPy's search alone is 1.1-1.5 CPU s; numpy evaluates each pair feature as ~60 array
  operations). Open3D's FPS and normals run on TBB (both cores) whatever OMP_NUM_THREADS says;
  the protocol uses two cores with two single-threaded workers (``paper_tables.py --workers 2``).
  The feature cache (``--feature-cache``) removes the cost from every run after the first that
  needs a cloud.
* The Point-MAE / Point-BERT rows: the encoder's mini-PointNet embedding of 1024 groups x 128
  points, ~52 G multiply-adds per cloud for point_mae_small, 2.6 of 2.9 CPU s of the tokens on
  one thread (session 9). oneDNN already runs it (with ``torch.backends.mkldnn`` off: 28 CPU s).
  ``torch.inference_mode`` instead of ``no_grad`` gives the same tokens bit for bit and the same
  time within noise (2.86-2.99 vs 2.94-3.22 CPU s). Scoring is one cloud at a time, so a larger
  batch removes no work. The network's size at the paper's token count bounds it.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from pathlib import Path

os.environ.setdefault("SCAN2AD_NO_PROGRESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np

METHODS = ("patchcore-fpfh,open3d-ad,btf-raw,btf-fpfh,patchcore-fpfh+raw,m3dm,patchcore-pointmae,reg3d-ad,"
           "devnet-pm,dra-pm,po3ad,devnet-pb,dra-pb,open3d-ad-m1,open3d-ad-m2,open3d-ad-m3,open3d-ad-m4,"
           "open3d-ad-m5,open3d-ad-m6,open3d-ad-m7,open3d-ad-m8,open3d-ad-m9")
# scoring is measured, not learning: the trained entries take a few optimiser steps
TRAIN_OVERRIDES = {"devnet-pm": {"steps": 10}, "devnet-pb": {"steps": 10},
                   "dra-pm": {"steps": 10}, "dra-pb": {"steps": 10},
                   "po3ad": {"steps": 10, "batch_size": 2}}
TARGET = 1.0  # samples/s on two cores (issue 7's target, issue 21 part 4)


def bumped(points: np.ndarray, rng: np.random.Generator, ratio: float = 0.012,
           height_mm: float = 0.3):
    """A labelled copy of ``points`` with a smooth bump over the ``ratio`` nearest points of a
    random point, displaced along the local PCA normal (the fit's seen anomaly when the class
    folder has none)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(points)
    centre = points[rng.integers(len(points))]
    k = max(16, int(ratio * len(points)))
    d, idx = tree.query(centre, k=k)
    local = points[idx] - points[idx].mean(axis=0)
    normal = np.linalg.svd(local, full_matrices=False)[2][2]
    w = 0.5 * (1 + np.cos(np.pi * d / max(d.max(), 1e-9)))
    out = points.copy()
    out[idx] += height_mm * w[:, None] * normal
    labels = np.zeros(len(points), np.uint8)
    labels[idx] = 1
    return out, labels


def load_class(folder: Path, n_train: int, n_test: int):
    from scan2ad.errors import InputError
    from scan2ad.pointcloud import PointCloud, read_cloud, read_xyz

    train = sorted((folder / "train").glob("*.pcd"))
    test = sorted((folder / "test").glob("*.pcd"))
    if len(train) < n_train + (0 if len(test) >= n_test else n_test - len(test)):
        raise InputError(f"{folder}: {len(train)} train and {len(test)} test clouds; need {n_train} to fit "
                         f"and {n_test} to score")
    fit = [read_cloud(p) for p in train[:n_train]]
    score = [read_cloud(p).points for p in (train[n_train:] + test)[:n_test]]
    anomaly, source = None, "bump"
    for p in test:
        gt = folder / "gt" / (p.stem + ".txt")
        if gt.is_file():
            anomaly, source = read_xyz(gt), gt.name
            break
    if anomaly is None:
        pts, labels = bumped(fit[0].points, np.random.default_rng(0))
        anomaly = PointCloud(pts, labels=labels)
    return fit, anomaly, source, score


class _SharedCache:
    """One :func:`~scan2ad.detectors.features.feature_cache` kept open across the fits of every
    method (entered and left around each fit), so Open3D-AD's M1-M9 compute the multi-FPFH of
    the training clouds once; fit times after the first variant's are then not comparable."""

    def __init__(self):
        self._cm = None

    def __enter__(self):
        from scan2ad.detectors import features as F

        if self._cm is None:
            self._cm = F.feature_cache(2048)
            self._cm.__enter__()
            self._store = F._cache
        F._cache = self._store

    def __exit__(self, *exc):
        from scan2ad.detectors import features as F

        F._cache = None
        return False


_FIT_CACHE = _SharedCache()


def parse_method(spec: str) -> tuple[str, dict]:
    """``NAME[:key=value,...]`` -> (registry name, overrides): the entry's ``TRAIN_OVERRIDES`` plus
    settings given after the colon, values parsed as TOML (``open3d-ad:fpfh_backend="open3d"``)."""
    import tomllib

    from scan2ad.errors import InputError

    name, _, rest = spec.partition(":")
    overrides = dict(TRAIN_OVERRIDES.get(name, {}))
    for item in filter(None, rest.split(";")):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InputError(f"--methods entry {spec!r}: expected key=value after ':', got {item!r}")
        try:
            overrides[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError as e:
            raise InputError(f"--methods entry {spec!r}: {value!r} is not a TOML value ({e})") from None
    return name, overrides


def measure(name: str, fit, anomaly, score, profile: bool = False) -> dict:
    import torch

    from scan2ad.detectors.base import TrainSet
    from scan2ad.detectors.evaluate import peak_rss_mb, reset_peak_rss
    from scan2ad.detectors.registry import create

    reset_peak_rss()
    name, overrides = parse_method(name)
    det = create(name, **overrides)
    t0 = time.perf_counter()
    with _FIT_CACHE:  # the variants share their training features; scoring never uses the cache
        det.fit(TrainSet(fit, [anomaly], ["Bump"], "speed"))
    fit_s = time.perf_counter() - t0
    prof = cProfile.Profile() if profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    with torch.no_grad():
        det.score_batch(score)
    if prof:
        prof.disable()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return {"fps": len(score) / dt, "cpu_s": dc / len(score), "fit_s": fit_s, "rss_mb": peak_rss_mb(),
            "parameters": det.parameter_count()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("class_dir", type=Path)
    ap.add_argument("--methods", default=METHODS,
                    help="comma-separated registry names, each optionally NAME:key=value;key=value")
    ap.add_argument("--n-train", type=int, default=8)
    ap.add_argument("--n-test", type=int, default=3)
    ap.add_argument("--profile", default="", help="print the cProfile of this method's scoring")
    args = ap.parse_args(argv)

    import torch

    from scan2ad.detectors.registry import REGISTRY, create
    from scan2ad.errors import InputError, ValidationError

    for m in args.methods.split(","):   # every entry checked before the clouds load and the first fit
        name, overrides = parse_method(m)
        if name not in REGISTRY:
            raise InputError(f"--methods: unknown method {m!r}")
        try:   # the settings' names, types and ranges (the detector's own config checks)
            create(name, **overrides)
        except (InputError, ValidationError, TypeError, ValueError) as e:
            raise InputError(f"--methods entry {m!r}: {e}") from None
    if args.n_train < 1 or args.n_test < 1:
        raise InputError(f"--n-train and --n-test must be >= 1, got {args.n_train} and {args.n_test}")
    if not args.class_dir.is_dir():
        raise InputError("not a folder (a class folder with train/ and test/ clouds)", args.class_dir)
    threads = int(os.environ["OMP_NUM_THREADS"])
    torch.set_num_threads(threads)
    fit, anomaly, source, score = load_class(args.class_dir, args.n_train, args.n_test)
    print(f"{args.class_dir}: fit on {len(fit)} clouds ({np.mean([len(c) for c in fit]):.0f} points) + "
          f"1 anomaly ({source}); scoring {len(score)} clouds of {np.mean([len(s) for s in score]):.0f} "
          f"points; {threads} thread(s)", flush=True)
    methods = args.methods.split(",")
    results: dict[str, dict] = {}
    for name in methods:
        load0 = os.getloadavg()[0]
        results[name] = r = measure(name, fit, anomaly, score, profile=(name == args.profile))
        r["load"] = load0
        print(f"  {name}: {r['fps']:.2f} samples/s, {r['cpu_s']:.2f} CPU s/sample, fit {r['fit_s']:.1f} s, "
              f"peak RSS {r['rss_mb']:.0f} MB", flush=True)
    ref = results.get("patchcore-fpfh", {}).get("cpu_s")
    print("\n| method | samples/s (wall) | CPU s/sample | samples per CPU s | / target (1/s) "
          "| / patchcore-fpfh (CPU) | fit s | peak RSS MB | parameters | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        per_cpu = 1.0 / max(r["cpu_s"], 1e-9)
        rel = f"{ref / r['cpu_s']:.2f}" if ref else "n/a"
        print(f"| {name} | {r['fps']:.2f} | {r['cpu_s']:.2f} | {per_cpu:.2f} | {per_cpu / TARGET:.2f} | {rel} "
              f"| {r['fit_s']:.1f} | {r['rss_mb']:.0f} | {r['parameters']:,} | {r['load']:.1f} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; 'samples per "
          "CPU s' counts every thread's time, so it is the rate on one otherwise idle core (two "
          "threads on two idle cores reach up to twice it where the method parallelises)")
    return results


if __name__ == "__main__":
    from scan2ad.errors import run_script

    run_script(main)
