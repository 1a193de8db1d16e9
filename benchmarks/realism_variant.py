"""A pipeline build's dataset with its anomalous samples redrawn under other realism settings
(issue 21 part 3): the generator change measured on the paper's full protocol, at the cost of
the anomalous samples only (~1-3 s each), never of new scans.

    .venv/bin/python -P benchmarks/realism_variant.py BUILD OUT --set defect_depth_scale=0.5 \\
        [--set label_threshold_mm=0.03 ...] [--classes split_pin,lock_nut] [--overwrite]
    .venv/bin/python -P benchmarks/paper_tables.py OUT --runs OUT-runs --feature-cache SHARED ...

BUILD is a ``source = "pipeline"`` build folder (finished, or the staging folder of one still
running: ``.open-industry-full.staging``). Every anomalous sample of the chosen classes is drawn
again by the build's own sample function (:func:`scan2ad.datasets.pipeline.make_pipeline_cloud`)
from the scan, seed and settings its unit recorded, with ``--set`` replacing settings
(``builder.sample_params`` keys: ``defect_depth_scale``, ``defect_area_scale``,
``label_threshold_mm``, ``label_margin_mm``, ``texture_mm``, ...). Without ``--set`` it writes the build's bytes
again (tested), so a table of OUT differs from the build's by the settings alone. The normal
samples and the split files are the build's own: hard links where the file system allows
(a copy otherwise), so a feature cache shared with the build's runs (``--feature-cache``) holds
their features already, and only the redrawn samples are featurised. A setting that normal
samples read too (``points``, ``texture_mm``, ``max_rotation_deg``, ...; everything but
``defect_depth_scale``, ``defect_area_scale``, ``label_threshold_mm`` and ``label_margin_mm``)
redraws them as well. A label-only variant (``label_threshold_mm`` at the same carve,
``label_margin_mm``) writes the build's clouds with other ``gt/`` labels, so a shared feature
cache serves every cloud and only the scoring runs.

OUT is written in a temporary folder beside it and renamed when complete; ``variant.json``
there records the build, the settings and the anomaly ratios per class. A class whose samples
the build has not all finished is skipped (named); naming it in ``--classes`` is an error. The
build is taken to be made with the spec's current settings (the unit cache records a sample's
scan and seed, not its settings): a normal sample is linked only when the variant changes
nothing it reads. A killed run leaves OUT as it was; the next run removes its temporary folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def parse_sets(spec, sets: list[str]):
    """``spec`` with ``KEY=VALUE`` settings applied (a spec field; numbers checked finite; the
    spec's own range checks), and the sample settings a build passes its units with them."""
    from scan2ad.datasets.builder import OPTIONAL_SAMPLE_KEYS, sample_params
    from scan2ad.errors import InputError

    keys = set(sample_params(spec)) | set(OPTIONAL_SAMPLE_KEYS)
    updates = {}
    for kv in sets:
        k, eq, v = kv.partition("=")
        if not eq:
            raise InputError(f"--set {kv!r}: expected KEY=VALUE (e.g. label_threshold_mm=0.03)")
        if k not in keys or k == "source":
            raise InputError(f"--set {kv!r}: {k!r} is not a sample setting of the build spec "
                             f"(one of {', '.join(sorted(keys - {'source'}))})")
        default = getattr(spec, k)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise InputError(f"--set {kv!r}: only numeric settings can be varied here")
        try:
            num = float(v)
        except ValueError:
            raise InputError(f"--set {kv!r}: {k} wants a number") from None
        if not math.isfinite(num):
            raise InputError(f"--set {kv!r}: {k} must be finite")
        updates[k] = type(default)(num) if float(type(default)(num)) == num else num
    spec = dataclasses.replace(spec, **updates).check()
    return spec, sample_params(spec)


def unit_records(build: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """(sample records by relpath, scan records by recon folder) of a build's unit cache."""
    from scan2ad.datasets.builder import BUILD_DIR
    from scan2ad.errors import InputError

    units = build / BUILD_DIR / "units"
    if not units.is_dir():
        raise InputError("not a build folder: it has no unit cache (.build/units)", build)
    samples, scans = {}, {}
    for f in sorted(units.glob("*.json")):
        try:
            r = json.loads(f.read_text()).get("result")
        except (OSError, ValueError):
            continue  # a unit the build is writing; its sample is not finished
        if not isinstance(r, dict):
            continue
        if "relpath" in r and isinstance(r.get("provenance"), dict):
            samples[r["relpath"]] = r
        elif "recon" in r and "scanned_area_fraction" in r:
            scans[r["recon"]] = r
    return samples, scans


def class_status(build: Path, spec, samples: dict[str, dict]) -> dict[str, int]:
    """Missing samples per class (0: the class is complete)."""
    from scan2ad.datasets.builder import plan_samples

    missing: dict[str, int] = {}
    for p in plan_samples(spec):
        ok = p.relpath in samples and (build / p.relpath).is_file()
        missing[p.cls] = missing.get(p.cls, 0) + (not ok)
    return missing


def _clear_killed_runs(out: Path) -> None:
    """Remove the temporary folders of earlier runs for ``out`` that were killed (their process,
    recorded in the folder, is gone), so a rerun leaves nothing of them behind."""
    for tmp in out.parent.glob(f".{out.name}.*"):
        try:
            pid = int((tmp / ".pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):  # no pid file, unreadable, or the process is gone
            if (tmp / ".pid").is_file() or not any(tmp.iterdir()):
                shutil.rmtree(tmp, ignore_errors=True)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# the settings only a carve reads: a variant of these alone keeps the build's normal samples
DEFECT_ONLY = frozenset({"label_threshold_mm", "defect_depth_scale", "defect_area_scale",
                         "label_margin_mm"})


def write_variant(build: Path, out: Path, classes: list[str], samples: dict, scans: dict,
                  params: dict, redraw_normals: bool = False) -> dict:
    """Write the variant dataset under ``out`` (which must not exist); return ratios per class.
    ``redraw_normals``: draw the normal samples again too (a setting outside
    :data:`DEFECT_ONLY` changed: point count, texture, rotation), else link the build's."""
    import numpy as np

    from scan2ad.datasets.pipeline import make_pipeline_cloud
    from scan2ad.errors import InputError
    from scan2ad.log import progress
    from scan2ad.pointcloud import PointCloud, write_cloud, write_xyz

    stats = {}
    for cls in classes:
        mine = [r for r in samples.values() if r["class"] == cls]
        redraw = [r for r in mine if redraw_normals or r["provenance"].get("defects")]
        for r in mine:
            if r in redraw:
                continue
            _link(build / r["relpath"], out / r["relpath"])
            if r.get("gt_relpath"):
                _link(build / r["gt_relpath"], out / r["gt_relpath"])
        if (build / "splits" / cls).is_dir():
            shutil.copytree(build / "splits" / cls, out / "splits" / cls)
        ratios, relaxed = [], 0
        for r in progress(redraw, desc=f"redraw {cls}"):
            prov = r["provenance"]
            scan = scans.get(prov["session"])
            if scan is None:
                raise InputError(f"sample {r['relpath']}: its scan {prov['session']} has no record "
                                 "in the unit cache", build)
            defect = r["type"] if prov.get("defects") else None
            pts, labels, specs = make_pipeline_cloud(str(build), scan, defect, list(prov["seed"]), params)
            write_cloud(out / r["relpath"], PointCloud(pts))
            if r.get("gt_relpath"):
                write_xyz(out / r["gt_relpath"], PointCloud(pts, labels=labels))
            if defect is not None:
                ratios.append(float(np.mean(labels)))
            relaxed += any(s.get("ratio_check_relaxed") for s in specs)
        stats[cls] = {"redrawn": len(redraw), "linked": len(mine) - len(redraw),
                      "ratio_mean_pct": 100 * float(np.mean(ratios)) if ratios else None,
                      "ratio_min_pct": 100 * float(np.min(ratios)) if ratios else None,
                      "ratio_max_pct": 100 * float(np.max(ratios)) if ratios else None,
                      "ratio_check_relaxed": relaxed}
    return stats


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", type=Path, help="a pipeline build folder (or its staging folder)")
    ap.add_argument("out", type=Path, help="the variant dataset folder to write")
    ap.add_argument("--spec", default="open-industry-full",
                    help="the build's spec (a name or a .toml path; default open-industry-full)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a sample setting replacing the spec's (repeatable)")
    ap.add_argument("--classes", default="", help="comma-separated (default: every finished class)")
    ap.add_argument("--overwrite", action="store_true", help="replace a variant OUT already holds")
    args = ap.parse_args(argv)

    from scan2ad.datasets.spec import load_spec
    from scan2ad.errors import InputError
    from scan2ad.outputs import check_apart

    spec = load_spec(args.spec)
    if spec.source != "pipeline":
        raise InputError(f"spec {spec.name!r} has source {spec.source!r}: only pipeline builds keep "
                         "the scans a variant redraws its samples from")
    base = parse_sets(spec, [])[1]
    spec, params = parse_sets(spec, args.set)
    redraw_normals = any(params[k] != base.get(k) for k in params if k not in DEFECT_ONLY)
    build = args.build
    if not build.is_dir():
        raise InputError("no such build folder", build)
    check_apart(args.out, {"the build folder": build})
    if args.out.exists():
        if not (args.out / "variant.json").is_file():
            raise InputError("the output folder exists and holds no variant of this script; choose "
                             "another", args.out)
        if not args.overwrite:
            raise InputError("the output folder holds a variant already; pass --overwrite to replace it",
                             args.out)
    samples, scans = unit_records(build)
    missing = class_status(build, spec, samples)
    if args.classes:
        classes = [c.strip() for c in args.classes.split(",") if c.strip()]
        for c in classes:
            if c not in missing:
                raise InputError(f"class {c!r} is not in spec {spec.name!r}", build)
            if missing[c]:
                raise InputError(f"class {c!r}: {missing[c]} of its samples are not built yet", build)
    else:
        classes = [c for c in spec.class_names if not missing.get(c)]
        skipped = [c for c in spec.class_names if missing.get(c)]
        if skipped:
            print(f"skipped (not finished): {', '.join(skipped)}", file=sys.stderr)
    if not classes:
        raise InputError("no finished class to redraw", build)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _clear_killed_runs(args.out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.parent))
    (tmp / ".pid").write_text(str(os.getpid()))
    try:
        stats = write_variant(build, tmp, classes, samples, scans, params, redraw_normals)
        record = {"build": str(build.resolve()), "spec": spec.name, "set": args.set,
                  "params": params, "classes": stats}
        (tmp / "variant.json").write_text(json.dumps(record, indent=2))
        (tmp / ".pid").unlink()
        if args.out.exists():
            shutil.rmtree(args.out)
        tmp.rename(args.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"variant {args.out}: {json.dumps(params)}")
    print("| class | redrawn | linked | ratio mean % | min | max | relaxed |")
    print("|---|---|---|---|---|---|---|")
    for c, s in stats.items():
        f = (lambda v: "—" if v is None else f"{v:.2f}")
        print(f"| {c} | {s['redrawn']} | {s['linked']} | {f(s['ratio_mean_pct'])} | {f(s['ratio_min_pct'])} "
              f"| {f(s['ratio_max_pct'])} | {s['ratio_check_relaxed']} |")
    return record


if __name__ == "__main__":
    from scan2ad.errors import run_script

    run_script(main)
