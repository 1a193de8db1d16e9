"""Classes of the user's own parts in ``scan2ad build``: mesh files, capture sessions, existing
reconstructions, and physically defective parts labelled by hand.

A spec's ``classes`` entry may be a table (:class:`scan2ad.datasets.spec.OwnClass`); its paths
are glob patterns relative to the spec file, resolved here at planning time (sorted; a pattern
matching nothing is an error naming it). Every file's sha256 enters the arguments of the units
that read it, so a changed file redoes exactly those units on the next build.

``meshes``
    Each file is a part instance. It is read with trimesh (ply/stl/obj), scaled from the
    class's declared ``units`` to millimetres, its size checked (a bounding-box diagonal of
    ``MIN_DIAG_MM``-``MAX_DIAG_MM`` mm; for the ``pipeline`` source it must also stand on the
    virtual rig's turntable) and made watertight by the annotation stage's
    :func:`~scan2ad.annotation.meshprep.prepare_mesh` (trimesh clean-up, then pymeshfix) or
    refused, naming the file and what is wrong — all before any unit runs. The instances then
    stand in for the part library's procedural instances: with the ``carve`` (or ``synthetic``)
    source sample ``i`` of a split takes file ``i mod F``; with the ``pipeline`` source scan
    ``j`` of a split takes file ``j mod F`` and every file is scanned at least once per split
    when the split has that many samples. ``size_jitter`` scales an instance (about its
    bounding-box centre) by a seeded factor in ``1 ± size_jitter``, per sample (carve) or per
    scan (pipeline).
``sessions``
    Each capture session (``scan2ad capture``, a real or the virtual rig) is one scan:
    :func:`reconstruct_session_scan` decodes and reconstructs it with the reconstruction stage
    (:func:`~scan2ad.reconstruction.pipeline.reconstruct_session`, the session's calibration),
    then makes its carving mesh as the ``pipeline`` source does
    (:func:`scan2ad.datasets.pipeline.carving_mesh_of_scan`). The unit's key holds the session's
    hash (:func:`session_sha256`: every frame, ``view.json`` and ``session.json``), so each
    session is reconstructed once per output folder and again only when it changed. Samples
    are then drawn from the scans by :func:`scan2ad.datasets.pipeline.pipeline_sample` — the
    measured points resampled, defects carved into the reconstruction's mesh and applied to the
    measured points, normals the measured cloud's — exactly as for the ``pipeline`` source.
``clouds``
    Folders of an existing reconstruction (``part.ply`` with normals, and ``mesh.ply``), one
    scan each; the mesh is size-checked against ``units`` and repaired or refused as mesh
    files are. :func:`prepare_cloud_scan` takes them (scaled from ``units``) straight to the
    carving mesh, then samples as for sessions.

Sessions and clouds divide between train and test (a scan never serves both): the train split
gets ``round(S * n_train / (n_train + n_test))`` of the ``S`` scans (at least one each, so a
class needs two), chosen by a seeded permutation; samples of a split take its scans
round-robin.

``real_anomalies = [{ path, type }]``: labelled samples of parts that are physically defective
(a sample folder ``cloud.ply`` + ``labels.npy`` as ``scan2ad label`` saves and the CloudCompare
import writes, or a cloud file with its labels). :func:`real_anomaly_sample` writes each as one
more anomalous test sample of its type, numbered after the carved ones
(``<class>_<Type>_NNN``), so the open-set splits draw their known samples from real and carved
ones alike. Its points are the measured ones: resampled like a pipeline sample
(:func:`~scan2ad.datasets.pipeline.resample_scan`, labels following their points) only when it
holds more than the sample's point count, and turned by the same small random placement
rotation. Nothing registers it: it must be in the frame of the class's other samples (captured
on the same rig as the class's sessions). The manifest marks it ``provenance.source = "real"``
and ``stats.csv`` counts it apart (``real_anomalous_samples``).

Every own-part sample's provenance names its source file (relative to the spec's folder) and
that file's sha256 (``source_file``, ``source_sha256``; a session's is its hash).
"""

from __future__ import annotations

import functools
import glob
import hashlib
from pathlib import Path

import numpy as np

from scan2ad.acquisition.session import MIN_PART_DIAG_MM
from scan2ad.errors import InputError, Scan2adError
from scan2ad.io import sha256_file
from scan2ad.log import get_logger

log = get_logger(__name__)

MIN_DIAG_MM, MAX_DIAG_MM = MIN_PART_DIAG_MM, 1000.0  # capture refuses the same specks
MESH_FILES = (".ply", ".stl", ".obj")
OWN_SCAN_ROLE = 300  # seed role of a class's train/test division of its sessions or clouds


# ------------------------------------------------------------------------------ resolving paths
def resolve(spec, cls: str, patterns, what: str) -> list[Path]:
    """The sorted paths ``patterns`` (relative to the spec's folder) match; every pattern must
    match something."""
    found: set[Path] = set()
    for pat in patterns:
        p = Path(pat)
        full = p if p.is_absolute() else spec.root / p
        hits = [Path(h) for h in glob.glob(str(full))]
        if not hits:
            raise InputError(f"class {cls!r}: {what} pattern {pat!r} matches nothing "
                             f"(relative to {spec.root})")
        found.update(h.resolve() for h in hits)
    return sorted(found)


def source_paths(spec) -> dict[str, Path]:
    """Every file or folder the spec's own classes read, {what: path} (:func:`scan2ad.outputs.check_apart`
    keeps the build's output folder apart from them: a rebuild with --overwrite would otherwise
    replace the user's meshes, sessions or clouds along with the old dataset)."""
    found: dict[str, Path] = {}
    for c in spec.classes:
        if isinstance(c, str):
            continue
        for what in ("meshes", "sessions", "clouds"):
            for p in resolve(spec, c.name, getattr(c, what), what):
                found[f"the {what} entry {p.name!r} of class {c.name!r}"] = p
        for r in c.real_anomalies:
            p = Path(r.path)
            found[f"the real anomaly {p.name!r} of class {c.name!r}"] = p if p.is_absolute() else spec.root / p
    return found


def relative(spec, path: Path) -> str:
    """``path`` relative to the spec's folder where it lies inside it (manifest provenance)."""
    try:
        return Path(path).resolve().relative_to(spec.root).as_posix()
    except ValueError:
        return Path(path).resolve().as_posix()


# ------------------------------------------------------------------------------------- meshes
@functools.lru_cache(maxsize=32)
def _prepared(path: str, sha256: str, scale: float):
    """The file's mesh in mm, watertight (the cache key holds the content hash)."""
    from scan2ad.annotation.meshprep import load_mesh, prepare_mesh

    mesh = load_mesh(path)
    mesh.apply_scale(scale)
    mesh, _ = prepare_mesh(mesh, path)
    return mesh


def check_mesh(path: Path, scale: float, units: str, on_rig: bool) -> dict:
    """Read, scale and repair one mesh file, or refuse it naming the file and the problem."""
    if path.suffix.lower() not in MESH_FILES:
        raise InputError(f"not a mesh file the builder reads ({'/'.join(MESH_FILES)})", path)
    sha = sha256_file(path)
    from scan2ad.annotation.meshprep import load_mesh, prepare_mesh

    raw = load_mesh(path)
    diag = float(np.linalg.norm(raw.extents)) * scale
    if not MIN_DIAG_MM <= diag <= MAX_DIAG_MM:
        hint = ", ".join(f"units = '{u}' makes it {diag / scale * f:.4g} mm"
                         for u, f in (("mm", 1.0), ("cm", 10.0), ("m", 1000.0), ("in", 25.4))
                         if u != units and MIN_DIAG_MM <= diag / scale * f <= MAX_DIAG_MM)
        raise InputError(f"the part is {diag:.4g} mm across (bounding-box diagonal) with units = "
                         f"'{units}', outside {MIN_DIAG_MM:g}-{MAX_DIAG_MM:g} mm: declare the "
                         f"file's units{' (' + hint + ')' if hint else ''}", path)
    if on_rig:
        from scan2ad.acquisition.rig import load_rig

        radius = load_rig("virtual").virtual.table_radius_mm
        half = 0.5 * float(np.linalg.norm(raw.extents[:2])) * scale
        if half > radius:
            raise InputError(f"the part spans {2 * half:.1f} mm across the table, more than the "
                             f"virtual rig's turntable ({2 * radius:g} mm): it cannot be scanned "
                             "(source = 'pipeline'); check its units or use source = 'carve'", path)
    _, rep = prepare_mesh(raw.copy().apply_scale(scale), path)
    if rep.method != "none":
        log.info("%s: repaired with %s (%s)", path, rep.method, "; ".join(rep.problems))
    return {"mesh": str(path), "sha256": sha, "scale": scale, "repair": rep.method,
            "diag_mm": round(diag, 6)}


@functools.lru_cache(maxsize=64)
def _checked(path: str, sha_key: tuple, scale: float, units: str, on_rig: bool) -> dict:
    return check_mesh(Path(path), scale, units, on_rig)


def mesh_instances(spec, cls: str) -> list[dict]:
    """The part instances (one dict per mesh file, JSON-able unit arguments) of class ``cls``."""
    from scan2ad.datasets.spec import UNITS_MM

    own = spec.own(cls)
    scale = UNITS_MM[own.units]
    out = []
    for path in resolve(spec, cls, own.meshes, "meshes"):
        st = path.stat()
        info = dict(_checked(str(path), (st.st_size, st.st_mtime_ns), scale, own.units,
                             spec.source == "pipeline"))
        info.update(size_jitter=own.size_jitter, source_file=relative(spec, path))
        out.append(info)
    return out


def load_part_mesh(part: dict, seed: int):
    """The instance's mesh (mm, watertight), scaled by its seeded size jitter."""
    mesh = _prepared(part["mesh"], part["sha256"], float(part["scale"])).copy()
    jitter = float(part.get("size_jitter", 0.0))
    if jitter > 0:
        f = 1.0 + jitter * np.random.default_rng([int(seed), 17]).uniform(-1.0, 1.0)
        centre = mesh.bounds.mean(axis=0)
        mesh.apply_translation(-centre)
        mesh.apply_scale(f)
        mesh.apply_translation(centre)
    return mesh


def mesh_provenance(part: dict | None) -> dict:
    if not part:
        return {}
    return {"source_file": part["source_file"], "source_sha256": part["sha256"],
            "units_scale": part["scale"], "size_jitter": part.get("size_jitter", 0.0)}


# ----------------------------------------------------------------------------------- sessions
def session_sha256(folder: str | Path) -> str:
    """Hash of a capture session: ``session.json``, every view's ``view.json`` and frames (names
    and contents, sorted); the preview PNG and the truth/ folder are left out."""
    folder = Path(folder)
    files = [folder / "session.json"]
    for v in sorted(folder.glob("view_*")):
        files += [v / "view.json"] + sorted(v.glob("cam*/*.png"))
    h = hashlib.sha256()
    for f in files:
        if f.is_file():
            h.update(f.relative_to(folder).as_posix().encode() + b"\0")
            h.update(sha256_file(f).encode() + b"\n")
    return h.hexdigest()


def session_scans(spec, cls: str) -> list[dict]:
    from scan2ad.acquisition.session import open_session

    out = []
    for path in resolve(spec, cls, spec.own(cls).sessions, "sessions"):
        s = open_session(path)  # names the folder when it is not a session
        if not s.finished:
            raise InputError(f"class {cls!r}: the capture session is incomplete ({len(s.completed())} "
                             f"of {s.n_views} views): rerun scan2ad capture to finish it", path)
        out.append({"kind": "session", "path": str(path), "sha256": session_sha256(path),
                    "source_file": relative(spec, path)})
    return out


def cloud_scans(spec, cls: str) -> list[dict]:
    from scan2ad.datasets.spec import UNITS_MM

    out = []
    for path in resolve(spec, cls, spec.own(cls).clouds, "clouds"):
        if not path.is_dir() or not (path / "part.ply").is_file() or not (path / "mesh.ply").is_file():
            raise InputError(f"class {cls!r}: a clouds entry must be a reconstruction folder holding "
                             "part.ply and mesh.ply (as scan2ad reconstruct writes)", path)
        # the mesh's size against its declared units, and its repair (or refusal), now
        mesh = path / "mesh.ply"
        st = mesh.stat()
        _checked(str(mesh), (st.st_size, st.st_mtime_ns), UNITS_MM[spec.own(cls).units],
                 spec.own(cls).units, False)
        out.append({"kind": "cloud", "path": str(path), "sha256": sha256_file(path / "part.ply"),
                    "mesh_sha256": sha256_file(mesh),
                    "scale": UNITS_MM[spec.own(cls).units],
                    "source_file": relative(spec, path / "part.ply")})
    return out


# --------------------------------------------------------------------------------------- units
def _scan_result(root: Path, scan_id: str, cls: str, recon: Path, views: int, rig: str,
                 origin: dict, carving: dict) -> dict:
    return {"scan": scan_id, "class": cls, "part_seed": 0, "views": views, "rig": rig,
            "recon": recon.relative_to(root).as_posix(), "origin": origin, **carving}


def reconstruct_session_scan(out: str, scan_id: str, cls: str, origin: dict, points: int,
                             poisson_depth: int) -> dict:
    """Unit: reconstruct one capture session (its own calibration) and make its carving mesh."""
    import dataclasses as dc

    from scan2ad.acquisition.session import open_session
    from scan2ad.datasets.pipeline import _one_cv2_thread, carving_mesh_of_scan, scan_dir
    from scan2ad.reconstruction.pipeline import ReconstructConfig, reconstruct_session

    root = Path(out)
    if session_sha256(origin["path"]) != origin["sha256"]:
        raise InputError("the capture session changed after the build was planned: rerun the build",
                         origin["path"])
    session = open_session(origin["path"])
    cfg = ReconstructConfig(mesh=False)  # the mesh is made on one thread (carving_mesh_of_scan)
    cfg = dc.replace(cfg, cleanup=dc.replace(cfg.cleanup, target_points=points, poisson_depth=poisson_depth))
    recon = scan_dir(out, scan_id) / "recon"
    with _one_cv2_thread():
        reconstruct_session(origin["path"], recon, config=cfg)
    carving = carving_mesh_of_scan(root, recon, poisson_depth)
    return _scan_result(root, scan_id, cls, recon, session.n_views,
                        str(session.meta.get("rig", {}).get("name", "")), origin, carving)


def prepare_cloud_scan(out: str, scan_id: str, cls: str, origin: dict) -> dict:
    """Unit: an existing reconstruction (``part.ply`` + ``mesh.ply``) as a scan to carve: the
    cloud in mm (normals: its own, else the mesh's at the nearest surface point) and the
    watertight carving mesh."""
    from scan2ad.annotation.meshprep import load_mesh, prepare_mesh
    from scan2ad.datasets.pipeline import scan_dir, scanned_area_fraction
    from scan2ad.io import atomic_path, write_json
    from scan2ad.pointcloud import PointCloud, read_cloud, write_cloud

    root, folder = Path(out), Path(origin["path"])
    for name, key in (("part.ply", "sha256"), ("mesh.ply", "mesh_sha256")):
        if sha256_file(folder / name) != origin[key]:
            raise InputError("changed after the build was planned: rerun the build", folder / name)
    scale = float(origin["scale"])
    cloud = read_cloud(folder / "part.ply")
    if len(cloud) < 100:
        raise InputError(f"only {len(cloud)} points", folder / "part.ply")
    mesh, repair = prepare_mesh(load_mesh(folder / "mesh.ply").apply_scale(scale), folder / "mesh.ply")
    pts = cloud.points * scale
    nrm = cloud.normals
    if nrm is None or not np.isfinite(nrm).all():
        _, _, fid = mesh.nearest.on_surface(pts)
        nrm = np.asarray(mesh.face_normals)[fid]
    recon = scan_dir(out, scan_id) / "recon"
    write_cloud(recon / "clean.ply", PointCloud(pts, normals=np.asarray(nrm, np.float64)))
    with atomic_path(recon / "carve_mesh.ply") as tmp:
        mesh.export(tmp, file_type="ply")
    scanned = scanned_area_fraction(mesh, pts)
    write_json(recon / "carve_mesh.json", {"repair": repair.method, "scanned_area_fraction": scanned,
                                           "area_mm2": float(mesh.area)})
    files = [[(recon / n).relative_to(root).as_posix(), sha256_file(recon / n)]
             for n in ("clean.ply", "carve_mesh.ply")]
    return _scan_result(root, scan_id, cls, recon, 0, "", origin,
                        {"files": files, "scanned_area_fraction": scanned, "repair": repair.method,
                         "clean_points": len(pts)})


def labelled_sha256(path: str | Path) -> str:
    """The hash of a labelled sample: of its file, or for a folder of cloud.ply and labels.npy
    together (names and contents); a labels.npy beside a cloud file counts too."""
    path = Path(path)
    files = ([path / "cloud.ply", path / "labels.npy"] if path.is_dir()
             else [path, path.with_name(path.stem + ".labels.npy")])
    files = [f for f in files if f.is_file()]
    if len(files) == 1:
        return sha256_file(files[0])
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + sha256_file(f).encode() + b"\n")
    return h.hexdigest()


def real_anomaly_sample(out: str, relpath: str, gt_relpath: str, cls: str, defect: str,
                        real: dict, seed: list[int], params: dict) -> dict:
    """Unit: a hand-labelled sample of a physically defective part, as one anomalous test sample."""
    from scan2ad.annotation.review import load_labelled
    from scan2ad.datasets.builder import _random_rotation, sample_record
    from scan2ad.datasets.pipeline import resample_scan
    from scan2ad.pointcloud import PointCloud, write_cloud, write_xyz

    root, path = Path(out), Path(real["path"])
    if labelled_sha256(path) != real["sha256"]:
        raise InputError("changed after the build was planned: rerun the build", path)
    pts, labels, _ = load_labelled(path)
    pts = np.asarray(pts, np.float64) * float(real["scale"])
    if not labels.any():
        raise InputError("a real anomaly without any point labelled anomalous (label it with "
                         "scan2ad label, or import the CloudCompare labels)", path)
    rng = np.random.default_rng(seed)
    n = round(params["points"] * (1 + params["points_jitter"] * rng.uniform(-1, 1)))
    measured = len(pts)
    if measured > n:
        keep = resample_scan(pts, n, rng)
        pts, labels = pts[keep], labels[keep]
        if not labels.any():
            raise Scan2adError(f"{path}: resampling {measured} to {n} points kept no labelled point "
                               "(label a larger region, or raise points)")
    pts = pts @ _random_rotation(params["max_rotation_deg"], rng).T
    pts = pts.astype(np.float32).astype(np.float64)
    labels = labels.astype(np.uint8)
    write_cloud(root / relpath, PointCloud(pts))
    write_xyz(root / gt_relpath, PointCloud(pts, labels=labels))
    rec = sample_record(root, relpath, gt_relpath, cls, "test", defect, pts, labels)
    rec["provenance"] = {"source": "real", "part": cls, "seed": list(seed), "session": None,
                         "source_file": real["source_file"], "source_sha256": real["sha256"],
                         "measured_points": measured, "defects": []}
    return rec


def real_anomalies(spec, cls: str) -> list[dict]:
    """The class's real anomalies, checked and hashed (one dict per entry, in spec order)."""
    from scan2ad.datasets.spec import UNITS_MM

    own = spec.own(cls)
    out = []
    for r in own.real_anomalies:
        p = Path(r.path)
        path = (p if p.is_absolute() else spec.root / p).resolve()
        if not path.exists():
            raise InputError(f"class {cls!r}: real anomaly {r.path!r} not found (relative to "
                             f"{spec.root})", path)
        # sessions are in mm whatever units says (the spec check refuses other units there)
        out.append({"path": str(path), "type": r.type, "sha256": labelled_sha256(path),
                    "scale": UNITS_MM[own.units], "source_file": relative(spec, path)})
    return out


# ------------------------------------------------------------------------------------ planning
def divide_scans(spec, cls: str, scans: list[dict], n_train: int, n_test: int) -> dict[str, list[dict]]:
    """Train and test scans of a class of sessions or clouds (see the module docstring)."""
    import zlib

    s = len(scans)
    need = (n_train > 0) + (n_test > 0)
    if s < need:
        raise InputError(f"class {cls!r}: {s} scan(s), but train and test never share a scan: "
                         f"give at least {need}")
    k = round(s * n_train / max(n_train + n_test, 1))
    k = min(max(k, 1 if n_train else 0), s - (1 if n_test else 0))
    order = np.random.default_rng([spec.seed, zlib.crc32(cls.encode()), OWN_SCAN_ROLE]).permutation(s)
    return {"train": [scans[i] for i in sorted(order[:k])], "test": [scans[i] for i in sorted(order[k:])]}


def plan_measured_units(spec, out_s: str, samples, base: dict):
    """(scan units, sample units) of the classes of sessions and clouds among ``samples``."""
    import hashlib as _h

    from scan2ad.datasets.pipeline import pipeline_sample
    from scan2ad.executors import Unit

    scan_units: dict[str, Unit] = {}
    sample_units = []
    for cls in spec.class_names:
        mine = [p for p in samples if p.cls == cls]
        if not mine:
            continue
        kind = spec.kind(cls)
        scans = session_scans(spec, cls) if kind == "sessions" else cloud_scans(spec, cls)
        by_split = {sp: [p for p in mine if p.split == sp] for sp in ("train", "test")}
        div = divide_scans(spec, cls, scans, len(by_split["train"]), len(by_split["test"]))
        for split, plist in by_split.items():
            keys = []
            for origin in div[split]:
                tag = _h.sha256(f"{origin['path']}\0{origin['sha256']}".encode()).hexdigest()[:12]
                sid = f"{cls}/{origin['kind']}_{tag}"
                if sid not in scan_units:
                    if kind == "sessions":
                        u = Unit(reconstruct_session_scan,
                                 {"out": out_s, "scan_id": sid, "cls": cls, "origin": origin,
                                  "points": spec.points, "poisson_depth": spec.poisson_depth},
                                 description=f"reconstruct session {origin['source_file']}")
                    else:
                        u = Unit(prepare_cloud_scan, {"out": out_s, "scan_id": sid, "cls": cls,
                                                      "origin": origin},
                                 description=f"prepare cloud {origin['source_file']}")
                    scan_units[sid] = u
                keys.append(sid)
            for i, p in enumerate(plist):
                sid = keys[i % len(keys)]
                sample_units.append(Unit(
                    pipeline_sample,
                    {"out": out_s, "relpath": p.relpath, "gt_relpath": p.gt_relpath, "cls": p.cls,
                     "split": p.split, "defect": p.defect, "seed": list(p.seed), "params": dict(base),
                     "scan_id": sid},
                    description=f"sample {p.relpath} (scan {sid})", deps=(scan_units[sid].key,)))
    return list(scan_units.values()), sample_units


def plan_real_units(spec, out_s: str, samples, base: dict) -> list:
    from scan2ad.executors import Unit

    units = []
    for p in samples:
        units.append(Unit(real_anomaly_sample,
                          {"out": out_s, "relpath": p.relpath, "gt_relpath": p.gt_relpath, "cls": p.cls,
                           "defect": p.defect, "real": dict(p.real), "seed": list(p.seed),
                           "params": dict(base)},
                          description=f"real anomaly {p.relpath} ({p.real['source_file']})"))
    return units
