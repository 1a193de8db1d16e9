"""IEC3D-AD (003, Guo et al. 2025): 15 industrial part classes, 100 normal + 60 anomalous each.

IEC3D-AD is not public (000, Table I: "we contacted the author to obtain details"); its authors'
follow-up Open-Industry keeps its acquisition, categories of defects and file layout, so the
reader accepts the Open-Industry layout with either naming the two groups use:

    <root>/<class>/train/<class>_<n>.pcd | <n>.pcd                   normal samples
    <root>/<class>/test/<class>_<n>.pcd | <n>_good.pcd                normal test samples
    <root>/<class>/test/<class>_<Type>_<n>.pcd | <n>_<type>.pcd       anomalous samples
    <root>/<class>/gt|GT/<same stem>.txt                              "x y z label"

003 names the defect types convex, concave, scratch, scar and deformation; they are kept as
written. Points come from the pcd; the gt must have the same points in the same order.
"""

from __future__ import annotations

import re
from pathlib import Path

from scan2ad.datasets.formats._common import class_dirs, cloud_files, fail_on, gt_dir
from scan2ad.datasets.samples import NORMAL, Sample


def _parse(stem: str, cls: str) -> str | None:
    """The defect type (NORMAL for a normal sample) of a file stem, or None if unparseable."""
    m = re.match(rf"^{re.escape(cls)}_(?:(?P<type>[A-Za-z][\w-]*?)_)?(?P<idx>\d+)$", stem)
    if m:
        t = m.group("type")
        return NORMAL if t is None or t.lower() == NORMAL else t
    m = re.match(r"^(?P<idx>\d+)(?:_(?P<type>[A-Za-z][\w-]*))?$", stem)
    if m:
        t = m.group("type")
        return NORMAL if t is None or t.lower() == NORMAL else t
    return None


def read_iec3d_ad(root: str | Path, classes: list[str] | None = None) -> list[Sample]:
    root = Path(root)
    samples: list[Sample] = []
    problems: list[str] = []
    for cdir in class_dirs(root, classes, "IEC3D-AD"):
        cls = cdir.name
        gdir = gt_dir(cdir)
        for split in ("train", "test"):
            if not (cdir / split).is_dir():
                problems.append(f"{cls}: no {split}/ folder")
            for f in cloud_files(cdir / split):
                rel = f.relative_to(root).as_posix()
                dtype = _parse(f.stem, cls)
                if dtype is None:
                    problems.append(f"{rel}: name is not {cls}_[<Type>_]<n> or <n>[_<type>]")
                    continue
                if dtype == NORMAL:
                    samples.append(Sample(cls, split, NORMAL, f, None, rel))
                    continue
                if split == "train":
                    problems.append(f"{rel}: anomalous sample in train/")
                    continue
                gt = gdir / f"{f.stem}.txt" if gdir is not None else None
                if gt is None or not gt.is_file():
                    problems.append(f"{rel}: no gt file {cls}/gt/{f.stem}.txt")
                    continue
                samples.append(Sample(cls, "test", dtype, f, gt, rel))
        if not any(s.cls == cls and s.split == "train" for s in samples):
            problems.append(f"{cls}: train/ holds no samples")
    fail_on(problems, "IEC3D-AD", root)
    return samples
