"""carve -> label -> write a sample: bit-for-bit reproducibility from defects.json, ratio
rejection, and mesh repair (open and non-manifold meshes; clear error when repair fails)."""

from __future__ import annotations

import numpy as np
import pytest

from scan2ad.annotation.labels import LabelConfig, LabelRatioError
from scan2ad.annotation.meshprep import MeshRepairError, load_mesh, prepare_mesh
from scan2ad.annotation.sample import carve_sample, carve_sample_redrawn, recarve
from scan2ad.errors import FormatError, InputError
from scan2ad.io import read_json, sha256_file

pytest.importorskip("bpy")

SMALL = LabelConfig(n_points=6000)
FILES = ("cloud.ply", "labels.npy", "mesh.ply", "defects.json")


def test_carve_is_reproducible_bit_for_bit_from_spec_and_seed(box_part, tmp_path):
    a = carve_sample(box_part, ["Scratch", "Bump"], seed=11, label_cfg=SMALL, out=tmp_path / "a")
    b = carve_sample(box_part, ["Scratch", "Bump"], seed=11, label_cfg=SMALL, out=tmp_path / "b")
    c = recarve(box_part, tmp_path / "a" / "defects.json", label_cfg=SMALL, out=tmp_path / "c")
    for name in FILES:
        assert sha256_file(tmp_path / "a" / name) == sha256_file(tmp_path / "b" / name), name
        assert sha256_file(tmp_path / "a" / name) == sha256_file(tmp_path / "c" / name), name
    assert a.specs == b.specs == c.specs
    other = carve_sample(box_part, ["Scratch", "Bump"], seed=12, label_cfg=SMALL)
    assert other.specs != a.specs
    doc = read_json(tmp_path / "a" / "defects.json")
    labels = np.load(tmp_path / "a" / "labels.npy")
    assert doc["anomaly_ratio"] == pytest.approx(labels.mean())
    assert [d["type"] for d in doc["defects"]] == ["Scratch", "Bump"]
    assert 0.005 <= labels.mean() <= 0.026


def test_ratio_outside_range_is_rejected_and_nothing_written(box_part, top_point, tmp_path):
    with pytest.raises(LabelRatioError, match=r"outside the accepted 0\.50–2\.60%"):
        carve_sample(box_part, "Dent", seed=1, location="given", centre=top_point(box_part),
                     sizes={"radius": 7.0}, label_cfg=SMALL, out=tmp_path / "s")
    assert not (tmp_path / "s").exists()
    loose = LabelConfig(n_points=6000, check_ratio=False)
    s = carve_sample(box_part, "Dent", seed=1, location="given", centre=top_point(box_part),
                     sizes={"radius": 7.0}, label_cfg=loose)
    assert s.ratio > 0.026


def test_open_mesh_is_repaired_and_carved(tmp_path):
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=3, radius=10.0)
    open_mesh = trimesh.Trimesh(sphere.vertices, sphere.faces[1:], process=False)  # one face missing
    assert not open_mesh.is_watertight
    repaired, report = prepare_mesh(open_mesh)
    assert repaired.is_watertight and report.method == "trimesh"
    assert any("boundary" in p for p in report.problems)
    s = carve_sample(open_mesh, "Bump", seed=2, label_cfg=SMALL)
    assert s.repair.method == "trimesh" and s.ratio > 0


def test_non_manifold_mesh_goes_to_pymeshfix():
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=3, radius=10.0)
    keep = sphere.triangles_center[:, 2] < 6.0  # a cap cut off: a big hole trimesh cannot fill
    faces = sphere.faces[keep]
    fin = np.array([[faces[0, 0], faces[0, 1], len(sphere.vertices)]])  # a third face on one edge
    v = np.vstack([sphere.vertices, [[0.0, 0.0, -20.0]]])
    broken = trimesh.Trimesh(v, np.vstack([faces, fin]), process=False)
    repaired, report = prepare_mesh(broken)
    assert report.method == "pymeshfix" and repaired.is_watertight
    assert any("non-manifold" in p for p in report.problems)


def test_unrepairable_mesh_gives_a_clear_error(tmp_path):
    import trimesh

    strip = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], [[0, 1, 2], [1, 3, 2]])
    path = tmp_path / "strip.ply"
    strip.export(path)
    with pytest.raises(MeshRepairError, match="strip.ply: mesh is not a closed manifold and repair failed"):
        prepare_mesh(load_mesh(path), path)


def test_bad_mesh_files(tmp_path):
    with pytest.raises(InputError, match="mesh file not found"):
        load_mesh(tmp_path / "none.ply")
    bad = tmp_path / "bad.ply"
    bad.write_text("ply\nformat ascii 1.0\nelement vertex 3\nend_header\n1 2\n")
    with pytest.raises(FormatError, match="bad.ply"):
        load_mesh(bad)
    with pytest.raises(InputError, match="not a mesh file type"):
        load_mesh(bad.with_suffix(".txt").write_text("x") and bad.with_suffix(".txt"))


def test_mesh_reconstructed_from_a_real_scan(shared_data):
    """Poisson mesh of the real FRICP scan, trimmed where the scan had no support (so it is open,
    as reconstructed meshes are): repaired by pymeshfix, then carved and labelled."""
    import open3d as o3d
    import trimesh

    pc = o3d.io.read_point_cloud(str(shared_data / "fricp_pair" / "source.ply"))
    pc.scale(20.0, center=(0, 0, 0))  # the demo pair is unitless (diagonal 1.9): make it a 38 mm part
    mesh, dens = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(pc, depth=6, n_threads=1)
    dens = np.asarray(dens)
    mesh.remove_vertices_by_mask(dens < np.quantile(dens, 0.05))
    scan_mesh = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.triangles), process=False)
    assert not scan_mesh.is_watertight
    # Open3D's Poisson solve (even on one thread, as here) is not bit-reproducible across machines and thread
    # counts; on this open, repaired mesh a single Dent draw lands anywhere in 0.2-1.4 % (CI once drew
    # 0.43 % with seed 3). Redraw on a miss, as the dataset builder does.
    s, _ = carve_sample_redrawn(scan_mesh, "Dent", seed=3, draws=5, label_cfg=SMALL)
    assert s.repair.method == "pymeshfix"
    assert 0.005 <= s.ratio <= 0.026
    assert s.carved_mesh.is_watertight


def test_scanned_points_of_a_carved_part_are_labelled(box_part, top_point):
    """Points of a carved part as a scanner sees them (noise of sigma along the normal), labelled
    against the original mesh: the mask still matches the noise-free one; noise far from the
    defect is not labelled."""
    from scan2ad.annotation.carving import carve
    from scan2ad.annotation.labels import label_carve, label_points
    from scan2ad.annotation.specs import make_spec

    cfg = LabelConfig(n_points=20000, noise_sigma_mm=0.05)
    spec = make_spec(box_part, "Dent", 4, location="given", centre=top_point(box_part))
    result = carve(box_part, [spec])
    clean = label_carve(box_part, result, [spec], cfg, seed=0)
    rng = np.random.default_rng(0)
    scanned = clean.points + clean.normals * rng.normal(0, cfg.noise_sigma_mm, (len(clean.points), 1))
    scan = label_points(box_part, [spec], scanned, clean.normals, cfg=cfg)
    a, b = scan.labels > 0, clean.labels > 0
    assert (a & b).sum() / (a | b).sum() >= 0.9
    noisy_far = (scan.distance > cfg.threshold) & ~b
    assert noisy_far.sum() > 10  # the scanner noise does cross the threshold out there ...
    assert not a[noisy_far & (np.linalg.norm(scanned - spec.centre, axis=1) > 2 * spec.radius)].any()  # ... unlabelled
