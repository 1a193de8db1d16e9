"""``scan2ad dataset validate``: check a dataset folder and list EVERY problem.

Without a format: a dataset scan2ad wrote (Open-Industry layout, DESIGN §5), checked in full.
With ``format=`` (``--format open-industry|real3d-ad|anomaly-shapenet|iec3d-ad``): a public release
in that layout, as it is shipped (``test/good/``, ``GT/``, gt-only anomalies, csv with a header;
see :mod:`scan2ad.datasets.formats._common`); ``manifest.json`` and ``splits/`` are checked when
present (Open-Industry only: the public releases ship neither).

Checked: the layout and names (the reader's problems), every gt file (parses as x y z label
columns — comma, semicolon or whitespace separated, a header line naming them allowed; labels in
{0, 1} or NaN; for formats whose points come from the pcd, the same point count as the pcd and
the same points in the same order, to 1e-4 mm; at least one anomalous point in an anomalous
sample), every cloud readable, a gt file for a training sample, ``manifest.json`` (present, every
sample listed once and nothing else, points and sha256 of cloud and gt as recorded), and the
split files (name and content agree, every selected relpath exists in the class, is of a known
type, exactly k per known type, no repeats, at least one seen test sample left).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from scan2ad.datasets.samples import NORMAL, Sample
from scan2ad.errors import InputError, Scan2adError
from scan2ad.io import read_json, sha256_file


def _read_gt(path: Path) -> np.ndarray:
    """(n, 4) rows x y z label of a gt file (header names choose the columns when present)."""
    import re

    from scan2ad.datasets.samples import LABEL_COLUMN_NAMES

    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    header = None
    if lines and (lines[0].startswith("//") or not re.match(r"^[-+0-9.nNiI]", lines[0])):
        header = [n.strip().strip('"').lower() for n in re.split(r"[,;\s]+", lines[0].lstrip("/")) if n.strip()]
        lines = lines[1:]
    if not lines:
        raise ValueError("no data rows")
    delim = "," if "," in lines[0] else (";" if ";" in lines[0] else None)
    rows = np.loadtxt(lines, dtype=np.float64, delimiter=delim, ndmin=2)
    if header is not None and len(header) == rows.shape[1]:
        names = ["label" if n in LABEL_COLUMN_NAMES else n for n in header]
        missing = [c for c in ("x", "y", "z", "label") if c not in names]
        if missing:
            raise ValueError(f"the header names no {'/'.join(missing)} column ({', '.join(header)})")
        return rows[:, [names.index(c) for c in ("x", "y", "z", "label")]]
    if rows.shape[1] != 4:
        raise ValueError(f"{rows.shape[1]} columns, expected 4 (x y z label)")
    return rows


def check_samples(root: Path, samples: list[Sample], problems: list[str]) -> dict[str, int]:
    """Per-sample file checks; returns relpath -> point count of the readable clouds."""
    from scan2ad.datasets.samples import read_table_or_cloud
    from scan2ad.log import progress

    counts = {}
    for s in progress(samples, desc="validate", total=len(samples)):
        cloud = None
        if s.path != s.gt_path:  # a gt-only sample has no cloud of its own
            try:
                cloud = read_table_or_cloud(s.path)
            except InputError as exc:
                problems.append(f"{s.relpath}: unreadable cloud ({exc.problem})")
                continue
            counts[s.relpath] = len(cloud)
        if s.gt_path is None:
            continue
        gtrel = s.gt_path.relative_to(root).as_posix()
        try:
            gt = _read_gt(s.gt_path)
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{gtrel}: unreadable gt ({exc})")
            continue
        lab = gt[:, 3]
        bad = ~(np.isnan(lab) | (lab == 0) | (lab == 1))
        if bad.any():
            problems.append(f"{gtrel}: {int(bad.sum())} label(s) not 0, 1 or NaN "
                            f"(first at row {int(np.flatnonzero(bad)[0]) + 1}: {lab[bad][0]!r})")
        if not np.isfinite(gt[:, :3]).all():
            problems.append(f"{gtrel}: non-finite coordinates")
        if s.points_from_gt or cloud is None:  # the gt's points are the sample (Real3D-AD, Anomaly-ShapeNet)
            counts[s.relpath] = len(gt)
        elif len(gt) != len(cloud):
            problems.append(f"{gtrel}: {len(gt)} rows but the cloud has {len(cloud)} points")
        else:
            dev = np.abs(gt[:, :3] - cloud.points).max() if len(gt) else 0.0
            if not dev <= 1e-4:
                problems.append(f"{gtrel}: points differ from the cloud's (max {dev:.3g} mm): "
                                "not the same points in the same order")
        if s.defect_type != NORMAL and not (lab == 1).any():
            problems.append(f"{gtrel}: anomalous sample without any anomalous point")
    return counts


def check_manifest(root: Path, samples: list[Sample], counts: dict[str, int],
                   problems: list[str]) -> None:
    path = root / "manifest.json"
    if not path.is_file():
        problems.append("manifest.json: missing")
        return
    try:
        man = read_json(path)
    except InputError as exc:
        problems.append(f"manifest.json: {exc.problem}")
        return
    recs = man.get("samples")
    if not isinstance(recs, list):
        problems.append("manifest.json: no 'samples' list")
        return
    by_rel = {s.relpath: s for s in samples}
    seen = Counter(r.get("relpath") for r in recs if isinstance(r, dict))
    for rel, n in seen.items():
        if n > 1:
            problems.append(f"manifest.json: {rel} listed {n} times")
    for rel in sorted(set(by_rel) - set(seen)):
        problems.append(f"manifest.json: sample {rel} is not listed")
    for r in recs:
        if not isinstance(r, dict):
            problems.append("manifest.json: a sample entry is not an object")
            continue
        rel = r.get("relpath")
        missing = [k for k in ("relpath", "class", "split", "type", "points", "anomaly_ratio",
                               "sha256", "provenance") if k not in r]
        if missing:
            problems.append(f"manifest.json: entry {rel}: missing {missing}")
            continue
        s = by_rel.get(rel)
        if s is None:
            problems.append(f"manifest.json: lists {rel}, which is not in the dataset")
            continue
        if (r["class"], r["split"], r["type"]) != (s.cls, s.split, s.defect_type):
            problems.append(f"manifest.json: {rel} recorded as {r['class']}/{r['split']}/{r['type']}, "
                            f"its name says {s.cls}/{s.split}/{s.defect_type}")
        if rel in counts and r["points"] != counts[rel]:
            problems.append(f"manifest.json: {rel} recorded with {r['points']} points, has {counts[rel]}")
        if sha256_file(s.path) != r["sha256"]:
            problems.append(f"manifest.json: {rel} sha256 differs (file changed since packaging)")
        if s.gt_path is not None and r.get("gt_sha256") != sha256_file(s.gt_path):
            problems.append(f"manifest.json: gt of {rel} sha256 differs")


def check_splits(root: Path, samples: list[Sample], problems: list[str]) -> int:
    from scan2ad.datasets.splits import parse_split_name

    n = 0
    sdir = root / "splits"
    classes = sorted({s.cls for s in samples})
    for cls in classes:
        if not (sdir / cls).is_dir():
            problems.append(f"splits/{cls}: missing (no open-set split files)")
    if not sdir.is_dir():
        return 0
    for f in sorted(sdir.rglob("*")):
        if f.is_dir():
            if f.parent == sdir and f.name not in classes:
                problems.append(f"splits/{f.name}: not a class of the dataset")
            continue
        rel = f.relative_to(root).as_posix()
        parsed = parse_split_name(f.name) if f.suffix == ".json" else None
        if parsed is None:
            problems.append(f"{rel}: name is not known-<types>_k<k>_seed<s>.json")
            continue
        n += 1
        known, k, seed = parsed
        cls = f.parent.name
        try:
            doc = read_json(f)
        except InputError as exc:
            problems.append(f"{rel}: {exc.problem}")
            continue
        miss = [key for key in ("seed", "k", "known_defects", "selected_relpaths") if key not in doc]
        if miss:
            problems.append(f"{rel}: missing {miss}")
            continue
        if (doc["seed"], doc["k"], tuple(sorted(doc["known_defects"]))) != (seed, k, tuple(sorted(known))):
            problems.append(f"{rel}: content (seed {doc['seed']}, k {doc['k']}, known "
                            f"{doc['known_defects']}) disagrees with the name")
        mine = {s.relpath: s for s in samples if s.cls == cls}
        types = {s.defect_type for s in mine.values() if s.defect_type != NORMAL}
        for t in doc["known_defects"]:
            if t not in types:
                problems.append(f"{rel}: known type {t} has no samples in class {cls}")
        sel = doc["selected_relpaths"]
        for r, c in Counter(sel).items():
            if c > 1:
                problems.append(f"{rel}: {r} selected {c} times")
        per = Counter()
        for r in sel:
            s = mine.get(r)
            if s is None:
                problems.append(f"{rel}: selected {r} is not a sample of class {cls}")
            elif s.defect_type not in doc["known_defects"]:
                problems.append(f"{rel}: selected {r} is of type {s.defect_type}, not a known type")
            else:
                per[s.defect_type] += 1
        for t in doc["known_defects"]:
            if t in types:
                if per[t] != doc["k"]:
                    problems.append(f"{rel}: {per[t]} selected sample(s) of {t}, k is {doc['k']}")
                total = sum(1 for s in mine.values() if s.defect_type == t)
                if total <= doc["k"]:
                    problems.append(f"{rel}: no seen test sample of {t} left ({total} in all)")
    return n


def scanners() -> dict:
    from scan2ad.datasets.formats.anomaly_shapenet import scan_anomaly_shapenet
    from scan2ad.datasets.formats.iec3d_ad import scan_iec3d_ad
    from scan2ad.datasets.formats.open_industry import scan_open_industry
    from scan2ad.datasets.formats.real3d_ad import scan_real3d_ad

    return {"open-industry": scan_open_industry, "real3d-ad": scan_real3d_ad,
            "anomaly-shapenet": scan_anomaly_shapenet, "iec3d-ad": scan_iec3d_ad}


def validate_dataset(root: str | Path, format: str | None = None) -> list[str]:
    """Every problem found in the dataset ``root`` (empty: valid): a scan2ad dataset when
    ``format`` is None, else a public release in that layout (see the module docstring)."""
    root = Path(root)
    scan = scanners()
    if format is not None and format not in scan:
        raise InputError(f"unknown dataset format {format!r} (known: {', '.join(scan)})")
    if not root.is_dir():
        return [f"{root}: not a folder"]
    try:
        samples, problems = scan[format or "open-industry"](root)
    except Scan2adError as exc:
        return [str(exc)]
    for s in samples:
        if s.split != "train":
            continue
        gdir = next((root / s.cls / d for d in ("gt", "GT") if (root / s.cls / d).is_dir()), None)
        if gdir is not None and any((gdir / f"{s.path.stem}{e}").is_file() for e in (".txt", ".csv")):
            problems.append(f"{s.cls}/{gdir.name}/{s.path.stem}.txt: gt file for a training sample")
    counts = check_samples(root, samples, problems)
    if format is None or (format == "open-industry" and (root / "manifest.json").is_file()):
        check_manifest(root, samples, counts, problems)
    if format is None or (format == "open-industry" and (root / "splits").is_dir()):
        check_splits(root, samples, problems)
    if format in (None, "open-industry"):
        check_root_entries(root, samples, problems)
    return problems


ROOT_FILES = ("manifest.json", "README.md", "stats.csv")
ROOT_DIRS = ("splits", "gallery")


def check_root_entries(root: Path, samples: list[Sample], problems: list[str]) -> None:
    """Nothing at an Open-Industry dataset's root but the class folders, the packaged files and
    hidden build state (``.build``, the output marker): a stray file is named, not shipped."""
    classes = {s.cls for s in samples}
    for p in sorted(root.iterdir()):
        if p.name.startswith(".") or p.name in classes:
            continue
        if (p.is_file() and p.name in ROOT_FILES) or (p.is_dir() and p.name in ROOT_DIRS):
            continue
        kind = "folder" if p.is_dir() else "file"
        problems.append(f"{p.name}: stray {kind} at the dataset root (expected only class folders, "
                        f"{', '.join(ROOT_FILES)}, {'/, '.join(ROOT_DIRS)}/)")
