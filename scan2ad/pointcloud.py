"""Point-cloud I/O for the formats the field's datasets use: PLY, PCD, XYZ/TXT and NPZ.

Written here rather than taken from open3d because open3d drops fields it does not know
(per-point labels, decode confidence, anomaly scores), cannot read comma-separated gt files
with NaN labels, and reports a truncated file as an empty cloud instead of an error. numpy does
the parsing; every reader validates what it read and raises :class:`FormatError` /
:class:`ValidationError` naming the file and the problem. Every writer is atomic.

Conventions: coordinates in millimetres (DESIGN §2), float64 in memory; labels are 0 (normal) /
1 (anomalous) uint8 — a NaN label in a file means normal (as the public datasets write it).
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
from pathlib import Path

import numpy as np

from scan2ad.errors import FormatError, ValidationError
from scan2ad.io import atomic_open, atomic_path

PathLike = str | os.PathLike

FORMATS = ("ply", "pcd", "xyz", "txt", "npz")


@dataclasses.dataclass
class PointCloud:
    """Points with optional per-point attributes, all in the same order.

    ``extra`` holds any other per-point field by name, shape (N,) or (N, k): decode confidence,
    anomaly scores, curvature, FPFH, ...
    """

    points: np.ndarray
    normals: np.ndarray | None = None
    colors: np.ndarray | None = None  # (N, 3) float in [0, 1]
    labels: np.ndarray | None = None  # (N,) uint8, 1 anomalous
    extra: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.points = np.asarray(self.points, dtype=np.float64)
        if self.normals is not None:
            self.normals = np.asarray(self.normals, dtype=np.float64)
        if self.colors is not None:
            self.colors = np.asarray(self.colors, dtype=np.float64)
        if self.labels is not None:
            self.labels = _labels_from_values(np.asarray(self.labels))
        self.extra = {k: np.asarray(v) for k, v in self.extra.items()}

    def __len__(self) -> int:
        return int(self.points.shape[0]) if self.points.ndim == 2 else 0

    def subset(self, index: np.ndarray) -> PointCloud:
        """The cloud restricted to ``index`` (boolean mask or integer indices), all fields kept."""
        pick = lambda a: None if a is None else a[index]
        return PointCloud(
            self.points[index],
            pick(self.normals),
            pick(self.colors),
            pick(self.labels),
            {k: v[index] for k, v in self.extra.items()},
        )


def _labels_from_values(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind == "f":
        values = np.where(np.isnan(values), 0.0, values)
    return (values > 0.5).astype(np.uint8) if values.dtype.kind == "f" else (values != 0).astype(np.uint8)


def validate_cloud(cloud: PointCloud, path: PathLike | None = None) -> PointCloud:
    """Raise :class:`ValidationError` naming ``path`` if the cloud is not usable; else return it."""
    p = cloud.points
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValidationError(f"points must have shape (N, 3), got {p.shape}", path)
    n = p.shape[0]
    if n == 0:
        raise ValidationError("the cloud is empty (0 points)", path)
    bad = ~np.isfinite(p).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"{int(bad.sum())} point(s) have NaN or infinite coordinates (first at index {first})",
            path,
        )
    for name, arr, width in (("normals", cloud.normals, 3), ("colors", cloud.colors, 3)):
        if arr is not None and arr.shape != (n, width):
            raise ValidationError(f"{name} have shape {arr.shape}, expected ({n}, {width})", path)
    if cloud.labels is not None and cloud.labels.shape != (n,):
        raise ValidationError(
            f"{cloud.labels.shape[0] if cloud.labels.ndim else 0} labels for {n} points", path
        )
    for name, arr in cloud.extra.items():
        if arr.shape[0] != n:
            raise ValidationError(f"field {name!r} has {arr.shape[0]} values for {n} points", path)
    return cloud


def _fmt_of(path: Path, fmt: str | None) -> str:
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise FormatError(
            f"unknown point-cloud format {fmt!r} (known: {', '.join(FORMATS)})", path
        )
    return fmt


def read_cloud(path: PathLike, fmt: str | None = None, validate: bool = True) -> PointCloud:
    """Read a point cloud; the format comes from the extension unless ``fmt`` is given."""
    path = Path(path)
    fmt = _fmt_of(path, fmt)
    if not path.is_file():
        raise FormatError("file not found" if not path.exists() else "not a regular file", path)
    reader = {"ply": _read_ply, "pcd": _read_pcd, "xyz": _read_xyz, "txt": _read_xyz, "npz": _read_npz}
    try:
        cloud = reader[fmt](path)
    except (FormatError, ValidationError):
        raise
    except (ValueError, IndexError, EOFError, KeyError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot parse as {fmt.upper()}: {exc}", path) from None
    return validate_cloud(cloud, path) if validate else cloud


def write_cloud(
    path: PathLike, cloud: PointCloud, fmt: str | None = None, binary: bool = True
) -> Path:
    """Write atomically; ``binary=False`` writes ASCII PLY/PCD. XYZ/TXT always ASCII."""
    path = Path(path)
    fmt = _fmt_of(path, fmt)
    validate_cloud(cloud, path)
    if fmt in ("ply", "pcd"):
        _check_float32(cloud, path)
    if fmt == "ply":
        _write_ply(path, cloud, binary)
    elif fmt == "pcd":
        _write_pcd(path, cloud, binary)
    elif fmt in ("xyz", "txt"):
        write_xyz(path, cloud, with_labels=cloud.labels is not None)
    else:
        _write_npz(path, cloud)
    return path


# ----------------------------------------------------------------------------------- fields
# One table maps file field names to PointCloud attributes for PLY and PCD alike.
_NORMAL_NAMES = ("nx", "ny", "nz")
_PCD_NORMAL_NAMES = ("normal_x", "normal_y", "normal_z")
_COLOR_NAMES = ("red", "green", "blue")
_LABEL_NAMES = ("label", "labels", "gt", "anomaly")


def _cloud_from_columns(cols: dict[str, np.ndarray], path: Path) -> PointCloud:
    """Assemble a cloud from named 1-D (or 2-D for PCD COUNT>1) columns."""
    missing = [c for c in "xyz" if c not in cols]
    if missing:
        raise FormatError(f"no {'/'.join(missing)} field(s); fields are {sorted(cols)}", path)
    used = {"x", "y", "z"}
    points = np.stack([cols["x"], cols["y"], cols["z"]], axis=1).astype(np.float64)
    normals = colors = labels = None
    for names in (_NORMAL_NAMES, _PCD_NORMAL_NAMES):
        if all(n in cols for n in names):
            normals = np.stack([cols[n] for n in names], axis=1).astype(np.float64)
            used.update(names)
            break
    if all(n in cols for n in _COLOR_NAMES):
        rgb = np.stack([cols[n] for n in _COLOR_NAMES], axis=1)
        colors = rgb.astype(np.float64) / (255.0 if rgb.dtype.kind in "ui" else 1.0)
        used.update(_COLOR_NAMES)
    elif "rgb" in cols or "rgba" in cols:
        key = "rgb" if "rgb" in cols else "rgba"
        packed = np.ascontiguousarray(cols[key]).view(np.uint32) if cols[key].dtype.itemsize == 4 \
            else cols[key].astype(np.uint32)
        colors = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], 1) / 255.0
        used.add(key)
    for name in _LABEL_NAMES:
        if name in cols:
            labels = _checked_labels(cols[name], path, name)
            used.add(name)
            break
    extra = {k: v for k, v in cols.items() if k not in used}
    return PointCloud(points, normals, colors, labels, extra)


def _checked_labels(values: np.ndarray, path: Path | None, field: str = "labels") -> np.ndarray:
    """Labels read from a file must be 0 (normal) or 1 (anomalous); NaN means normal (DESIGN
    §5, as the public gt files write it). Any other value (2, -1, 255, 0.5) is refused rather
    than silently counted as anomalous."""
    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        raise ValidationError(f"field {field!r}: labels must be numbers 0/1, got dtype {values.dtype}", path)
    if values.dtype.kind == "f":
        bad = ~(np.isnan(values) | (values == 0) | (values == 1))
    else:
        bad = (values != 0) & (values != 1)
    if bad.any():
        found = np.unique(values[bad])
        shown = ", ".join(f"{v:g}" for v in found[:5]) + (", ..." if len(found) > 5 else "")
        raise ValidationError(
            f"field {field!r}: labels must be 0 (normal) or 1 (anomalous); {int(bad.sum())} "
            f"point(s) have other values ({shown})", path)
    return values


def check_labels(values, path=None, field: str = "labels") -> np.ndarray:
    """Public form of the label check of the readers (labels.npy files, imported labels)."""
    return _checked_labels(np.asarray(values).reshape(-1), None if path is None else Path(path), field)


# largest magnitude a float32 field holds; beyond it a PLY/PCD would store inf
_F32_MAX = float(np.finfo(np.float32).max)


def _check_float32(cloud: PointCloud, path: Path | None) -> None:
    for name, arr in (("coordinates", cloud.points), ("normals", cloud.normals)):
        if arr is not None and len(arr) and float(np.abs(arr).max()) > _F32_MAX:
            raise ValidationError(
                f"{name} reach {float(np.abs(arr).max()):.3g}, beyond the float32 range "
                f"(±{_F32_MAX:.3g}) of PLY/PCD files; nothing was written (write .npz or .xyz, "
                f"which keep float64)", path)


def _columns_from_cloud(cloud: PointCloud, pcd: bool) -> list[tuple[str, np.ndarray]]:
    cols: list[tuple[str, np.ndarray]] = [
        (c, cloud.points[:, i].astype(np.float32)) for i, c in enumerate("xyz")
    ]
    # float32 keeps 7 significant digits: 0.1 µm on a 1 m part; the public datasets store float32
    if cloud.normals is not None:
        names = _PCD_NORMAL_NAMES if pcd else _NORMAL_NAMES
        cols += [(n, cloud.normals[:, i].astype(np.float32)) for i, n in enumerate(names)]
    if cloud.colors is not None:
        rgb8 = np.clip(np.round(cloud.colors * 255), 0, 255).astype(np.uint8)
        cols += [(n, rgb8[:, i]) for i, n in enumerate(_COLOR_NAMES)]
    if cloud.labels is not None:
        cols.append(("label", cloud.labels.astype(np.uint8)))
    for name, arr in cloud.extra.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValidationError(f"field name {name!r} cannot be stored in a PLY/PCD header")
        if arr.ndim == 1:
            cols.append((name, arr))
        else:
            if not pcd:
                cols += [(f"{name}_{j}", arr[:, j]) for j in range(arr.shape[1])]
            else:
                cols.append((name, arr))
    return cols


# ----------------------------------------------------------------------------------- PLY
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_NP_TO_PLY = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int",
              "u4": "uint", "f4": "float", "f8": "double"}


def _read_header(fh, path: Path, magic: bytes, end: bytes) -> list[str]:
    first = fh.readline()
    if magic and not first.strip().startswith(magic):
        raise FormatError(f"not a {magic.decode().upper()} file (first line {first[:40]!r})", path)
    lines = [] if magic else [first.decode("ascii", "replace").strip()]
    while True:
        line = fh.readline()
        if not line:
            raise FormatError("truncated header (end of file before the header ended)", path)
        text = line.decode("ascii", "replace").strip()
        lines.append(text)
        if text.startswith(end.decode()):
            return lines


def _read_ply(path: Path) -> PointCloud:
    with open(path, "rb") as fh:
        header = _read_header(fh, path, b"ply", b"end_header")
        fmt = None
        elements: list[tuple[str, int, list[tuple[str, str, str | None]]]] = []
        for line in header:
            parts = line.split()
            if not parts or parts[0] in ("comment", "obj_info", "end_header"):
                continue
            if parts[0] == "format":
                fmt = parts[1]
            elif parts[0] == "element":
                elements.append((parts[1], int(parts[2]), []))
            elif parts[0] == "property":
                if not elements:
                    raise FormatError("property before any element in the header", path)
                if parts[1] == "list":
                    elements[-1][2].append((parts[4], _PLY_TYPES[parts[3]], _PLY_TYPES[parts[2]]))
                else:
                    if parts[1] not in _PLY_TYPES:
                        raise FormatError(f"unknown property type {parts[1]!r}", path)
                    elements[-1][2].append((parts[2], _PLY_TYPES[parts[1]], None))
        if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
            raise FormatError(f"unknown PLY format {fmt!r}", path)
        vertex = next((e for e in elements if e[0] == "vertex"), None)
        if vertex is None:
            raise FormatError("no 'vertex' element", path)
        _, count, props = vertex
        if count < 0:
            raise FormatError(f"the header gives a negative vertex count ({count})", path)
        if count == 0:
            raise ValidationError("the cloud is empty (the header says 0 vertices)", path)
        if any(p[2] is not None for p in props):
            raise FormatError("list properties on vertices are not supported", path)
        before = elements[: elements.index(vertex)]
        if fmt == "ascii":
            body = fh.read().decode("ascii", "replace").splitlines()
            skip = 0
            for _, n_el, _ in before:
                skip += n_el
            rows = [ln for ln in body[skip : skip + count]]
            if len(rows) < count:
                raise FormatError(f"truncated: header says {count} vertices, file has {len(rows)}", path)
            data = np.loadtxt(io.StringIO("\n".join(rows)), dtype=np.float64, ndmin=2)
            if data.shape[1] < len(props):
                raise FormatError(f"vertex rows have {data.shape[1]} values, header names {len(props)}", path)
            cols = {name: data[:, i].astype(t) for i, (name, t, _) in enumerate(props)}
        else:
            order = "<" if fmt == "binary_little_endian" else ">"
            for name, n_el, eprops in before:
                if any(p[2] is not None for p in eprops):
                    raise FormatError(f"element {name!r} before the vertices has list properties", path)
                fh.seek(n_el * sum(np.dtype(p[1]).itemsize for p in eprops), os.SEEK_CUR)
            dtype = np.dtype([(name, order + t) for name, t, _ in props])
            left = os.fstat(fh.fileno()).st_size - fh.tell()
            if dtype.itemsize * count > left:  # before reading: a huge count would exhaust memory
                raise FormatError(
                    f"truncated: header says {count} vertices, file has {max(left, 0) // dtype.itemsize}", path)
            raw = fh.read(dtype.itemsize * count)
            if len(raw) < dtype.itemsize * count:
                got = len(raw) // dtype.itemsize
                raise FormatError(f"truncated: header says {count} vertices, file has {got}", path)
            arr = np.frombuffer(raw, dtype=dtype, count=count)
            cols = {name: arr[name].astype(arr[name].dtype.newbyteorder("=")) for name, _, _ in props}
    return _cloud_from_columns(cols, path)


def _write_ply(path: Path, cloud: PointCloud, binary: bool) -> None:
    cols = _columns_from_cloud(cloud, pcd=False)
    n = len(cloud)
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
              "comment written by scan2ad (units: mm)", f"element vertex {n}"]
    dtypes = []
    for name, arr in cols:
        t = arr.dtype.str.lstrip("<>|=")
        if t not in _NP_TO_PLY:
            arr = arr.astype(np.float64)
            t = "f8"
        dtypes.append((name, "<" + t))
        header.append(f"property {_NP_TO_PLY[t]} {name}")
    header.append("end_header")
    _write_table(path, header, cols, dtypes, binary)


def _write_table(path, header: list[str], cols, dtypes, binary: bool) -> None:
    """Header lines, then the columns as packed little-endian records or ASCII rows (atomic)."""
    with atomic_open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        if binary:
            rec = np.empty(len(cols[0][1]), dtype=np.dtype(dtypes))
            for name, arr in cols:
                rec[name] = arr
            fh.write(rec.tobytes())
        else:
            _write_ascii_rows(fh, cols)


def _write_ascii_rows(fh, cols: list[tuple[str, np.ndarray]]) -> None:
    flat = []
    fmts = []
    for _, arr in cols:
        arr2 = arr.reshape(len(arr), -1)
        for j in range(arr2.shape[1]):
            flat.append(arr2[:, j])
            fmts.append("%d" if arr2.dtype.kind in "ui" else "%.9g")
    table = np.empty((len(flat[0]), len(flat)), dtype=object)
    for j, col in enumerate(flat):
        table[:, j] = col
    buf = io.StringIO()
    np.savetxt(buf, table, fmt=fmts, delimiter=" ")
    fh.write(buf.getvalue().encode("ascii"))


# ----------------------------------------------------------------------------------- PCD
_PCD_TYPES = {("F", 4): "f4", ("F", 8): "f8", ("U", 1): "u1", ("U", 2): "u2", ("U", 4): "u4",
              ("U", 8): "u8", ("I", 1): "i1", ("I", 2): "i2", ("I", 4): "i4", ("I", 8): "i8"}


def _lzf_decompress(data: bytes, expected: int) -> bytes:
    """LZF decompression (the codec of PCD ``binary_compressed``); pure Python, ~1 MB/s."""
    out = bytearray(expected)
    ip = op = 0
    n = len(data)
    while ip < n:
        ctrl = data[ip]
        ip += 1
        if ctrl < 32:  # literal run of ctrl + 1 bytes
            length = ctrl + 1
            if op + length > expected or ip + length > n:
                raise FormatError("corrupt LZF stream (literal overruns the buffer)")
            out[op : op + length] = data[ip : ip + length]
            op += length
            ip += length
        else:  # back reference
            length = ctrl >> 5
            ref = op - ((ctrl & 0x1F) << 8) - 1
            if length == 7:
                length += data[ip]
                ip += 1
            ref -= data[ip]
            ip += 1
            length += 2
            if ref < 0 or op + length > expected:
                raise FormatError("corrupt LZF stream (back reference out of range)")
            for k in range(length):  # may overlap: byte by byte
                out[op + k] = out[ref + k]
            op += length
    if op != expected:
        raise FormatError(f"LZF stream decoded to {op} bytes, header promises {expected}")
    return bytes(out)


def _read_pcd(path: Path) -> PointCloud:
    with open(path, "rb") as fh:
        header = _read_header(fh, path, b"", b"DATA")
        meta: dict[str, list[str]] = {}
        for line in header:
            parts = line.split()
            if parts and not parts[0].startswith("#"):
                meta[parts[0].upper()] = parts[1:]
        for key in ("FIELDS", "DATA"):
            if key not in meta:
                raise FormatError(f"PCD header has no {key} line", path)
        fields = meta["FIELDS"]
        nf = len(fields)
        sizes = [int(s) for s in meta.get("SIZE", ["4"] * nf)]
        types = meta.get("TYPE", ["F"] * nf)
        counts = [int(c) for c in meta.get("COUNT", ["1"] * nf)]
        if not (len(sizes) == len(types) == len(counts) == nf):
            raise FormatError("FIELDS, SIZE, TYPE and COUNT disagree in length", path)
        if "POINTS" in meta:
            npts = int(meta["POINTS"][0])
        else:
            w, h = int(meta.get("WIDTH", ["0"])[0]), int(meta.get("HEIGHT", ["1"])[0])
            npts = w * h
        if npts < 0:
            raise FormatError(f"the header gives a negative point count ({npts})", path)
        if npts == 0:
            raise ValidationError("the cloud is empty (the header says 0 points)", path)
        kinds = []
        for f, s, t in zip(fields, sizes, types):
            if (t.upper(), s) not in _PCD_TYPES:
                raise FormatError(f"field {f!r}: unsupported TYPE {t} SIZE {s}", path)
            kinds.append(_PCD_TYPES[(t.upper(), s)])
        mode = meta["DATA"][0].lower()
        cols: dict[str, np.ndarray] = {}
        if mode == "ascii":
            text = fh.read().decode("ascii", "replace")
            rows = [ln for ln in text.splitlines() if ln.strip()]
            if len(rows) < npts:
                raise FormatError(f"truncated: header says {npts} points, file has {len(rows)}", path)
            width = sum(counts)
            data = np.loadtxt(io.StringIO("\n".join(rows[:npts])), dtype=np.float64, ndmin=2)
            if data.shape[1] != width:
                raise FormatError(f"rows have {data.shape[1]} values, header describes {width}", path)
            j = 0
            for f, k, c in zip(fields, kinds, counts):
                block = data[:, j : j + c]
                if f in ("rgb", "rgba") and k == "f4":
                    block = block.astype(np.float32)
                elif np.dtype(k).kind in "ui":
                    block = np.where(np.isfinite(block), block, 0).astype(k)
                cols[f] = block[:, 0] if c == 1 else block
                j += c
        elif mode == "binary":
            dtype = np.dtype([(f, "<" + k, (c,)) if c > 1 else (f, "<" + k) for f, k, c in zip(fields, kinds, counts)])
            left = os.fstat(fh.fileno()).st_size - fh.tell()
            if dtype.itemsize * npts > left:  # before reading: a huge count would exhaust memory
                raise FormatError(
                    f"truncated: header says {npts} points, file has {max(left, 0) // dtype.itemsize}", path)
            raw = fh.read(dtype.itemsize * npts)
            if len(raw) < dtype.itemsize * npts:
                raise FormatError(
                    f"truncated: header says {npts} points, file has {len(raw) // dtype.itemsize}", path
                )
            arr = np.frombuffer(raw, dtype=dtype, count=npts)
            cols = {f: np.array(arr[f]) for f in fields}
        elif mode == "binary_compressed":
            sizes_hdr = fh.read(8)
            if len(sizes_hdr) < 8:
                raise FormatError("truncated: binary_compressed size header missing", path)
            csize, usize = np.frombuffer(sizes_hdr, dtype="<u4")
            comp = fh.read(int(csize))
            if len(comp) < csize:
                raise FormatError(f"truncated: {len(comp)} of {csize} compressed bytes", path)
            raw = _lzf_decompress(comp, int(usize))
            off = 0
            for f, k, c in zip(fields, kinds, counts):  # column-major: each field contiguous
                nbytes = np.dtype(k).itemsize * c * npts
                block = np.frombuffer(raw, dtype="<" + k, count=c * npts, offset=off).reshape(npts, c)
                cols[f] = block[:, 0].copy() if c == 1 else block.copy()
                off += nbytes
        else:
            raise FormatError(f"unknown PCD DATA mode {mode!r}", path)
    cols.pop("_", None)  # PCL padding fields
    return _cloud_from_columns(cols, path)


def _write_pcd(path: Path, cloud: PointCloud, binary: bool) -> None:
    cols = _columns_from_cloud(cloud, pcd=True)
    n = len(cloud)
    fields, sizes, types, counts, dtypes = [], [], [], [], []
    for name, arr in cols:
        if arr.dtype.kind not in "uif":
            arr = arr.astype(np.float64)
        t = {"f": "F", "u": "U", "i": "I"}[arr.dtype.kind]
        c = 1 if arr.ndim == 1 else arr.shape[1]
        fields.append(name)
        sizes.append(str(arr.dtype.itemsize))
        types.append(t)
        counts.append(str(c))
        dtypes.append((name, "<" + arr.dtype.str.lstrip("<>|="), (c,)) if c > 1 else (name, "<" + arr.dtype.str.lstrip("<>|=")))
    header = [
        "# .PCD v0.7 - Point Cloud Data file format (written by scan2ad, units: mm)",
        "VERSION 0.7", "FIELDS " + " ".join(fields), "SIZE " + " ".join(sizes),
        "TYPE " + " ".join(types), "COUNT " + " ".join(counts), f"WIDTH {n}", "HEIGHT 1",
        "VIEWPOINT 0 0 0 1 0 0 0", f"POINTS {n}", f"DATA {'binary' if binary else 'ascii'}",
    ]
    _write_table(path, header, cols, dtypes, binary)


# ----------------------------------------------------------------------------------- XYZ/TXT
def _read_xyz(path: Path, columns: tuple[str, ...] | None = None) -> PointCloud:
    """Whitespace- or comma-separated rows: x y z [label] or x y z nx ny nz [label].

    Lines starting with '#' or '//' and a leading non-numeric header line are skipped.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(("#", "//"))]
    if not lines:
        raise ValidationError("the cloud is empty (no data rows)", path)
    delim = "," if "," in lines[0] else None
    if not re.match(r"^[-+0-9.nNiI]", lines[0]):  # a header such as "x,y,z,label"
        lines = lines[1:]
        if not lines:
            raise ValidationError("the cloud is empty (header only)", path)
    width = len(lines[0].split(delim))
    for i, ln in enumerate(lines):
        if len(ln.split(delim)) != width:
            raise FormatError(
                f"row {i + 1} has {len(ln.split(delim))} values, the first row has {width} "
                "(truncated or mixed file?)", path,
            )
    try:
        data = np.loadtxt(io.StringIO("\n".join(lines)), dtype=np.float64, delimiter=delim, ndmin=2)
    except ValueError as exc:
        raise FormatError(f"non-numeric value: {exc}", path) from None
    if columns is None:
        layouts = {3: ("x", "y", "z"), 4: ("x", "y", "z", "label"),
                   6: ("x", "y", "z", "nx", "ny", "nz"), 7: ("x", "y", "z", "nx", "ny", "nz", "label")}
        if width not in layouts:
            raise FormatError(
                f"{width} columns per row; expected 3 (x y z), 4 (+label), 6 (+normals) or 7", path
            )
        columns = layouts[width]
    cols = {name: data[:, i] for i, name in enumerate(columns)}
    return _cloud_from_columns(cols, path)


def read_xyz(path: PathLike, columns: tuple[str, ...] | None = None) -> PointCloud:
    """Read an XYZ/TXT file with an explicit column layout (names as in PLY: x y z nx ny nz label)."""
    path = Path(path)
    if not path.is_file():
        raise FormatError("file not found", path)
    return validate_cloud(_read_xyz(path, columns), path)


def write_xyz(path: PathLike, cloud: PointCloud, with_labels: bool = True) -> Path:
    """Write "x y z [label]" rows (the Open-Industry / Real3D-AD gt layout), atomically."""
    path = Path(path)
    validate_cloud(cloud, path)
    cols = [(c, cloud.points[:, i]) for i, c in enumerate("xyz")]
    if with_labels:
        if cloud.labels is None:
            raise ValidationError("with_labels=True but the cloud has no labels", path)
        cols.append(("label", cloud.labels.astype(np.int64)))
    with atomic_open(path, "wb") as fh:
        _write_ascii_rows(fh, cols)
    return path


# ----------------------------------------------------------------------------------- NPZ
def _read_npz(path: Path) -> PointCloud:
    try:
        with np.load(path, allow_pickle=False) as z:
            if "points" not in z.files:
                raise FormatError(f"no 'points' array (arrays: {z.files})", path)
            get = lambda k: z[k] if k in z.files else None
            extra = {k[len("extra_"):]: z[k] for k in z.files if k.startswith("extra_")}
            labels = get("labels")
            if labels is not None:
                labels = _checked_labels(labels, path)
            return PointCloud(z["points"], get("normals"), get("colors"), labels, extra)
    except (OSError, EOFError) as exc:
        raise FormatError(f"not a readable NPZ archive ({exc})", path) from None
    except Exception as exc:  # zipfile.BadZipFile and friends from a truncated archive
        if isinstance(exc, (FormatError, ValidationError)):
            raise
        raise FormatError(f"not a readable NPZ archive ({type(exc).__name__}: {exc})", path) from None


def _write_npz(path: Path, cloud: PointCloud) -> None:
    arrays = {"points": cloud.points}
    for name in ("normals", "colors", "labels"):
        if getattr(cloud, name) is not None:
            arrays[name] = getattr(cloud, name)
    arrays.update({f"extra_{k}": v for k, v in cloud.extra.items()})
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


# ----------------------------------------------------------------------------------- open3d
def to_open3d(cloud: PointCloud):
    """An ``open3d.geometry.PointCloud`` with points, normals and colours (imports open3d lazily)."""
    import open3d as o3d

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.points))
    if cloud.normals is not None:
        pcd.normals = o3d.utility.Vector3dVector(cloud.normals)
    if cloud.colors is not None:
        pcd.colors = o3d.utility.Vector3dVector(cloud.colors)
    return pcd


def knn_normals(points: np.ndarray, k: int) -> np.ndarray:
    """Unit PCA normals of each point's ``k`` nearest neighbours (Open3D, one C++ pass),
    unoriented: the shared helper of registration (FRICP targets) and the detectors' features."""
    import open3d as o3d

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, dtype=np.float64)))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(int(k)))
    return np.asarray(pcd.normals).copy()


def from_open3d(pcd) -> PointCloud:
    return PointCloud(
        np.asarray(pcd.points),
        np.asarray(pcd.normals) if pcd.has_normals() else None,
        np.asarray(pcd.colors) if pcd.has_colors() else None,
    )
