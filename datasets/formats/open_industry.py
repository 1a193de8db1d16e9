"""Open-Industry layout (DESIGN §5), as the authors' loaders read it.

    <root>/<class>/train/<class>_001.pcd           normal references
    <root>/<class>/test/<class>_001.pcd            normal test samples
    <root>/<class>/test/<class>_<Type>_001.pcd     anomalous samples
    <root>/<class>/gt/<class>_<Type>_001.txt       "x y z label" per point (gt/ or GT/)
"""

from __future__ import annotations

import re
from pathlib import Path

from scan2ad.datasets.samples import NORMAL, Sample
from scan2ad.errors import FormatError

CLOUD_EXTS = (".pcd", ".ply", ".txt", ".xyz", ".npz")


def _gt_dir(class_dir: Path) -> Path | None:
    for name in ("gt", "GT"):
        if (class_dir / name).is_dir():
            return class_dir / name
    return None


def read_open_industry(root: str | Path, classes: list[str] | None = None) -> list[Sample]:
    """The sample table of an Open-Industry-layout folder; every naming problem is reported."""
    root = Path(root)
    if not root.is_dir():
        raise FormatError("dataset folder not found", root)
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and (d / "train").is_dir())
    if classes is not None:
        missing = sorted(set(classes) - {d.name for d in class_dirs})
        if missing:
            raise FormatError(f"class(es) {missing} not in the dataset "
                              f"(found {[d.name for d in class_dirs]})", root)
        class_dirs = [d for d in class_dirs if d.name in classes]
    if not class_dirs:
        raise FormatError("no class folders with a train/ subfolder", root)
    samples: list[Sample] = []
    problems: list[str] = []
    for cdir in class_dirs:
        cls = cdir.name
        gt_dir = _gt_dir(cdir)
        pat = re.compile(rf"^{re.escape(cls)}_(?:(?P<type>.+)_)?(?P<idx>\d+)$")
        for split in ("train", "test"):
            sdir = cdir / split
            if not sdir.is_dir():
                problems.append(f"{cls}: no {split}/ folder")
                continue
            for f in sorted(sdir.iterdir()):
                if f.suffix.lower() not in CLOUD_EXTS or f.name.startswith("."):
                    continue  # hidden: temp files of an interrupted atomic write
                m = pat.match(f.stem)
                if m is None:
                    problems.append(f"{f.relative_to(root)}: name is not {cls}_[<Type>_]<number>")
                    continue
                dtype = m.group("type") or NORMAL
                if dtype.lower() == NORMAL:
                    dtype = NORMAL
                gt = None
                if dtype != NORMAL:
                    if split == "train":
                        problems.append(f"{f.relative_to(root)}: anomalous sample in train/")
                        continue
                    gt = (gt_dir / f"{f.stem}.txt") if gt_dir is not None else None
                    if gt is None or not gt.is_file():
                        problems.append(f"{f.relative_to(root)}: no gt file {cls}/gt/{f.stem}.txt")
                        continue
                samples.append(Sample(cls, split, dtype, f, gt, f.relative_to(root).as_posix()))
        if not any(s.cls == cls and s.split == "train" for s in samples):
            problems.append(f"{cls}: train/ holds no samples")
    if problems:
        raise FormatError("not a valid Open-Industry dataset:\n  " + "\n  ".join(problems), root)
    return samples
