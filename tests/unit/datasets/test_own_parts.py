"""Spec classes of the user's own parts (issue 23): mesh files (units, scale check, repair),
existing reconstructions, hand-labelled real anomalies, and a mixed spec built, validated and
evaluated with open3d-ad through the CLI. Capture sessions, which need minutes of virtual-rig
capture, are in tests/integration/test_own_parts.py (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import own_parts as parts

from scan2ad.cli import main
from scan2ad.datasets.builder import build, plan_samples, plan_units
from scan2ad.datasets.package import STATS_COLUMNS
from scan2ad.datasets.samples import NORMAL, load_sample
from scan2ad.datasets.spec import load_spec
from scan2ad.datasets.validate import validate_dataset
from scan2ad.errors import InputError, UnitFailedError
from scan2ad.io import sha256_file

SMALL = """
n_train = 2
n_test_normal = 1
n_per_defect = 2
defects = ["Dent"]
split_ks = [1]
split_seeds = [1]
gallery = false
"""


OWN_MESHES = """classes = [
  { name = "gear", meshes = ["parts/gear.stl"], size_jitter = 0.05 },
  { name = "bushing", meshes = ["parts/bushing.ply"] },
  { name = "screw", meshes = ["parts/screw.obj"], units = "m" },
]"""


def _spec_file(folder: Path, body: str, source: str = "carve", points: int = 4000) -> Path:
    path = folder / "spec.toml"
    path.write_text(f'name = "own"\nsource = "{source}"\npoints = {points}\n{body}\n{SMALL}')
    return path


def _manifest(root: Path) -> dict:
    return {r["relpath"]: r for r in json.loads((root / "manifest.json").read_text())["samples"]}


# --------------------------------------------------------------------------------- the spec
def test_spec_mixes_library_and_own_classes_relative_to_the_spec_file(tmp_path):
    files = parts.write_parts(tmp_path / "parts")
    path = _spec_file(tmp_path, 'classes = ["heavy_washer", { name = "gear", meshes = ["parts/gear.*"], '
                                'size_jitter = 0.05 }, { name = "bushing", meshes = ["parts/b*.ply"] }]')
    spec = load_spec(path)
    assert spec.class_names == ("heavy_washer", "gear", "bushing")
    assert [spec.kind(c) for c in spec.class_names] == ["library", "meshes", "meshes"]
    assert Path(spec.base_dir) == tmp_path.resolve()
    units = plan_units(spec, tmp_path / "out")
    gear = [u for u in units if u.fn.__name__ == "build_sample" and u.kwargs["cls"] == "gear"]
    assert gear and all(u.kwargs["part"]["mesh"] == str(files["gear"].resolve()) for u in gear)
    assert gear[0].kwargs["part"]["sha256"] == sha256_file(files["gear"])
    assert gear[0].kwargs["part"]["size_jitter"] == 0.05
    washer = [u for u in units if u.fn.__name__ == "build_sample" and u.kwargs["cls"] == "heavy_washer"]
    assert washer and all("part" not in u.kwargs for u in washer)  # library units keep their keys
    # a spec of library classes only is unchanged by the own-part machinery
    assert load_spec("demo").base_dir == ""


@pytest.mark.parametrize("entry, says", [
    ('{ name = "gear", mesh = ["x.stl"] }', "unknown key(s) classes[0].mesh"),
    ('{ name = "gear", meshes = ["x.stl"], sessions = ["s"] }', "give one of meshes, sessions, clouds"),
    ('{ name = "gear_Dent", meshes = ["x.stl"] }', "not end in _<defect type>"),
    ('{ name = "gear", meshes = ["x.stl"], size_jitter = 0.7 }', "size_jitter must be in [0, 0.5)"),
    ('{ name = "gear", sessions = ["s"], units = "m" }', "sessions are in mm"),
    ('{ name = "gear", meshes = ["x.stl"], real_anomalies = [{ path = "a", type = "Hole" }] }',
     "type 'Hole' is not one of"),
    ('{ name = "gear", meshes = ["x.stl"], real_anomalies = [{ path = "a", type = "Bump" }] }',
     "1 real anomaly(ies) of type Bump, which is not carved"),
    ('"gear"', "unknown class(es) ['gear']"),
])
def test_spec_refuses_bad_own_classes_by_name(tmp_path, entry, says):
    with pytest.raises(InputError) as e:
        load_spec(_spec_file(tmp_path, f"classes = [{entry}]"))
    assert says in str(e.value) and "spec.toml" in str(e.value)


def test_mesh_files_are_scale_checked_repaired_or_refused_by_name(tmp_path):
    files = parts.write_parts(tmp_path / "parts", scale=0.001)  # metres, as CAD exports often are
    path = _spec_file(tmp_path, 'classes = [{ name = "screw", meshes = ["parts/screw.obj"] }]')
    with pytest.raises(InputError) as e:
        plan_units(load_spec(path), tmp_path / "out")
    msg = str(e.value)
    assert "screw.obj" in msg and "units = 'mm'" in msg and "units = 'm' makes it" in msg
    spec = load_spec(_spec_file(tmp_path, 'classes = [{ name = "screw", meshes = ["parts/screw.obj"], '
                                          'units = "m" }]'))
    part = plan_units(spec, tmp_path / "out")[0].kwargs["part"]
    assert part["scale"] == 1000.0 and 25 < part["diag_mm"] < 35
    # a pattern matching nothing, and a file that is no mesh, are named
    with pytest.raises(InputError, match="pattern 'parts/nut_\\*.stl' matches nothing"):
        plan_units(load_spec(_spec_file(tmp_path, 'classes = [{ name = "nut", meshes = ["parts/nut_*.stl"] }]')),
                   tmp_path / "out")
    (tmp_path / "parts" / "notes.txt").write_text("not a mesh")
    with pytest.raises(InputError, match="notes.txt"):
        plan_units(load_spec(_spec_file(tmp_path, 'classes = [{ name = "nut", meshes = ["parts/*.txt"] }]')),
                   tmp_path / "out")
    # an open mesh (two faces cut out of the bushing) is repaired and builds
    b = parts.bushing()
    b.update_faces(np.arange(2, len(b.faces)))
    b.export(tmp_path / "parts" / "open_bushing.stl")
    spec = load_spec(_spec_file(tmp_path, 'classes = [{ name = "bushing", meshes = ["parts/open_*.stl"] }]'))
    part = plan_units(spec, tmp_path / "out")[0].kwargs["part"]
    assert part["repair"] in ("trimesh", "pymeshfix")
    # a lone triangle cannot be closed: refused, naming the file
    import trimesh

    trimesh.Trimesh([[0, 0, 0], [20, 0, 0], [0, 20, 0]], [[0, 1, 2]], process=False).export(
        tmp_path / "parts" / "soup.stl")
    with pytest.raises(InputError) as e:
        plan_units(load_spec(_spec_file(tmp_path, 'classes = [{ name = "soup", meshes = ["parts/soup.stl"] }]')),
                   tmp_path / "out")
    assert "soup.stl" in str(e.value) and "repair failed" in str(e.value)
    assert files


def test_pipeline_source_refuses_a_mesh_larger_than_the_turntable(tmp_path):
    parts.write_parts(tmp_path / "parts", scale=5.0)  # a 145 mm gear
    with pytest.raises(InputError, match="more than the virtual rig's turntable"):
        plan_units(load_spec(_spec_file(tmp_path, 'classes = [{ name = "gear", meshes = ["parts/gear.stl"] }]\n'
                                                  "views = 1", source="pipeline")), tmp_path / "out")


# ------------------------------------------------------------ real anomalies, synthetic source
def _real_sample(folder: Path, mesh, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A labelled sample folder as `scan2ad label` leaves it: cloud.ply + labels.npy."""
    from scan2ad.annotation.labeller import LabelEditor
    from scan2ad.pointcloud import PointCloud, write_cloud

    pts, _ = __import__("trimesh").sample.sample_surface(mesh, n, seed=seed)
    folder.mkdir(parents=True)
    write_cloud(folder / "cloud.ply", PointCloud(np.asarray(pts)))
    ed = LabelEditor(np.asarray(pts))
    ed.brush(pts[0], 2.5)
    ed.save(folder / "labels.npy")
    return np.asarray(pts), ed.labels


def test_real_anomalies_join_the_test_split_and_are_counted_apart(tmp_path):
    parts.write_parts(tmp_path / "parts")
    pts, labels = _real_sample(tmp_path / "labelled" / "gear_dent", parts.gear(), 1500, 3)
    _real_sample(tmp_path / "labelled" / "gear_big", parts.gear(), 9000, 4)
    path = _spec_file(tmp_path, 'classes = [{ name = "gear", meshes = ["parts/gear.stl"], real_anomalies = ['
                                '{ path = "labelled/gear_dent", type = "Dent" }, '
                                '{ path = "labelled/gear_big", type = "Dent" }] }]', source="synthetic")
    spec = load_spec(path)
    assert [p.relpath for p in plan_samples(spec) if p.real] == ["gear/test/gear_Dent_003.pcd",
                                                                 "gear/test/gear_Dent_004.pcd"]
    out = tmp_path / "ds"
    build(spec, out, workers=1)
    assert validate_dataset(out) == []
    man = _manifest(out)
    rec = man["gear/test/gear_Dent_003.pcd"]
    prov = rec["provenance"]
    assert prov["source"] == "real" and prov["source_file"] == "labelled/gear_dent"
    assert prov["measured_points"] == 1500 and prov["source_sha256"]
    # fewer points than a sample holds: every measured point kept, in order, labels exactly
    cloud = load_sample(next(s for s in _samples(out) if s.relpath == "gear/test/gear_Dent_003.pcd"))
    np.testing.assert_array_equal(cloud.labels, labels)
    moved = cloud.points - cloud.points.mean(0)
    np.testing.assert_allclose(np.linalg.norm(moved, axis=1),
                               np.linalg.norm(pts - pts.mean(0), axis=1), atol=1e-4)  # a rotation
    # more points than a sample holds: resampled like a scan, labels following their points
    big_rec = man["gear/test/gear_Dent_004.pcd"]
    assert big_rec["points"] <= 4400 and big_rec["anomaly_points"] > 0
    assert big_rec["provenance"]["measured_points"] == 9000
    stats = (out / "stats.csv").read_text().splitlines()
    assert stats[0].split(",") == list(STATS_COLUMNS) and stats[0].endswith("real_anomalous_samples")
    row = dict(zip(STATS_COLUMNS, stats[1].split(",")))
    assert row["class"] == "gear" and row["anomalous_samples"] == "4" and row["real_anomalous_samples"] == "2"
    assert "real anomalies: 2" in (out / "README.md").read_text()
    # the split files draw their known samples from real and carved ones alike
    split = json.loads((out / "splits/gear/known-Dent_k1_seed1.json").read_text())
    assert len(split["selected_relpaths"]) == 1
    # a changed labelled file redoes its sample (here: refused, naming the file) rather than
    # reusing the stale one
    np.save(tmp_path / "labelled" / "gear_dent" / "labels.npy", np.zeros(1500, np.uint8))
    with pytest.raises(UnitFailedError) as e:
        build(load_spec(path), out, workers=1)
    assert "gear_dent: a real anomaly without any point labelled anomalous" in str(e.value)


def _samples(root):
    from scan2ad.datasets.readers import read_dataset

    return read_dataset(root)


# -------------------------------------------------------------------- existing reconstructions
def test_clouds_class_carves_existing_reconstructions(tmp_path):
    for i in (1, 2):
        parts.write_reconstruction(tmp_path / "recon" / f"bushing_{i}", parts.bushing(), 6000, seed=i)
    path = _spec_file(tmp_path, 'classes = [{ name = "bushing", clouds = ["recon/bushing_*"] }]')
    out = tmp_path / "ds"
    r = build(load_spec(path), out, workers=1)
    assert r.samples == 5 and validate_dataset(out) == []
    man = _manifest(out)
    files = {"train": set(), "test": set()}
    for rec in man.values():
        prov = rec["provenance"]
        assert prov["source"] == "cloud" and prov["source_file"].endswith("/part.ply")
        assert prov["source_sha256"] == sha256_file(tmp_path / prov["source_file"])
        files[rec["split"]].add(prov["source_file"])
        if rec["type"] != NORMAL:
            assert 0.005 <= rec["anomaly_ratio"] <= 0.026, rec
    assert len(files["train"]) == len(files["test"]) == 1 and not files["train"] & files["test"]
    with pytest.raises(InputError, match="train and test never share a scan"):
        build(load_spec(_spec_file(tmp_path, 'classes = [{ name = "bushing", clouds = ["recon/bushing_1"] }]')),
              tmp_path / "ds1", workers=1)
    # a reconstruction in metres declared in mm is refused, naming its mesh
    parts.write_reconstruction(tmp_path / "recon_m" / "b_1", parts.bushing().apply_scale(0.001), 500, seed=1)
    with pytest.raises(InputError) as e:
        plan_units(load_spec(_spec_file(tmp_path, 'classes = [{ name = "b", clouds = ["recon_m/b_*"] }]')),
                   tmp_path / "ds2")
    assert "b_1/mesh.ply" in str(e.value) and "units = 'm' makes it" in str(e.value)


# ------------------------------------------------------ acceptance at test size, through the CLI
def test_three_own_meshes_build_validate_and_evaluate_in_one_command_each(tmp_path, capsys):
    """Gear-, bushing- and screw-like meshes (one in metres), carved by the annotation stage."""
    files = parts.write_parts(tmp_path / "parts", suffixes=(".stl", ".ply", ".obj"))
    import trimesh

    screw_m = trimesh.load(files["screw"], force="mesh")
    screw_m.apply_scale(0.001)
    screw_m.export(files["screw"])
    spec = _spec_file(tmp_path, OWN_MESHES, points=12000)
    out, run = tmp_path / "ds", tmp_path / "run"
    assert main(["build", str(spec), "--out", str(out), "--workers", "1"]) == 0
    assert "built own: 15 samples" in capsys.readouterr().out
    assert main(["dataset", "validate", str(out)]) == 0
    assert "valid" in capsys.readouterr().out
    man = _manifest(out)
    assert {m["provenance"]["source_file"] for m in man.values()} == {
        "parts/gear.stl", "parts/bushing.ply", "parts/screw.obj"}
    for m in man.values():
        assert m["provenance"]["source_sha256"] == sha256_file(tmp_path / m["provenance"]["source_file"])
    screw = [m for m in man.values() if m["class"] == "screw"]
    assert all(m["provenance"]["units_scale"] == 1000.0 for m in screw)
    assert main(["evaluate", str(out), "-m", "open3d-ad", "--out", str(run), "--no-plots",
                 "--class", "bushing"]) == 0
    rows = (run / "per_class.csv").read_text()
    assert "bushing,O-AUROC" in rows and "bushing,P-AUROC" in rows
