"""Anomaly-ShapeNet (Li et al., CVPR 2024; 002), v1 and v2 naming.

    <root>/<class>/train/<...template...>.pcd    normal templates
    <root>/<class>/test/<name>.pcd               test samples (normal ones also in test/good/)
    <root>/<class>/GT/<name>.txt                 "x y z label" rows (also gt/, per-type subfolders)

v1 (the Hugging Face release, e.g. ``ashtray0``): ``ashtray0_template0.pcd``,
``ashtray0_bulge0.pcd``, normal test samples ``ashtray0_positive0.pcd``.
v2 (the README's layout): ``0_template.pcd``, ``1_bulge.pcd``, ``2_concavity.pcd``, normal test
samples ``<n>_good.pcd`` or ``<n>_positive.pcd``. Anomaly-ShapeNet-v2 as the Open-Industry
authors' loader reads it: ``test/good/*.pcd`` and the anomalous samples only as ``GT/*.txt``.

Anomalous samples take their points from the GT file, as the Real3D-AD-derived loaders of
IMRNet/R3D-AD do; "positive" and "good" mean normal. Types (bulge, concavity, crack, hole, broken,
scratch, bending, and the release's own spelling "crak"...) are kept as written (lower case).
"""

from __future__ import annotations

import re
from pathlib import Path

from scan2ad.datasets.formats._common import fail_on, scan_classes
from scan2ad.datasets.samples import NORMAL, Sample

_NORMAL_WORDS = ("positive", "good")


def _parse(stem: str, cls: str) -> tuple[str, str] | None:
    """(naming, type) of a test file stem, or None when it is neither v1 nor v2."""
    m = re.match(rf"^{re.escape(cls)}_(?P<type>[A-Za-z]+)(?P<idx>\d+)$", stem)
    if m:
        return "v1", m.group("type").lower()
    m = re.match(r"^(?P<idx>\d+)_(?P<type>[A-Za-z]+)$", stem)
    if m:
        return "v2", m.group("type").lower()
    return None


def _type(stem: str, cls: str) -> str | None:
    parsed = _parse(stem, cls)
    if parsed is None:
        return None
    return NORMAL if parsed[1] in _NORMAL_WORDS else parsed[1]


def _train_problem(stem: str, _cls: str) -> str | None:
    return None if "template" in stem else "train file without 'template' in its name"


def scan_anomaly_shapenet(root: str | Path, classes: list[str] | None = None) -> tuple[list[Sample], list[str]]:
    root = Path(root)
    samples, problems = scan_classes(root, classes, "Anomaly-ShapeNet", parse_test=_type,
                                     train_problem=_train_problem, points_from_gt=True,
                                     test_pattern="{cls}_<type><n> (v1) or <n>_<type> (v2)",
                                     gt_names=("GT", "gt"))
    for cls in sorted({s.cls for s in samples}):
        namings = {_parse(s.path.stem, cls)[0] for s in samples
                   if s.cls == cls and s.split == "test" and s.path.parent.name != "good"
                   and _parse(s.path.stem, cls) is not None}
        if len(namings) > 1:
            problems.append(f"{cls}/test mixes v1 and v2 file naming")
    return samples, problems


def read_anomaly_shapenet(root: str | Path, classes: list[str] | None = None) -> list[Sample]:
    samples, problems = scan_anomaly_shapenet(root, classes)
    fail_on(problems, "Anomaly-ShapeNet", Path(root))
    return samples
