"""Real3D-AD (Liu et al., NeurIPS 2023 D&B), as the public release and its loader lay it out.

    <root>/<class>/train/<n>_template.pcd        normal prototypes (the loader globs *template*)
    <root>/<class>/test/<n>_good.pcd             normal test samples ("good" in the name; also test/good/)
    <root>/<class>/test/<n>_<type>[_cut].pcd     anomalous test samples (bulge, sink)
    <root>/<class>/gt/<n>_<type>[_cut].txt       "x y z label" rows

The authors' ``Dataset3dad_test`` takes an anomalous sample's points from its gt txt, not from
the pcd (they differ in count), hence ``points_from_gt``; test files whose name holds "temp" are
skipped as the loader skips them. Type names are kept as written (lower case).
"""

from __future__ import annotations

import re
from pathlib import Path

from scan2ad.datasets.formats._common import fail_on, scan_classes
from scan2ad.datasets.samples import NORMAL, Sample

_TEST = re.compile(r"^(?P<idx>\d+)_(?P<type>[A-Za-z]+)(?:_(?P<extra>\w+))?$")


def _type(stem: str, _cls: str) -> str | None:
    m = _TEST.match(stem)
    if m is None:
        return None
    return NORMAL if "good" in stem else m.group("type").lower()


def _train_problem(stem: str, _cls: str) -> str | None:
    return None if "template" in stem else "train file without 'template' in its name"


def scan_real3d_ad(root: str | Path, classes: list[str] | None = None) -> tuple[list[Sample], list[str]]:
    return scan_classes(Path(root), classes, "Real3D-AD", parse_test=_type, train_problem=_train_problem,
                        points_from_gt=True, test_pattern="<number>_<type>[_suffix]",
                        skip_test=lambda stem: "temp" in stem, gt_names=("gt", "GT"))


def read_real3d_ad(root: str | Path, classes: list[str] | None = None) -> list[Sample]:
    samples, problems = scan_real3d_ad(root, classes)
    fail_on(problems, "Real3D-AD", Path(root))
    return samples
