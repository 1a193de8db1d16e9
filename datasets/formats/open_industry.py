"""Open-Industry layout (DESIGN §5), as the authors' loaders read it.

    <root>/<class>/train/<class>_001.pcd           normal references (also train/good/)
    <root>/<class>/test/<class>_001.pcd            normal test samples (also test/good/)
    <root>/<class>/test/<class>_<Type>_001.pcd     anomalous samples
    <root>/<class>/gt/<class>_<Type>_001.txt       "x y z label" per point (gt/ or GT/)

The authors' test loaders (``Open3DAD/data/mc3dad.py``) read the anomalous samples from the gt
files alone (``gt/<class>_<Type>*.txt``, NaN = normal), so a class whose anomalous samples exist
only as gt files is read that way (see :mod:`._common`).
"""

from __future__ import annotations

import re
from pathlib import Path

from scan2ad.datasets.formats._common import fail_on, scan_classes
from scan2ad.datasets.samples import NORMAL, Sample

CLOUD_EXTS = (".pcd", ".ply", ".txt", ".xyz", ".npz", ".csv")


def _type(stem: str, cls: str) -> str | None:
    m = re.match(rf"^{re.escape(cls)}_(?:(?P<type>.+)_)?(?P<idx>\d+)$", stem)
    if m is None:
        return None
    t = m.group("type")
    return NORMAL if t is None or t.lower() == NORMAL else t


def _train_problem(stem: str, cls: str) -> str | None:
    t = _type(stem, cls)
    if t is None:
        return f"name is not {cls}_[<Type>_]<number>"
    return None if t == NORMAL else "anomalous sample in train/"


def scan_open_industry(root: str | Path, classes: list[str] | None = None) -> tuple[list[Sample], list[str]]:
    """(samples, problems) of an Open-Industry-layout folder."""
    return scan_classes(Path(root), classes, "Open-Industry", parse_test=_type, train_problem=_train_problem,
                        points_from_gt=False, test_pattern="{cls}_[<Type>_]<number>")


def read_open_industry(root: str | Path, classes: list[str] | None = None) -> list[Sample]:
    """The sample table of an Open-Industry-layout folder; every naming problem is reported."""
    samples, problems = scan_open_industry(root, classes)
    fail_on(problems, "Open-Industry", Path(root))
    return samples
