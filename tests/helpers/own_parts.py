"""A user's own parts, made here rather than taken from the part library: gear-, bushing- and
screw-like meshes (watertight, millimetres, resting on z = 0) and the files a user would have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh


def gear(teeth: int = 14, r_root: float = 12.0, r_tip: float = 14.5, bore: float = 4.0,
         thick: float = 6.0) -> trimesh.Trimesh:
    """A spur-gear-like disc: square teeth around a bored hub, extruded by hand (the outer and
    bore rings share their angles, so top and bottom are quads between them)."""
    n = teeth * 4
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r_out = np.where(np.arange(n) % 4 < 2, r_tip, r_root)

    def ring(r, z):
        return np.c_[r * np.cos(a), r * np.sin(a), np.full(n, z)]

    v = np.vstack([ring(r_out, 0), ring(r_out, thick), ring(np.full(n, bore), 0),
                   ring(np.full(n, bore), thick)])
    i, j = np.arange(n), (np.arange(n) + 1) % n
    ob, ot, ib, it = 0, n, 2 * n, 3 * n
    faces = []
    for q0, q1, q2, q3 in ((ob + i, ob + j, ot + j, ot + i), (ib + j, ib + i, it + i, it + j),
                           (ot + i, ot + j, it + j, it + i), (ob + j, ob + i, ib + i, ib + j)):
        faces += [np.c_[q0, q1, q2], np.c_[q0, q2, q3]]
    m = trimesh.Trimesh(v, np.vstack(faces), process=True)
    trimesh.repair.fix_normals(m)
    return m


def bushing(r_in: float = 6.0, r_out: float = 10.0, height: float = 14.0) -> trimesh.Trimesh:
    m = trimesh.creation.annulus(r_min=r_in, r_max=r_out, height=height, sections=64)
    m.apply_translation((0, 0, height / 2))
    return m


def screw(turns: int = 10, pitch: float = 2.0) -> trimesh.Trimesh:
    """A revolved screw: a ridged shaft (the thread as rings) under a round head."""
    prof = [(0.0, 0.0)]
    for k in range(turns):
        prof += [(3.0, pitch * k), (3.6, pitch * k + pitch / 2)]
    top = pitch * turns
    prof += [(3.0, top), (6.5, top), (6.5, top + 4.0), (0.0, top + 4.0)]
    return trimesh.creation.revolve(np.array(prof), sections=48)


MAKERS = {"gear": gear, "bushing": bushing, "screw": screw}


def write_parts(folder: Path, suffixes=(".stl", ".ply", ".obj"), scale: float = 1.0) -> dict[str, Path]:
    """The three parts as files ``folder/<name><suffix>`` (scaled by ``scale``)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for (name, make), suffix in zip(MAKERS.items(), suffixes):
        m = make()
        m.apply_scale(scale)
        out[name] = folder / f"{name}{suffix}"
        m.export(out[name])
    return out


def write_reconstruction(folder: Path, mesh: trimesh.Trimesh, n: int, seed: int,
                         noise_mm: float = 0.02) -> Path:
    """What ``scan2ad reconstruct`` leaves of a part, faked from its mesh: ``part.ply`` (surface
    samples with noise along the normal, normals) and ``mesh.ply``."""
    from scan2ad.pointcloud import PointCloud, write_cloud

    folder.mkdir(parents=True, exist_ok=True)
    pts, face = trimesh.sample.sample_surface_even(mesh, n, seed=seed)
    nrm = mesh.face_normals[face]
    pts = pts + nrm * np.random.default_rng(seed).normal(0, noise_mm, (len(pts), 1))
    write_cloud(folder / "part.ply", PointCloud(np.asarray(pts), normals=np.asarray(nrm)))
    mesh.export(folder / "mesh.ply")
    return folder
