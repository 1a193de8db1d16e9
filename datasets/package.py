"""Packaging an Open-Industry-layout folder: manifest, open-set splits, stats, card, gallery.

``package_dataset(root)`` turns a folder of pcd + gt txt files (DESIGN §5) into a complete
dataset: ``manifest.json`` (every sample: class, split, type, points, anomaly ratio, sha256 of the
cloud and of its gt file, provenance), ``splits/<class>/known-<types>_k<k>_seed<s>.json``
(:mod:`scan2ad.datasets.splits`), ``stats.csv`` with the columns of Table II of 003 (per class
and split: points avg/max/min in thousands, anomaly point ratio; then the count of anomalous
samples that are real defective parts labelled by hand, ``provenance.source = "real"``, which
the other columns include), ``README.md`` (dataset card)
and ``gallery/<class>.png`` (pyvista, off-screen). The builder calls the same functions per class
with the records its units computed, so nothing is read twice.

Every output is written atomically and deterministically (sorted keys and rows, no timestamps),
so a resumed build is byte-identical to an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from scan2ad.datasets.samples import NORMAL, Sample, load_sample
from scan2ad.io import sha256_file, write_json, write_text
from scan2ad.versions import library_versions

MANIFEST = "manifest.json"
STATS = "stats.csv"
STATS_COLUMNS = (
    "class", "normal_samples", "normal_points_avg_k", "normal_points_max_k", "normal_points_min_k",
    "anomalous_samples", "anomalous_points_avg_k", "anomalous_points_max_k",
    "anomalous_points_min_k", "total_samples", "anomaly_point_ratio_pct", "real_anomalous_samples",
)


def sample_record(root: str | Path, sample: Sample, provenance: dict | None = None) -> dict:
    """The manifest entry of one sample, computed from its files."""
    root = Path(root)
    cloud = load_sample(sample)
    n = len(cloud)
    n_anom = int(cloud.labels.sum()) if cloud.labels is not None else 0
    rec = {
        "relpath": sample.relpath, "class": sample.cls, "split": sample.split,
        "type": sample.defect_type, "points": n, "anomaly_points": n_anom,
        "anomaly_ratio": round(n_anom / n, 6) if n else 0.0,
        "sha256": sha256_file(sample.path),
        "gt_relpath": sample.gt_path.relative_to(root).as_posix() if sample.gt_path else None,
        "gt_sha256": sha256_file(sample.gt_path) if sample.gt_path else None,
        "provenance": provenance or {},
    }
    return rec


def write_manifest(root: str | Path, records: list[dict], name: str, spec: dict | None = None) -> Path:
    """``manifest.json``: the dataset name, the spec it was built from, the versions of the key
    libraries that built it and every sample record."""
    records = sorted(records, key=lambda r: r["relpath"])
    classes = sorted({r["class"] for r in records})
    types = sorted({r["type"] for r in records if r["type"] != NORMAL})
    return write_json(Path(root) / MANIFEST, {
        "name": name, "format": "open-industry", "classes": classes, "defect_types": types,
        "counts": {c: _counts([r for r in records if r["class"] == c]) for c in classes},
        "spec": spec, "libraries": library_versions(), "samples": records,
    })


def _counts(recs: list[dict]) -> dict:
    return {"train": sum(r["split"] == "train" for r in recs),
            "test_normal": sum(r["split"] == "test" and r["type"] == NORMAL for r in recs),
            "test_anomalous": sum(r["type"] != NORMAL for r in recs)}


def stats_rows(records: list[dict]) -> list[dict]:
    """Table II of 003 per class (+ a Mean row): normal = train + normal test samples."""
    rows = []
    for cls in sorted({r["class"] for r in records}):
        recs = [r for r in records if r["class"] == cls]
        norm = np.array([r["points"] for r in recs if r["type"] == NORMAL], float)
        anom = [r for r in recs if r["type"] != NORMAL]
        apts = np.array([r["points"] for r in anom], float)
        ratio = float(np.mean([r["anomaly_ratio"] for r in anom])) * 100 if anom else 0.0

        def k(a, f):
            return round(float(f(a)) / 1000, 2) if len(a) else 0.0

        rows.append({
            "class": cls, "normal_samples": len(norm), "normal_points_avg_k": k(norm, np.mean),
            "normal_points_max_k": k(norm, np.max), "normal_points_min_k": k(norm, np.min),
            "anomalous_samples": len(anom), "anomalous_points_avg_k": k(apts, np.mean),
            "anomalous_points_max_k": k(apts, np.max), "anomalous_points_min_k": k(apts, np.min),
            "total_samples": len(recs), "anomaly_point_ratio_pct": round(ratio, 2),
            "real_anomalous_samples": sum(is_real(r) for r in anom),
        })
    if rows:
        mean = {"class": "Mean"}
        for c in STATS_COLUMNS[1:]:
            mean[c] = round(float(np.mean([r[c] for r in rows])), 2)
        rows.append(mean)
    return rows


def is_real(record: dict) -> bool:
    """A physically defective part labelled by hand (not carved)."""
    return (record.get("provenance") or {}).get("source") == "real"


def write_stats(root: str | Path, records: list[dict]) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=STATS_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in stats_rows(records):
        w.writerow(row)
    return write_text(Path(root) / STATS, buf.getvalue())


def _real_note(row: dict) -> str:
    n = row.get("real_anomalous_samples", 0)
    return f" ({n:g} real)" if n else ""


def _md_table(rows: list[dict]) -> str:
    head = ["class", "normal", "pts avg/max/min (K)", "anomalous", "pts avg/max/min (K)",
            "total", "anomaly ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(
            f"| {r['class']} | {r['normal_samples']:g} | {r['normal_points_avg_k']:.2f} / "
            f"{r['normal_points_max_k']:.2f} / {r['normal_points_min_k']:.2f} | "
            f"{r['anomalous_samples']:g}{_real_note(r)} | {r['anomalous_points_avg_k']:.2f} / "
            f"{r['anomalous_points_max_k']:.2f} / {r['anomalous_points_min_k']:.2f} | "
            f"{r['total_samples']:g} | {r['anomaly_point_ratio_pct']:.2f} % |")
    return "\n".join(lines)


def write_readme(root: str | Path, records: list[dict], name: str, spec: dict | None = None,
                 ks: tuple[int, ...] = (), seeds: tuple[int, ...] = ()) -> Path:
    """The dataset card: what is in it, how it was made, the protocol, the statistics."""
    classes = sorted({r["class"] for r in records})
    types = sorted({r["type"] for r in records if r["type"] != NORMAL})
    source = (spec or {}).get("source", "files")
    made = {
        "synthetic": "procedural part geometry sampled on its surface with scanner noise, "
                     "analytic surface defects with exact per-point labels (geometry-only path)",
        "carve": "procedural parts of the acquisition library carved in Blender by the "
                 "annotation stage, sampled on the carved surface with scanner noise along the "
                 "normal, labelled against the uncarved surface",
        "pipeline": "procedural parts scanned on the virtual structured-light turntable rig "
                    f"({(spec or {}).get('views', '?')} views, captured in memory), reconstructed "
                    "(stereo triangulation, turntable prior + FRICP registration, denoising, "
                    "octree resampling of the measured points, Poisson mesh); anomalous samples "
                    "carve a defect into the scan's mesh in Blender and move the measured points "
                    "with it, labelled against the uncarved surface; "
                    f"{(spec or {}).get('samples_per_scan', '?')} samples per scan, train and "
                    "test from different scans",
    }.get(source, "packaged from existing files")
    own = sorted({r["class"] for r in records
                  if (r.get("provenance") or {}).get("source_file") and not is_real(r)})
    if own:
        made += (f"; classes {', '.join(own)} from the user's own parts (mesh files, capture "
                 "sessions or reconstructions: each sample's source file and sha256 in the manifest)")
    n_real = sum(is_real(r) for r in records)
    real_line = (f"\n- real anomalies: {n_real} test samples of physically defective parts, labelled "
                 "by hand (`provenance.source = \"real\"`; counted apart in stats.csv)" if n_real else "")
    text = f"""# {name}

An Open-Industry-format 3D anomaly-detection dataset written by scan2ad.

- classes: {len(classes)} ({', '.join(classes)})
- defect types: {', '.join(types) or 'none'}{real_line}
- samples: {len(records)} ({sum(r['split'] == 'train' for r in records)} normal references in
  `train/`, {sum(r['split'] == 'test' for r in records)} test samples)
- made by: {made}
- units: millimetres

## Layout
```
<class>/train/<class>_NNN.pcd          normal references
<class>/test/<class>_NNN.pcd           normal test samples
<class>/test/<class>_<Type>_NNN.pcd    anomalous test samples
<class>/gt/<class>_<Type>_NNN.txt      "x y z label" per point, same order as the pcd
manifest.json                          every sample: class, split, type, points, anomaly ratio,
                                       sha256 of cloud and gt, provenance
splits/<class>/known-<types>_k<k>_seed<s>.json   open-set protocol
stats.csv                              the statistics below
gallery/<class>.png                    a normal sample and one sample per defect type
```

## Open-set protocol
For every known defect type, k anomalous samples (listed in `selected_relpaths`) go to training;
the remaining samples of the known types are "seen" test anomalies, every other type is
"unseen". k ∈ {{{', '.join(map(str, ks))}}}, seeds {{{', '.join(map(str, seeds))}}}; report mean ± std
over seeds, Overall / Seen / Unseen. Read a split with
`scan2ad.datasets.splits.load_split(root, cls, known, k, seed)`.

## Statistics (Table II of IEC3D-AD)
{_md_table(stats_rows(records))}

Check the folder with `scan2ad dataset validate <dir>`.
"""
    return write_text(Path(root) / "README.md", text)


def render_gallery(root: str | Path, samples: list[Sample], cls: str, max_points: int = 30000,
                   size: int = 360) -> Path | None:
    """``gallery/<cls>.png``: one normal test sample and the first sample of each defect type,
    anomalous points red, rendered off-screen with pyvista. Returns None for an empty class."""
    from scan2ad.io import atomic_path
    from scan2ad.render import offscreen_pyvista

    mine = sorted((s for s in samples if s.cls == cls), key=lambda s: s.relpath)
    picks = [s for s in mine if s.split == "test" and s.defect_type == NORMAL][:1]
    picks = picks or [s for s in mine if s.split == "train"][:1]
    for t in sorted({s.defect_type for s in mine if s.defect_type != NORMAL}):
        picks.append(next(s for s in mine if s.defect_type == t))
    if not picks:
        return None
    pv = offscreen_pyvista()
    pl = pv.Plotter(off_screen=True, shape=(1, len(picks)), window_size=(size * len(picks), size),
                    border=False)
    for i, s in enumerate(picks):
        c = load_sample(s)
        idx = np.arange(len(c))
        if len(c) > max_points:  # deterministic thinning that keeps every anomalous point
            keep = np.zeros(len(c), bool)
            keep[:: int(np.ceil(len(c) / max_points))] = True
            keep |= c.labels.astype(bool)
            idx = np.flatnonzero(keep)
        pts = c.points[idx]
        lab = c.labels[idx].astype(bool)
        rgb = np.where(lab[:, None], [230, 30, 30], [170, 180, 195]).astype(np.uint8)
        pl.subplot(0, i)
        pl.add_text(f"{s.defect_type} ({lab.mean() * 100:.2f} %)" if s.defect_type != NORMAL
                    else "good", font_size=9)
        cloud = pv.PolyData(pts)
        cloud["rgb"] = rgb
        pl.add_mesh(cloud, scalars="rgb", rgb=True, point_size=2.5, render_points_as_spheres=False)
        pl.view_isometric()
        pl.reset_camera()
    out = Path(root) / "gallery" / f"{cls}.png"
    with atomic_path(out) as tmp:
        pl.screenshot(str(tmp))
    pl.close()
    return out


def package_dataset(root: str | Path, name: str | None = None, spec: dict | None = None,
                    provenance: dict[str, dict] | None = None, ks: tuple[int, ...] | None = None,
                    seeds: tuple[int, ...] = (1, 2, 3, 4, 5),
                    known_sets: list[tuple[str, ...]] | None = None,
                    gallery: bool = True) -> Path:
    """Write manifest, splits, stats, README (and gallery) for the Open-Industry folder ``root``.

    ``provenance`` maps relpath -> provenance dict. ``ks=None`` takes k ∈ {5, 10} where every
    defect type has more than k samples, else the largest k that leaves one seen test sample.
    """
    from scan2ad.datasets.formats.open_industry import read_open_industry
    from scan2ad.datasets.splits import write_class_splits

    root = Path(root)
    samples = read_open_industry(root)
    records = [sample_record(root, s, (provenance or {}).get(s.relpath)) for s in samples]
    ks = choose_ks(records) if ks is None else ks
    for cls in sorted({s.cls for s in samples}):
        write_class_splits(root, samples, cls, ks=ks, seeds=seeds, known_sets=known_sets)
        if gallery:
            render_gallery(root, samples, cls)
    name = name or root.name
    write_manifest(root, records, name, spec)
    write_stats(root, records)
    write_readme(root, records, name, spec, ks, seeds)
    return root


def choose_ks(records: list[dict]) -> tuple[int, ...]:
    """(5, 10) when every (class, type) has more than 10 samples; else what fits."""
    per: dict[tuple[str, str], int] = {}
    for r in records:
        if r["type"] != NORMAL:
            per[(r["class"], r["type"])] = per.get((r["class"], r["type"]), 0) + 1
    if not per:
        return ()
    least = min(per.values())
    ks = tuple(k for k in (5, 10) if k < least)
    return ks or ((max(1, least // 2),) if least > 1 else ())
