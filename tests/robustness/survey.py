"""Count the outcomes of the hostile-input table (``cases.py``) through the real CLI, each case
in a fresh ``python -P -m scan2ad.cli`` process (a segfault is then an outcome, not a crash of
the survey). ``.venv/bin/python -P tests/robustness/survey.py [--only REGEX]`` prints one line
per case and the count per outcome (issue 22's closing-note table)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cases as C


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="regex on case names")
    args = ap.parse_args()
    from scan2ad.cli import main as cli_main

    os.environ.setdefault("SCAN2AD_NO_PROGRESS", "1")
    with tempfile.TemporaryDirectory() as td:
        fixtures = C.make_fixtures(Path(td) / "fixtures", cli_main)
        counts: Counter = Counter()
        for i, case in enumerate(c for c in C.CASES if re.search(args.only, c.name)):
            tmp = Path(td) / f"case{i}"
            tmp.mkdir()
            paths = C.copy_fixtures(fixtures, tmp)
            if case.setup:
                case.setup(paths)
            protect = {C.fill([k], paths)[0]: None for k in case.protect}
            before = {k: C.snapshot(k) for k in protect}
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-P", "-m", "scan2ad.cli", *C.fill(case.argv, paths)],
                               check=False, capture_output=True, text=True, env={**os.environ, **case.env},
                               timeout=600)
            outcome, detail = C.classify(case, p.returncode, p.stderr + p.stdout[-2000:], paths, before)
            counts[outcome] += 1
            print(f"{case.kind:8s} | {case.name:45s} | {outcome:20s} | rc {p.returncode:3d} | "
                  f"{time.perf_counter() - t0:5.1f} s | {detail}", flush=True)
        print()
        for o in C.OUTCOMES:
            print(f"{o:22s} {counts[o]}")
        print(f"{'total':22s} {sum(counts.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
