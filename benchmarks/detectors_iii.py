"""Detectors III (issue 9): SCA with its ablations and IMRNet with its sampler ablation, through
benchmarks/detectors.py's ``main`` (same arguments, same table; only the default methods and the
SCA training schedule differ).

    .venv/bin/python -P benchmarks/detectors_iii.py [DATASET] [--classes 1] [--paper-schedule] ...

SCA's paper schedule (100 epochs, lr 1e-4, 4 views per training cloud) costs ~2.5 s per step
on the shared CPU at 1024 tokens, ~25 min per class and variant; unless ``--paper-schedule`` is
given, the SCA entries train for ``BENCH_SCA`` (10 epochs over 2 views per cloud at lr 1e-3).
Everything else (1024 x 32 patches of the shipped point_mae_small tokens, SCA, the networks,
inference) is the paper's configuration.

Measured 2026-11-29 on the shared 2-core machine (load average 7.1-8.0 from other work, so wall
FPS is far below what the methods sustain alone), OMP_NUM_THREADS=2, the demo dataset built by
``.venv/bin/scan2ad build demo --out /tmp/a_demo`` (20K points), 1 class (heavy_washer: the full
list on 3 classes would take ~3 h here), open-set k = 1, seed 1, SCA with BENCH_SCA:

    .venv/bin/python -P benchmarks/detectors_iii.py /tmp/a_demo --classes 1 --out /tmp/a_bench3

    method                       O-AUROC P-AUROC  FPS   CPU s/sample fit s  peak RSS MB  params
    sca                           53.51   57.49  0.243   2.07     297   2006    532,706
    sca-no-sca                    64.91   54.53  0.262   1.96     250   2345    532,706
    sca-no-fa                     46.49   66.88  0.261   1.98     245   2328    494,978
    sca-no-global                 55.26   54.06  0.248   2.19     249   2389    532,706
    sca-no-snap                   62.28   57.82  0.246   2.00     258   2366    532,706
    sca-pure-geometry             62.28   57.08  0.234   2.09     287   2391    532,706
    sca-pure-feature              32.46   57.44  0.229   2.21     278   2380    532,706
    sca-simplenet-generator       47.37   52.44  0.239   2.07     285   2377    532,706
    sca-simplenet-discriminator   43.86   58.99  0.234   2.09     104   1405     76,131
    imrnet                        58.77   57.43  0.171   2.87     568   1217    697,892

(figures from each method's ``metrics.json``; the run was stopped after imrnet for time.)

IMRNet and its sampler ablation, after the template regularisation became Eq. 19 (commit
fc269d5), measured 2026-11-29 18:25 UTC on the idle machine (load 1.5), the demo dataset that
``make demo`` builds, heavy_washer, open-set k = 1, seed 1 (all test samples; the default
IMRNet schedule, 400 steps):

    .venv/bin/python -P benchmarks/detectors_iii.py demo_out/dataset --classes 1 \
        --methods imrnet,imrnet-fps,imrnet-random,imrnet-voxel

    method          O-AUROC P-AUROC  FPS   CPU s/sample fit s  peak RSS MB  params
    imrnet           57.89   58.32   5.36    0.25      14.3     613      697,892
    imrnet-fps       75.44   52.89  11.00    0.12       7.5     916      697,892
    imrnet-random    71.93   53.85  24.62    0.07       7.2     938      697,892
    imrnet-voxel     64.04   56.20   1.89    0.56      11.9     946      697,892

(the same imrnet fit took 568 s at load 7-8 above: small torch kernels on oversubscribed cores.)

SCA with the paper's schedule, same day, idle machine (load 1.9), same class and protocol:

    .venv/bin/python -P benchmarks/detectors_iii.py demo_out/dataset --classes 1 --methods sca \
        --paper-schedule

    sca (paper schedule)   O-AUROC 47.92  P-AUROC 54.38  FPS 1.57  CPU s/sample 1.14
                           fit 1026 s  peak RSS 2095 MB  params 532,706

still at chance on this class: the longer schedule alone does not make SCA work on the demo
data (the tiny-ring test shows the pieces learn; what differs on the demo parts is open). Every SCA variant is near chance here:
30 optimiser steps are far from the paper's ~12,500, and with sigma = 0.1 on standardised tokens
the discriminator's loss stays at the label prior (0.56) in that budget; on the tiny 3 mm ring
the same code reaches O/P-AUROC 0.93/0.74 (tests/unit/detectors/test_sca.py). The ablation
differences on one class and one seed are noise, not evidence about the components.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

os.environ.setdefault("SCAN2AD_NO_PROGRESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

SCA_METHODS = ("sca", "sca-no-sca", "sca-no-fa", "sca-no-global", "sca-no-snap", "sca-pure-geometry",
               "sca-pure-feature", "sca-simplenet-generator", "sca-simplenet-discriminator")
IMRNET_METHODS = ("imrnet", "imrnet-fps", "imrnet-random", "imrnet-voxel")
DEFAULT_METHODS = ",".join(SCA_METHODS + IMRNET_METHODS)
BENCH_SCA = {"epochs": 10, "views": 2, "lr": 1e-3}


def main() -> None:
    # benchmarks/ is a folder of scripts, not a package: load detectors.py's namespace by path
    bench = runpy.run_path(str(Path(__file__).resolve().parent / "detectors.py"),
                           run_name="scan2ad_benchmark_detectors")
    bench["main_with_schedule"](__doc__, DEFAULT_METHODS, {m: dict(BENCH_SCA) for m in SCA_METHODS})


if __name__ == "__main__":
    main()
