"""A dataset build's statistics beside Open-Industry's (000 §III-B: ~90K points per sample, anomaly
point ratio 0.51-2.64 %, mean 1.20 %), computed from the samples finished so far, and the build's
progress and ETA (issue 21 part 1).

    .venv/bin/python -P benchmarks/build_stats.py [OUT] [--spec SPEC]

OUT (default ``/work/builds/open-industry-full``) is a build's output folder of any spec, finished
or not (its staging folder ``.OUT.staging`` when a rebuild of changed settings is under way). The
plan counted is the spec its output marker records, the one ``scan2ad build`` runs there
(``--spec`` names another: a shipped name or a TOML file). ``stats.csv`` is written only at
packaging, so this reads the unit cache, ``OUT/.build/units``,
whose sample records hold every finished sample's point count and anomaly ratio. Per class:
samples done of planned, points mean/min/max, how many samples are *scan-limited* (fewer points
than 90 % of the spec's smallest draw, ``points * (1 - points_jitter)``, the octree resampler's
tolerance aside: the scan measured fewer points
than asked and the sample keeps all of them, no point is invented; thin or small parts on the
1280x1024 virtual rig, e.g. split_pin's 4-view scans measure 27-29K points), anomaly ratio
mean/min/max over the anomalous samples, and how many carves kept a ratio outside the
annotation stage's range (``ratio_check_relaxed``); then per defect type, and the whole build
beside the paper's figures.

Progress: units done of planned per kind (capture view, reconstruct scan, sample, package), the
wall time per unit of each kind measured from the cache entries' write times (each unit is
cached as it finishes, deepest first, so the gap before an entry is that unit's share of the
wall time whatever the number of workers; gaps over 10 min, i.e. restarts, are dropped), and two ETAs: at the measured wall rate (the machine as
loaded now) and at idle from the CPU figures of benchmarks/build_throughput.py (``IDLE_CPU_S``,
one worker on an idle core).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

PAPER = {"points_k": 90.0, "ratio_min_pct": 0.51, "ratio_max_pct": 2.64, "ratio_mean_pct": 1.20}
# CPU s per unit on one idle core (benchmarks/build_throughput.py and the spec's comment:
# capture 3.5 s per view, reconstruction ~16 s per scan, a sample 0.3-2.8 s)
# capture and reconstruction: session 18, one square_taper_washer scan on an idle core after
# the faster smoothing and matching (benchmarks/scan_speed.py; before: 3.6-4.5 and 31 s)
IDLE_CPU_S = {"capture_view": 2.8, "reconstruct_scan": 15.5, "pipeline_sample": 1.5,
              "package_class": 5.0, "package_dataset": 5.0}
GAP_S = 600.0


def _kind(fn: str) -> str:
    return fn.rsplit(":", 1)[-1]


def read_cache(out: Path) -> list[tuple[float, str, dict]]:
    entries = []
    for f in (out / ".build" / "units").glob("*.json"):
        try:
            d = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        entries.append((f.stat().st_mtime, _kind(d.get("fn", "")), d.get("result"), f.stem))
    return sorted(entries, key=lambda e: e[0])  # (mtime, kind, result, key)


def _fmt_h(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", type=Path, default=Path("/work/builds/open-industry-full"))
    ap.add_argument("--spec", default=None,
                    help="the spec whose plan to count (default: the one OUT's marker records)")
    args = ap.parse_args(argv)

    from scan2ad.datasets.builder import plan_units
    from scan2ad.datasets.spec import load_spec
    from scan2ad.errors import InputError
    from scan2ad.outputs import read_marker

    staged = args.out.parent / f".{args.out.name}.staging"
    if staged.is_dir():  # a rebuild of another spec stages beside OUT (unit keys hash that path)
        print(f"(building into the staging folder {staged}; {args.out} keeps the previous job until it is done)")
        args.out = staged
    if not (args.out / ".build").is_dir():
        raise InputError("not a build folder of `scan2ad build` (no .build/ unit cache; give the "
                         "--out of the build)", args.out)
    if args.spec is not None:
        spec = load_spec(args.spec)
    else:
        mark = read_marker(args.out)
        if not mark or mark.get("command") != "build" or not isinstance(mark.get("job"), dict):
            raise InputError("the folder records no build spec (no `scan2ad build` output marker): "
                             "name the spec it was built from with --spec", args.out)
        spec = load_spec(mark["job"])
    planned = plan_units(spec, args.out)
    total = defaultdict(int)
    for u in planned:
        total[u.fn.__name__] += 1
    planned_per_class = defaultdict(int)
    for u in planned:
        if u.fn.__name__ == "pipeline_sample" or u.fn.__name__ == "build_sample":
            planned_per_class[u.kwargs["cls"]] += 1
    keys = {u.key for u in planned}
    cached = read_cache(args.out)
    entries = [e for e in cached if e[3] in keys]  # entries of other settings (stale) are ignored
    done_keys = {e[3] for e in entries}
    samples = []
    for _, kind, res, _ in entries:
        if isinstance(res, dict) and "relpath" in res and "anomaly_ratio" in res:
            samples.append(res)

    print(f"# {args.out}: {len(done_keys)} of {len(planned)} units of the plan done "
          f"({len(cached) - len(entries)} cache entries of other settings ignored)\n")
    print("| class | samples done / planned | points mean (K) | min | max | scan-limited | anomalous | ratio mean % | min % | max % | relaxed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    floor_pts = 0.9 * spec.points * (1 - spec.points_jitter)
    by_class = defaultdict(list)
    for s in samples:
        by_class[s["class"]].append(s)
    for cls in spec.class_names:
        recs = by_class.get(cls, [])
        if not recs:
            print(f"| {cls} | 0 / {planned_per_class[cls]} | | | | | | | | | |")
            continue
        pts = np.array([r["points"] for r in recs], float) / 1000
        an = [r for r in recs if r["type"] != "good"]
        rat = np.array([r["anomaly_ratio"] for r in an], float) * 100
        relaxed = sum(any(d.get("ratio_check_relaxed") for d in r.get("provenance", {}).get("defects", []))
                      for r in an)
        limited = int((pts * 1000 < floor_pts).sum())
        rs = (f"{rat.mean():.2f} | {rat.min():.2f} | {rat.max():.2f}" if len(an) else " | | ")
        print(f"| {cls} | {len(recs)} / {planned_per_class[cls]} | {pts.mean():.1f} | {pts.min():.1f} | "
              f"{pts.max():.1f} | {limited} | {len(an)} | {rs} | {relaxed} |")
    an = [r for r in samples if r["type"] != "good"]
    if an:
        print("\n| defect type | samples | ratio mean % | min % | max % |")
        print("|---|---|---|---|---|")
        for t in sorted({r["type"] for r in an}):
            rat = np.array([r["anomaly_ratio"] for r in an if r["type"] == t]) * 100
            print(f"| {t} | {len(rat)} | {rat.mean():.2f} | {rat.min():.2f} | {rat.max():.2f} |")
    pts = np.array([r["points"] for r in samples], float) / 1000 if samples else np.zeros(0)
    rat = np.array([r["anomaly_ratio"] for r in an], float) * 100 if an else np.zeros(0)
    print("\n| figure | paper (000 §III-B) | ours so far |")
    print("|---|---|---|")
    print(f"| samples | 2400 | {len(samples)} |")
    print(f"| points per sample (K) | ~{PAPER['points_k']:.0f} | "
          + (f"{pts.mean():.1f} (min {pts.min():.1f}, max {pts.max():.1f})" if len(pts) else "-") + " |")
    if len(rat):
        print(f"| anomaly ratio range % | {PAPER['ratio_min_pct']:.2f}-{PAPER['ratio_max_pct']:.2f} | "
              f"{rat.min():.2f}-{rat.max():.2f} (5-95 %: {np.percentile(rat, 5):.2f}-{np.percentile(rat, 95):.2f}) |")
        print(f"| anomaly ratio mean % | {PAPER['ratio_mean_pct']:.2f} | {rat.mean():.2f} |")

    # progress and ETA
    wall = defaultdict(list)
    for (t0, *_), (t1, kind, *_) in itertools.pairwise(cached):
        if 0 < t1 - t0 < GAP_S:
            wall[kind].append(t1 - t0)
    print("\n| unit kind | done / planned | wall s per unit (now) | remaining wall at that rate | remaining CPU at idle |")
    print("|---|---|---|---|---|")
    eta_wall = eta_idle = 0.0
    for kind in ("capture_view", "reconstruct_scan", "pipeline_sample", "package_class", "package_dataset"):
        if not total.get(kind):
            continue
        n_done = sum(1 for u in planned if u.fn.__name__ == kind and u.key in done_keys)
        left = total[kind] - n_done
        w = float(np.median(wall[kind])) if wall[kind] else IDLE_CPU_S[kind]
        eta_wall += left * w
        eta_idle += left * IDLE_CPU_S[kind]
        print(f"| {kind} | {n_done} / {total[kind]} | {w:.1f} | {_fmt_h(left * w)} | {_fmt_h(left * IDLE_CPU_S[kind])} |")
    print(f"\nETA: {_fmt_h(eta_wall)} at the measured rate, {_fmt_h(eta_idle)} on one idle core "
          f"(~{_fmt_h(eta_idle / 2)} with --workers 2 on two idle cores)")
    return {"samples": len(samples), "done_units": len(done_keys), "planned_units": len(planned),
            "eta_wall_s": eta_wall, "eta_idle_s": eta_idle}


if __name__ == "__main__":
    from scan2ad.errors import run_script

    run_script(main)
