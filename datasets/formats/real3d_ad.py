"""Real3D-AD (Liu et al., NeurIPS 2023 D&B), as the public release and its loader lay it out.

    <root>/<class>/train/<n>_template.pcd        normal prototypes (the loader globs *template*)
    <root>/<class>/test/<n>_good.pcd             normal test samples ("good" in the name)
    <root>/<class>/test/<n>_<type>[_cut].pcd     anomalous test samples (bulge, sink)
    <root>/<class>/gt/<n>_<type>[_cut].txt       "x y z label" rows

The authors' ``Dataset3dad_test`` takes an anomalous sample's points from its gt txt, not from
the pcd (they differ in count), hence ``points_from_gt``; test files whose name holds "temp" are
skipped as the loader skips them. Type names are kept as written (lower case).
"""

from __future__ import annotations

import re
from pathlib import Path

from scan2ad.datasets.formats._common import class_dirs, cloud_files, fail_on, gt_dir
from scan2ad.datasets.samples import NORMAL, Sample

_TEST = re.compile(r"^(?P<idx>\d+)_(?P<type>[A-Za-z]+)(?:_(?P<extra>\w+))?$")


def read_real3d_ad(root: str | Path, classes: list[str] | None = None) -> list[Sample]:
    root = Path(root)
    samples: list[Sample] = []
    problems: list[str] = []
    for cdir in class_dirs(root, classes, "Real3D-AD"):
        cls = cdir.name
        gdir = gt_dir(cdir)
        train = [f for f in cloud_files(cdir / "train") if "template" in f.stem]
        if not train:
            problems.append(f"{cls}/train: no *template* clouds")
        for f in cloud_files(cdir / "train"):
            if "template" not in f.stem:
                problems.append(f"{f.relative_to(root)}: train file without 'template' in its name")
        for f in train:
            samples.append(Sample(cls, "train", NORMAL, f, None, f.relative_to(root).as_posix()))
        if not (cdir / "test").is_dir():
            problems.append(f"{cls}: no test/ folder")
        for f in cloud_files(cdir / "test"):
            if "temp" in f.stem:
                continue
            m = _TEST.match(f.stem)
            if m is None:
                problems.append(f"{f.relative_to(root)}: name is not <number>_<type>[_suffix]")
                continue
            rel = f.relative_to(root).as_posix()
            if "good" in f.stem:
                samples.append(Sample(cls, "test", NORMAL, f, None, rel))
                continue
            gt = gdir / f"{f.stem}.txt" if gdir is not None else None
            if gt is None or not gt.is_file():
                problems.append(f"{rel}: no gt file {cls}/gt/{f.stem}.txt")
                continue
            samples.append(Sample(cls, "test", m.group("type").lower(), f, gt, rel,
                                  points_from_gt=True))
    fail_on(problems, "Real3D-AD", root)
    return samples
