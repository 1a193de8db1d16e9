"""``scan2ad dataset validate``: check an Open-Industry-format dataset and list EVERY problem.

Checked: the layout and names (the reader's problems), every gt file (parses as 4 numeric
columns, comma or whitespace separated; labels in {0, 1} or NaN; same point count as the pcd and
the same points in the same order, to 1e-4 mm; at least one anomalous point), normal samples
without gt, ``manifest.json`` (present, every sample listed once and nothing else, points and
sha256 of cloud and gt as recorded), and the split files (name and content agree, every selected
relpath exists in the class, is of a known type, exactly k per known type, no repeats, at least
one seen test sample left).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from scan2ad.datasets.samples import NORMAL, Sample
from scan2ad.errors import InputError, Scan2adError
from scan2ad.io import read_json, sha256_file


def _read_gt(path: Path) -> np.ndarray:
    text = path.read_text(encoding="utf-8").replace(",", " ")
    rows = np.loadtxt(text.splitlines(), dtype=np.float64, ndmin=2)
    if rows.shape[1] != 4:
        raise ValueError(f"{rows.shape[1]} columns, expected 4 (x y z label)")
    return rows


def check_samples(root: Path, samples: list[Sample], problems: list[str]) -> dict[str, int]:
    """Per-sample file checks; returns relpath -> point count of the readable clouds."""
    from scan2ad.log import progress
    from scan2ad.pointcloud import read_cloud

    counts = {}
    for s in progress(samples, desc="validate", total=len(samples)):
        try:
            cloud = read_cloud(s.path)
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
        if len(gt) != len(cloud):
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


def validate_dataset(root: str | Path) -> list[str]:
    """Every problem found in the Open-Industry dataset ``root`` (empty: valid)."""
    from scan2ad.datasets.formats.open_industry import read_open_industry

    root = Path(root)
    if not root.is_dir():
        return [f"{root}: not a folder"]
    problems: list[str] = []
    try:
        samples = read_open_industry(root)
    except InputError as exc:
        lines = str(exc.problem).splitlines()
        problems += [ln.strip() for ln in lines[1:]] or [exc.problem]
        samples = _salvage(root)
    except Scan2adError as exc:
        return [str(exc)]
    for s in samples:
        if s.defect_type == NORMAL and s.gt_path is None:
            gdir = next((root / s.cls / d for d in ("gt", "GT") if (root / s.cls / d).is_dir()), None)
            if gdir is not None and s.split == "train" and (gdir / f"{s.path.stem}.txt").is_file():
                problems.append(f"{s.cls}/gt/{s.path.stem}.txt: gt file for a training sample")
    counts = check_samples(root, samples, problems)
    check_manifest(root, samples, counts, problems)
    check_splits(root, samples, problems)
    return problems


def _salvage(root: Path) -> list[Sample]:
    """The samples of the well-named files (with their gt), so the other checks still run on a
    folder whose layout has problems; the layout problems themselves were already listed."""
    import re

    from scan2ad.datasets.formats._common import cloud_files, gt_dir

    good: list[Sample] = []
    for cdir in sorted(d for d in root.iterdir() if d.is_dir() and (d / "train").is_dir()):
        cls = cdir.name
        pat = re.compile(rf"^{re.escape(cls)}_(?:(?P<type>.+)_)?(?P<idx>\d+)$")
        gdir = gt_dir(cdir)
        for split in ("train", "test"):
            for f in cloud_files(cdir / split):
                m = pat.match(f.stem)
                if m is None:
                    continue
                dtype = m.group("type") or NORMAL
                rel = f.relative_to(root).as_posix()
                if dtype == NORMAL:
                    good.append(Sample(cls, split, NORMAL, f, None, rel))
                elif split == "test" and gdir is not None and (gdir / f"{f.stem}.txt").is_file():
                    good.append(Sample(cls, split, dtype, f, gdir / f"{f.stem}.txt", rel))
    return good
