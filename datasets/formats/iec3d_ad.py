"""IEC3D-AD (003, Guo et al. 2025): 15 industrial part classes, 100 normal + 60 anomalous each.

IEC3D-AD is not public (000, Table I: "we contacted the author to obtain details"); its authors'
follow-up Open-Industry keeps its acquisition, categories of defects and file layout, so the
reader accepts the Open-Industry layout with either naming the two groups use:

    <root>/<class>/train/<class>_<n>.pcd | <n>.pcd                   normal samples (also train/good/)
    <root>/<class>/test/<class>_<n>.pcd | <n>_good.pcd                normal test samples (also test/good/)
    <root>/<class>/test/<class>_<Type>_<n>.pcd | <n>_<type>.pcd       anomalous samples
    <root>/<class>/gt|GT/<same stem>.txt                              "x y z label"

003 names the defect types convex, concave, scratch, scar and deformation; they are kept as
written. Points come from the pcd; the gt must have the same points in the same order (or, for
a class whose anomalies exist only as gt files, they come from the gt).
"""

from __future__ import annotations

import re
from pathlib import Path

from scan2ad.datasets.formats._common import fail_on, scan_classes
from scan2ad.datasets.samples import NORMAL, Sample


def _parse(stem: str, cls: str) -> str | None:
    """The defect type (NORMAL for a normal sample) of a file stem, or None if unparseable."""
    m = re.match(rf"^{re.escape(cls)}_(?:(?P<type>[A-Za-z][\w-]*?)_)?(?P<idx>\d+)$", stem)
    if m is None:
        m = re.match(r"^(?P<idx>\d+)(?:_(?P<type>[A-Za-z][\w-]*))?$", stem)
    if m is None:
        return None
    t = m.group("type")
    return NORMAL if t is None or t.lower() == NORMAL else t


def _train_problem(stem: str, cls: str) -> str | None:
    t = _parse(stem, cls)
    if t is None:
        return f"name is not {cls}_[<Type>_]<n> or <n>[_<type>]"
    return None if t == NORMAL else "anomalous sample in train/"


def scan_iec3d_ad(root: str | Path, classes: list[str] | None = None) -> tuple[list[Sample], list[str]]:
    return scan_classes(Path(root), classes, "IEC3D-AD", parse_test=_parse, train_problem=_train_problem,
                        points_from_gt=False, test_pattern="{cls}_[<Type>_]<n> or <n>[_<type>]")


def read_iec3d_ad(root: str | Path, classes: list[str] | None = None) -> list[Sample]:
    samples, problems = scan_iec3d_ad(root, classes)
    fail_on(problems, "IEC3D-AD", Path(root))
    return samples
