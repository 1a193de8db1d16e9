"""Export a dataset to the layout another group's loader reads (Open-Industry, Real3D-AD,
Anomaly-ShapeNet), so their own code can run on exactly our samples (``benchmarks/fidelity.py``).

Layouts written, as the authors' loaders expect them (the byte-level expectations are
re-implemented in ``tests/unit/datasets/test_export.py``):

* ``open-industry`` (hzzzzzhappy/open-industry ``Open3DAD/data/mc3dad.py``)::

      <cls>/train/<cls>_001.pcd  <cls>/test/<cls>_001.pcd  <cls>/test/<cls>_<Type>_001.pcd
      <cls>/gt/<cls>_<Type>_001.txt        "x y z label", whitespace, 1 anomalous / 0 normal
      splits/<cls>/known-<types>_k<k>_seed<s>.json   with relpaths renamed to the new names

  Their test loader globs ``<cls>_[0-9]*.pcd`` for normal test samples and takes anomalies from
  ``gt/<cls>_<Type>*.txt``; the type is capitalised (Bump, Dent, ...).
* ``real3d-ad`` (M-3LAB/Real3D-AD ``dataset_pc.py``)::

      <cls>/train/<n>_template.pcd   <cls>/test/<n>_good.pcd   <cls>/test/<n>_<type>.pcd
      <cls>/gt/<n>_<type>.txt        "x y z label", single spaces (read with delimiter=" ")

  Their loader tests ``'good' in path`` and ``'temp' not in path`` on the whole path, so a class
  name or output folder containing those words is refused.
* ``anomaly-shapenet`` (v1 naming, as the Hugging Face release and the Open3DAD/IMRNet loaders)::

      <cls>/train/<cls>_template<n>.pcd   <cls>/test/<cls>_positive<n>.pcd
      <cls>/test/<cls>_<type><n>.pcd      <cls>/GT/<cls>_<type><n>.txt   "x,y,z,label"

  Comma-separated as the release is: the Open3DAD loader parses with ``delimiter=","`` first
  and falls back to whitespace only when that yields fewer than 4 columns, which a
  space-separated file of more than 3 rows never does (it becomes one row of NaNs).

Types are letters only in the last two (``scratch``, ``bump``). Numbering runs over each
class's samples in our relpath order. ``exclude`` drops samples (e.g. the k seen anomalies of an
open-set split, for a one-class loader that has no notion of seen anomalies); ``export.json``
maps every written cloud back to its source relpath.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np

from scan2ad.datasets.samples import NORMAL, Sample, load_sample
from scan2ad.errors import InputError
from scan2ad.io import atomic_open, read_json, write_json
from scan2ad.pointcloud import PointCloud, write_cloud

FORMATS = ("open-industry", "real3d-ad", "anomaly-shapenet")
MARKER = "export.json"


@dataclasses.dataclass(frozen=True)
class Exported:
    """One written sample: where it went and where it came from."""

    cls: str
    split: str
    defect_type: str
    relpath: str          # new cloud, relative to the export root
    gt_relpath: str | None
    source: str           # relpath in the source dataset
    points: int


def _letters(dtype: str) -> str:
    out = re.sub(r"[^A-Za-z]", "", dtype)
    if not out:
        raise InputError(f"defect type {dtype!r} has no letters; the layout needs a letter name")
    return out


def _names(fmt: str, cls: str, split: str, dtype: str, n: int) -> tuple[str, str | None]:
    """(cloud relpath, gt relpath or None) of the ``n``-th sample (1-based) of its group."""
    normal = dtype == NORMAL
    if fmt == "open-industry":
        t = _letters(dtype)
        t = t[:1].upper() + t[1:]
        if split == "train":
            return f"{cls}/train/{cls}_{n:03d}.pcd", None
        if normal:
            return f"{cls}/test/{cls}_{n:03d}.pcd", None
        return f"{cls}/test/{cls}_{t}_{n:03d}.pcd", f"{cls}/gt/{cls}_{t}_{n:03d}.txt"
    if fmt == "real3d-ad":
        if split == "train":
            return f"{cls}/train/{n}_template.pcd", None
        if normal:
            return f"{cls}/test/{n}_good.pcd", None
        t = _letters(dtype).lower()
        return f"{cls}/test/{n}_{t}.pcd", f"{cls}/gt/{n}_{t}.txt"
    if fmt == "anomaly-shapenet":
        if split == "train":
            return f"{cls}/train/{cls}_template{n - 1}.pcd", None
        if normal:
            return f"{cls}/test/{cls}_positive{n - 1}.pcd", None
        t = _letters(dtype).lower()
        return f"{cls}/test/{cls}_{t}{n - 1}.pcd", f"{cls}/GT/{cls}_{t}{n - 1}.txt"
    raise InputError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")


def _group(fmt: str, s: Sample) -> tuple:
    """Samples sharing a counter: Open-Industry numbers per (split, type), Real3D-AD per folder
    (train, test), Anomaly-ShapeNet per (split, type)."""
    if fmt == "real3d-ad":
        return (s.cls, s.split)
    return (s.cls, s.split, s.defect_type)


def _check_names(fmt: str, out: Path, samples: list[Sample]) -> None:
    if fmt == "real3d-ad":
        for word in ("good", "temp"):
            bad = sorted({s.cls for s in samples if word in s.cls})
            if bad or word in str(out.resolve()):
                raise InputError(f"the Real3D-AD loader tests '{word}' in the whole path; "
                                 f"{'class(es) ' + str(bad) if bad else 'the output folder'} "
                                 f"contain(s) it", out)
    if fmt == "anomaly-shapenet":
        bad = sorted({s.cls for s in samples if "positive" in s.cls or "template" in s.cls})
        if bad:
            raise InputError(f"class name(s) {bad} contain a word the Anomaly-ShapeNet loaders "
                             "use to tell samples apart", out)
    for s in samples:
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", s.cls):
            raise InputError(f"class name {s.cls!r} is not a plain file name", out)


def _write_gt(path: Path, cloud: PointCloud, delimiter: str = " ") -> None:
    """``x y z label`` rows, labels 0/1, one ``delimiter`` between fields."""
    labels = np.zeros(len(cloud), np.int64) if cloud.labels is None else cloud.labels.astype(np.int64)
    rows = np.column_stack([cloud.points, labels])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w") as fh:
        np.savetxt(fh, rows, fmt=["%.6f", "%.6f", "%.6f", "%d"], delimiter=delimiter)


def check_out(out: Path, overwrite: bool, source: str | Path | None = None) -> None:
    """Refuse a non-empty folder that no earlier export made, unless ``overwrite``, and, with or
    without it, the exported dataset ``source`` itself, a folder holding it or one inside it."""
    from scan2ad.outputs import check_apart

    check_apart(out, {"the dataset exported": source})
    if out.exists() and not out.is_dir():
        raise InputError("output exists and is not a folder", out)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file() and not overwrite:
        raise InputError("output folder is not empty and was not written by "
                         "`scan2ad dataset export` (pass --overwrite to replace it)", out)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def export_dataset(samples: list[Sample], out: str | Path, fmt: str, *, source: str | Path | None = None,
                   exclude: set[str] | frozenset[str] = frozenset(), overwrite: bool = False,
                   progress=None) -> list[Exported]:
    """Write ``samples`` (minus the relpaths in ``exclude``) to ``out`` in layout ``fmt``.

    Open-Industry exports also get the source's split files (``<source>/splits``) with their
    relpaths renamed. ``progress`` wraps the sample iterator (e.g. tqdm)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    out = Path(out)
    keep = [s for s in samples if s.relpath not in exclude]
    if not keep:
        raise InputError("nothing to export (no samples left)", out)
    _check_names(fmt, out, keep)
    check_out(out, overwrite, source)
    final, out = out, out.parent / f".{out.name}.partial"   # built aside, renamed when complete
    _remove(out)
    out.mkdir(parents=True)
    counters: dict[tuple, int] = {}
    written: list[Exported] = []
    order = sorted(keep, key=lambda s: (s.cls, s.split != "train", s.defect_type != NORMAL, s.relpath))
    for s in (progress(order) if progress else order):
        g = _group(fmt, s)
        counters[g] = counters.get(g, 0) + 1
        rel, gt_rel = _names(fmt, s.cls, s.split, s.defect_type, counters[g])
        cloud = load_sample(s)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        write_cloud(out / rel, PointCloud(cloud.points), fmt="pcd")
        if gt_rel is not None:
            _write_gt(out / gt_rel, cloud, "," if fmt == "anomaly-shapenet" else " ")
        written.append(Exported(s.cls, s.split, s.defect_type, rel, gt_rel, s.relpath, len(cloud)))
    renamed = {e.source: e.relpath for e in written}
    splits = _export_splits(Path(source), out, renamed) if fmt == "open-industry" and source else 0
    write_json(out / MARKER, {"format": fmt, "source": str(source) if source else None,
                              "excluded": sorted(exclude), "split_files": splits,
                              "samples": [dataclasses.asdict(e) for e in written]})
    _remove(final)
    out.rename(final)
    return written


def _export_splits(source: Path, out: Path, renamed: dict[str, str]) -> int:
    """Copy the source's split files with renamed relpaths; a split naming an excluded or
    missing sample is skipped (it could not be honoured). Returns the number written."""
    n = 0
    for f in sorted((source / "splits").glob("*/*.json")) if (source / "splits").is_dir() else []:
        doc = read_json(f)
        rel = doc.get("selected_relpaths", [])
        if any(r not in renamed for r in rel):
            continue
        payload = {k: v for k, v in doc.items() if k not in ("schema_version", "scan2ad_version")}
        payload["selected_relpaths"] = [renamed[r] for r in rel]
        write_json(out / "splits" / f.parent.name / f.name, payload)
        n += 1
    return n


def read_export(out: str | Path) -> list[Exported]:
    """The sample map an export wrote (``export.json``)."""
    doc = read_json(Path(out) / MARKER)
    return [Exported(**e) for e in doc["samples"]]
