"""Capture sessions (DESIGN §3): a part scanned at N turntable angles by both cameras.

Layout written by :func:`capture_session`::

    <session>/session.json                 part, rig, calibration path + sha256, pattern set,
                                           cameras, view angles, truth files (virtual rig)
    <session>/view_NNN/cam0/NN.png         frame NN of the pattern set (lossless PNG)
    <session>/view_NNN/cam1/NN.png
    <session>/view_NNN/view.json           written LAST and atomically: a view is complete
                                           only when it exists (angle, T_world_part, timing)
    <session>/truth/part_world.ply         virtual rig: the part mesh in the world frame at view 0
    <session>/truth/calibration.json       virtual rig: the true calibration (calibration.json
                                           contract of scan2ad.acquisition.calibration.model)

A rerun with the same settings resumes at the first incomplete view; a finished session is not
overwritten unless asked (``overwrite=True``), and a session folder holding a *different*
session (other part, rig, pattern set or angles) is refused likewise.

As in the seed paper's rig (003, §III-B), the table turns by equal steps (the rig's
``turntable.steps``, or ``views``) and every stop triggers the full projection/capture sequence.

:func:`capture_in_memory` is the path for the dataset builder: the same virtual capture without
PNGs, returning frames and/or decoded maps per view.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from scan2ad.acquisition.patterns import PatternSet
from scan2ad.errors import FormatError, InputError
from scan2ad.io import atomic_path, read_json, sha256_file, write_json
from scan2ad.log import get_logger, progress

log = get_logger(__name__)

SCHEMA_VERSION = 1
MESH_SUFFIXES = (".ply", ".stl", ".obj", ".off", ".glb", ".gltf")
# a part mesh file's length unit -> mm (``capture --units``); the same names as a dataset spec's
# own-part ``units``
MESH_UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4}
MIN_PART_DIAG_MM = 2.0  # smaller than this, a part is a few pixels of any rig we model
MAX_REACH_TABLES = 1.5  # a part reaching further from the axis than 1.5 table radii is refused


# --------------------------------------------------------------------------------- parts
@dataclasses.dataclass(frozen=True)
class PartSource:
    """What stands on the table: ``id`` (library name or mesh file stem), where it came from,
    and the mesh (mm) when the rig is virtual."""

    id: str
    source: str  # library | mesh | label
    seed: int = 0
    path: str = ""
    sha256: str = ""
    mesh: object = dataclasses.field(default=None, compare=False, repr=False)
    units: str = "mm"  # a mesh file's length unit (its mesh is in mm)

    def to_dict(self) -> dict:
        d = {
            "id": self.id,
            "source": self.source,
            "seed": self.seed,
            "path": self.path,
            "sha256": self.sha256,
        }
        if self.units != "mm":  # sessions of mm meshes keep the layout they always had
            d["units"] = self.units
        return d


def check_part_size(part: PartSource, rig) -> None:
    """Refuse a part mesh that the virtual rig cannot scan because of its size, naming the file,
    its size in mm and the ``--units`` that would make it fit: a bounding-box diagonal under
    :data:`MIN_PART_DIAG_MM` (a mesh in metres read as mm is a speck) or a reach from the table
    axis beyond :data:`MAX_REACH_TABLES` table radii once it rests on the table (a mesh in
    micrometres, or a part for another rig)."""
    if part.mesh is None or not rig.is_virtual:
        return
    from scan2ad.acquisition.devices.virtual import rest_on_table

    verts = np.asarray(part.mesh.vertices, float)
    T = rest_on_table(verts)
    placed = verts @ T[:3, :3].T + T[:3, 3]
    diag = float(np.linalg.norm(np.ptp(verts, axis=0)))
    reach = float(np.linalg.norm(placed[:, :2], axis=1).max())
    table = float(rig.virtual.table_radius_mm)
    if MIN_PART_DIAG_MM <= diag and reach <= MAX_REACH_TABLES * table:
        return
    f0 = MESH_UNITS_MM[part.units]
    fits = [
        f"--units {u} makes it {diag / f0 * f:.4g} mm"
        for u, f in MESH_UNITS_MM.items()
        if u != part.units
        and MIN_PART_DIAG_MM <= diag / f0 * f
        and reach / f0 * f <= MAX_REACH_TABLES * table
    ]
    what = (
        f"is {diag:.4g} mm across (bounding-box diagonal), under {MIN_PART_DIAG_MM:g} mm"
        if diag < MIN_PART_DIAG_MM
        else f"reaches {reach:.4g} mm from the turntable axis, beyond {MAX_REACH_TABLES:g}x the "
        f"{table:g} mm table radius of rig {rig.name!r}"
    )
    raise InputError(
        f"with its lengths read as {part.units}, the part {what}: give the mesh file's units"
        + (f" ({'; '.join(fits)})" if fits else " or scale the mesh"),
        part.path,
    )


def part_library():
    """``scan2ad.acquisition.parts`` when it is installed and offers ``PART_NAMES`` and
    ``make_part(name, seed)``, else None."""
    try:
        from scan2ad.acquisition import parts
    except ImportError:
        return None
    if not hasattr(parts, "PART_NAMES") or not hasattr(parts, "make_part"):
        return None
    return parts


def resolve_part(
    part: str | Path, seed: int = 0, need_mesh: bool = True, units: str = "mm"
) -> PartSource:
    """A part given as a mesh file (``.ply/.stl/.obj/...``, lengths in ``units``: scaled to mm)
    or a name of the procedural part library (``scan2ad.acquisition.parts``, when installed). On
    a real rig (``need_mesh=False``) any other string is just the part's label."""
    if units not in MESH_UNITS_MM:
        raise InputError(f"units must be one of {', '.join(MESH_UNITS_MM)}, got {units!r}")
    p = Path(part)
    if p.suffix.lower() in MESH_SUFFIXES or p.is_file():
        if not p.is_file():
            raise InputError("part mesh file not found", p)
        import trimesh

        try:
            mesh = trimesh.load(p, force="mesh")
        except Exception as exc:  # noqa: BLE001 - trimesh raises many types for unreadable files
            raise InputError(f"cannot read the part mesh: {exc}", p) from None
        if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
            raise InputError("the part mesh has no triangles", p)
        if not np.isfinite(np.asarray(mesh.vertices)).all():
            raise InputError("the part mesh has non-finite vertex coordinates", p)
        if units != "mm":
            mesh.apply_scale(MESH_UNITS_MM[units])
        return PartSource(p.stem, "mesh", seed, str(p.resolve()), sha256_file(p), mesh, units)
    parts = part_library()
    if parts is not None and str(part) in parts.PART_NAMES:
        return PartSource(str(part), "library", seed, mesh=parts.make_part(str(part), seed))
    if not need_mesh:
        return PartSource(str(part), "label", seed)
    known = (
        f"library parts: {', '.join(parts.PART_NAMES)}"
        if parts is not None
        else "the procedural part library is not installed"
    )
    raise InputError(
        f"part {str(part)!r} is neither a mesh file ({'/'.join(MESH_SUFFIXES)}) nor a "
        f"library part ({known})"
    )


# --------------------------------------------------------------------------------- session
@dataclasses.dataclass
class Session:
    root: Path
    meta: dict

    @property
    def patterns(self) -> PatternSet:
        return PatternSet.from_dict(self.meta["patterns"])

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(self.meta["cameras"])

    @property
    def angles_deg(self) -> list[float]:
        return list(self.meta["angles_deg"])

    @property
    def n_views(self) -> int:
        return len(self.meta["angles_deg"])

    def view_dir(self, i: int) -> Path:
        return self.root / f"view_{i:03d}"

    def is_complete(self, i: int) -> bool:
        return (self.view_dir(i) / "view.json").is_file()

    def completed(self) -> list[int]:
        return [i for i in range(self.n_views) if self.is_complete(i)]

    @property
    def finished(self) -> bool:
        return len(self.completed()) == self.n_views

    def view(self, i: int) -> dict:
        return read_json(self.view_dir(i) / "view.json", supported=(SCHEMA_VERSION,))

    def frames(self, i: int, cam: str) -> list[np.ndarray]:
        from scan2ad.acquisition.decode import read_frames

        return read_frames(self.view_dir(i) / cam, len(self.patterns.frames))

    def decode(self, i: int, config=None) -> dict:
        """Decoded maps of view ``i`` per camera (``decode.decode_view``)."""
        from scan2ad.acquisition.decode import DecodeConfig, decode_view

        return decode_view(self.view_dir(i), self, config or DecodeConfig())

    def truth_path(self, key: str) -> Path | None:
        truth = self.meta.get("truth") or {}
        return self.root / truth[key] if key in truth else None


def open_session(root: str | Path) -> Session:
    root = Path(root)
    path = root / "session.json"
    if not path.is_file():
        raise InputError("not a capture session (no session.json)", root)
    meta = read_json(path, supported=(SCHEMA_VERSION,))
    for key in ("part", "rig", "patterns", "cameras", "angles_deg"):
        if key not in meta:
            raise FormatError(f"session.json lacks {key!r}", path)
    return Session(root, meta)


def _session_meta(
    rig,
    rig_path: str,
    part: PartSource,
    angles: list[float],
    patterns: PatternSet,
    calibration: Path | None,
    seed: int,
) -> dict:
    from scan2ad.config import config_to_dict

    calib = None
    if calibration is not None:
        calib = {"path": str(Path(calibration).resolve()), "sha256": sha256_file(calibration)}
    meta = {
        "part": part.to_dict(),
        "rig": {
            "name": rig.name,
            "path": rig_path,
            "virtual": rig.is_virtual,
            "description": config_to_dict(rig),
        },
        "calibration": calib,
        "patterns": patterns.to_dict(),
        "frame_labels": [f.label for f in patterns.frames],
        "cameras": [c.name for c in rig.cameras],
        "image_sizes": {c.name: list(c.resolution) for c in rig.cameras},
        "angles_deg": angles,
        "seed": seed,
    }
    if rig.is_virtual:
        meta["truth"] = {"mesh": "truth/part_world.ply", "calibration": "truth/calibration.json"}
    return meta


# keys that must agree for a rerun to resume rather than be refused
_IDENTITY = ("part", "rig", "patterns", "cameras", "angles_deg", "seed")


def _same_session(a: dict, b: dict) -> list[str]:
    import json

    def norm(x):
        return json.loads(json.dumps(x, default=str))

    return [k for k in _IDENTITY if norm(a.get(k)) != norm(b.get(k))]


def _write_png(path: Path, img: np.ndarray) -> None:
    import cv2

    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise OSError(errno.EIO, "OpenCV could not encode the frame as PNG", str(path))
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(buf.tobytes())
    except OSError as exc:  # a full disk: name the frame (a failed write carries no filename)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


# compressed bytes per pixel of a frame (virtual_small: 0.43 for 8-bit frames) and render time
# per pixel of the virtual rig (7e-8 s on one core); a real rig waits for the projector and the
# table instead
_PNG_BYTES_PER_PX = {8: 0.5, 16: 1.0}
_VIRTUAL_S_PER_PX = 7e-8
_REAL_S_PER_FRAME, _REAL_S_PER_VIEW = 0.1, 2.0


def capture_need(rig, n_views: int) -> tuple[float, float]:
    """(bytes of disk, seconds) a capture of ``n_views`` views with ``rig`` takes, roughly."""
    frames = len(PatternSet.from_rig(rig).frames)
    px = [c.resolution[0] * c.resolution[1] for c in rig.cameras]
    disk = n_views * frames * sum(
        p * _PNG_BYTES_PER_PX.get(c.bit_depth, 1.0) for p, c in zip(px, rig.cameras)
    )
    if rig.is_virtual:
        seconds = n_views * frames * sum(px) * _VIRTUAL_S_PER_PX
    else:
        seconds = n_views * (frames * _REAL_S_PER_FRAME + _REAL_S_PER_VIEW)
    return float(disk), float(seconds)


def _remove_stale_temporaries(out: Path) -> int:
    """Delete the temporary files of atomic writes a killed capture left (``.<name>.*.tmp*``);
    they are never a finished frame. Returns how many were removed."""
    n = 0
    for tmp in out.rglob(".*.tmp*"):
        if tmp.is_file():
            tmp.unlink()
            n += 1
    return n


def capture_session(
    out: str | Path,
    rig,
    part: str | Path,
    views: int | None = None,
    *,
    overwrite: bool = False,
    seed: int = 0,
    part_seed: int = 0,
    calibration: str | Path | None = None,
    rig_path: str = "",
    on_view: Callable[[int, float], None] | None = None,
    units: str = "mm",
) -> Session:
    """Capture (or resume) a session of ``part`` with ``rig`` into ``out`` (module docstring).

    ``units``: the length unit of a part mesh file (scaled to mm; :func:`check_part_size` refuses
    a mesh whose size does not fit the virtual rig, naming the units that would).

    ``views``: number of equal turntable steps (default: the rig's angles). ``calibration``: the
    calibration.json to record (default: the rig's, when it exists). ``seed`` drives the virtual
    camera noise; ``part_seed`` the procedural part's variation.
    """
    from scan2ad.acquisition.devices.base import open_rig

    out = Path(out)
    if views is not None and views < 1:
        raise InputError(f"--views must be at least 1, got {views}")
    angles = [float(a) for a in rig.turntable.view_angles_deg(views)]
    patterns = PatternSet.from_rig(rig)
    part_src = resolve_part(part, part_seed, need_mesh=rig.is_virtual, units=units)
    check_part_size(part_src, rig)
    if calibration is None:
        default = rig.calibration_path()
        calibration = default if default is not None and default.is_file() else None
    elif not Path(calibration).is_file():
        raise InputError("calibration file not found", calibration)
    meta = _session_meta(
        rig, rig_path, part_src, angles, patterns, Path(calibration) if calibration else None, seed
    )

    if (out / "session.json").is_file():
        old = open_session(out)
        differs = _same_session(old.meta, meta)
        if overwrite:
            _clear_session(out, old)
        elif differs:
            raise InputError(
                f"holds a different capture session ({', '.join(differs)} differ); "
                f"pass --overwrite to replace it",
                out,
            )
        elif old.finished:
            raise InputError(
                f"the session is already complete ({old.n_views} views); pass "
                f"--overwrite to capture it again",
                out,
            )
        else:
            meta = old.meta  # resume: keep what was recorded when the session began
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        # never write into (or delete from) a folder holding something else, even with overwrite
        raise InputError(
            "the output path exists and is not a capture session; choose a new or empty folder", out
        )
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "session.json").is_file():
        write_json(out / "session.json", meta, schema_version=SCHEMA_VERSION)
    session = open_session(out)

    todo = [i for i in range(session.n_views) if not session.is_complete(i)]
    stale = _remove_stale_temporaries(out)
    if todo and todo[0] > 0:
        log.info("resuming %s at view %d (%d stale temporary files removed)", out, todo[0], stale)
    images = patterns.images()
    with open_rig(rig, part_src.mesh, seed=seed) as dev:
        if rig.is_virtual:
            _write_truth(session, rig, dev)
        for i in progress(todo, desc=f"capture {part_src.id}", total=len(todo), unit="view"):
            angle = session.angles_deg[i]
            t0 = time.perf_counter()
            frames = dev.capture_view(angle, images)
            t_cap = time.perf_counter() - t0
            vdir = session.view_dir(i)
            jobs = [
                (vdir / cam / f"{k:02d}.png", img)
                for cam, imgs in frames.items()
                for k, img in enumerate(imgs)
            ]
            # PNG compression dominates a written view; cv2.imwrite releases the GIL
            with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
                list(pool.map(lambda job: _write_png(*job), jobs))
            view = {
                "index": i,
                "angle_deg": angle,
                "frames": len(images),
                "cameras": {
                    cam: {
                        "shape": list(imgs[0].shape),
                        "dtype": str(imgs[0].dtype),
                        "white_mean": float(imgs[0].mean()),
                    }
                    for cam, imgs in frames.items()
                },
                "capture_s": round(t_cap, 3),
                "total_s": round(time.perf_counter() - t0, 3),
            }
            if rig.is_virtual:
                scene = dev.turntable.scene
                view["T_world_part"] = scene.T_world_part(angle).tolist()
            write_json(vdir / "view.json", view, schema_version=SCHEMA_VERSION)
            if on_view is not None:
                on_view(i, angle)
    return session


def _clear_session(out: Path, old: Session) -> None:
    """Remove what a capture session wrote (and only that) before capturing it again."""
    for d in sorted(out.glob("view_[0-9][0-9][0-9]")):
        shutil.rmtree(d)
    shutil.rmtree(out / "truth", ignore_errors=True)
    (out / "session.json").unlink()


def _write_truth(session: Session, rig, dev) -> None:
    from scan2ad.acquisition.calibration.model import save_calibration, true_calibration

    scene = dev.turntable.scene
    mesh_path = session.truth_path("mesh")
    if not mesh_path.is_file():
        with atomic_path(mesh_path) as tmp:
            scene.mesh_world(0.0).export(tmp, file_type="ply")
    calib_path = session.truth_path("calibration")
    if not calib_path.is_file():
        save_calibration(calib_path, true_calibration(rig))


# --------------------------------------------------------------------------------- in memory
@dataclasses.dataclass
class ViewCapture:
    """One view captured in memory: ``frames[cam]`` (list per pattern frame, or None when not
    kept) and ``decoded[cam]`` (a DecodedMap, or None when not decoded)."""

    index: int
    angle_deg: float
    T_world_part: np.ndarray
    frames: dict | None
    decoded: dict | None


def iter_capture_in_memory(
    rig,
    part_mesh,
    views: int | None = None,
    *,
    seed: int = 0,
    keep_frames: bool = False,
    decode: bool = True,
    decode_config=None,
) -> Iterator[ViewCapture]:
    """Capture a virtual session without writing images (the dataset builder's path), one
    :class:`ViewCapture` at a time so a consumer can triangulate a view and drop it (a view's
    decoded maps take ~40 MB at 1280×1024, its frames ~100 MB).

    Ground truth: ``T_world_part`` per view and ``true_calibration(rig)``.
    """
    from scan2ad.acquisition.decode import DecodeConfig, decode_frames
    from scan2ad.acquisition.devices.virtual import VirtualScene

    if not rig.is_virtual:
        raise InputError(
            f"rig {rig.name!r} is not virtual: in-memory capture renders the virtual rig"
        )
    if not keep_frames and not decode:
        raise InputError(
            "capture_in_memory: keep_frames and decode are both off, nothing to return"
        )
    patterns = PatternSet.from_rig(rig)
    images = patterns.images()
    scene = VirtualScene(rig, part_mesh, seed=seed)
    cfg = decode_config or DecodeConfig()
    angles = rig.turntable.view_angles_deg(views)
    for i, angle in enumerate(
        progress(angles, desc="capture (memory)", total=len(angles), unit="view")
    ):
        frames = scene.render_view(angle, images)
        decoded = (
            {c: decode_frames(f, patterns, cfg) for c, f in frames.items()} if decode else None
        )
        yield ViewCapture(
            i, float(angle), scene.T_world_part(angle), frames if keep_frames else None, decoded
        )


def capture_in_memory(rig, part_mesh, views: int | None = None, **kwargs) -> list[ViewCapture]:
    """All views of :func:`iter_capture_in_memory` as a list (small rigs, few views)."""
    return list(iter_capture_in_memory(rig, part_mesh, views, **kwargs))
