"""Small synthetic Open-Industry-layout datasets made from geometry, in seconds.

For tests and quick experiments: parametric parts (a ring, a washer, a bracket) sampled on their
surface with intra-class variation, and analytic surface defects (Bump, Dent, Scratch) whose
per-point labels are exact. This is not the Open-Industry pipeline (capture, reconstruction,
Blender carving: ``scan2ad build``); it exists so every detector can be trained and scored on
real geometry — a test can then assert AUROC well above 0.5.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from scan2ad.pointcloud import PointCloud, write_cloud, write_xyz

SHAPES = ("ring", "washer", "bracket")
DEFECTS = ("Bump", "Dent", "Scratch")


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    classes: tuple[str, ...] = SHAPES
    n_train: int = 10
    n_test_normal: int = 6
    n_per_defect: int = 4
    defects: tuple[str, ...] = DEFECTS
    points: int = 2048
    noise_mm: float = 0.02
    defect_radius_mm: float = 2.5
    defect_depth_mm: float = 0.9
    label_threshold_mm: float = 0.08
    max_rotation_deg: float = 3.0
    seed: int = 0


def _part_mesh(shape: str, rng: np.random.Generator):
    """A watertight trimesh of ``shape`` with ±5 % intra-class variation (sizes in mm)."""
    import trimesh

    s = 1.0 + rng.uniform(-0.05, 0.05)
    if shape == "ring":
        return trimesh.creation.torus(major_radius=10.0 * s, minor_radius=3.0 * s,
                                      major_sections=96, minor_sections=32)
    if shape == "washer":
        return trimesh.creation.annulus(r_min=5.0 * s, r_max=12.0 * s, height=3.0 * s, sections=96)
    if shape == "bracket":
        a = trimesh.creation.box((24.0 * s, 10.0, 3.0))
        b = trimesh.creation.box((3.0, 10.0, 14.0 * s))
        b.apply_translation((12.0 * s - 1.5, 0, 7.0 * s - 1.5))
        return trimesh.boolean.union([a, b], engine="manifold")
    raise ValueError(f"unknown synthetic shape {shape!r} (known: {SHAPES})")


def _sample_surface(mesh, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    pts, face = trimesh.sample.sample_surface(mesh, n, seed=int(rng.integers(2**31)))
    return np.asarray(pts), np.asarray(mesh.face_normals[face])


def _apply_defect(pts, nrm, kind, spec: SyntheticSpec, rng) -> np.ndarray:
    """Displace points in place around a random surface point; return the displacement (mm)."""
    c = int(rng.integers(len(pts)))
    centre, normal = pts[c], nrm[c]
    r = spec.defect_radius_mm * rng.uniform(0.85, 1.15)
    depth = spec.defect_depth_mm * rng.uniform(0.85, 1.15)
    d = pts - centre
    if kind in ("Bump", "Dent"):
        dist = np.linalg.norm(d, axis=1)
        prof = np.where(dist < r, 0.5 * (1 + np.cos(np.pi * dist / r)), 0.0)  # smooth raised cosine
        sign = 1.0 if kind == "Bump" else -1.0
        disp = sign * depth * prof
    elif kind == "Scratch":
        t = np.cross(normal, rng.normal(size=3))
        t /= np.linalg.norm(t)
        along = d @ t
        across = np.linalg.norm(d - np.outer(along, t), axis=1)
        width = 0.35 * r
        prof = np.where((np.abs(along) < 2.0 * r) & (across < width),
                        0.5 * (1 + np.cos(np.pi * across / width)), 0.0)
        disp = -0.7 * depth * prof
    else:
        raise ValueError(f"unknown synthetic defect {kind!r} (known: {DEFECTS})")
    pts += disp[:, None] * nrm
    return disp


def _random_rotation(max_deg: float, rng) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    return Rotation.from_rotvec(axis * np.deg2rad(rng.uniform(0, max_deg))).as_matrix()


def make_sample(shape: str, defect: str | None, spec: SyntheticSpec, rng) -> PointCloud:
    mesh = _part_mesh(shape, rng)
    pts, nrm = _sample_surface(mesh, spec.points, rng)
    labels = np.zeros(len(pts), np.uint8)
    if defect is not None:
        disp = _apply_defect(pts, nrm, defect, spec, rng)
        labels = (np.abs(disp) > spec.label_threshold_mm).astype(np.uint8)
    pts = pts + rng.normal(scale=spec.noise_mm, size=pts.shape)
    R = _random_rotation(spec.max_rotation_deg, rng)
    return PointCloud(pts @ R.T, nrm @ R.T, labels=labels)


def make_synthetic_dataset(root: str | Path, spec: SyntheticSpec = SyntheticSpec(),
                           package: bool = False) -> Path:
    """Write an Open-Industry-layout dataset (pcd + gt txt) under ``root``; return ``root``.

    With ``package=True`` the folder is completed by :func:`scan2ad.datasets.package.
    package_dataset`: manifest.json, open-set splits (k chosen to fit ``n_per_defect``),
    stats.csv and README.md (no gallery, to stay fast) and passes ``scan2ad dataset validate``.
    Off by default: callers that write their own split files into ``splits/<class>/`` keep
    working unchanged."""
    root = Path(root)
    for ci, cls in enumerate(spec.classes):
        rng = np.random.default_rng([spec.seed, ci])
        cdir = root / cls
        for i in range(spec.n_train):
            c = make_sample(cls, None, spec, rng)
            write_cloud(cdir / "train" / f"{cls}_{i + 1:03d}.pcd", PointCloud(c.points, c.normals))
        for i in range(spec.n_test_normal):
            c = make_sample(cls, None, spec, rng)
            write_cloud(cdir / "test" / f"{cls}_{i + 1:03d}.pcd", PointCloud(c.points, c.normals))
        for kind in spec.defects:
            for i in range(spec.n_per_defect):
                c = make_sample(cls, kind, spec, rng)
                name = f"{cls}_{kind}_{i + 1:03d}"
                write_cloud(cdir / "test" / f"{name}.pcd", PointCloud(c.points, c.normals))
                write_xyz(cdir / "gt" / f"{name}.txt", c)
    if package:
        from scan2ad.datasets.package import package_dataset

        prov = {"source": "synthetic-generator", "seed": [spec.seed], "session": None}
        info = dataclasses.asdict(spec) | {"source": "synthetic"}
        package_dataset(root, name=root.name, spec=info, gallery=False,
                        provenance={p.relative_to(root).as_posix(): prov
                                    for p in root.glob("*/*/*.pcd")})
    return root
