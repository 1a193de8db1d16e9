"""Loading part meshes and repairing them before carving.

Procedural parts (``scan2ad.acquisition.parts``) are watertight; meshes reconstructed from real
scans (Poisson ``mesh.ply``) often are not: duplicate vertices, degenerate faces, small holes,
non-manifold edges. Carving needs a closed 2-manifold (booleans subtract volumes; labels measure
distance to the original surface), so a mesh that is not watertight gets a repair attempt:
trimesh's cheap clean-up first (merge vertices, drop degenerate/duplicate faces, fill small
holes, fix winding), then pymeshfix (Attene's MeshFix: removes non-manifold elements and
self-intersections, closes holes) if that was not enough. If neither yields a watertight
mesh the caller gets a :class:`MeshRepairError` saying what is wrong.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from scan2ad.errors import FormatError, InputError
from scan2ad.log import get_logger

log = get_logger(__name__)

MESH_SUFFIXES = (".ply", ".stl", ".obj", ".off", ".glb", ".gltf")


class MeshRepairError(InputError):
    """The mesh is not a closed manifold and could not be repaired."""


@dataclasses.dataclass(frozen=True)
class RepairReport:
    """What :func:`prepare_mesh` found and did."""

    watertight_before: bool
    method: str  # "none", "trimesh" or "pymeshfix"
    faces_before: int
    faces_after: int
    problems: tuple[str, ...]


def load_mesh(path: str | Path):
    """Read a triangle mesh (ply/stl/obj/off/glb) with trimesh, as one ``trimesh.Trimesh``."""
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise InputError("mesh file not found", path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(f"not a mesh file type scan2ad reads ({', '.join(MESH_SUFFIXES)})", path)
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # noqa: BLE001 - trimesh's loaders raise many types on corrupt files
        raise FormatError(f"could not read mesh: {exc}", path) from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise FormatError("no triangles in file (a point cloud? carve needs a mesh)", path)
    if not np.all(np.isfinite(mesh.vertices)):
        raise FormatError("mesh has non-finite vertex coordinates", path)
    return mesh


def describe_problems(mesh) -> tuple[str, ...]:
    """Human-readable list of what keeps ``mesh`` from being a closed manifold."""
    import trimesh

    problems = []
    edges = mesh.edges_sorted
    groups = trimesh.grouping.group_rows(edges, require_count=None)
    counts = np.array([len(g) for g in groups])
    if (counts == 1).any():
        problems.append(f"{int((counts == 1).sum())} boundary (open) edges")
    if (counts > 2).any():
        problems.append(f"{int((counts > 2).sum())} non-manifold edges (shared by >2 faces)")
    if not mesh.is_winding_consistent:
        problems.append("inconsistent face winding")
    degenerate = int((mesh.area_faces <= 1e-12).sum())
    if degenerate:
        problems.append(f"{degenerate} degenerate faces")
    return tuple(problems)


def prepare_mesh(mesh, where: str | Path | None = None):
    """A watertight copy of ``mesh`` and a :class:`RepairReport`; raises MeshRepairError."""
    import trimesh

    faces_before = len(mesh.faces)
    if mesh.is_watertight and mesh.is_winding_consistent:
        m = mesh.copy()
        if m.volume < 0:
            m.invert()
        return m, RepairReport(True, "none", faces_before, len(m.faces), ())
    problems = describe_problems(mesh)
    log.info("mesh %s is not watertight (%s): repairing", where or "", "; ".join(problems))

    m = trimesh.Trimesh(mesh.vertices.copy(), mesh.faces.copy(), process=True)
    m.update_faces(m.nondegenerate_faces())
    m.update_faces(m.unique_faces())
    m.remove_unreferenced_vertices()
    trimesh.repair.fix_winding(m)
    trimesh.repair.fill_holes(m)
    trimesh.repair.fix_normals(m)
    if m.is_watertight and m.is_winding_consistent and len(m.faces) >= 0.9 * faces_before:
        return m, RepairReport(False, "trimesh", faces_before, len(m.faces), problems)

    import pymeshfix

    v, f = pymeshfix.clean_from_arrays(np.asarray(mesh.vertices, dtype=float),
                                       np.asarray(mesh.faces, dtype=np.int32))
    if len(f) > 0:
        m = trimesh.Trimesh(v, f, process=True)
        trimesh.repair.fix_normals(m)
        # MeshFix keeps only the largest component; refuse when it threw most of the part away
        if m.is_watertight and len(m.faces) >= 0.5 * faces_before:
            return m, RepairReport(False, "pymeshfix", faces_before, len(m.faces), problems)
    raise MeshRepairError(
        "mesh is not a closed manifold and repair failed ("
        + "; ".join(problems or ("not watertight",))
        + f"); trimesh and pymeshfix kept {len(f)} of {faces_before} faces. Re-mesh the part "
        "(e.g. Poisson reconstruction with a closed surface) and try again",
        where,
    )
