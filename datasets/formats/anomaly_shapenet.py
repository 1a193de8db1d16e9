"""Anomaly-ShapeNet (Li et al., CVPR 2024; 002), v1 and v2 naming.

    <root>/<class>/train/<...template...>.pcd    normal templates
    <root>/<class>/test/<name>.pcd               test samples
    <root>/<class>/GT/<name>.txt                 "x y z label" rows (also gt/)

v1 (the Hugging Face release, e.g. ``ashtray0``): ``ashtray0_template0.pcd``,
``ashtray0_bulge0.pcd``, normal test samples ``ashtray0_positive0.pcd``.
v2 (the README's layout): ``0_template.pcd``, ``1_bulge.pcd``, ``2_concavity.pcd``, normal test
samples ``<n>_good.pcd`` or ``<n>_positive.pcd``.

Anomalous samples take their points from the GT file, as the Real3D-AD-derived loaders of
IMRNet/R3D-AD do; "positive" and "good" mean normal. Types (bulge, concavity, crack, hole, broken,
scratch, bending...) are kept as written (lower case).
"""

from __future__ import annotations

import re
from pathlib import Path

from scan2ad.datasets.formats._common import class_dirs, cloud_files, fail_on, gt_dir
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


def read_anomaly_shapenet(root: str | Path, classes: list[str] | None = None) -> list[Sample]:
    root = Path(root)
    samples: list[Sample] = []
    problems: list[str] = []
    for cdir in class_dirs(root, classes, "Anomaly-ShapeNet"):
        cls = cdir.name
        gdir = gt_dir(cdir, ("GT", "gt"))
        train = cloud_files(cdir / "train")
        for f in train:
            if "template" not in f.stem:
                problems.append(f"{f.relative_to(root)}: train file without 'template' in its name")
            else:
                samples.append(Sample(cls, "train", NORMAL, f, None, f.relative_to(root).as_posix()))
        if not train:
            problems.append(f"{cls}/train: no template clouds")
        namings = set()
        for f in cloud_files(cdir / "test"):
            rel = f.relative_to(root).as_posix()
            parsed = _parse(f.stem, cls)
            if parsed is None:
                problems.append(f"{rel}: name is neither {cls}_<type><n> (v1) nor <n>_<type> (v2)")
                continue
            naming, dtype = parsed
            namings.add(naming)
            if dtype in _NORMAL_WORDS:
                samples.append(Sample(cls, "test", NORMAL, f, None, rel))
                continue
            gt = gdir / f"{f.stem}.txt" if gdir is not None else None
            if gt is None or not gt.is_file():
                problems.append(f"{rel}: no gt file {cls}/GT/{f.stem}.txt")
                continue
            samples.append(Sample(cls, "test", dtype, f, gt, rel, points_from_gt=True))
        if len(namings) > 1:
            problems.append(f"{cls}/test mixes v1 and v2 file naming")
        if gdir is not None:
            tests = {f.stem for f in cloud_files(cdir / "test")}
            for g in sorted(gdir.glob("*.txt")):
                if g.stem not in tests:
                    problems.append(f"{g.relative_to(root)}: gt file without a test cloud")
    fail_on(problems, "Anomaly-ShapeNet", root)
    return samples
