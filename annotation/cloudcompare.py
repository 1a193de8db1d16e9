"""Per-point labels from CloudCompare's ASCII export (``scan2ad label CLOUD --import-cloudcompare FILE``).

The public datasets were labelled in CloudCompare (Real3D-AD by octree comparison and manual
labelling, Anomaly-ShapeNet and IEC3D-AD by hand; 001, 002 §3, 003 "Annotation"): the defect's
points get a scalar field (e.g. 1 inside the segmented defect, 0 elsewhere, or a cloud-to-cloud
distance), and "Save as ASCII cloud" writes one row per point. What that export looks like
(CloudCompare's ``AsciiFilter``):

* columns ``X Y Z`` first (global coordinates, fixed precision), then, in the order the dialog
  chose, colours ``R G B`` (0-255, ``A`` when alpha is kept, ``Rf Gf Bf`` as floats), the scalar
  fields (one column each, spaces in their names replaced by ``_``) and normals ``Nx Ny Nz``;
* a separator: space, semicolon, comma or tab;
* optionally a header line of the column names after ``//`` (``//X,Y,Z,Scalar_field``), and
  optionally a line with the point count alone.

The rows are in CloudCompare's order, which need not be the cloud's (segment + merge reorders
them), so each point of the cloud takes the label of the export row nearest to it, within a
tolerance, and the import is refused, naming the file, when a point has no row that close, when
the two hold different numbers of points, or when two points take the same row.

Labels from values: with no threshold the field must hold only 0 and 1 (NaN — CloudCompare's
"invalid" value — counts as 0, as the public gt files use it); with ``threshold=t`` a point is
anomalous when its value is greater than ``t`` (NaN never is), e.g. a distance field.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from scan2ad.errors import FormatError, InputError

SEPARATORS = {";": "semicolon", ",": "comma", "\t": "tab", " ": "space"}
# columns CloudCompare writes that are not scalar fields
NOT_SCALAR = {"x", "y", "z", "r", "g", "b", "a", "rf", "gf", "bf", "af", "nx", "ny", "nz"}


@dataclasses.dataclass
class AsciiCloud:
    """One CloudCompare ASCII export: its rows and, when it has a header, the column names."""

    path: Path
    values: np.ndarray  # (n, k) float64, every column
    columns: list[str] | None  # names from the "//" header line, or None
    separator: str

    @property
    def points(self) -> np.ndarray:
        return self.values[:, :3]


def _separator(line: str) -> str:
    for sep in (";", ",", "\t"):
        if sep in line:
            return sep
    return " "


def _split(line: str, sep: str) -> list[str]:
    parts = line.strip().split(sep) if sep != " " else line.split()
    return [p.strip() for p in parts]


def read_cloudcompare_ascii(path: str | Path) -> AsciiCloud:
    """Parse a CloudCompare ASCII export (any separator, optional header and point-count lines)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("CloudCompare export not found" if not path.exists() else "not a file", path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not a text file ({exc.reason} at byte {exc.start}): CloudCompare's "
                          "binary formats (.bin) are not read, save the cloud as ASCII", path) from None
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    columns = None
    if lines and lines[0][1].lstrip().startswith("//"):
        header = lines.pop(0)[1].lstrip()[2:]
        columns = _split(header, _separator(header))
    if not lines:
        raise FormatError("no point rows", path)
    count = None
    if re.fullmatch(r"\s*\d+\s*", lines[0][1]):  # the optional point-count line
        count = int(lines.pop(0)[1])
        if not lines:
            raise FormatError("no point rows after the point-count line", path)
    sep = _separator(lines[0][1])
    width = len(_split(lines[0][1], sep))
    try:
        rows = np.loadtxt([ln for _, ln in lines], dtype=np.float64, delimiter=None if sep == " " else sep,
                          ndmin=2)
    except ValueError:
        rows = None
    if rows is None or rows.shape[1] != width:  # find the offending line, to name it
        for no, ln in lines:
            parts = _split(ln, sep)
            if len(parts) != width:
                raise FormatError(f"line {no} has {len(parts)} columns, the first row {width} "
                                  f"({SEPARATORS[sep]}-separated)", path)
            try:
                [float(p) for p in parts]
            except ValueError:
                raise FormatError(f"line {no} is not numeric: {ln.strip()[:80]!r}", path) from None
        raise FormatError(f"cannot parse the rows as {width} {SEPARATORS[sep]}-separated numbers", path)
    if width < 4:
        raise FormatError(f"{width} column(s): a labelled export needs X Y Z and a scalar field", path)
    if columns is not None and len(columns) != width:
        raise FormatError(f"the header names {len(columns)} columns ({', '.join(columns)}) but the rows "
                          f"have {width}", path)
    if count is not None and count != len(rows):
        raise FormatError(f"the point-count line says {count} points, the file has {len(rows)} rows", path)
    if not np.isfinite(rows[:, :3]).all():
        bad = int(np.flatnonzero(~np.isfinite(rows[:, :3]).all(1))[0])
        raise FormatError(f"non-finite coordinates on line {lines[bad][0]}", path)
    return AsciiCloud(path=path, values=rows, columns=columns, separator=sep)


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", "_", name.strip()).lower()


def select_field(cloud: AsciiCloud, field: str | int | None = None) -> tuple[str, np.ndarray]:
    """(name, values) of the scalar-field column: by header name (case and space/underscore
    insensitive), by 0-based column index (an int or a string of digits), or — when ``field`` is
    None — the only scalar field of the header, or column 3 of a 4-column file."""
    k = cloud.values.shape[1]
    names = cloud.columns
    label = (lambda i: f"column {i}" + (f" ({names[i]})" if names else ""))
    if isinstance(field, str) and field.strip().lstrip("-").isdigit():
        field = int(field)
    if isinstance(field, int):
        if not 0 <= field < k:
            raise InputError(f"scalar field column {field} out of range: the file has columns 0..{k - 1}",
                             cloud.path)
        if field < 3:
            raise InputError(f"column {field} is a coordinate (X Y Z are columns 0-2), not a scalar field",
                             cloud.path)
        return label(field), cloud.values[:, field]
    if field is not None:
        if names is None:
            raise InputError(f"no header line (//X,Y,Z,...) to find the field {field!r} by name: give its "
                             f"column index (3..{k - 1})", cloud.path)
        hits = [i for i, n in enumerate(names) if _norm(n) == _norm(field)]
        if not hits:
            raise InputError(f"no scalar field {field!r}; the columns are {', '.join(names)}", cloud.path)
        return label(hits[0]), cloud.values[:, hits[0]]
    if names is not None:
        scalars = [i for i, n in enumerate(names) if _norm(n) not in NOT_SCALAR]
        if len(scalars) == 1:
            return label(scalars[0]), cloud.values[:, scalars[0]]
        raise InputError(f"{'no' if not scalars else len(scalars)} scalar field(s) among the columns "
                         f"{', '.join(names)}: choose one with --field NAME or column index", cloud.path)
    if k == 4:
        return label(3), cloud.values[:, 3]
    raise InputError(f"{k} columns and no header line: choose the scalar field with --field "
                     f"COLUMN (3..{k - 1})", cloud.path)


def labels_from_values(values: np.ndarray, threshold: float | None = None, where: str | Path | None = None,
                       field: str = "field") -> np.ndarray:
    """0/1 labels: the values themselves (only 0, 1 or NaN allowed), or ``value > threshold``."""
    values = np.asarray(values, dtype=np.float64)
    if threshold is not None:
        if not np.isfinite(threshold):
            raise InputError(f"threshold must be a finite number, got {threshold}")
        return (np.nan_to_num(values, nan=-np.inf) > threshold).astype(np.uint8)
    ok = np.isnan(values) | (values == 0) | (values == 1)
    if not ok.all():
        distinct = np.unique(values[~ok])
        shown = ", ".join(f"{v:g}" for v in distinct[:6]) + (", ..." if len(distinct) > 6 else "")
        lo, hi = np.nanmin(values), np.nanmax(values)
        raise InputError(f"{field} holds values other than 0 and 1 ({int((~ok).sum())} rows: {shown}; range "
                         f"{lo:g}..{hi:g}): give --threshold T to label the points whose value is > T",
                         where)
    return (values == 1).astype(np.uint8)


@dataclasses.dataclass
class Match:
    rows: np.ndarray  # (n_cloud,) export row of each cloud point
    distance: np.ndarray  # (n_cloud,) mm


def match_points(cloud_points: np.ndarray, export: AsciiCloud, tolerance: float = 0.01,
                 cloud_name: str | Path = "the cloud") -> Match:
    """Export row of each cloud point: its nearest row, which must lie within ``tolerance`` mm and
    be nobody else's. Refuses (InputError naming the export) otherwise."""
    from scipy.spatial import cKDTree

    if not (np.isfinite(tolerance) and tolerance > 0):
        raise InputError(f"tolerance must be a finite distance > 0 mm, got {tolerance}")
    cloud_points = np.asarray(cloud_points, dtype=np.float64)
    n, m = len(cloud_points), len(export.values)
    if n != m:
        raise InputError(f"{m} points in the export but {n} in {cloud_name}: export the whole cloud "
                         "(merge the segmented parts first)", export.path)
    dist, rows = cKDTree(export.points).query(cloud_points, k=1)
    far = dist > tolerance
    if far.any():
        worst = int(np.argmax(dist))
        raise InputError(f"{int(far.sum())} of {n} points of {cloud_name} have no export point within "
                         f"{tolerance:g} mm (worst: point {worst} at {tuple(np.round(cloud_points[worst], 4))}, "
                         f"{dist[worst]:.4g} mm away): not the same cloud, or moved/rescaled in CloudCompare "
                         "(a global shift is undone on export; check units) — or raise --tolerance", export.path)
    used = np.bincount(rows, minlength=m)
    if (used > 1).any():
        raise InputError(f"{int((used > 1).sum())} export point(s) are the nearest of several points of "
                         f"{cloud_name} (duplicate or too close points for tolerance {tolerance:g} mm): "
                         "cannot tell which label is whose", export.path)
    return Match(rows=rows, distance=dist)


@dataclasses.dataclass
class ImportedLabels:
    labels: np.ndarray  # (n_cloud,) uint8, in the cloud's order
    field: str
    rule: str
    max_distance: float
    export: Path

    @property
    def ratio(self) -> float:
        return float(self.labels.mean()) if len(self.labels) else 0.0


def import_labels(cloud_points: np.ndarray, export_path: str | Path, field: str | int | None = None,
                  threshold: float | None = None, tolerance: float = 0.01,
                  cloud_name: str | Path = "the cloud") -> ImportedLabels:
    """Labels of ``cloud_points`` (in their order) from a CloudCompare ASCII export of them."""
    export = read_cloudcompare_ascii(export_path)
    name, values = select_field(export, field)
    match = match_points(cloud_points, export, tolerance, cloud_name)
    labels = labels_from_values(values, threshold, export.path, name)[match.rows]
    rule = "value == 1 (NaN = 0)" if threshold is None else f"value > {threshold:g} (NaN = 0)"
    return ImportedLabels(labels=labels, field=name, rule=rule, max_distance=float(match.distance.max()),
                          export=export.path)


def write_cloudcompare_ascii(path: str | Path, points: np.ndarray, fields: dict[str, np.ndarray],
                             separator: str = " ", header: bool = True, count_line: bool = False,
                             precision: int = 6, normals: np.ndarray | None = None) -> Path:
    """Write an export the way CloudCompare's "Save as ASCII cloud" does (X Y Z, scalar fields,
    optional Nx Ny Nz; header and point-count lines optional) — for tests and round trips."""
    from scan2ad.io import atomic_open

    points = np.asarray(points, dtype=np.float64)
    cols = [points[:, 0], points[:, 1], points[:, 2]]
    names = ["X", "Y", "Z"]
    fmts = [f"%.{precision}f"] * 3
    for name, v in fields.items():
        cols.append(np.asarray(v, dtype=np.float64))
        names.append(name.replace(" ", "_"))
        fmts.append("%.6f")
    if normals is not None:
        for j, nm in enumerate(("Nx", "Ny", "Nz")):
            cols.append(np.asarray(normals, dtype=np.float64)[:, j])
            names.append(nm)
            fmts.append("%.6f")
    with atomic_open(path, "w") as fh:
        if header:
            fh.write("//" + separator.join(names) + "\n")
        if count_line:
            fh.write(f"{len(points)}\n")
        np.savetxt(fh, np.column_stack(cols), fmt=fmts, delimiter=separator)
    return Path(path)
