"""``read_dataset(root, format=None)``: the sample table of any supported layout.

Formats: ``open-industry`` (DESIGN §5, what scan2ad writes), ``real3d-ad``, ``anomaly-shapenet``
(v1 and v2 naming), ``iec3d-ad``, in the layouts the releases are shipped in (``test/good/``,
``GT/``, gt-only anomalies, csv with a header: :mod:`.formats._common`). Detection looks only at names: a ``manifest.json`` or
``<class>_NNN`` file names mean Open-Industry; ``*template*`` training clouds mean Real3D-AD (gt
folder ``gt``, types bulge/sink) or Anomaly-ShapeNet (gt folder ``GT`` or ``<class>_<type><n>``
test names); ``<n>.pcd`` training clouds mean IEC3D-AD. Ambiguous folders need ``format=``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from scan2ad.datasets.formats._common import gt_dir, split_files
from scan2ad.datasets.formats.anomaly_shapenet import read_anomaly_shapenet
from scan2ad.datasets.formats.iec3d_ad import read_iec3d_ad
from scan2ad.datasets.formats.open_industry import read_open_industry
from scan2ad.datasets.formats.real3d_ad import read_real3d_ad
from scan2ad.datasets.samples import Sample
from scan2ad.errors import FormatError, InputError

READERS: dict[str, Callable[..., list[Sample]]] = {
    "open-industry": read_open_industry,
    "real3d-ad": read_real3d_ad,
    "anomaly-shapenet": read_anomaly_shapenet,
    "iec3d-ad": read_iec3d_ad,
}


def detect_format(root: str | Path) -> str:
    root = Path(root)
    if not root.is_dir():
        raise FormatError("dataset folder not found", root)
    if (root / "manifest.json").is_file():
        return "open-industry"
    cdirs = sorted(d for d in root.iterdir() if d.is_dir() and (d / "train").is_dir())
    if not cdirs:
        raise FormatError("no class folders with a train/ subfolder: not a dataset this "
                          f"reader knows ({', '.join(READERS)})", root)
    votes: dict[str, int] = {}
    for cdir in cdirs:
        cls = cdir.name
        train = [f.stem for f, _ in split_files(cdir, "train")]
        test = [f.stem for f, good in split_files(cdir, "test") if not good]
        gdir = gt_dir(cdir)
        if gdir is not None:  # gt-only anomalies name the test samples too
            test += [g.stem for g in gdir.rglob("*") if g.suffix.lower() in (".txt", ".csv")]
        guess = None
        if train and all("template" in s for s in train):
            if (cdir / "GT").is_dir() or any(re.match(rf"^{re.escape(cls)}_[A-Za-z]+\d+$", s) for s in test):
                guess = "anomaly-shapenet"
            elif any(re.match(r"^\d+_(bulge|sink|good)", s) for s in test) and (cdir / "gt").is_dir():
                guess = "real3d-ad"
            else:
                guess = "anomaly-shapenet"
        elif train and all(re.match(rf"^{re.escape(cls)}_\d+$", s) for s in train):
            guess = "open-industry"
        elif train and all(re.match(r"^\d+$", s) for s in train):
            guess = "iec3d-ad"
        if guess:
            votes[guess] = votes.get(guess, 0) + 1
    if len(votes) != 1:
        raise FormatError("cannot tell the dataset format from its file names "
                          f"(class folders suggest {votes or 'none'}); pass format= one of "
                          f"{', '.join(READERS)}", root)
    return next(iter(votes))


def read_dataset(root: str | Path, format: str | None = None,
                 classes: list[str] | None = None) -> list[Sample]:
    """The sample table of ``root``; every naming problem is reported in one error."""
    fmt = format or detect_format(root)
    if fmt not in READERS:
        raise InputError(f"unknown dataset format {fmt!r} (known: {', '.join(READERS)})")
    return READERS[fmt](root, classes=classes)
