"""Detectors II (issue 8): PatchCore(PointMAE), M3DM, Reg3D-AD, DevNet_pm/pb and DRA_pm/pb with
their default (shipped) encoders, through benchmarks/detectors.py's ``main`` (same arguments,
same table; only the default methods differ).

    .venv/bin/scan2ad build demo --out /tmp/d_demo
    OMP_NUM_THREADS=2 .venv/bin/python -P benchmarks/detectors_ii.py /tmp/d_demo [--classes 1] ...

Every entry runs its paper configuration: 1024 groups of 128 points of 16384 kept points, the
shipped ``point_mae_small`` (``-pm`` and the memory banks) or ``point_bert_small`` (``-pb``).

Measured: see the table below (filled in from the run it names).
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

os.environ.setdefault("SCAN2AD_NO_PROGRESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

# patchcore-fpfh first: the reference of the speed ratio, measured in the same process
DEFAULT_METHODS = "patchcore-fpfh,patchcore-pointmae,m3dm,reg3d-ad,devnet-pm,devnet-pb,dra-pm,dra-pb"


def main() -> None:
    bench = runpy.run_path(str(Path(__file__).resolve().parent / "detectors.py"))  # not a package: run it
    bench["main"](default_methods=DEFAULT_METHODS, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()
