"""The sample table every dataset reader produces and every detector consumes.

A reader turns a dataset folder into a list of :class:`Sample` (path, split, label, type, gt
path) and fails loudly when names disagree; :func:`load_sample` reads one sample's points and
per-point labels, whatever the format's quirks (gt in a separate txt, NaN labels, anomalous
points taken from the gt file rather than the pcd as Real3D-AD requires).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from scan2ad.errors import ValidationError
from scan2ad.pointcloud import PointCloud, read_cloud

NORMAL = "good"


@dataclasses.dataclass(frozen=True)
class Sample:
    cls: str                 # class (category) name
    split: str               # "train" or "test"
    defect_type: str         # NORMAL ("good") or the anomaly type (Bump, Dent, ...)
    path: Path               # the point cloud file
    gt_path: Path | None = None  # per-point labels ("x y z label"), anomalous samples only
    relpath: str = ""        # path relative to the dataset root, as split files name it
    points_from_gt: bool = False  # Real3D-AD: test points are the gt file's, not the pcd's

    @property
    def label(self) -> int:
        return 0 if self.defect_type == NORMAL else 1

    @property
    def name(self) -> str:
        return self.path.stem


LABEL_COLUMN_NAMES = {"label", "labels", "mask", "gt", "anomaly", "is_anomaly", "defect"}


def _header_columns(path: Path) -> tuple[str, ...] | None:
    """Column names of a text cloud's header line (``x,y,z,label``, ``X Y Z mask``...), or None."""
    import re

    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip().lstrip("/#").strip()
            if line:
                break
        else:
            return None
    if re.match(r"^[-+0-9.]", line) or line.lower().startswith(("nan", "inf")):
        return None
    names = [n.strip().strip('"').lower() for n in re.split(r"[,;\s]+", line) if n.strip()]
    return tuple("label" if n in LABEL_COLUMN_NAMES else n for n in names)


def read_table_or_cloud(path: Path, gt: bool = False) -> PointCloud:
    """A cloud or gt file: any point-cloud format, and text/csv rows with or without a header
    line (a header's names choose the columns: x y z [nx ny nz] [label|mask|gt])."""
    path = Path(path)
    if gt or path.suffix.lower() in (".txt", ".csv", ".xyz"):
        from scan2ad.pointcloud import read_xyz

        columns = _header_columns(path) if path.is_file() else None
        if columns is not None and {"x", "y", "z"} <= set(columns):
            return read_xyz(path, columns)
        return read_cloud(path, fmt="txt")
    return read_cloud(path)


def load_sample(sample: Sample) -> PointCloud:
    """Points and labels (0 for every point of a normal sample)."""
    if sample.gt_path is not None:
        gt = read_table_or_cloud(sample.gt_path, gt=True)
        if sample.points_from_gt:
            return PointCloud(gt.points, labels=gt.labels if gt.labels is not None
                              else np.zeros(len(gt), np.uint8))
        cloud = read_table_or_cloud(sample.path)
        if len(gt) != len(cloud):
            raise ValidationError(
                f"gt file {sample.gt_path.name} has {len(gt)} points, the cloud has {len(cloud)}",
                sample.path)
        cloud.labels = gt.labels if gt.labels is not None else np.zeros(len(cloud), np.uint8)
        return cloud
    cloud = read_table_or_cloud(sample.path)
    if cloud.labels is None:
        cloud.labels = np.zeros(len(cloud), np.uint8)
    return cloud


def classes_of(samples: list[Sample]) -> list[str]:
    return sorted({s.cls for s in samples})


def select(samples: list[Sample], cls: str | None = None, split: str | None = None,
           defect_type: str | None = None) -> list[Sample]:
    return [s for s in samples if (cls is None or s.cls == cls) and (split is None or s.split == split)
            and (defect_type is None or s.defect_type == defect_type)]
